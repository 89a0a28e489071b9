"""A run's pictures (label counts, samples, learning curves, OOF confusion matrix, confident mistakes) and HTML page.

Figures are drawn on :class:`matplotlib.figure.Figure` objects (rendered by Agg, no display and no pyplot state), so
the functions also work in a notebook: each returns a figure that a notebook shows as it is.
"""

from __future__ import annotations

import base64
import html
import io
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from kit.crossval._rundir import RunFolder, resolve_run
from kit.crossval._summary import Summary
from kit.errors import KitError
from kit.utils import load_array, write_bytes_atomic

SAMPLES_PER_CLASS = 6
CONFIDENT_ERRORS = 24
ERROR_COLUMNS = 8
DPI = 110
CAPTIONS = {
    "label_counts": "Training images per class.",
    "samples": "Random training images of each class.",
    "curves": "Training (dashed) and validation (solid) accuracy and loss of each fold, by epoch.",
    "per_label": "Out-of-fold ROC AUC of each label of a multi-label task.",
    "confusion": "Out-of-fold confusion matrix: true class by row, predicted class by column.",
    "confident_errors": "The out-of-fold mistakes made with the highest confidence: train.csv row (0-based), true and "
    "predicted class, and the predicted class's probability. Mislabelled training images often show up here.",
}


def _show_image(axes: Any, image: np.ndarray) -> None:
    """Draw one (height, width, channels) uint8 image without ticks."""
    if image.shape[-1] == 1:
        axes.imshow(image[..., 0], cmap="gray", vmin=0, vmax=255)
    else:
        axes.imshow(image)
    axes.set_xticks([])
    axes.set_yticks([])


def label_counts_figure(labels: np.ndarray, classes: int, names: Sequence[str] | None = None) -> Figure:
    """A bar chart of how many training images each class (each label of a multi-label task) has."""
    counts = labels.sum(axis=0) if labels.ndim == 2 else np.bincount(labels, minlength=classes)
    figure = Figure(figsize=(7, 3.5), layout="constrained")
    axes = figure.add_subplot()
    bars = axes.bar(np.arange(classes), counts, color="tab:blue")
    axes.bar_label(bars, fontsize=8)
    axes.set(xlabel="class", ylabel="images", xticks=np.arange(classes), title=f"label counts ({len(labels)} images)")
    _name_ticks(axes.xaxis, names)
    return figure


def _name_ticks(axis: Any, names: Sequence[str] | None) -> None:
    """The class names as tick labels (slanted when long), where the spec gives them."""
    if names is not None:
        slanted = max(map(len, names)) > 3
        axis.set_ticklabels(names, rotation=40 if slanted else 0, ha="right" if slanted else "center", fontsize=8)


def samples_figure(
    images: np.ndarray,
    labels: np.ndarray,
    classes: int,
    per_class: int = SAMPLES_PER_CLASS,
    seed: int = 0,
    names: Sequence[str] | None = None,
) -> Figure:
    """A grid with one column per class of ``per_class`` random training images."""
    rng = np.random.default_rng(seed)
    figure = Figure(figsize=(0.8 * classes + 0.4, 0.8 * per_class + 0.6), layout="constrained")
    grid = figure.subplots(per_class, classes, squeeze=False)
    for label in range(classes):
        rows = np.flatnonzero(labels[:, label] == 1 if labels.ndim == 2 else labels == label)
        picked = rng.choice(rows, size=min(per_class, len(rows)), replace=False) if len(rows) else []
        for position, axes in enumerate(grid[:, label]):
            if position < len(picked):
                _show_image(axes, images[picked[position]])
            else:
                axes.axis("off")
        grid[0, label].set_title(str(label) if names is None else names[label], fontsize=8)
    figure.suptitle("sample training images by class")
    return figure


def curves_figure(histories: dict[int, dict[str, list[float]]]) -> Figure:
    """Accuracy and loss (and the learning rate when recorded) per epoch, one colour per fold."""
    metrics = ["accuracy", "loss"] + (
        ["learning_rate"] if any("learning_rate" in h for h in histories.values()) else []
    )
    figure = Figure(figsize=(5 * len(metrics), 4), layout="constrained")
    panels = figure.subplots(1, len(metrics), squeeze=False)[0]
    colours = [f"C{index % 10}" for index in range(len(histories))]
    for axes, metric in zip(panels, metrics):
        for colour, (fold, history) in zip(colours, sorted(histories.items())):
            for key, style, label in ((metric, "--", f"fold {fold} train"), (f"val_{metric}", "-", f"fold {fold} val")):
                if key in history:
                    epochs = np.arange(1, len(history[key]) + 1)
                    axes.plot(epochs, history[key], style, color=colour, label=label)
        axes.set(xlabel="epoch", title=metric.replace("_", " "))
        if metric == "learning_rate":
            axes.set_yscale("log")
        axes.grid(alpha=0.3)
    panels[0].legend(fontsize=7, ncol=2)
    return figure


