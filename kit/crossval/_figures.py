"""The report's figures: label counts, sample images, learning curves, the OOF confusion matrix, a multi-label run's
per-label AUC and the most confident mistakes, each labelled with the class names where the spec gives them.

Figures are drawn on :class:`matplotlib.figure.Figure` objects (rendered by Agg, no display and no pyplot state), so
the functions also work in a notebook: each returns a figure that a notebook shows as it is.
"""

from __future__ import annotations

import io
import textwrap
from collections.abc import Sequence
from typing import Any

import numpy as np
from matplotlib import colormaps, ticker
from matplotlib.figure import Figure

SAMPLES_PER_CLASS = 6
CONFIDENT_ERRORS = 24
ERROR_COLUMNS = 8
FOLD_LINES = 8  # more folds than this: their validation mean and spread instead of a line each
ANNOTATED_CLASSES = 30  # a larger confusion matrix is coloured only: its counts would not fit its cells
DPI = 110
Curve = tuple[np.ndarray, np.ndarray]  # (x in epochs, values)


def _show_image(axes: Any, image: np.ndarray) -> None:
    """Draw one (height, width, channels) uint8 image without ticks."""
    if image.shape[-1] == 1:
        axes.imshow(image[..., 0], cmap="gray", vmin=0, vmax=255)
    else:
        axes.imshow(image)
    axes.set_xticks([])
    axes.set_yticks([])


def _label(names: Sequence[str] | None, index: int, width: int | None = None) -> str:
    """Class ``index`` by its name (wrapped to ``width`` characters a line when given), or its index."""
    text = str(index) if names is None else names[index]
    return textwrap.fill(text, width, break_long_words=False) if width else text


def _name_ticks(axis: Any, names: Sequence[str] | None, size: float = 8) -> None:
    """The class names as tick labels (slanted and right-aligned at their tick when long), where the spec gives them."""
    if names is not None:
        axis.set_ticklabels(names, fontsize=size)
    if axis.axis_name == "x" and names is not None and max(map(len, names)) > 3:
        for tick in axis.get_ticklabels():
            tick.set(rotation=45, ha="right", rotation_mode="anchor")


def label_counts_figure(labels: np.ndarray, classes: int, names: Sequence[str] | None = None) -> Figure:
    """A bar chart of how many training images each class (each label of a multi-label task) has."""
    counts = labels.sum(axis=0) if labels.ndim == 2 else np.bincount(labels, minlength=classes)
    figure = Figure(figsize=(max(7, 0.3 * classes), 3.8), layout="constrained")
    axes = figure.add_subplot()
    bars = axes.bar(np.arange(classes), counts, color="tab:blue")
    if classes <= ANNOTATED_CLASSES:
        axes.bar_label(bars, fontsize=8)
    axes.set(xlabel="class", ylabel="images", xticks=np.arange(classes), title=f"label counts ({len(labels)} images)")
    _name_ticks(axes.xaxis, names)
    return figure


def samples_figure(
    images: np.ndarray,
    labels: np.ndarray,
    classes: int,
    per_class: int = SAMPLES_PER_CLASS,
    seed: int = 0,
    names: Sequence[str] | None = None,
) -> Figure:
    """A grid with one column per class of ``per_class`` random training images, headed by the class names."""
    rng = np.random.default_rng(seed)
    figure = Figure(figsize=(0.9 * classes + 0.4, 0.9 * per_class + 0.9), layout="constrained")
    grid = figure.subplots(per_class, classes, squeeze=False)
    for label in range(classes):
        rows = np.flatnonzero(labels[:, label] == 1 if labels.ndim == 2 else labels == label)
        picked = rng.choice(rows, size=min(per_class, len(rows)), replace=False) if len(rows) else []
        for position, axes in enumerate(grid[:, label]):
            if position < len(picked):
                _show_image(axes, images[picked[position]])
            else:
                axes.axis("off")
        grid[0, label].set_title(_label(names, label, 11), fontsize=7)
    figure.suptitle("sample training images by class")
    return figure


