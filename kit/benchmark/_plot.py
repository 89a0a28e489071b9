"""Draw a bench's curves as ``bench.png``: out-of-fold accuracy against the seconds a fold has trained, one line per
pipeline and option (the median over seeds, with each seed faint behind it), and the notebook's final accuracy."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from kit.benchmark._result import BenchResult

FLOOR = 0.9  # the lowest accuracy shown: the race is decided above it


def draw_curves(result: BenchResult, path: Path | str) -> Path:
    """Write the figure to ``path`` (PNG, Agg: no display needed) and return the path."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(8, 5), dpi=110)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    lowest = FLOOR
    for index, contender in enumerate(result.contenders):
        colour = f"C{index}"
        for run in contender.seeds:
            seconds, accuracy = zip(*run.curve)
            axes.plot(seconds, accuracy, color=colour, alpha=0.25, linewidth=0.8)
        if contender.curve:
            seconds, accuracy = zip(*contender.curve)
            spread = f", seeds {contender.spread[0]:.4f}–{contender.spread[1]:.4f}" if contender.spread else ""
            label = f"{contender.name}: {contender.val_accuracy:.4f}{spread}"
            axes.plot(seconds, accuracy, color=colour, marker="o", markersize=3, label=label)
            lowest = min(lowest, contender.val_accuracy - 0.01)
    target = result.notebook.val_accuracy
    axes.axhline(target, color="grey", linestyle="--", linewidth=0.8, label=f"notebook's final accuracy {target:.4f}")
    axes.set_ylim(max(0.0, lowest), 1.0)
    axes.set_xlabel("seconds a fold has trained (mean over folds)")
    predictions = result.notebook.seeds[0].predictions if result.notebook.seeds else 0
    axes.set_ylabel(f"out-of-fold accuracy ({predictions:,} predictions)")
    ratio = result.time_to_notebook_accuracy_ratio
    headline = "kit never reached it" if ratio is None else f"kit reached it in {ratio:.2f}× the notebook's time"
    axes.set_title(f"{result.folds}-fold, median of {len(result.seeds)} seed(s): {headline}", fontsize=10)
    axes.grid(alpha=0.3)
    axes.legend(fontsize=7, loc="lower right")
    figure.text(0.01, 0.01, result.machine, fontsize=6, color="grey")
    figure.tight_layout()
    figure.savefig(path)
    return Path(path)
