"""Runs tracked in MLflow (the optional extra ``kit[track]``) by a :class:`~kit.utils._callbacks.Callback`: a parent
run per ``kit cv`` (or ``kit tune``), a nested child run per fold (or trial); :func:`run_tracked` wraps a library call.

Tracking never blocks or fails a run: MLflow missing, a store that does not answer or a call that fails turns it off
with one :class:`TrackingWarning`; MLflow's HTTP retries are off and its log lines silenced. Only the process that
made the tracker logs (kit relays the folds' epochs from worker processes); ``mlflow`` is imported on ``start()``."""

from __future__ import annotations

import dataclasses
import functools
import json
import logging
import math
import os
import re
import socket
import threading
import time
import warnings
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from kit.utils._callbacks import Callback, CallbackList, as_callback_list
from kit.utils._display import trial_number

ENV_URIS = ("KIT_TRACKING_URI", "MLFLOW_TRACKING_URI")  # the first set one turns tracking on with its URI
DEFAULT_STORE = Path("runs") / "mlflow.db"  # sqlite:///runs/mlflow.db, made absolute
ARTIFACTS = "mlartifacts"  # beside a SQLite store: the artifacts of the experiments kit creates there
EXPERIMENT = "kit"  # unless MLFLOW_EXPERIMENT_NAME says otherwise
MISSING_EXTRA = "--track needs the optional extra: pip install kit[track]"
CALL_ENV = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0", "MLFLOW_HTTP_REQUEST_TIMEOUT": "5"}  # unless the user set them
QUIET_LOGGERS, CONNECT_SECONDS = ("mlflow", "alembic"), 3.0
BATCH = 100  # MLflow's most params (or metrics) per log_batch call
MAX_KEY = 250
MAX_VALUE = 6000  # MLflow's longest param value (mlflow.utils.validation.MAX_PARAM_VAL_LENGTH)
SQLITE = re.compile(r"sqlite:///([^?]+)")
NOT_IN_KEY = re.compile(r"[^\w\-. /:]")  # MLflow's names: alphanumerics, _ - . space / :
FAILED_TRIALS = {"FAILED", "INVALID"}


class TrackingWarning(UserWarning):
    """Tracking is off for this run (MLflow missing, the store not answering or failing); the run itself goes on."""


def tracking_uri(track: bool | str | None) -> str | None:
    """Where ``track`` logs (None: nowhere): ``False`` nowhere, a string there, ``True`` and ``None`` at the first set
    of ENV_URIS, ``True`` else at ``sqlite:///runs/mlflow.db``; a relative SQLite file made absolute."""
    if track is not None and not isinstance(track, bool | str):
        from kit.errors import KitError

        raise KitError.invalid("track", "True, False or a tracking URI such as sqlite:///runs/mlflow.db", track)
    if track is False:
        return None
    uri = track.strip() if isinstance(track, str) else ""
    uri = uri or next((os.environ[name].strip() for name in ENV_URIS if os.environ.get(name, "").strip()), "")
    if not uri:
        return None if track is None else f"sqlite:///{DEFAULT_STORE.resolve()}"
    path = sqlite_file(uri)
    return uri if path is None or path.is_absolute() else f"sqlite:///{path.resolve()}"


def sqlite_file(uri: str) -> Path | None:
    """The database file of a ``sqlite:///FILE`` URI (None for other URIs and in-memory databases)."""
    match = SQLITE.match(uri)
    return Path(match[1]) if match and match[1] != ":memory:" else None


def check_reachable(uri: str) -> None:
    """Fail at once (a ``ConnectionError`` naming the URI) when an HTTP tracking server does not answer."""
    parts = urlsplit(uri)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        socket.create_connection((parts.hostname, port), timeout=CONNECT_SECONDS).close()
    except OSError as error:
        raise ConnectionError(f"{uri} does not answer ({error.strerror or error})") from None


