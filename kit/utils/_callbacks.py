"""One progress protocol for every long operation (cv, tune, predict, bench, fetch, submit).

In the style of Keras' ``Callback`` / ``CallbackList``: a :class:`Callback` has no-op hooks, a caller overrides the
ones it cares about, and :class:`CallbackList` dispatches each event to every callback it holds. The library calls
these hooks and never prints; the command line's rich display (``kit.cli.progress``) is one implementation, and
:class:`ProgressBar` is a plain one for notebooks and scripts (in a Jupyter kernel, the default when a call is given
no callbacks: see :func:`as_callback_list`).

Hooks, and which operations call them:

- ``on_run_begin(kind, total, epochs)`` — ``kind`` is ``"cv"``, ``"tune"``, ``"predict"``, ``"bench"``, …;
  ``total`` counts its units (folds, trials, phases); ``epochs`` the epochs per unit where that applies.
- ``on_fold_begin(fold)``, ``on_epoch_end(fold, epoch, logs)``, ``on_fold_end(score, resumed)`` — cv folds
  (``score`` is a :class:`kit.FoldScore`); tune trials report their epochs with ``fold`` = the trial id.
- ``on_fold_resume(fold, epoch, epochs)`` — right after ``on_fold_begin``: the fold continues from its checkpoint,
  ``epoch`` of its ``epochs`` done by an earlier run (``on_fold_end(score, resumed=True)``: a fold finished earlier).
- ``on_trial_begin(trial)``, ``on_trial_end(trial)`` — tune trials (``trial`` is a :class:`kit.TrialScore`).
- ``on_phase(name, done, total)`` — any other step: a bench phase, TTA passes, a download, a poll; the start-up
  steps of ``cv`` and ``tune`` before their first epoch (:data:`STARTUP_PHASES`) come with ``total`` None.
- ``on_plan(plan)`` — ``kit auto``'s plan changed (``plan`` is a :class:`kit.autopilot.AutoPlan`: members done, running
  and planned, the chosen combination, the time left).
- ``on_run_end()``.

Hooks may be called from a thread other than the caller's (parallel folds report through a relay thread), never
from two threads at once.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterable, Mapping
from typing import Any, TextIO

from kit.utils._display import LiveLine, in_notebook, unit_label

LOADING_DATA, BUILDING_MODEL = "loading data", "building model"
STARTUP_PHASES = (LOADING_DATA, BUILDING_MODEL)  # before a run's first epoch; displays show them as a passing status


class Callback:
    """Base class with a no-op for every hook; override the ones you need."""

    def on_run_begin(self, kind: str, total: int | None = None, epochs: int | None = None) -> None:
        """A long operation starts: ``total`` units (folds, trials, phases) of ``epochs`` epochs each, when known."""

    def on_fold_begin(self, fold: int | str) -> None:
        """A fold (or a tune trial) starts training."""

    def on_epoch_end(self, fold: int | str, epoch: int, logs: Mapping[str, float]) -> None:
        """Epoch ``epoch`` (1-based) of ``fold`` finished with these Keras logs (``val_accuracy``, ``loss``, …)."""

    def on_fold_resume(self, fold: int | str, epoch: int, epochs: int) -> None:
        """Fold ``fold`` (just begun) continues from its checkpoint: ``epoch`` of ``epochs`` were done earlier."""

    def on_fold_end(self, score: Any, resumed: bool) -> None:
        """A fold finished (``resumed``: it was trained by an earlier run and read back from the run folder)."""

    def on_trial_begin(self, trial: Any) -> None:
        """A tune trial starts (``trial`` is a :class:`kit.TrialScore` with status RUNNING, no score yet)."""

    def on_trial_end(self, trial: Any) -> None:
        """A tune trial finished (or failed: see its ``status``)."""

    def on_phase(self, name: str, done: int = 0, total: int | None = None) -> None:
        """Step ``name`` is ``done`` of ``total`` units along (total None: a step without a known size)."""

    def on_plan(self, plan: Any) -> None:
        """``kit auto``'s plan changed: a member started, finished, was skipped or stopped, or the choice changed."""

    def on_run_end(self) -> None:
        """The operation finished (not called when it raised)."""


class CallbackList(Callback):
    """Dispatches every hook to each callback it holds, in order."""

    def __init__(self, callbacks: Iterable[Callback] | Callback | None = ()) -> None:
        if callbacks is None:
            callbacks = ()
        elif isinstance(callbacks, Callback):
            callbacks = (callbacks,)
        self.callbacks: list[Callback] = []
        for callback in callbacks:
            if isinstance(callback, CallbackList):
                self.callbacks.extend(callback.callbacks)
            else:
                self.callbacks.append(callback)

    def __bool__(self) -> bool:
        return bool(self.callbacks)

    def on_run_begin(self, kind: str, total: int | None = None, epochs: int | None = None) -> None:
        for callback in self.callbacks:
            callback.on_run_begin(kind, total, epochs)

    def on_fold_begin(self, fold: int | str) -> None:
        for callback in self.callbacks:
            callback.on_fold_begin(fold)

    def on_epoch_end(self, fold: int | str, epoch: int, logs: Mapping[str, float]) -> None:
        for callback in self.callbacks:
            callback.on_epoch_end(fold, epoch, logs)

    def on_fold_resume(self, fold: int | str, epoch: int, epochs: int) -> None:
        for callback in self.callbacks:
            callback.on_fold_resume(fold, epoch, epochs)

    def on_fold_end(self, score: Any, resumed: bool) -> None:
        for callback in self.callbacks:
            callback.on_fold_end(score, resumed)

    def on_trial_begin(self, trial: Any) -> None:
        for callback in self.callbacks:
            callback.on_trial_begin(trial)

    def on_trial_end(self, trial: Any) -> None:
        for callback in self.callbacks:
            callback.on_trial_end(trial)

    def on_phase(self, name: str, done: int = 0, total: int | None = None) -> None:
        for callback in self.callbacks:
            callback.on_phase(name, done, total)

    def on_plan(self, plan: Any) -> None:
        for callback in self.callbacks:
            callback.on_plan(plan)

    def on_run_end(self) -> None:
        for callback in self.callbacks:
            callback.on_run_end()


