"""Mid-fold resume: the whole training state of a fit, checkpointed atomically at every epoch end, and read back.

A checkpoint folder holds ``state.json`` (written last, through an atomic rename) that names the files of one
consistent checkpoint: ``model-EEEEE.keras`` (the model with its optimizer state: step count, moments, learning rate,
EMA averages) and, for an EarlyStopping that restores its best weights, ``best-EEEEE.npz``. Beside them it records the
epochs done, the history so far, the training seconds and the state of kit's callbacks (EarlyStopping,
ReduceLROnPlateau). With TensorFlow op determinism and kit's epoch-addressable pipeline (kit.engine._pipeline), a fit
resumed from epoch ``e`` ends with the same weights as one that never stopped.

Usage (``callbacks`` are kit's own, e.g. from kit.engine._models.build_callbacks)::

    state = resume_state(folder, identity)
    model = state.model if state else build_model(...)
    checkpoint = EpochCheckpoint(folder, callbacks, identity, resume=state)
    model.fit(..., initial_epoch=state.initial_epoch if state else 0, callbacks=[*callbacks, checkpoint])
    history = checkpoint.history  # every epoch, the resumed ones included

Importing this module is cheap: Keras is imported only when a checkpoint is written or read.
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import os
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from kit.engine._snapshots import FOLDER as SNAPSHOTS
from kit.engine._snapshots import clear_snapshots
from kit.errors import KitError
from kit.utils import sha256_of, write_bytes_atomic, write_json
from kit.utils._io import os_error, remove_temporary, temporary_path

STATE_FILE = "state.json"
FORMAT = 1
OWN_FILES = re.compile(r"(model-[0-9]+\.keras|best-[0-9]+(-[0-9]+)?\.npz)")  # a checkpoint's files beside state.json
# The attributes that carry a Keras callback's state from one epoch to the next (reset by its on_train_begin).
CALLBACK_STATE = {
    "EarlyStopping": ("wait", "best", "stopped_epoch", "best_epoch"),
    "ReduceLROnPlateau": ("wait", "best", "cooldown_counter"),
    "BackbonePhases": ("phase",),  # kit.engine._finetune: frozen or unfrozen
}


def clean_temporary(folder: Path | str) -> list[Path]:
    """Remove kit's temporary files (``.kit-tmp-…``) a killed writer left in ``folder`` and its snapshots folder;
    return them. Other files, dot-files included, are left alone."""
    folder = Path(folder)
    return [*remove_temporary(folder), *remove_temporary(folder / SNAPSHOTS)]


def remove_checkpoint(folder: Path | str) -> None:
    """Remove a checkpoint's own files (``state.json`` first, so what remains is no checkpoint), its snapshots and
    temporaries, then the folders if empty; files kit did not write there stay. A link is not followed."""
    folder = Path(folder)
    if folder.is_symlink() or not folder.is_dir():
        return
    (folder / STATE_FILE).unlink(missing_ok=True)
    _remove_others(folder, {})
    clear_snapshots(folder)
    clean_temporary(folder)
    for empty in (folder / SNAPSHOTS, folder):
        if empty.is_dir() and not empty.is_symlink() and not any(empty.iterdir()):
            empty.rmdir()


def _number(value: Any) -> Any:
    """A JSON-safe copy of a callback attribute (numpy scalars as floats, infinities as strings)."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    value = float(value)
    return value if math.isfinite(value) else repr(value)


def _unnumber(value: Any) -> Any:
    return float(value) if value in ("inf", "-inf", "nan") else value


def random_states(model: Any) -> list[Any]:
    """The model's random-number state (the SeedGenerator of each Dropout layer…), which ``model.save`` leaves out:
    the variables of the model that are not weights."""
    weights = {id(variable) for variable in model.weights}
    return [variable for variable in model.variables if id(variable) not in weights]


def _weights_bytes(weights: list[np.ndarray]) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, *weights)
    return buffer.getvalue()


@dataclass(frozen=True)
class ResumeState:
    """A checkpoint read back: the model (compiled, with its optimizer state), where to start, and what came before.

    ``initial_epoch`` is the epoch to pass to ``fit``: the epochs done, or the recipe's total when training had
    already stopped (EarlyStopping), so that ``fit`` trains nothing more and only finishes (EMA, best weights).
    """

    model: Any
    initial_epoch: int
    epochs_done: int
    stopped: bool
    history: dict[str, list[float]]
    seconds: float
    callback_states: list[dict[str, Any]] = field(repr=False)
    best_weights: dict[int, list[np.ndarray]] = field(repr=False)
    best_files: dict[int, str] = field(repr=False)

    def restore(self, callbacks: list[Any]) -> None:
        """Put the saved state back into ``callbacks`` (kit's, in the order they were checkpointed with)."""
        for index, (callback, saved) in enumerate(zip(callbacks, self.callback_states)):
            if type(callback).__name__ != saved.get("kind"):
                continue
            for name in CALLBACK_STATE.get(saved["kind"], ()):
                setattr(callback, name, _unnumber(saved[name]))
            if index in self.best_weights:
                callback.best_weights = [array.copy() for array in self.best_weights[index]]

    def best_on_disk(self, callbacks: list[Any]) -> dict[int, tuple[Any, str]]:
        """Callback index -> (its restored best-weights list, the checkpoint file that already holds it)."""
        found = {}
        for index, callback in enumerate(callbacks):
            weights = getattr(callback, "best_weights", None)
            if weights is not None and index in self.best_files:
                found[index] = (weights, self.best_files[index])
        return found


