"""Rendering shared by the commands: the consoles, one-line errors, tables that fit 80 columns, and the rich
progress display, which is one implementation of :class:`kit.utils._callbacks.Callback`."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from rich.console import Console, RenderableType
from rich.constrain import Constrain
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Column

from kit.utils import Callback
from kit.utils._callbacks import STARTUP_PHASES
from kit.utils._display import unit_label

console = Console()
errors = Console(stderr=True)
MARGIN = 3  # columns the live display leaves free: a ^C the terminal echoes after its last line cannot wrap it


def print_error(message: str, word: str = "error") -> None:
    """One line on stderr: ``error: message`` (never a traceback)."""
    colour = "yellow" if word == "interrupted" else "red"
    text = message if message.startswith(word) else f"{word}: {message}"
    head, _, rest = text.partition(":") if text.startswith(f"{word}:") else (text, "", "")
    shown = f"[{colour}]{escape(head)}:[/]{escape(rest)}" if rest else f"[{colour}]{escape(text)}[/]"
    errors.print(shown, highlight=False, soft_wrap=word != "interrupted")  # that one wraps between words


def duration(seconds: float) -> str:
    """``1h 02m``, ``4m 05s`` or ``12s``."""
    minutes, seconds = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m" if hours else f"{minutes}m {seconds:02d}s" if minutes else f"{seconds}s"


class NarrowProgress(Progress):
    """rich's progress display, its lines MARGIN columns short of the terminal's width and one line per task (a long
    status ends in an ellipsis): a line that filled the width would wrap when Ctrl-C echoes ``^C`` after it, and
    the display, redrawn one line short, would then leave a second copy of its first line on the screen."""

    def get_renderable(self) -> RenderableType:
        live = getattr(self, "live", None)  # None while rich's __init__ renders once
        width = (console if live is None else live.console).width
        return Constrain(super().get_renderable(), width=max(20, width - MARGIN))


def new_progress() -> Progress:
    """A progress display with description, bar, n/total, status, elapsed and remaining time."""
    one_line = {"no_wrap": True, "overflow": "ellipsis"}
    return NarrowProgress(
        TextColumn("[bold]{task.description}", table_column=Column(**one_line)),
        BarColumn(bar_width=12),
        MofNCompleteColumn(table_column=Column(**one_line)),
        TextColumn("{task.fields[status]}", table_column=Column(**one_line)),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
    )


class RichProgress(Callback):
    """The command line's live display: one bar over the run's units (folds, trials, phases), one per unit's epochs,
    one per named phase, and a passing status line for the start-up steps before the first epoch (loading data,
    building the model). A fold continued from its checkpoint says so (``resumed at epoch E/N``), and one finished by
    an earlier run ends as ``done (kept)``. Use as a context manager around the library call."""

    def __init__(self) -> None:
        self.progress = new_progress()
        self.kind = ""
        self.epochs: int | None = None
        self.overall: Any = None
        self.units: dict[Any, Any] = {}
        self.phases: dict[str, Any] = {}
        self.startup: Any = None  # the start-up status line, until the first epoch
        self.resumed_at: dict[Any, str] = {}  # fold → "E/N" of a fold continued from its checkpoint

    def __enter__(self) -> RichProgress:
        self.progress.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.progress.__exit__(*exc)

    def on_run_begin(self, kind: str, total: int | None = None, epochs: int | None = None) -> None:
        self.kind, self.epochs = kind, epochs
        label = {"cv": "folds", "tune": "trials"}.get(kind, kind)
        self.overall = self.progress.add_task(label, total=total, status="")

    def _unit(self, fold: Any) -> Any:
        if fold not in self.units:
            self.units[fold] = self.progress.add_task(unit_label(fold), total=self.epochs, status="")
        return self.units[fold]

    def _started(self) -> None:
        """The first epoch (or result) arrived: the start-up status line goes."""
        if self.startup is not None:
            self.progress.remove_task(self.startup)
            self.startup = None

    def on_fold_begin(self, fold: int | str) -> None:
        self._unit(fold)

    def on_fold_resume(self, fold: int | str, epoch: int, epochs: int) -> None:
        self.resumed_at[fold] = f"{epoch}/{epochs}"
        self.progress.update(self._unit(fold), completed=epoch, status=f"resumed at epoch {epoch}/{epochs}")

    def on_epoch_end(self, fold: int | str, epoch: int, logs: Mapping[str, float]) -> None:
        self._started()
        accuracy, loss = logs.get("val_accuracy", float("nan")), logs.get("val_loss", float("nan"))
        self.progress.update(self._unit(fold), completed=epoch, status=f"val_acc {accuracy:.4f}  val_loss {loss:.4f}")

    def on_fold_end(self, score: Any, resumed: bool) -> None:
        self._started()
        task = self._unit(score.fold)
        resumed_at = self.resumed_at.get(score.fold)
        done = "done (kept)" if resumed else f"done, resumed at {resumed_at}" if resumed_at else "done"
        self.progress.update(
            task, completed=self.epochs or 1, total=self.epochs or 1, status=f"{done}: val_acc {score.val_accuracy:.4f}"
        )
        if self.overall is not None:
            self.progress.advance(self.overall)

    def on_trial_begin(self, trial: Any) -> None:
        self._unit(str(getattr(trial, "trial_id", trial)))

    def on_trial_end(self, trial: Any) -> None:
        self._started()
        trial_id = str(getattr(trial, "trial_id", trial))
        score = getattr(trial, "score", None)
        status = getattr(trial, "status", "done")
        shown = f"{status}: {score:.4f}" if isinstance(score, float) else str(status)
        self.progress.update(self._unit(trial_id), completed=self.epochs or 1, total=self.epochs or 1, status=shown)
        if self.overall is not None:
            self.progress.advance(self.overall)

    def on_run_end(self) -> None:
        self._started()

    def on_phase(self, name: str, done: int = 0, total: int | None = None) -> None:
        if total is None and name in STARTUP_PHASES:
            if self.startup is None:
                self.startup = self.progress.add_task(f"{name}…", total=None, status="")
            self.progress.update(self.startup, description=f"{name}…")
            return
        if name not in self.phases:
            self.phases[name] = self.progress.add_task(name, total=total, status="")
        self.progress.update(self.phases[name], completed=done, total=total)


def print_score(result: Any, submission: Path) -> None:
    """``kit score``'s report of a :class:`kit.submission._scoring.ScoreResult`: the per-class accuracy table (a
    single-label task; none for a multi-label one), the notes, then ``METRIC SCORE on N rows of SOLUTION``."""
    from rich.table import Table

    if result.per_class:
        table = Table(title=f"{submission.name}: per-class accuracy ({result.rows:,} rows)")
        for column in ("class", "rows", "accuracy", ""):
            table.add_column(column, justify="left" if column in ("class", "") else "right")
        for row in result.per_class:
            bar = "█" * round(row.accuracy * 20)
            table.add_row(str(row.value), f"{row.count:,}", f"{row.accuracy:.4f}", bar)
        console.print(table)
    for note in result.notes:
        console.print(note, highlight=False)
    console.print(
        f"{result.metric} [bold green]{result.score:.4f}[/] on {result.rows:,} rows of {result.solution} "
        f"(noted in {submission.with_suffix('.json').name})",
        highlight=False,
    )
