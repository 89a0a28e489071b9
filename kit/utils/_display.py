"""kit in a notebook: small self-contained HTML for results' ``_repr_html_``, one-line ``__repr__`` text, the test
for a Jupyter kernel, inline images, and a line that updates in place (IPython display handles).

Every value that comes from data passes through :func:`html.escape` here (callers hand over plain text, never
markup); no external assets, no scripts. IPython is imported only inside a kernel that already loaded it.
"""

from __future__ import annotations

import html
import sys
import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

STYLE = (  # one scoped block per result (as pandas' tables), so a table's cells carry no style of their own
    "<style scoped>.kit-result table{border-collapse:collapse;margin:0.3em 0;font-size:0.9em}"
    ".kit-result th,.kit-result td{padding:0.1em 0.7em;text-align:left;border-bottom:1px solid #ddd}"
    ".kit-result th{font-weight:600}.kit-result .kit-title{font-weight:600}"
    ".kit-result .kit-note{font-size:0.85em;color:#555}</style>"
)
UPDATE_INTERVAL = 0.25  # seconds between two unforced in-place updates of a live line
REPR_DIGITS = 4


def in_notebook() -> bool:
    """Whether this runs in a Jupyter kernel (IPython's ZMQ shell: Jupyter, JupyterLab, VS Code, Colab), where rich
    output and display handles work; False in a terminal IPython, a script or a worker process."""
    ipython = sys.modules.get("IPython")
    get_ipython = getattr(ipython, "get_ipython", None)
    shell = get_ipython() if get_ipython is not None else None
    return shell is not None and any(cls.__name__ == "ZMQInteractiveShell" for cls in type(shell).__mro__)


def trial_number(trial_id: Any) -> str:
    """A tune trial as shown, 1-based as folds are: KerasTuner's id ``"00"`` is trial ``1`` (other ids as they are);
    the id itself stays KerasTuner's everywhere it is stored (``trial_00/``, the oracle, ``TrialScore.trial_id``)."""
    text = str(trial_id)
    return str(int(text) + 1) if text.isdigit() else text


def unit_label(unit: int | str) -> str:
    """What a progress display calls a unit: ``fold 3`` (an int, 1-based), ``trial 1`` (a trial id, ``"00"``)."""
    return f"fold {unit}" if isinstance(unit, int) else f"trial {trial_number(unit)}"


def number(value: Any, digits: int = 4) -> str:
    """A score as text: ``digits`` decimals for a float, thousands separators for an int, ``—`` for None."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def short_repr(name: str, fields: Mapping[str, Any]) -> str:
    """``Name(key=value, …)`` on one line: floats rounded, paths as strings, None values left out."""
    shown = []
    for key, value in fields.items():
        if value is None:
            continue
        if isinstance(value, float):
            value = round(value, REPR_DIGITS)
        elif isinstance(value, Path):
            value = str(value)
        shown.append(f"{key}={value!r}")
    return f"{name}({', '.join(shown)})"


def _cells(tag: str, values: Iterable[Any]) -> str:
    return "".join(f"<{tag}>{html.escape(str(value))}</{tag}>" for value in values)


def table(headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """An HTML table of ``rows`` (cells as text, escaped) under ``headers``."""
    body = "".join(f"<tr>{_cells('td', row)}</tr>" for row in rows)
    return f"<table><thead><tr>{_cells('th', headers)}</tr></thead><tbody>{body}</tbody></table>"


def facts(pairs: Iterable[tuple[str, Any]]) -> str:
    """A two-column HTML table of ``(name, value)`` pairs (values None are left out), everything escaped."""
    rows = "".join(
        f"<tr>{_cells('th', [name])}{_cells('td', [value])}</tr>" for name, value in pairs if value is not None
    )
    return f"<table><tbody>{rows}</tbody></table>"


def card(title: str, *parts: str) -> str:
    """A result's HTML: its ``title`` (escaped) over ``parts`` (HTML made by :func:`table`, :func:`facts`,
    :func:`note`), with the one style block they share."""
    heading = f'<div class="kit-title">{html.escape(title)}</div>'
    return f'<div class="kit-result">{STYLE}{heading}{"".join(parts)}</div>'


def note(text: str) -> str:
    """One line of small text (escaped), as under a table."""
    return f'<div class="kit-note">{html.escape(text)}</div>'


def show_images(paths: Iterable[Path], title: str | None = None) -> None:
    """Display PNG files inline in the notebook (each an ``image/png`` output), under an optional title line."""
    from IPython.display import Image, display

    if title is not None:
        display({"text/plain": title, "text/html": f"<b>{html.escape(title)}</b>"}, raw=True)
    for path in paths:
        display(Image(filename=str(path)))


def progress_bundle(text: str, fraction: float | None = None) -> dict[str, str]:
    """A progress line as a display bundle: the text, and in HTML a ``<progress>`` bar before it when
    ``fraction`` (0 to 1) is known."""
    bar = ""
    if fraction is not None:
        value = min(max(fraction, 0.0), 1.0)
        bar = f'<progress value="{value:.3f}" max="1" style="width:12em;vertical-align:middle"></progress> '
    return {
        "text/plain": text,
        "text/html": f'<div style="font-family:monospace;white-space:pre">{bar}{html.escape(text)}</div>',
    }


class LiveLine:
    """One output of a notebook cell that is updated in place (an IPython display handle): the first
    :meth:`update` displays it and later ones replace it (those not ``forced`` at most every
    :data:`UPDATE_INTERVAL` seconds: frequent steps such as decoding); a saved notebook keeps only its last state.
    An update from a later cell (a progress bar reused after a run that raised) starts a new output there."""

    def __init__(self) -> None:
        self.handle: Any = None
        self.cell: int | None = None
        self.shown_at = 0.0

    def update(self, text: str, fraction: float | None = None, forced: bool = True) -> None:
        """Show ``text`` (and a bar at ``fraction``) in place of the line's last state."""
        now, cell = time.monotonic(), _execution_count()
        if cell != self.cell:
            self.handle, self.cell = None, cell
        if self.handle is not None and not forced and now - self.shown_at < UPDATE_INTERVAL:
            return
        bundle = progress_bundle(text, fraction)
        if self.handle is None:
            from IPython.display import display

            self.handle = display(bundle, raw=True, display_id=True)
        else:
            self.handle.update(bundle, raw=True)
        self.shown_at = now


def _execution_count() -> int | None:
    """The running cell's execution count (None outside IPython)."""
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if hasattr(ipython, "get_ipython") else None
    return getattr(shell, "execution_count", None)
