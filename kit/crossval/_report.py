"""A run's report: its figures (:mod:`kit.crossval._figures`) as PNGs, and one self-contained HTML page with the scores
in the competition's metric, the fold and per-class tables, the figures, and the recipe as TOML with its overrides.

The learning-rate panel shows the rate the history recorded, or else the one the recipe's schedule gave at every step
of each fold, computed here as :func:`kit.engine.learning_rate` builds it (no TensorFlow needed to draw a report).
"""

from __future__ import annotations

import base64
import html
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from kit.crossval._figures import (
    Curve,
    confident_errors,
    confident_errors_figure,
    confusion_figure,
    confusion_rates,
    curves_figure,
    label_counts_figure,
    per_label_figure,
    png_bytes,
    samples_figure,
)
from kit.crossval._rundir import RunFolder
from kit.crossval._runnames import resolve_run
from kit.crossval._summary import Summary
from kit.errors import KitError
from kit.utils import load_array, write_bytes_atomic

__all__ = ["confident_errors", "confident_errors_figure", "png_bytes", "write_report"]  # the face's names
RATE_POINTS = 1500  # at most this many steps of a per-step schedule are drawn (every epoch's boundaries among them)
CAPTIONS = {
    "label_counts": "Training images per class.",
    "samples": "Random training images of each class.",
    "curves": "Validation accuracy and loss of each fold (solid, a colour per fold) and the folds' mean training "
    "accuracy and loss (dashed; measured with augmentation and dropout on), by epoch; the learning rate as the history "
    "recorded it or as the recipe's schedule set it at every step.",
    "per_label": "Out-of-fold ROC AUC of each label of a multi-label task.",
    "confusion": "Out-of-fold confusion matrix, true class by row: each row is normalised to its class's images and "
    "the diagonal (the right answers) is grey, so the colour shows where each class's mistakes go; numbers are counts.",
    "confident_errors": "The out-of-fold mistakes made with the highest confidence: train.csv row (0-based), true and "
    "predicted class, and the predicted class's probability. Mislabelled training images often show up here.",
}


@dataclass(frozen=True)
class Report:
    """The files a report wrote: one PNG per figure name, and the HTML page that embeds them."""

    images: dict[str, Path]
    html: Path


@dataclass(frozen=True)
class ClassRow:
    """One class's out-of-fold scores; ``confused``: the class its images are most often mistaken for, with the
    count (None: no mistakes)."""

    name: str
    support: int
    recall: float
    precision: float
    f1: float
    confused: tuple[str, int] | None


def class_table(
    labels: np.ndarray, predicted: np.ndarray, classes: int, names: Sequence[str] | None = None
) -> list[ClassRow]:
    """Every class's support, recall (its OOF accuracy), precision, F1 and most frequent confusion."""
    counts, _ = confusion_rates(labels, predicted, classes)
    right, support, said = np.diag(counts), counts.sum(axis=1), counts.sum(axis=0)
    rows = []
    for k in range(classes):
        recall = right[k] / support[k] if support[k] else 0.0
        precision = right[k] / said[k] if said[k] else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        mistakes = np.where(np.arange(classes) == k, -1, counts[k])
        worst = int(mistakes.argmax())
        name = str(k) if names is None else names[k]
        confused = (
            (str(worst) if names is None else names[worst], int(mistakes[worst])) if mistakes[worst] > 0 else None
        )
        rows.append(ClassRow(name, int(support[k]), float(recall), float(precision), float(f1), confused))
    return rows