def confusion_figure(
    labels: np.ndarray, predicted: np.ndarray, classes: int, names: Sequence[str] | None = None
) -> Figure:
    """The confusion matrix of true against predicted classes (scikit-learn's display)."""
    from sklearn.metrics import ConfusionMatrixDisplay

    figure = Figure(figsize=(0.55 * classes + 2.5, 0.55 * classes + 2), layout="constrained")
    axes = figure.add_subplot()
    ConfusionMatrixDisplay.from_predictions(
        labels, predicted, labels=np.arange(classes), ax=axes, cmap="Blues", colorbar=False, display_labels=names
    )
    if names is not None and max(map(len, names)) > 3:
        for tick in axes.get_xticklabels():
            tick.set(rotation=40, ha="right", rotation_mode="anchor")
    accuracy = float(np.mean(labels == predicted))
    axes.set_title(f"OOF confusion matrix (accuracy {accuracy:.4f}, {int(np.sum(labels != predicted))} mistakes)")
    return figure


def per_label_figure(labels: np.ndarray, proba: np.ndarray, names: Sequence[str] | None = None) -> Figure:
    """A multi-label run's OOF ROC AUC per label (a label whose answers are all alike has none)."""
    from sklearn.metrics import roc_auc_score

    columns = labels.shape[1]
    scores = [
        roc_auc_score(labels[:, j], proba[:, j]) if labels[:, j].min() != labels[:, j].max() else 0.0
        for j in range(columns)
    ]
    figure = Figure(figsize=(7, 3.5), layout="constrained")
    axes = figure.add_subplot()
    bars = axes.bar(np.arange(columns), scores, color="tab:green")
    axes.bar_label(bars, fmt="%.3f", fontsize=8)
    axes.set(xlabel="label", ylabel="OOF ROC AUC", xticks=np.arange(columns), ylim=(0, 1.05), title="OOF AUC per label")
    _name_ticks(axes.xaxis, names)
    return figure


def confident_errors(proba: np.ndarray, labels: np.ndarray, count: int = CONFIDENT_ERRORS) -> np.ndarray:
    """Rows whose predicted class is wrong, most confident first, at most ``count``."""
    predicted = proba.argmax(axis=1)
    wrong = np.flatnonzero(predicted != labels)
    order = np.argsort(-proba[wrong, predicted[wrong]], kind="stable")
    return wrong[order][:count]


