"""The member guard: a callback that projects, from the epochs already trained, when the running member will
finish, and stops it (through the :class:`~kit.autopilot._budget.Watchdog`) as soon as that is past the deadline — so a
member that cannot finish in time costs its first epochs, not the budget."""

from __future__ import annotations

import statistics
import time
from collections.abc import Mapping
from typing import Any

from kit.autopilot._budget import Watchdog, format_duration
from kit.utils import Callback

SAFETY = 1.05  # the projection is stretched this much before it is compared with the time left


class MemberGuard(Callback):
    """Projects the running member's end from its folds' epoch cadence and stops it when that is past the
    watchdog's deadline. ``epoch_seconds`` and ``fold_start`` (seconds) are what it measured."""

    def __init__(self, watchdog: Watchdog) -> None:
        self.watchdog = watchdog
        self.folds = self.epochs = 0
        self.trained = 0  # fold-epochs finished by this session
        self.finished_folds = 0
        self.begun: dict[Any, float] = {}
        self.last: dict[Any, float] = {}
        self.durations: list[float] = []
        self.starts: list[float] = []
        self.seen: dict[Any, int] = {}  # fold → its last finished epoch
        self.projected: float | None = None

    def on_run_begin(self, kind: str, total: int | None = None, epochs: int | None = None) -> None:
        self.folds, self.epochs = total or 0, epochs or 0

    def on_fold_begin(self, fold: int | str) -> None:
        self.begun[fold] = self.last[fold] = time.monotonic()

    def on_fold_end(self, score: Any, resumed: bool) -> None:
        self.finished_folds += 1
        fold = getattr(score, "fold", None)
        self.begun.pop(fold, None)

    def on_epoch_end(self, fold: int | str, epoch: int, logs: Mapping[str, float]) -> None:
        now = time.monotonic()
        previous = self.last.get(fold, now)
        if epoch > 1 or fold not in self.begun:
            self.durations.append(now - previous)
        else:
            self.starts.append(now - previous)
        self.last[fold], self.seen[fold] = now, epoch
        self.trained += 1
        self._check(now, fold, epoch)

    def _check(self, now: float, fold: int | str, epoch: int) -> None:
        if not self.durations or not self.epochs:
            return
        epoch_seconds = statistics.median(self.durations[-8:])
        running = max(1, len(self.begun))
        first = max(0.0, (statistics.median(self.starts) if self.starts else epoch_seconds) - epoch_seconds)
        unstarted = max(0, self.folds - self.finished_folds - running)
        left_in_running = sum(self.epochs - self.seen.get(name, 0) for name in self.begun)
        remaining = (left_in_running + unstarted * self.epochs) * epoch_seconds / running
        remaining += unstarted * first / running
        self.projected = now + remaining * SAFETY
        if self.projected > self.watchdog.deadline:
            need, left = remaining * SAFETY, self.watchdog.deadline - now
            self.watchdog.stop(f"projected to need {format_duration(need)} more, {format_duration(left)} left")