def _save_model_atomic(model: Any, folder: Path, name: str) -> None:
    """``model.save`` into ``folder``/``name`` through a temporary file (kit's, ending ``-name``: Keras insists on the
    ``.keras`` suffix) and an atomic rename; an ``OSError`` (full disk, file size limit) is one line naming the path."""
    temporary = temporary_path(folder / name)
    try:
        model.save(temporary)
        os.replace(temporary, folder / name)
    except OSError as error:
        raise os_error(folder / name, error) from None
    finally:
        with contextlib.suppress(OSError):
            temporary.unlink(missing_ok=True)


def _callback_state(callback: Any) -> dict[str, Any]:
    """The JSON-safe state of one of kit's callbacks (its kind and the attributes of CALLBACK_STATE)."""
    kind = type(callback).__name__
    return {"kind": kind, **{name: _number(getattr(callback, name, None)) for name in CALLBACK_STATE.get(kind, ())}}


def _remove_others(folder: Path, files: dict[str, str]) -> None:
    """Drop the checkpoint files of ``folder`` that the checkpoint just written does not name (older epochs')."""
    for path in folder.iterdir():
        if path.name not in files and OWN_FILES.fullmatch(path.name) and path.is_file():
            path.unlink(missing_ok=True)


@contextlib.contextmanager
def _one_line(folder: Path) -> Iterator[None]:
    """Within the block, an ``OSError`` (full disk, file size limit) ends as one line naming its path."""
    try:
        yield
    except OSError as error:
        raise os_error(Path(error.filename or folder), error) from None


def _checkpoint_class():
    import keras

    class EpochCheckpoint(keras.callbacks.Callback):
        """At every epoch end, atomically write the full training state into ``folder``; put it LAST in fit's
        callbacks (after ``callbacks``, whose state it saves, so it sees their state after the epoch).

        ``identity`` (any JSON) is stored and must match for :func:`resume_state` to resume; ``resume`` (a
        :class:`ResumeState`) restores the callbacks' state when the fit begins. ``history`` holds every epoch's
        logs, the resumed run's earlier epochs included.
        """

        def __init__(
            self, folder: Path | str, callbacks: list[Any] = (), identity: Any = None, resume: ResumeState | None = None
        ):
            super().__init__()
            self.folder = Path(folder)
            self.tracked = list(callbacks)
            self.identity = identity
            self.resume = resume
            earlier = {} if resume is None else resume.history
            self.history: dict[str, list[float]] = {key: list(values) for key, values in earlier.items()}
            self.seconds_before = 0.0 if resume is None else resume.seconds
            self._started = time.perf_counter()
            self._saved_best: dict[int, tuple[Any, str]] = {}  # callback index -> (the weights list saved, its file)

        def on_train_begin(self, logs=None):
            self._started = time.perf_counter()
            if self.resume is not None:
                self.resume.restore(self.tracked)
                self._saved_best.update(self.resume.best_on_disk(self.tracked))  # restored best weights: on disk

        def on_epoch_end(self, epoch, logs=None):
            for key, value in (logs or {}).items():
                self.history.setdefault(key, []).append(float(value))
            self.save(epoch + 1)

        def save(self, done: int) -> None:
            """Write the checkpoint of ``done`` finished epochs, then drop the files of older ones."""
            with _one_line(self.folder):  # an OSError names the path; the previous checkpoint stays whole
                self.folder.mkdir(parents=True, exist_ok=True)
                clean_temporary(self.folder)
                model_name = f"model-{done:05d}.keras"
                _save_model_atomic(self.model, self.folder, model_name)
                files = {model_name: sha256_of(self.folder / model_name)}
                best = [i for i, kept in enumerate(self.tracked) if getattr(kept, "best_weights", None) is not None]
                best_files = {str(index): self._save_best(index, done, files) for index in best}
                write_json(self.folder / STATE_FILE, self._state(done, model_name, best_files, files))
                _remove_others(self.folder, files)

        def _save_best(self, index: int, done: int, files: dict[str, str]) -> str:
            """The file of tracked callback ``index``'s best weights, written now unless already saved; add its
            digest to ``files``."""
            weights = self.tracked[index].best_weights
            saved = self._saved_best.get(index)
            if saved is None or saved[0] is not weights or not (self.folder / saved[1]).is_file():
                name = f"best-{done:05d}.npz" if index == 0 else f"best-{done:05d}-{index}.npz"
                write_bytes_atomic(self.folder / name, _weights_bytes(weights))
                saved = self._saved_best[index] = (weights, name)
            files[saved[1]] = sha256_of(self.folder / saved[1])
            return saved[1]

        def _state(self, done: int, model_name: str, best_files: dict[str, str], files: dict[str, str]) -> dict:
            """The contents of state.json for ``done`` finished epochs."""
            return {
                "format": FORMAT,
                "identity": self.identity,
                "epochs_done": done,
                "epochs_total": int(self.params.get("epochs") or done),
                "stopped": bool(self.model.stop_training),
                "seconds": round(self.seconds_before + time.perf_counter() - self._started, 3),
                "model": model_name,
                "best_weights": best_files,
                "callbacks": [_callback_state(callback) for callback in self.tracked],
                "random_states": [np.asarray(variable.numpy()).tolist() for variable in random_states(self.model)],
                "history": self.history,
                "sha256": files,
            }

    return EpochCheckpoint


