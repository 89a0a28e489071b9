"""Snapshot ensembles of one fold (``train.snapshots``): the predictions of the model at the end of every learning-rate
cycle, kept on disk beside the fold's checkpoint so that a killed fold resumes with them, and their vote.

With ``count = K`` the fold's epochs form K equal cosine cycles with warm restarts (the schedule is
:func:`kit.engine._models.learning_rate`'s). At the end of cycles 1 … K-1 :func:`SnapshotKeeper` (a Keras callback,
put before the checkpoint's) predicts the validation, test and hold-out rows and writes them atomically to
``checkpoint/snapshots/snapshot-K.npz``, stamped with the fold's identity; the model after ``fit`` is the last
snapshot. :func:`vote` averages the K softmaxes, which become the fold's predictions.

Importing this module is cheap: Keras is imported only when the callback is built.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from kit.recipes import TrainSpec
from kit.utils import write_bytes_atomic
from kit.utils._io import os_error

FOLDER = "snapshots"  # inside the fold's checkpoint folder, which EpochCheckpoint's clean-up of files leaves alone
PARTS = ("val", "test", "holdout")
Predictions = tuple[np.ndarray, np.ndarray | None, np.ndarray | None]  # (validation, test, hold-out) softmaxes


@dataclass(frozen=True)
class Snapshot:
    """The softmaxes of the model at the end of cycle ``cycle`` (1-based), after epoch ``epoch``."""

    cycle: int
    epoch: int
    val: np.ndarray
    test: np.ndarray | None
    holdout: np.ndarray | None


def cycle_ends(train: TrainSpec) -> list[int]:
    """The epochs (1-based) after which a snapshot is taken, the last one ``train.epochs``; [] without snapshots."""
    if train.snapshots is None:
        return []
    length = train.epochs // train.snapshots.count
    return [length * cycle for cycle in range(1, train.snapshots.count + 1)]


def snapshot_path(folder: Path | str, cycle: int) -> Path:
    return Path(folder) / FOLDER / f"snapshot-{cycle}.npz"


def _stamp(identity: Any) -> str:
    return json.dumps(identity, sort_keys=True, default=str)


def save_snapshot(folder: Path | str, snapshot: Snapshot, identity: Any = None) -> Path:
    """Write ``snapshot`` atomically into ``folder``/snapshots/, stamped with ``identity``; return its path."""
    arrays = {part: value for part in PARTS if (value := getattr(snapshot, part)) is not None}
    buffer = io.BytesIO()
    np.savez(buffer, cycle=snapshot.cycle, epoch=snapshot.epoch, identity=np.array(_stamp(identity)), **arrays)
    path = snapshot_path(folder, snapshot.cycle)
    write_bytes_atomic(path, buffer.getvalue())  # creates the folder; an OSError is one line naming the path
    return path


def load_snapshot(
    folder: Path | str, cycle: int, identity: Any, shapes: dict[str, tuple[int, ...] | None]
) -> Snapshot | None:
    """The snapshot of ``cycle`` in ``folder`` if it is whole, of this identity and of the expected ``shapes`` (per
    part, None for a part that is not predicted), with finite probabilities; otherwise None."""
    try:
        with np.load(snapshot_path(folder, cycle), allow_pickle=False) as stored:
            if str(stored["identity"]) != _stamp(identity) or int(stored["cycle"]) != cycle:
                return None
            parts = {part: stored[part] if part in stored.files else None for part in PARTS}
            epoch = int(stored["epoch"])
    except Exception:  # missing, truncated, not a zip, a member that fails its CRC…: no snapshot
        return None
    for part, shape in shapes.items():
        value = parts[part]
        if (value is None) != (shape is None):
            return None
        if value is not None and (value.shape != tuple(shape) or not np.all(np.isfinite(value))):
            return None
    return Snapshot(cycle=cycle, epoch=epoch, **parts)


def clear_snapshots(folder: Path | str) -> None:
    """Remove the snapshot files (``snapshot-K.npz``) of ``folder`` (a fold that starts afresh must not vote with an
    older fit's); other files there stay, and a link in place of the folder is not followed."""
    snapshots = Path(folder) / FOLDER
    if snapshots.is_symlink():
        return
    try:
        for path in snapshots.glob("snapshot-*.npz"):
            if path.is_file() or path.is_symlink():
                path.unlink(missing_ok=True)
    except OSError as error:
        raise os_error(Path(error.filename or snapshots), error, "cannot remove") from None


def finished_snapshots(
    train: TrainSpec,
    folder: Path | str | None,
    identity: Any,
    epochs_done: int | None,
    shapes: dict[str, tuple[int, ...] | None],
) -> list[Snapshot] | None:
    """The snapshots of the cycles before the last that a resumed fit (``epochs_done`` epochs) has finished, read
    from ``folder`` (the checkpoint folder); [] for a fit that starts afresh (``epochs_done`` None), whose leftover
    snapshot files are removed; None when one of them is missing or damaged: the fold must be trained again from its
    start (the snapshot files are removed then too)."""
    if folder is None or epochs_done is None:
        if folder is not None:
            clear_snapshots(folder)
        return []
    kept = []
    for cycle, epoch in enumerate(cycle_ends(train)[:-1], start=1):
        if epoch > epochs_done:
            break
        snapshot = load_snapshot(folder, cycle, identity, shapes)
        if snapshot is None or snapshot.epoch != epoch:
            clear_snapshots(folder)
            return None
        kept.append(snapshot)
    return kept


@contextmanager
def averaged_weights(model: Any) -> Iterator[None]:
    """Within the block, ``model`` holds its optimizer's moving average of the weights (``train.ema``), as ``fit``
    leaves it at the end; afterwards the training weights again, bit for bit. Without EMA nothing changes."""
    optimizer = getattr(model.optimizer, "inner_optimizer", model.optimizer)
    if not getattr(optimizer, "use_ema", False):
        yield
        return
    variables = model.trainable_variables
    saved = [np.array(variable.numpy()) for variable in variables]
    optimizer.finalize_variable_values(variables)
    try:
        yield
    finally:
        for variable, value in zip(variables, saved):
            variable.assign(value)


def vote(snapshots: list[Snapshot]) -> Predictions:
    """The mean of the snapshots' softmaxes, part by part (float32, as kit stores softmaxes)."""

    def mean(part: str) -> np.ndarray | None:
        values = [getattr(snapshot, part) for snapshot in snapshots]
        if any(value is None for value in values):
            return None
        return np.mean(np.stack(values), axis=0, dtype=np.float64).astype(np.float32)

    return mean("val"), mean("test"), mean("holdout")


def _keeper_class():
    import keras

    class SnapshotKeeper(keras.callbacks.Callback):
        """At the end of every cycle but the last, predict with ``predict`` (no arguments → (validation, test,
        hold-out) softmaxes; under the EMA weights where the optimizer keeps them), append the snapshot to ``kept``
        and, when ``folder`` is given, write it there; put it BEFORE the epoch checkpoint, so that a checkpoint past
        a cycle's end always has that cycle's snapshot on disk."""

        def __init__(
            self,
            train: TrainSpec,
            predict: Callable[[], Predictions],
            kept: list[Snapshot],
            folder: Path | str | None = None,
            identity: Any = None,
        ):
            super().__init__()
            self.ends = cycle_ends(train)[:-1]
            self.predict = predict
            self.kept = kept
            self.folder = folder
            self.identity = identity

        def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
            done = epoch + 1
            if done not in self.ends:
                return
            with averaged_weights(self.model):
                val, test, holdout = self.predict()
            snapshot = Snapshot(cycle=self.ends.index(done) + 1, epoch=done, val=val, test=test, holdout=holdout)
            self.kept[:] = [kept for kept in self.kept if kept.cycle != snapshot.cycle] + [snapshot]
            if self.folder is not None:
                save_snapshot(self.folder, snapshot, self.identity)

    return SnapshotKeeper


def __getattr__(name: str):
    if name == "SnapshotKeeper":  # built on first use, so that importing this module does not import Keras
        globals()[name] = _keeper_class()
        return globals()[name]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