def flat_params(table: Any, prefix: str = "") -> dict[str, str]:
    """Nested tables and lists of tables (a recipe) as MLflow params: dotted keys (list items by index), JSON values."""
    if dataclasses.is_dataclass(table) and not isinstance(table, type):
        table = {key: value for key, value in dataclasses.asdict(table).items() if key not in ("name", "content")}
    items = table.items() if isinstance(table, Mapping) else enumerate(table)
    params: dict[str, str] = {}
    for key, value in items:
        dotted = f"{prefix}.{key}" if prefix else str(key)
        if isinstance(value, Mapping) or (isinstance(value, list | tuple) and value and isinstance(value[0], Mapping)):
            params.update(flat_params(value, dotted))
        else:
            params[param_key(dotted)] = param_value(value)
    return params


def param_key(key: str) -> str:
    return NOT_IN_KEY.sub("_", key)[:MAX_KEY]


def param_value(value: Any) -> str:
    """A value as text MLflow takes: strings as they are, others as JSON; past MLflow's limit cut with an ellipsis."""
    text = str(value) if isinstance(value, str | os.PathLike) else json.dumps(value, default=str)
    return text if len(text) <= MAX_VALUE else text[: MAX_VALUE - 1] + "…"


def _number(value: Any) -> float | None:
    """A finite number as a float (MLflow's metric value), else None (left out)."""
    try:
        return float(value) if math.isfinite(float(value)) else None
    except (TypeError, ValueError):
        return None


def describe(error: BaseException) -> str:
    """An error as one short line."""
    text = next((line.strip() for line in str(error).splitlines() if line.strip()), "")
    text = text if isinstance(error, ConnectionError) else f"{type(error).__name__}: {text}".rstrip(": ")
    return text if len(text) <= 200 else text[:199] + "…"


@contextmanager
def _quiet_calls() -> Iterator[None]:
    """MLflow's HTTP retries off (a short timeout) and its and alembic's log lines silenced, for one call."""
    unset = [name for name in CALL_ENV if name not in os.environ]
    os.environ.update({name: CALL_ENV[name] for name in unset})
    levels = {logger: logger.level for logger in map(logging.getLogger, QUIET_LOGGERS)}
    for logger in levels:
        logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        for logger, level in levels.items():
            logger.setLevel(level)
        for name in unset:
            os.environ.pop(name, None)


def _tracked(hook: Callable[..., None]) -> Callable[..., None]:
    """A hook that logs only while tracking is on (and, but to begin, a parent run is open) and never raises."""

    @functools.wraps(hook)
    def tracked(self: MlflowTracker, *args: Any, **kwargs: Any) -> None:
        if self.active and (self.parent is not None or hook.__name__ == "on_run_begin"):
            with self._calling():
                hook(self, *args, **kwargs)

    return tracked