def schedule_rates(train: Any, steps_per_epoch: int, epochs: int) -> Curve:
    """The learning rate of the recipe's ``train`` table at every step of ``epochs`` epochs of ``steps_per_epoch``
    steps, as (the step's end in epochs, the rate), as :func:`kit.engine.learning_rate` schedules it."""
    step = np.arange(epochs * steps_per_epoch, dtype=float)
    peak, schedule = train.learning_rate, train.schedule

    def cosine(fraction: np.ndarray, floor: float) -> np.ndarray:
        return (1 - floor) * 0.5 * (1 + np.cos(np.pi * fraction)) + floor

    if train.snapshots is not None:  # SGDR: one cosine cycle per snapshot
        cycle = train.epochs // train.snapshots.count * steps_per_epoch
        rate = peak * cosine((step / cycle) % 1.0, train.snapshots.final_factor)
    elif schedule.kind == "constant":
        rate = np.full(len(step), peak)
    elif schedule.kind == "exponential":
        rate = peak * schedule.setting("decay") ** np.floor(step / steps_per_epoch)
    else:  # cosine and one_cycle: a linear warm-up, then cosine decay
        total = train.epochs * steps_per_epoch
        warmup = min(round(schedule.setting("warmup") * total), total - 1)
        final = schedule.setting("final_factor")
        start = peak * schedule.setting("start_factor") if warmup else peak
        decay = peak * cosine(np.minimum(step - warmup, total - warmup) / (total - warmup), final)
        rate = np.where(step < warmup, start + (peak - start) * step / max(warmup, 1), decay)
    keep = np.arange(len(step))
    if len(step) > RATE_POINTS:  # thinned, every epoch's first and last step kept (a staircase keeps its steps)
        ends = np.arange(steps_per_epoch - 1, len(step), steps_per_epoch)
        keep = np.unique(np.concatenate([np.linspace(0, len(step) - 1, RATE_POINTS).astype(int), ends, ends[:-1] + 1]))
    return (step[keep] + 1) / steps_per_epoch, rate[keep]


def fold_rates(summary: Summary, folds: dict[int, Any]) -> tuple[dict[int, Curve], str]:
    """Each fold's learning rate by epoch and where it came from: the histories' recorded ``learning_rate``, or else
    the recipe's schedule over each fold's steps (none when the recipe no longer reads)."""
    histories = {fold: result.history for fold, result in folds.items()}
    if histories and all("learning_rate" in history for history in histories.values()):
        recorded = {fold: np.asarray(history["learning_rate"], dtype=float) for fold, history in histories.items()}
        return {fold: (np.arange(1, len(rates) + 1), rates) for fold, rates in recorded.items()}, "recorded"
    from kit.recipes import parse_recipe

    try:
        train = parse_recipe(summary.recipe_content, summary.recipe).train
    except KitError:
        return {}, ""
    rates = {}
    for fold, result in folds.items():
        rows = summary.data.train_rows - summary.holdout_rows - len(result.val_rows) + summary.pseudo_rows
        epochs = len(result.history.get("loss", ())) or train.epochs
        rates[fold] = schedule_rates(train, math.ceil(rows / train.batch_size), epochs)
    kind = "snapshots" if train.snapshots is not None else train.schedule.kind.replace("_", "-")
    return rates, f"{kind} schedule of the recipe"


