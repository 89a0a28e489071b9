"""Rendering shared by the commands: the consoles, one-line errors, tables that fit 80 columns, and the rich
progress display, which is one implementation of :class:`kit.utils._callbacks.Callback`."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from kit.utils import Callback

console = Console()
errors = Console(stderr=True)


def print_error(message: str, word: str = "error") -> None:
    """One line on stderr: ``error: message`` (never a traceback)."""
    colour = "yellow" if word == "interrupted" else "red"
    text = message if message.startswith(word) else f"{word}: {message}"
    head, _, rest = text.partition(":") if text.startswith(f"{word}:") else (text, "", "")
    shown = f"[{colour}]{escape(head)}:[/]{escape(rest)}" if rest else f"[{colour}]{escape(text)}[/]"
    errors.print(shown, highlight=False, soft_wrap=True)


def duration(seconds: float) -> str:
    """``1h 02m``, ``4m 05s`` or ``12s``."""
    minutes, seconds = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m" if hours else f"{minutes}m {seconds:02d}s" if minutes else f"{seconds}s"


def new_progress() -> Progress:
    """A progress display with description, bar, n/total, status, elapsed and remaining time."""
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(bar_width=20),
        MofNCompleteColumn(),
        TextColumn("{task.fields[status]}"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
    )


class RichProgress(Callback):
    """The command line's live display: one bar over the run's units (folds, trials, phases), one per unit's epochs,
    one per named phase. Use as a context manager around the library call."""

    def __init__(self) -> None:
        self.progress = new_progress()
        self.kind = ""
        self.epochs: int | None = None
        self.overall: Any = None
        self.units: dict[Any, Any] = {}
        self.phases: dict[str, Any] = {}

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
            label = f"fold {fold}" if isinstance(fold, int) else f"trial {fold}"
            self.units[fold] = self.progress.add_task(label, total=self.epochs, status="")
        return self.units[fold]

    def on_fold_begin(self, fold: int | str) -> None:
        self._unit(fold)

    def on_epoch_end(self, fold: int | str, epoch: int, logs: Mapping[str, float]) -> None:
        accuracy, loss = logs.get("val_accuracy", float("nan")), logs.get("val_loss", float("nan"))
        self.progress.update(self._unit(fold), completed=epoch, status=f"val_acc {accuracy:.4f}  val_loss {loss:.4f}")

    def on_fold_end(self, score: Any, resumed: bool) -> None:
        task = self._unit(score.fold)
        done = "resumed" if resumed else "done"
        self.progress.update(
            task, completed=self.epochs or 1, total=self.epochs or 1, status=f"{done}: val_acc {score.val_accuracy:.4f}"
        )
        if self.overall is not None:
            self.progress.advance(self.overall)

    def on_trial_begin(self, trial: Any) -> None:
        self._unit(str(getattr(trial, "trial_id", trial)))

    def on_trial_end(self, trial: Any) -> None:
        trial_id = str(getattr(trial, "trial_id", trial))
        score = getattr(trial, "score", None)
        status = getattr(trial, "status", "done")
        shown = f"{status}: {score:.4f}" if isinstance(score, float) else str(status)
        self.progress.update(self._unit(trial_id), completed=self.epochs or 1, total=self.epochs or 1, status=shown)
        if self.overall is not None:
            self.progress.advance(self.overall)

    def on_phase(self, name: str, done: int = 0, total: int | None = None) -> None:
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
