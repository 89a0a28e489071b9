"""A finished run's fold models: loaded from the run folder (:func:`load_fold_models`) and their mean softmax computed
as one graph (:func:`infer`, ``kit.infer``, through :func:`kit.engine.compile_predictor`)."""

from __future__ import annotations

import time
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from kit.crossval._runnames import resolve_run
from kit.crossval._summary import REWRITE
from kit.engine import PROBE_ROWS, compile_predictor
from kit.errors import KitError
from kit.utils import import_tensorflow, load_array, renamed
from kit.utils._display import card, facts, short_repr


@dataclass(frozen=True)
class Inference:
    """The test softmax of a run's fold models (their mean), and how fast it was computed; for a ``multilabel`` run
    the mean of their sigmoids (independent label probabilities, rows × labels)."""

    run: Path
    softmax: np.ndarray
    engine: str
    precision: str
    models: int
    seconds: float
    fallback: str | None = None  # why "auto" fell back to Keras, if it did
    multilabel: bool = False

    @property
    def labels(self) -> np.ndarray:
        """The predicted class of each row; for a multi-label run the 0/1 matrix of labels at probability ≥ 0.5."""
        if self.multilabel:
            return (self.softmax >= 0.5).astype(np.uint8)
        return self.softmax.argmax(axis=1)

    @property
    def images_per_s(self) -> float:
        return len(self.softmax) / self.seconds if self.seconds > 0 else 0.0

    def __repr__(self) -> str:
        fields = {"run": self.run, "engine": self.engine, "precision": self.precision, "rows": len(self.softmax)}
        return short_repr("Inference", {**fields, "models": self.models, "images_per_s": round(self.images_per_s)})

    def _repr_html_(self) -> str:
        about = facts(
            [
                ("engine", f"{self.engine} ({self.precision})"),
                ("fell back", self.fallback),
                ("rows", f"{len(self.softmax):,} × {self.softmax.shape[1] if self.softmax.ndim == 2 else 1}"),
                ("models", self.models),
                ("speed", f"{self.images_per_s:,.0f} images/s ({self.seconds:.2f} s)"),
            ]
        )
        return card(f"Inference · {self.run}", about)


def load_fold_models(run: Any, folds: Sequence[int] | None = None, compile: bool = False) -> list[Any]:
    """The saved models of a run folder's folds (all by default); ``compile`` restores their optimizer and metrics
    too (inference needs neither). For a snapshot-ensemble recipe (``[train.snapshots]``) a fold's model is its last
    snapshot, so it differs from the fold's voted test softmax.

    Each model file must be the one the run wrote (its checksum, where the run recorded checksums) and a model of the
    run: one input of its image shape, one softmax output over its classes, or for a multi-label run (its labels.npy a
    0/1 matrix) one sigmoid output per label (see :func:`load_model_file`)."""

    import_tensorflow()
    summary = run.summary()
    available = [score.fold for score in summary.folds]
    chosen = list(folds) if folds is not None else available
    missing = [fold for fold in chosen if fold not in available]
    if missing:
        raise KitError(f"run {run.root} has folds {available}, not {missing}", argument="folds")
    multilabel = run_multilabel(run, summary)
    models = []
    for fold in chosen:
        path = run.model_path(fold)
        if not path.is_file():
            what = "not a file" if path.exists() else "not found"
            raise KitError(f"{path}: {what}; the fold models of run {run.root} are incomplete (kit cv --force)")
        summary.check_file(run.root, path)
        shape = tuple(summary.data.image_shape)
        models.append(load_model_file(path, summary.data.classes, shape, compile, multilabel=multilabel))
    return models


def run_multilabel(run: Any, summary: Any) -> bool:
    """Whether ``run`` is a multi-label run: its ``labels.npy`` (checked against ``summary``) a 0/1 matrix; a run
    without one (none of kit's) counts as single-label."""
    if not run.labels_path.is_file():
        return False
    summary.check_file(run.root, run.labels_path)
    return load_array(run.labels_path).ndim == 2


def load_model_file(
    path: Path, classes: int, image_shape: tuple[int, ...], compile: bool = False, *, multilabel: bool = False
) -> Any:
    """The Keras model in ``path`` (in Keras' safe mode: no Python code is loaded), checked to be a fold model of a
    run with ``classes`` classes and images of ``image_shape``; one line naming the file and what is wrong otherwise:
    not a whole ``.keras`` archive, not loadable (a ``Lambda`` layer, an unknown layer or activation), another input
    or output shape, no softmax at its end (``multilabel``: no sigmoid), outputs that are not probabilities on a
    probe."""
    import keras

    import kit.engine._models  # noqa: F401  (registers kit's own layers and optimizers: backbones' ToRGB, …)

    problem = archive_problem(path)
    if problem is None:
        try:
            model = keras.saving.load_model(path, compile=compile, safe_mode=True)
        except Exception as error:  # Keras raises ValueError, TypeError, OSError, KeyError… for a bad file
            problem = load_problem(error)
        else:
            problem = model_problem(model, classes, tuple(image_shape), multilabel)
    if problem is not None:
        raise KitError(f"{path}: {problem}; {REWRITE}")
    return model


def archive_problem(path: Path) -> str | None:
    """What makes ``path`` no ``.keras`` archive (empty, truncated, text, unreadable), or None."""
    try:
        if path.stat().st_size == 0:
            return "empty file"
        if not zipfile.is_zipfile(path):
            return "damaged (not a .keras archive: truncated, or another kind of file)"
        with zipfile.ZipFile(path) as archive:
            names = set(archive.namelist())
    except OSError as error:
        return f"cannot read it ({error.strerror or error})"
    except zipfile.BadZipFile:
        return "damaged (not a readable .keras archive)"
    if "config.json" not in names:
        return "damaged (a zip archive without a Keras model's config.json)"
    return None