def run_figures(run: RunFolder, data_dir: Path | str | None = None) -> dict[str, Figure]:
    """Every report figure of a run, by name; the sample and mistake images come from the run's training data."""
    summary = run.summary()
    classes = summary.data.classes
    labels = load_array(run.labels_path)
    oof = load_array(run.oof_path)
    images = run.images("train", data_dir).images
    names = class_names(summary, data_dir)
    folds = {score.fold: result for score in summary.folds if (result := run.load_fold(score.fold)) is not None}
    rates, source = fold_rates(summary, folds)
    figures = {
        "label_counts": label_counts_figure(labels, classes, names),
        "samples": samples_figure(images, labels, classes, names=names),
        "curves": curves_figure({fold: result.history for fold, result in folds.items()}, rates, source),
    }
    if labels.ndim == 2:  # multi-label: no confusion matrix; each label's AUC instead
        return {**figures, "per_label": per_label_figure(labels, oof, names)}
    return {
        **figures,
        "confusion": confusion_figure(labels, oof.argmax(axis=1), classes, names),
        "confident_errors": confident_errors_figure(images, labels, oof, names=names),
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
    labels = load_array(run.labels_path)
    table = None
    if labels.ndim == 1:
        table = class_table(
            labels, load_array(run.oof_path).argmax(axis=1), summary.data.classes, class_names(summary, data_dir)
        )
    page = run.root / "report.html"
    write_bytes_atomic(page, report_html(summary, run.root, pictures, table).encode())
    return Report(images=paths, html=page)


def _table(header: Sequence[str], rows: Sequence[Sequence[Any]], text: Sequence[int] = (0,)) -> str:
    """An HTML table, every cell escaped; the ``text`` columns are left-aligned, the rest are numbers."""

    def cell(tag: str, column: int, value: Any) -> str:
        return f"<{tag}{' class=t' if column in text else ''}>{html.escape(str(value))}</{tag}>"

    head = "".join(cell("th", k, value) for k, value in enumerate(header))
    body = "".join("<tr>" + "".join(cell("td", k, value) for k, value in enumerate(row)) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _scores(summary: Summary) -> list[tuple[str, str]]:
    """The score cards (label, value), the competition's metric first."""
    cards = []
    if summary.oof_score is not None and summary.metric != "accuracy":
        cards.append((f"OOF {summary.metric} (the competition's metric)", f"{summary.oof_score:.4f}"))
    accuracy = "OOF accuracy (the competition's metric)" if summary.metric == "accuracy" else "OOF accuracy"
    cards += [(accuracy, f"{summary.oof_accuracy:.4f}"), ("OOF loss", f"{summary.oof_loss:.4f}")]
    cards.append(("fold accuracy", f"{summary.fold_accuracy_mean:.4f} ± {summary.fold_accuracy_std:.4f}"))
    if summary.holdout_accuracy is not None:
        cards.append((f"hold-out accuracy ({summary.holdout_rows} rows)", f"{summary.holdout_accuracy:.4f}"))
    minutes, seconds = divmod(round(summary.train_seconds), 60)
    return [*cards, ("training time", f"{minutes}m {seconds:02d}s" if minutes else f"{seconds}s")]


def _facts(summary: Summary, root: Path) -> list[tuple[str, str]]:
    """What the run was: competition, metric, data folder, recipe, images, folds, hold-out, pseudo-labels, versions."""
    data = summary.data
    facts = [
        ("competition", summary.competition),
        ("metric", summary.metric),
        ("data folder", summary.data_dir),
        ("recipe", f"{summary.recipe} (content hash {summary.recipe_hash})"),
        ("images", f"{data.train_rows} train, {data.test_rows} test, {'×'.join(map(str, data.image_shape))}"),
        ("classes", str(data.classes)),
        ("folds", f"{summary.folds_total} (seed {summary.seed}{', grouped' if summary.groups else ''})"),
    ]
    if summary.holdout_rows:
        facts.append(("hold-out", f"{summary.holdout_rows} train rows kept out of every fold ({summary.holdout:g})"))
    if summary.pseudo_rows:
        facts.append(("pseudo-labels", f"{summary.pseudo_rows} test rows added to every fold's training part"))
    versions = ", ".join(f"{name} {version}" for name, version in summary.versions.items())
    return [*facts, ("finished", summary.finished_at), *([("versions", versions)] if versions else [])]


def _recipe(summary: Summary) -> str:
    """The recipe section: the overrides as a table, then the resolved recipe (overrides applied) as TOML."""
    from kit.utils import toml_dumps, toml_value

    try:
        text = toml_dumps(summary.recipe_content)
    except (TypeError, ValueError):  # a value TOML cannot hold: shown as Python writes it
        text = repr(summary.recipe_content)
    overrides = "<p>No overrides: the recipe as its file gives it.</p>"
    if summary.overrides:
        rows = [(key, toml_value(value)) for key, value in summary.overrides.items()]
        said = (
            "<p>Overrides (<code>--set KEY=VALUE</code>; keyword arguments in Python), applied in the recipe below:</p>"
        )
        overrides = said + _table(("key", "value"), rows, (0, 1))
    return f"<h2>recipe {html.escape(summary.recipe)}</h2>{overrides}<pre>{html.escape(text)}</pre>"


STYLE = """:root{--ink:#1f2328;--muted:#59636e;--line:#d1d9e0;--soft:#f6f8fa;--accent:#0969da}
body{font:15px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:var(--ink);max-width:1180px;
margin:0 auto;padding:2rem 1.5rem}h1{font-size:1.6rem;margin:0 0 .2rem}.sub{color:var(--muted);margin:0}
h2{font-size:1.2rem;margin:2.2rem 0 .6rem;padding-bottom:.3rem;border-bottom:1px solid var(--line)}
.cards{display:flex;flex-wrap:wrap;gap:.8rem;margin:1.2rem 0}.card{border:1px solid var(--line);border-radius:8px;
padding:.5rem 1rem;background:var(--soft)}.card b{display:block;font-size:1.45rem;font-variant-numeric:tabular-nums}
.card span{color:var(--muted);font-size:.85rem}.card:first-child{border-color:var(--accent);background:#ddf4ff}
dl{display:grid;grid-template-columns:max-content 1fr;gap:.15rem 1.2rem;margin:0}dt{color:var(--muted)}
dd{margin:0;overflow-wrap:anywhere}table{border-collapse:collapse;font-variant-numeric:tabular-nums;margin:.4rem 0}
th,td{padding:.25rem .75rem;border-bottom:1px solid var(--line);text-align:right}th{background:var(--soft)}
.t{text-align:left}tbody tr:hover{background:#f3f7fb}code,pre{font:13px/1.45 ui-monospace,Menlo,Consolas,monospace}
pre{background:var(--soft);border:1px solid var(--line);border-radius:6px;padding:1rem;overflow:auto}
figure{margin:1rem 0}figure img{max-width:100%;height:auto;border:1px solid var(--line);border-radius:6px}
figcaption{color:var(--muted);font-size:.9rem}"""


def report_html(
    summary: Summary, root: Path, pictures: dict[str, bytes], classes: Sequence[ClassRow] | None = None
) -> str:
    """One HTML page: the run's scores in the competition's metric beside accuracy and loss, its facts, fold table,
    per-class table (``classes``), figures (base64 PNGs) and recipe as TOML with its overrides; every value escaped."""
    escape = html.escape
    cards = "".join(f"<div class=card><span>{escape(k)}</span><b>{escape(v)}</b></div>" for k, v in _scores(summary))
    facts = "".join(f"<dt>{escape(k)}</dt><dd>{escape(v)}</dd>" for k, v in _facts(summary, root))
    folds = [
        (f.fold, f.epochs, f"{f.val_accuracy:.4f}", f"{f.val_loss:.4f}", f"{f.seconds:.1f}") for f in summary.folds
    ]
    fold_table = _table(("fold", "epochs", "val accuracy", "val loss", "seconds"), folds, ())
    per_class = ""
    if classes:
        rows = [
            (row.name, row.support, f"{row.recall:.4f}", f"{row.precision:.4f}", f"{row.f1:.4f}", _confused(row))
            for row in classes
        ]
        header = ("class", "images", "OOF accuracy (recall)", "precision", "F1", "most often predicted instead")
        per_class = f"<h2>classes</h2>{_table(header, rows, (0, 5))}"
    figures = "".join(
        f'<h2>{escape(name.replace("_", " "))}</h2><figure><img alt="{escape(name)}" '
        f'src="data:image/png;base64,{base64.b64encode(data).decode()}"><figcaption>{escape(CAPTIONS[name])}'
        "</figcaption></figure>"
        for name, data in pictures.items()
    )
    title = f"{summary.recipe} on {summary.competition}"
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>kit report: {escape(title)}</title><style>{STYLE}</style></head>
<body><h1>kit report: {escape(title)}</h1><p class=sub>run folder {escape(str(Path(root).resolve()))}</p>
<div class=cards>{cards}</div><dl>{facts}</dl>
<h2>folds</h2>{fold_table}{per_class}{figures}{_recipe(summary)}
</body></html>
"""


def _confused(row: ClassRow) -> str:
    if row.confused is None:
        return "—"
    name, count = row.confused
    return f"{name} ({count}, {count / row.support:.0%})"