def __getattr__(name: str):
    if name == "EpochCheckpoint":  # built on first use, so that importing this module does not import Keras
        globals()[name] = _checkpoint_class()
        return globals()[name]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _read_state(folder: Path, identity: Any) -> dict[str, Any] | None:
    """The checkpoint's state.json if it is whole, of this identity, and every file it names is intact."""
    try:
        state = json.loads((folder / STATE_FILE).read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(state, dict) or state.get("format") != FORMAT or state.get("identity") != identity:
        return None
    try:
        digests = state["sha256"]
        done, total = int(state["epochs_done"]), int(state["epochs_total"])
        if not (isinstance(digests, dict) and state["model"] in digests and 0 < done <= total):
            return None
        if not isinstance(state["history"], dict) or not isinstance(state["callbacks"], list):
            return None
        for entry in state["callbacks"]:
            if not (isinstance(entry, dict) and all(name in entry for name in CALLBACK_STATE.get(entry["kind"], ()))):
                return None
        if any(name not in digests for name in state["best_weights"].values()):
            return None
        for name, digest in digests.items():
            if Path(name).name != name or sha256_of(folder / name) != digest:
                return None
    except (KitError, OSError, KeyError, TypeError, ValueError, AttributeError):
        return None
    return state


def resume_state(
    folder: Path | str, identity: Any = None, model_builder: Callable[[], Any] | None = None
) -> ResumeState | None:
    """The training state checkpointed in ``folder`` under ``identity``, or None to start afresh (no checkpoint, one
    of another identity, or a damaged one). Leftover temporary files there are removed either way.

    ``model_builder`` (no arguments, returns the compiled model as training would build it) is the exact way: the
    checkpoint's weights and optimizer variables are loaded into the model it builds, so optimizer settings that a
    saved model does not carry (kit's weight-decay exclusions of biases and batch-norm scales) hold after a resume.
    Without it the model comes from ``keras.saving.load_model`` (kit's custom optimizers registered), which loses them.
    """
    folder = Path(folder)
    if not folder.is_dir():
        return None
    clean_temporary(folder)
    state = _read_state(folder, identity)
    if state is None:
        return None
    import keras

    import kit.engine._models  # noqa: F401  (registers kit's serializable optimizers before a model loads)

    try:
        if model_builder is None:
            model = keras.saving.load_model(folder / state["model"])
        else:
            model = model_builder()
            model.optimizer.build(model.trainable_variables)
            model.load_weights(folder / state["model"])
        best = {}
        for index, name in state["best_weights"].items():
            with np.load(folder / name, allow_pickle=False) as arrays:
                best[int(index)] = [arrays[f"arr_{i}"] for i in range(len(arrays.files))]
        history = {str(key): [float(value) for value in values] for key, values in state["history"].items()}
        variables = random_states(model)
        if len(variables) != len(state["random_states"]):
            return None
        for variable, value in zip(variables, state["random_states"]):
            variable.assign(np.asarray(value, dtype=variable.dtype).reshape(variable.shape))
    except Exception:  # a checkpoint that does not load is no checkpoint: train from the start
        return None
    done = int(state["epochs_done"])
    return ResumeState(
        model=model,
        initial_epoch=int(state["epochs_total"]) if state["stopped"] else done,
        epochs_done=done,
        stopped=bool(state["stopped"]),
        history=history,
        seconds=float(state.get("seconds") or 0.0),
        callback_states=state["callbacks"],
        best_weights=best,
        best_files={int(index): name for index, name in state["best_weights"].items()},
    )
