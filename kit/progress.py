"""Rich live displays for long work: a bar over folds and one over each fold's epochs."""

from __future__ import annotations

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from kit.runs import FoldResult


def new_progress(console: Console) -> Progress:
    """A progress display with description, bar, n/total, elapsed and remaining time."""
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[status]}"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
    )


class FoldProgress:
    """Implements :class:`kit.cv.CVProgress` on a rich Progress: one bar for folds, one per running fold."""

    def __init__(self, progress: Progress, folds: int, epochs: int) -> None:
        self.progress = progress
        self.epochs = epochs
        self.overall = progress.add_task("folds", total=folds, status="")
        self.fold_tasks: dict[int, int] = {}

    def _fold_task(self, fold: int) -> int:
        if fold not in self.fold_tasks:
            self.fold_tasks[fold] = self.progress.add_task(f"fold {fold}", total=self.epochs, status="")
        return self.fold_tasks[fold]

    def on_epoch(self, fold: int, epoch: int, logs: dict[str, float]) -> None:
        status = f"val_acc {logs.get('val_accuracy', float('nan')):.4f}  val_loss {logs.get('val_loss', float('nan')):.4f}"
        self.progress.update(self._fold_task(fold), completed=epoch, status=status)

    def on_fold(self, result: FoldResult, resumed: bool) -> None:
        task = self._fold_task(result.fold)
        done = "resumed" if resumed else "done"
        self.progress.update(task, completed=self.epochs, status=f"{done}: val_acc {result.record['val_accuracy']:.4f}")
        self.progress.advance(self.overall)