def as_callback_list(callbacks: Iterable[Callback] | Callback | None) -> CallbackList:
    """Normalise what a caller passes as ``callbacks=`` (one, several, or none) into a :class:`CallbackList`.

    The one place of the library's default: none given (``()``, ``[]`` or None) inside a Jupyter kernel means a
    :class:`ProgressBar` (one line updated in place); elsewhere none means silence. An empty ``kit.CallbackList()``
    (or a bare ``kit.Callback()``) asks for silence in a notebook too, and is passed through as it is.
    """
    if isinstance(callbacks, CallbackList):
        return callbacks
    listed = CallbackList(callbacks)
    for callback in listed.callbacks:
        if not isinstance(callback, Callback):
            from kit.errors import KitError

            raise KitError.invalid(
                "callbacks", "kit.Callback objects (subclass kit.Callback and override its hooks)", callback
            )
    if not listed.callbacks and in_notebook():
        listed.callbacks.append(ProgressBar())
    return listed


class ProgressBar(Callback):
    """A one-line progress display (no rich needed): units done, current epoch, the time taken at the end.

    In a Jupyter kernel (and with no ``stream``) it is one cell output updated in place through an IPython display
    handle, so a saved notebook keeps its last line only; it is what kit's calls use there when given no callbacks.
    Elsewhere it rewrites one ``\\r`` line on ``stream`` (default stderr), when asked for:
    ``kit.cv(..., callbacks=[kit.ProgressBar()])``. ``notebook`` forces one way or the other.
    """

    def __init__(self, stream: TextIO | None = None, width: int = 24, notebook: bool | None = None) -> None:
        self.stream = stream
        self.width = width
        self.notebook = (stream is None and in_notebook()) if notebook is None else notebook
        self.line: LiveLine | None = None  # the notebook output being updated (None: the next write makes one)
        self.kind = ""
        self.total: int | None = None
        self.epochs: int | None = None
        self.done = 0
        self.started = time.monotonic()

    def _write(
        self, head: str, tail: str = "", at: tuple[float, int | None] | None = None, end: str = "", forced: bool = True
    ) -> None:
        """Show ``head`` [bar at ``at`` = (done, total)] ``tail``; ``end`` (a newline) closes the line."""
        fraction = at[0] / at[1] if at is not None and at[1] else None
        if self.notebook:
            self.line = self.line or LiveLine()
            self.line.update(" ".join(part for part in (head, tail) if part), fraction, forced)
            if end:
                self.line = None  # the next run displays a line of its own
            return
        text = head if at is None else f"{head} {self._bar(*at)} {tail}"
        stream = self.stream or sys.stderr
        stream.write(f"\r{text:<78}{end}")
        stream.flush()

    def _bar(self, done: float, total: int | None) -> str:
        if not total:
            return ""
        filled = int(self.width * min(done / total, 1.0))
        return "[" + "#" * filled + "." * (self.width - filled) + "]"

    def on_run_begin(self, kind: str, total: int | None = None, epochs: int | None = None) -> None:
        self.kind, self.total, self.epochs, self.done = kind, total, epochs, 0
        self.started = time.monotonic()
        self._write(f"{kind}: starting")

    def on_epoch_end(self, fold: int | str, epoch: int, logs: Mapping[str, float]) -> None:
        accuracy = logs.get("val_accuracy")
        shown = "" if accuracy is None else f" val_acc {accuracy:.4f}"
        of = f"/{self.epochs}" if self.epochs else ""
        within = min(epoch / self.epochs, 1.0) if self.epochs and self.notebook else 0.0  # the terminal bar: folds
        self._write(self.kind, f"{unit_label(fold)}: epoch {epoch}{of}{shown}", (self.done + within, self.total))

    def on_fold_end(self, score: Any, resumed: bool) -> None:
        self.done += 1
        accuracy = getattr(score, "val_accuracy", None)
        shown = "" if accuracy is None else f" val_acc {accuracy:.4f}"
        word = "done (kept)" if resumed else "done"
        self._write(self.kind, f"{self.done}/{self.total or '?'} {word}{shown}", (self.done, self.total))

    def on_trial_end(self, trial: Any) -> None:
        self.done += 1
        self._write(self.kind, f"trial {self.done}/{self.total or '?'}", (self.done, self.total))

    def on_phase(self, name: str, done: int = 0, total: int | None = None) -> None:
        if total is None and name in STARTUP_PHASES:
            self._write(f"{self.kind} {name}…".strip())
            return
        of = f"/{total}" if total else ""
        self._write(f"{self.kind} {name}".strip(), f"{done}{of}", (done, total), forced=False)

    def on_plan(self, plan: Any) -> None:
        self._write("auto", plan.line(), forced=False)

    def on_run_end(self) -> None:
        seconds = time.monotonic() - self.started
        if self.notebook and self.total:  # the line a saved notebook keeps: with its units and a full bar
            self._write(f"{self.kind}: done in {seconds:.0f} s, {self.done}/{self.total}", at=(1, 1), end="\n")
        else:
            self._write(f"{self.kind}: done in {seconds:.0f} s", end="\n")