def confident_errors_figure(
    images: np.ndarray, labels: np.ndarray, proba: np.ndarray, count: int = CONFIDENT_ERRORS
) -> Figure:
    """The most confidently wrong images, titled with their row, true class, predicted class and its probability."""
    rows = confident_errors(proba, labels, count)
    columns = ERROR_COLUMNS
    lines = max(1, -(-len(rows) // columns))
    figure = Figure(figsize=(1.4 * columns, 1.6 * lines + 0.5), layout="constrained")
    grid = figure.subplots(lines, columns, squeeze=False)
    for axes in grid.flat:
        axes.axis("off")
    for axes, row in zip(grid.flat, rows):
        predicted = int(proba[row].argmax())
        axes.axis("on")
        _show_image(axes, images[row])
        axes.set_title(f"row {row}\ntrue {labels[row]} → {predicted} ({proba[row, predicted]:.2f})", fontsize=8)
    if len(rows):
        figure.suptitle(f"most confident OOF mistakes ({len(rows)} of {int(np.sum(proba.argmax(axis=1) != labels))})")
    else:
        figure.suptitle("no OOF mistakes")
    return figure


def png_bytes(figure: Figure) -> bytes:
    """The figure as PNG bytes."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=DPI)
    return buffer.getvalue()


@dataclass(frozen=True)
class Report:
    """The files a report wrote: one PNG per figure name, and the HTML page that embeds them."""

    images: dict[str, Path]
    html: Path


def run_figures(run: RunFolder, data_dir: Path | str | None = None) -> dict[str, Figure]:
    """Every report figure of a run, by name; the sample and mistake images come from the run's training data."""
    summary = run.summary()
    classes = summary.data.classes
    labels = load_array(run.labels_path)
    oof = load_array(run.oof_path)
    images = run.images("train", data_dir).images
    names = class_names(summary, data_dir)
    histories = {}
    for score in summary.folds:
        result = run.load_fold(score.fold)
        if result is not None:
            histories[score.fold] = result.history
    figures = {
        "label_counts": label_counts_figure(labels, classes, names),
        "samples": samples_figure(images, labels, classes, names=names),
        "curves": curves_figure(histories),
    }
    if labels.ndim == 2:  # multi-label: no confusion matrix; each label's AUC instead
        return {**figures, "per_label": per_label_figure(labels, oof, names)}
    return {
        **figures,
        "confusion": confusion_figure(labels, oof.argmax(axis=1), classes, names),
        "confident_errors": confident_errors_figure(images, labels, oof),
    }


def class_names(summary: Summary, data_dir: Path | str | None = None) -> list[str] | None:
    """The class values as the competition's spec writes them (None when they are 0…K-1 or the spec is gone)."""
    from kit.competitions import as_competition

    try:
        values = as_competition(summary.competition, Path(data_dir or summary.data_dir)).class_values
    except KitError:
        return None
    if len(values) != summary.data.classes or values == tuple(range(len(values))):
        return None
    return [str(value) for value in values]


def write_report(reference: str | Path, data_dir: Path | str | None = None) -> Report:
    """Write the run's figures as PNGs and a self-contained ``report.html`` (images embedded) into its folder."""
    run = resolve_run(reference)
    summary = run.summary()
    pictures = {name: png_bytes(figure) for name, figure in run_figures(run, data_dir).items()}
    paths = {}
    for name, data in pictures.items():
        paths[name] = run.root / f"{name}.png"
        write_bytes_atomic(paths[name], data)
    page = run.root / "report.html"
    write_bytes_atomic(page, report_html(summary, run.root, pictures).encode())
    return Report(images=paths, html=page)


def report_html(summary: Summary, root: Path, pictures: dict[str, bytes]) -> str:
    """One HTML page with the run's scores, fold table, figures (base64 PNGs) and resolved recipe."""
    escape = html.escape
    folds = "".join(
        f"<tr><td>{f.fold}</td><td>{f.epochs}</td><td>{f.val_accuracy:.4f}</td>"
        f"<td>{f.val_loss:.4f}</td><td>{f.seconds:.1f}</td></tr>"
        for f in summary.folds
    )
    figures = "".join(
        f"<h2>{escape(name.replace('_', ' '))}</h2><p>{escape(CAPTIONS[name])}</p>"
        f'<img alt="{escape(name)}" src="data:image/png;base64,{base64.b64encode(data).decode()}">'
        for name, data in pictures.items()
    )
    title = f"kit report: {summary.recipe} ({root})"
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{escape(title)}</title>
<style>body{{font-family:sans-serif;max-width:1200px;margin:2em auto;color:#222}}img{{max-width:100%}}
table{{border-collapse:collapse}}td,th{{border:1px solid #ccc;padding:.2em .6em;text-align:right}}
pre{{background:#f6f6f6;padding:1em;overflow:auto}}</style></head><body>
<h1>{escape(title)}</h1>
<p>competition {escape(summary.competition)} · recipe hash {escape(summary.recipe_hash)} ·
{summary.data.train_rows} train / {summary.data.test_rows} test images ·
finished {escape(summary.finished_at)}</p>
<p><b>OOF {escape(summary.metric)} {summary.oof_accuracy if summary.oof_score is None else summary.oof_score:.4f}</b> ·
OOF accuracy {summary.oof_accuracy:.4f} · OOF loss {summary.oof_loss:.4f} ·
fold accuracy {summary.fold_accuracy_mean:.4f} ± {summary.fold_accuracy_std:.4f} ·
training {summary.train_seconds:.0f} s</p>
<table><tr><th>fold</th><th>epochs</th><th>val accuracy</th><th>val loss</th><th>seconds</th></tr>{folds}</table>
{figures}
<h2>recipe</h2><pre>{escape(json.dumps(summary.recipe_content, indent=2))}</pre>
</body></html>
"""