class MlflowTracker(Callback):
    """Logs a kit run to the MLflow tracking store at ``uri``: a parent run named ``name`` (tags ``tags``, the
    ``recipe`` flattened and the ``overrides`` as ``override.KEY`` params) and a nested child run per fold or trial.
    Call :meth:`start` first, :meth:`finish` with the result (or :meth:`abort` with the error) last."""

    def __init__(self, uri: str, name: str, recipe: Any = None, overrides: Mapping | None = None, **tags: Any) -> None:
        from kit import __version__

        self.uri, self.name, self.pid, self.lock = uri, name, os.getpid(), threading.RLock()
        overridden = {f"override.{key}": value for key, value in (overrides or {}).items()}
        self.params = {**(flat_params(recipe) if recipe is not None else {}), **flat_params(overridden)}
        self.tags = {"kit_version": __version__, **{key: str(value) for key, value in tags.items() if value}}
        self.client = self.experiment_id = self.parent = self.off = None  # self.off: why tracking is off
        self.children: dict[Any, str] = {}  # fold or trial id → its child run
        self.open: set[str] = set()  # runs not yet ended
        self.outcome: Callable[[Any], tuple] | None = None  # result → (metrics, tags, files, params) for finish

    @property
    def active(self) -> bool:
        return self.client is not None and self.off is None and os.getpid() == self.pid

    def _turn_off(self, reason: str) -> None:
        if self.off is None:
            self.off = reason
            warnings.warn(reason, TrackingWarning, stacklevel=4)

    @contextmanager
    def _calling(self) -> Iterator[None]:
        """Run MLflow calls quietly; the first that fails turns tracking off (one warning) and none raises."""
        failure = None
        with self.lock:
            try:
                with _quiet_calls():
                    yield
            except Exception as error:
                failure = f"tracking off: {describe(error)}; the run goes on untracked"
        if failure:
            self._turn_off(failure)

    def start(self) -> bool:
        """Import MLflow, check the store answers and find (or create) the experiment; False: tracking is off."""
        try:
            from mlflow import MlflowClient
        except ImportError:
            self._turn_off(MISSING_EXTRA)
            return False
        with self._calling():
            check_reachable(self.uri)
            database = sqlite_file(self.uri)
            if database is not None:
                database.parent.mkdir(parents=True, exist_ok=True)
            self.client = MlflowClient(tracking_uri=self.uri)
            self.experiment_id = self._experiment(database)
        return self.active

    def _experiment(self, database: Path | None) -> str:
        name = os.environ.get("MLFLOW_EXPERIMENT_NAME") or EXPERIMENT
        found = self.client.get_experiment_by_name(name)
        if found is not None:
            return found.experiment_id
        location = None if database is None else (database.parent / ARTIFACTS).resolve().as_uri()
        return self.client.create_experiment(name, artifact_location=location)

    def _run(self, name: str, tags: Mapping[str, str]) -> str:
        run_id = self.client.create_run(self.experiment_id, run_name=name, tags=dict(tags)).info.run_id
        self.open.add(run_id)
        return run_id

    def _log(self, run_id: str, step: int = 0, **logged: Mapping | None) -> None:
        """``params``, finite numeric ``metrics`` (at ``step``) and ``tags``, in batches of MLflow's size."""
        from mlflow.entities import Metric, Param, RunTag

        stamp = int(time.time() * 1000)
        numbers = [(key, _number(value)) for key, value in (logged.get("metrics") or {}).items()]
        listed = [Metric(param_key(key), value, stamp, step) for key, value in numbers if value is not None]
        pairs = [Param(param_key(key), param_value(value)) for key, value in (logged.get("params") or {}).items()]
        labels = [RunTag(key, param_value(value)) for key, value in (logged.get("tags") or {}).items()]
        for at in range(0, max(len(pairs), len(listed), len(labels)), BATCH):
            batch = slice(at, at + BATCH)
            self.client.log_batch(run_id, metrics=listed[batch], params=pairs[batch], tags=labels[batch])

    def _end(self, run_id: str | None, status: str = "FINISHED") -> None:
        if run_id in self.open:
            self.open.discard(run_id)
            self.client.set_terminated(run_id, status)

    def _child(self, key: Any, params: Mapping[str, Any] | None = None) -> str:
        """The child run of fold (or trial) ``key``, made on first use (with ``params``)."""
        if key not in self.children:
            kind, shown = ("fold", key) if isinstance(key, int) else ("trial", trial_number(key))  # trials 1-based
            tags = {**self.tags, "mlflow.parentRunId": self.parent, "kind": kind, f"{kind}_id": str(key)}
            self.children[key] = self._run(f"{kind}-{shown}", tags)
            self._log(self.children[key], params=params)
        return self.children[key]

    @_tracked
    def on_run_begin(self, kind: str, total: int | None = None, epochs: int | None = None) -> None:
        if self.parent is None:
            self.parent = self._run(self.name, {**self.tags, "kind": kind})
            self._log(self.parent, params=self.params)

    @_tracked
    def on_fold_begin(self, fold: int | str) -> None:
        self._child(fold)

    @_tracked
    def on_epoch_end(self, fold: int | str, epoch: int, logs: Mapping[str, float]) -> None:
        self._log(self._child(fold), metrics=logs, step=epoch)

    @_tracked
    def on_fold_end(self, score: Any, resumed: bool) -> None:
        run_id = self._child(score.fold)
        metrics = {f"fold_{name}": getattr(score, name, None) for name in ("val_accuracy", "val_loss", "epochs")}
        self._log(run_id, metrics={**metrics, "fold_seconds": score.seconds}, tags={"resumed": resumed})
        self._end(run_id)

    @_tracked
    def on_trial_begin(self, trial: Any) -> None:
        self._child(str(trial.trial_id), trial.values)

    @_tracked
    def on_trial_end(self, trial: Any) -> None:
        run_id = self._child(str(trial.trial_id), trial.values)  # made here for a resumed trial, or a worker's
        names = ("score", "val_loss", "best_epoch", "epochs", "seconds")
        tags = {"status": trial.status, "tuner_id": getattr(trial, "tuner_id", None) or ""}
        self._log(run_id, metrics={f"trial_{name}": getattr(trial, name, None) for name in names}, tags=tags)
        self._end(run_id, "FAILED" if trial.status in FAILED_TRIALS else "FINISHED")

    @_tracked
    def on_run_end(self, status: str = "FINISHED") -> None:
        for run_id in sorted(self.open, key=lambda run: run == self.parent):  # the parent last
            self._end(run_id, status)

    @_tracked
    def finish(self, result: Any) -> None:
        """Log the finished run's scores, tags, params and files to the parent run: a CVResult's or a TuneResult's
        (:mod:`kit.utils._outcomes`), else what ``self.outcome`` (a function of the result) says."""
        from kit.utils._outcomes import outcome_of

        metrics, tags, files, params = (self.outcome or outcome_of)(result)
        self._log(self.parent, metrics=metrics, tags=tags, params=params)
        for path in files:
            self.client.log_artifact(self.parent, str(path))
        self._end(self.parent)

    @_tracked
    def abort(self, error: BaseException) -> None:
        """End the runs still open as KILLED (an interrupt) or FAILED (an error), the error as the parent's tag."""
        if self.parent in self.open:
            self._log(self.parent, tags={"error": describe(error)})
        self.on_run_end("FAILED" if isinstance(error, Exception) else "KILLED")