def load_problem(error: Exception) -> str:
    """Keras' reason for not loading a model, as one short clause (its innermost "Exception encountered")."""
    text = str(error).strip()
    if "safe_mode" in text:
        return "refused: it holds Python code (a Lambda layer or a function), which kit never loads"
    reason = text.rsplit("Exception encountered:", 1)[-1].strip().splitlines()
    reason = reason[0].strip() if reason else type(error).__name__
    return f"not a loadable Keras model ({reason[:200]})"


def model_problem(model: Any, classes: int, image_shape: tuple[int, ...], multilabel: bool = False) -> str | None:
    """What makes ``model`` no fold model of a run with ``classes`` classes and images of ``image_shape``, or None:
    one input of that shape, one output of ``classes`` values ending in a softmax, probabilities on a probe; for a
    ``multilabel`` run ending in a sigmoid instead, each output a probability."""
    inputs, outputs = getattr(model, "inputs", None) or [], getattr(model, "outputs", None) or []
    if len(inputs) != 1 or len(outputs) != 1:
        return f"has {len(inputs)} inputs and {len(outputs)} outputs, a fold model one of each"
    takes, gives = tuple(model.input_shape[1:]), tuple(model.output_shape[1:])
    if takes != image_shape:
        return f"takes images of shape {_shape(takes)}, the run's images are {_shape(image_shape)}"
    if gives != (classes,):
        return f"outputs {_shape(gives)} values per image, the run has {classes} classes"
    problem = _ending_problem(_last_layer(model), multilabel)
    if problem is not None:
        return problem
    probe = np.random.default_rng(0).uniform(0, 255, (2, *image_shape)).astype(np.float32)
    try:
        proba = np.asarray(model(probe, training=False), dtype=np.float64)
    except Exception as error:  # a model that loads but cannot compute
        return f"fails on a probe image ({(str(error).strip().splitlines() or [type(error).__name__])[0][:200]})"
    if not np.all(np.isfinite(proba)):
        return "its outputs on a probe are not finite (NaN or infinity)"
    outside = (proba < -1e-6) | (proba > 1 + 1e-6)
    if multilabel and outside.any():
        return f"its outputs are not probabilities (on a probe image one is {proba[outside][0]:.4g})"
    if multilabel:
        return None
    sums = proba.sum(axis=1)
    if (proba < -1e-6).any() or not np.allclose(sums, 1.0, atol=1e-3):
        return f"its outputs are not probabilities (on a probe image they sum to {sums[np.argmax(abs(sums - 1))]:.4g})"
    return None


def _shape(shape: tuple[Any, ...]) -> str:
    return "×".join("any" if size is None else str(size) for size in shape) or "()"


def _last_layer(model: Any) -> Any:
    layer = model
    while hasattr(layer, "layers") and layer.layers:  # a model whose last layer is itself a model
        layer = layer.layers[-1]
    return layer


def _is_softmax(layer: Any) -> bool:
    import keras

    return isinstance(layer, keras.layers.Softmax) or getattr(layer, "activation", None) is keras.activations.softmax


def _ending_problem(last: Any, multilabel: bool) -> str | None:
    """What is wrong with a fold model's last layer: a single-label run's ends in a softmax, a multi-label run's in a
    sigmoid (independent label probabilities); None when it does."""
    import keras

    activation = getattr(last, "activation", None)
    name = getattr(activation, "__name__", None) or "none"
    if multilabel and activation is not keras.activations.sigmoid:
        return f"does not end in a sigmoid (its last layer {last.name!r} has activation {name}; the run is multi-label)"
    if not multilabel and not _is_softmax(last):
        sigmoid = "; a multi-label model, the run is single-label" if activation is keras.activations.sigmoid else ""
        return (
            f"does not end in a softmax (its last layer {last.name!r} has activation {name}: no probabilities{sigmoid})"
        )
    return None


@renamed(data_dir="data")
def infer(
    run: str | Path,
    images: np.ndarray | None = None,
    data: str | Path | None = None,
    folds: Sequence[int] | None = None,
    engine: str = "auto",
    batch: int | None = None,
    threads: int | None = None,
    precision: str = "float32",
) -> Inference:
    """The mean softmax of a finished run's fold models on ``images`` (default: the run's test images, read from
    ``data`` or the run's own data folder), computed as one graph (see :func:`compile_predictor`)."""
    folder = resolve_run(run)
    if images is None:
        images = folder.images("test", data).images
    elif data is not None:
        raise KitError("images and data exclude each other; pass the images, or the folder to read them from")
    images = np.asarray(images)
    models = load_fold_models(folder, folds)
    expected = tuple(models[0].input_shape[1:])
    if tuple(images.shape[1:]) != expected:
        raise KitError(f"images: shape {tuple(images.shape)}, run {folder.root}'s models take (rows, {expected})")
    predictor = compile_predictor(models, engine, batch, threads, images[:PROBE_ROWS], precision)
    started = time.perf_counter()
    softmax = predictor(images)
    seconds = time.perf_counter() - started
    multilabel = run_multilabel(folder, folder.summary())
    return Inference(
        folder.root,
        softmax,
        predictor.engine,
        predictor.precision,
        predictor.models,
        seconds,
        predictor.fallback,
        multilabel,
    )