def _focus(curves: Sequence[np.ndarray], log: bool = False) -> tuple[float, float, bool] | None:
    """The y range of ``curves`` (low, high, whether the first epochs fall outside it): their later epochs' range
    when the first epochs' values dwarf it (three times as wide), in log space for a log axis; None: no values."""

    def usable(values: np.ndarray) -> np.ndarray:
        values = np.asarray(values, dtype=float)
        values = values[np.isfinite(values) & ((values > 0) if log else True)]
        return np.log10(values) if log else values

    every = [usable(values) for values in curves]
    later = [values[max(1, len(values) // 10) :] if len(values) >= 4 else values for values in every]
    every, later = np.concatenate([*every, []]), np.concatenate([*later, []])
    if not len(every):
        return None
    low, high, clipped = every.min(), every.max(), False
    if len(later) and high - low > 3 * (later.max() - later.min()):
        low, high, clipped = later.min(), later.max(), True
    pad = 0.08 * (high - low) or 0.05 * abs(high) or 0.05
    low, high = low - pad, high + pad
    return (10**low, 10**high, clipped) if log else (low, high, clipped)


def _fold_panel(axes: Any, histories: dict[int, dict[str, list[float]]], metric: str) -> None:
    """One metric's panel: validation per fold (solid; their mean and spread when many) and the training mean of the
    folds (dashed), on an axis focused on the later epochs (log for a loss that falls tenfold)."""
    val = {fold: np.asarray(h[f"val_{metric}"], dtype=float) for fold, h in histories.items() if f"val_{metric}" in h}
    train = [np.asarray(h[metric], dtype=float) for h in histories.values() if metric in h]
    if len(val) <= FOLD_LINES:
        for fold, values in val.items():
            axes.plot(np.arange(1, len(values) + 1), values, color=f"C{(fold - 1) % 10}", lw=1.4, label=f"fold {fold}")
    else:
        mean, low, high = _spread(list(val.values()))
        x = np.arange(1, len(mean) + 1)
        axes.fill_between(x, low, high, color="C0", alpha=0.2, lw=0, label=f"validation, {len(val)} folds' range")
        axes.plot(x, mean, color="C0", lw=1.6, label="validation, mean of the folds")
    if train:
        mean = _spread(train)[0]
        axes.plot(np.arange(1, len(mean) + 1), mean, "--", color="0.3", lw=1.6, label="training, mean of the folds")
    curves = [*val.values(), *train]
    positive = [values[np.isfinite(values)] for values in curves]
    log = metric == "loss" and all(len(v) and v.min() > 0 for v in positive) and _ratio(positive) > 10
    focus = _focus(curves, log)
    title = f"{metric}{' (log scale)' if log else ''}"
    if log:
        axes.set_yscale("log")
        _log_labels(axes.yaxis)
    if focus is not None:
        low, high, clipped = focus
        if metric == "accuracy":
            low, high = max(low, 0.0), min(high, 1.01)
        axes.set_ylim(low, high)
        title += " — first epochs off the axis" if clipped else ""
    axes.set_title(title, fontsize=10)


def _spread(curves: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The mean, minimum and maximum by epoch of curves of different lengths (a fold that stopped early counts until
    its last epoch)."""
    padded = np.full((len(curves), max(map(len, curves))), np.nan)
    for row, values in enumerate(curves):
        padded[row, : len(values)] = values
    return np.nanmean(padded, axis=0), np.nanmin(padded, axis=0), np.nanmax(padded, axis=0)


class _PlainLog(ticker.LogFormatter):
    """The log formatter's choice of ticks to label, written as plain numbers (0.03, not 3e-02)."""

    def _num_to_string(self, x: float, vmin: float, vmax: float) -> str:
        return f"{x:.3g}"


def _log_labels(axis: Any) -> None:
    """Plain numbers on a log axis, some minor ticks labelled too when it spans two decades or less."""
    axis.set_major_formatter(_PlainLog(labelOnlyBase=False))
    axis.set_minor_formatter(_PlainLog(labelOnlyBase=False, minor_thresholds=(2, 0.5)))
    axis.set_tick_params(which="minor", labelsize=7)


def _ratio(curves: list[np.ndarray]) -> float:
    values = np.concatenate([*curves, []])
    return float(values.max() / values.min()) if len(values) else 1.0


def _rate_panel(axes: Any, rates: dict[int, Curve], source: str) -> None:
    """The learning rate by epoch: one line for every fold when they agree, a line per fold otherwise."""
    curves = sorted(rates.items(), key=lambda item: -len(item[1][0]))  # the longest first (early stops are shorter)

    def agrees(curve: Curve) -> bool:  # the longest curve's rate at the same steps, where the two overlap
        n = len(curve[0])
        return np.allclose(curve[0], curves[0][1][0][:n]) and np.allclose(curve[1], curves[0][1][1][:n], rtol=1e-4)

    same = all(agrees(curve) for _, curve in curves)
    for fold, (x, values) in curves[:1] if same else curves:
        axes.plot(x, values, color="0.15" if same else f"C{(fold - 1) % 10}", lw=1.4, drawstyle="steps-pre")
    values = np.concatenate([values for _, values in rates.values()])
    cosine = any(kind in source for kind in ("cosine", "one-cycle", "snapshots"))  # read best on a linear axis
    if not cosine and values.min() > 0 and values.max() / values.min() > 20:
        axes.set_yscale("log")
        _log_labels(axes.yaxis)
    else:
        axes.set_ylim(0, values.max() * 1.1)
        axes.yaxis.set_major_formatter(ticker.FormatStrFormatter("%.3g"))
    axes.set_title(f"learning rate ({'all folds, ' if same else ''}{source})", fontsize=10)


def curves_figure(
    histories: dict[int, dict[str, list[float]]], rates: dict[int, Curve] | None = None, rate_source: str = "recorded"
) -> Figure:
    """Accuracy, loss and learning rate by epoch, a panel each: each fold's validation curve and the folds' training
    mean; ``rates`` (fold -> (epochs, learning rates), e.g. per step from the recipe's schedule) default to the
    histories' recorded ``learning_rate``; a legend under the panels, never over the lines."""
    histories = dict(sorted(histories.items()))
    if rates is None:
        recorded = {fold: h["learning_rate"] for fold, h in histories.items() if "learning_rate" in h}
        rates = {fold: (np.arange(1, len(r) + 1), np.asarray(r, dtype=float)) for fold, r in recorded.items()}
    metrics = ["accuracy", "loss"] + (["learning_rate"] if rates else [])
    figure = Figure(figsize=(4.6 * len(metrics), 4.2), layout="constrained")
    panels = figure.subplots(1, len(metrics), squeeze=False)[0]
    for axes, metric in zip(panels, metrics):
        if metric == "learning_rate":
            _rate_panel(axes, rates, rate_source)
        else:
            _fold_panel(axes, histories, metric)
        axes.set_xlabel("epoch")
        axes.xaxis.set_major_locator(ticker.MaxNLocator(integer=True))
        axes.grid(alpha=0.3)
    handles, names = panels[0].get_legend_handles_labels()
    if handles:
        figure.legend(handles, names, loc="outside lower center", ncol=min(len(handles), 6), fontsize=8, frameon=False)
    return figure


def confusion_rates(labels: np.ndarray, predicted: np.ndarray, classes: int) -> tuple[np.ndarray, np.ndarray]:
    """The confusion counts (true class by row, predicted class by column) and each row's shares of its true class."""
    counts = np.zeros((classes, classes), dtype=np.int64)
    np.add.at(counts, (np.asarray(labels), np.asarray(predicted)), 1)
    support = counts.sum(axis=1, keepdims=True)
    return counts, np.divide(counts, support, out=np.zeros(counts.shape), where=support > 0)


def confusion_figure(
    labels: np.ndarray, predicted: np.ndarray, classes: int, names: Sequence[str] | None = None
) -> Figure:
    """The row-normalised confusion matrix with its diagonal masked (grey), so the mistakes carry the colour scale:
    each cell's colour is the share of its true class predicted as its column, its text the count (where not 0)."""
    counts, rates = confusion_rates(labels, predicted, classes)
    errors = np.ma.masked_array(rates, mask=np.eye(classes, dtype=bool))
    top = max(float(errors.max()) if errors.count() else 0.0, 0.01)
    side = min(0.5 * classes, 15) + 2.5
    figure = Figure(figsize=(side + 1.2, side), layout="constrained")
    axes = figure.add_subplot()
    colours = colormaps["Reds"].with_extremes(bad="#d9d9d9", under="white")  # no mistakes: white, not pale red
    image = axes.imshow(errors, cmap=colours, vmin=1e-9, vmax=top)
    bar = figure.colorbar(image, ax=axes, shrink=0.7, format=ticker.PercentFormatter(1.0, decimals=0))
    bar.set_label("share of the true class's images (diagonal: grey)")
    if classes <= ANNOTATED_CLASSES:
        size = 9 if classes <= 12 else 7
        for row, column in zip(*np.nonzero(counts)):
            mistake = row != column
            dark = mistake and rates[row, column] > 0.55 * top
            colour = "white" if dark else ("0.1" if mistake else "0.35")
            weight = "bold" if mistake else "normal"
            text = str(counts[row, column])
            axes.text(column, row, text, ha="center", va="center", fontsize=size, color=colour, fontweight=weight)
    ticks = np.arange(classes)
    axes.set(xticks=ticks, yticks=ticks, xlabel="predicted class", ylabel="true class")
    size = 8 if classes <= 20 else max(4, 160 / classes)
    _name_ticks(axes.xaxis, names, size)
    _name_ticks(axes.yaxis, names, size)
    axes.tick_params(length=0)
    accuracy = float(np.mean(np.asarray(labels) == np.asarray(predicted)))
    mistakes = int(counts.sum() - np.trace(counts))
    axes.set_title(f"OOF confusion matrix, row-normalised (accuracy {accuracy:.4f}, {mistakes} mistakes)", fontsize=10)
    return figure


def per_label_figure(labels: np.ndarray, proba: np.ndarray, names: Sequence[str] | None = None) -> Figure:
    """A multi-label run's OOF ROC AUC per label (a label whose answers are all alike has none)."""
    from sklearn.metrics import roc_auc_score

    columns = labels.shape[1]
    scores = [
        roc_auc_score(labels[:, j], proba[:, j]) if labels[:, j].min() != labels[:, j].max() else 0.0
        for j in range(columns)
    ]
    figure = Figure(figsize=(max(7, 0.3 * columns), 3.8), layout="constrained")
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
    images: np.ndarray,
    labels: np.ndarray,
    proba: np.ndarray,
    count: int = CONFIDENT_ERRORS,
    names: Sequence[str] | None = None,
) -> Figure:
    """The most confidently wrong images, titled with their row, true class, predicted class and its probability."""
    rows = confident_errors(proba, labels, count)
    columns = ERROR_COLUMNS
    lines = max(1, -(-len(rows) // columns))
    figure = Figure(figsize=(1.6 * columns, 2.0 * lines + 0.5), layout="constrained")
    grid = figure.subplots(lines, columns, squeeze=False)
    for axes in grid.flat:
        axes.axis("off")
    for axes, row in zip(grid.flat, rows):
        predicted = int(proba[row].argmax())
        axes.axis("on")
        _show_image(axes, images[row])
        true, guess = _label(names, int(labels[row]), 18), _label(names, predicted, 18)
        axes.set_title(f"row {row}\ntrue {true}\n→ {guess} ({proba[row, predicted]:.2f})", fontsize=7)
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