def run_tracked(
    track: bool | str | None,
    call: Callable[[CallbackList], Any],
    callbacks: Any,
    outcome: Callable[[Any], tuple] | None = None,
    **described: Any,
) -> Any:
    """``call(callbacks)``, tracked in MLflow as ``track`` says (:func:`tracking_uri`) by an :class:`MlflowTracker`
    made with ``described`` (name, recipe, overrides, tags), which joins the callbacks and gets the result or error;
    ``outcome`` (result → metrics, tags, files, params) describes a result that is neither a CVResult nor a
    TuneResult."""
    listeners = as_callback_list(callbacks)
    uri = tracking_uri(track)
    tracker = MlflowTracker(uri, **described) if uri else None
    if tracker is not None:
        tracker.outcome = outcome
    if tracker is None or not tracker.start():
        return call(listeners)
    try:
        result = call(CallbackList([*listeners.callbacks, tracker]))
    except BaseException as error:
        tracker.abort(error)
        raise
    tracker.finish(result)
    return result


@contextmanager
def warnings_to(show: Callable[[str], None], *categories: type[Warning]) -> Iterator[None]:
    """While open, each warning of ``categories`` goes to ``show`` as its one line (every time); other warnings as
    before. The command line's way of printing kit's notes (tracking is off, the demo data are used)."""
    shown = warnings.showwarning
    with warnings.catch_warnings():
        for category in categories:
            warnings.simplefilter("always", category)
        warnings.showwarning = lambda message, category, *rest, **more: (
            show(str(message)) if issubclass(category, categories) else shown(message, category, *rest, **more)
        )
        yield


def tracking_warnings_to(show: Callable[[str], None]) -> Any:
    """:func:`warnings_to` for :class:`TrackingWarning`."""
    return warnings_to(show, TrackingWarning)
