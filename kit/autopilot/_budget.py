"""Time: the budget as a duration (``"30m"``, ``"1h30m"``, ``"90s"``, a number of seconds), the clock it runs on, and
the watchdog that stops a member at the deadline (a SIGINT to the main thread — a real signal, so that a main thread
blocked waiting on parallel folds wakes up too — which ``kit cv`` already survives as a Ctrl-C: finished folds and
epoch checkpoints are kept and a rerun resumes them)."""

from __future__ import annotations

import re
import signal
import threading
import time
from dataclasses import dataclass, field

from kit.errors import KitError

UNITS = {"h": 3600.0, "m": 60.0, "s": 1.0}
DURATION = re.compile(r"(\d+(?:\.\d+)?)([hms])")
MIN_SECONDS = 20.0  # below this not even one small member trains
MAX_SECONDS = 7 * 24 * 3600.0
RESERVE_SHARE = 0.04  # of the budget kept back for the last submission and the exit
MIN_RESERVE = 8.0  # seconds


def parse_duration(value: object, argument: str = "time") -> float:
    """Seconds in ``value``: a number of seconds, or a string such as ``"90s"``, ``"5m"``, ``"1h30m"``."""
    expected = 'a duration such as "5m", "1h30m", "90s" or a number of seconds, from 20 s to 7 days'
    if isinstance(value, bool):
        raise KitError.invalid(argument, expected, value)
    if isinstance(value, (int, float)):
        seconds = float(value)
    elif isinstance(value, str) and value.strip():
        text = value.strip().lower().replace(" ", "")
        if re.fullmatch(r"\d+(\.\d+)?", text):
            seconds = float(text)
        elif DURATION.sub("", text) == "" and text:
            seconds = sum(float(number) * UNITS[unit] for number, unit in DURATION.findall(text))
        else:
            raise KitError.invalid(argument, expected, value)
    else:
        raise KitError.invalid(argument, expected, value)
    if not MIN_SECONDS <= seconds <= MAX_SECONDS:
        raise KitError.invalid(argument, expected, value)
    return seconds


def format_duration(seconds: float) -> str:
    """``"4m05s"``, ``"38s"``, ``"1h02m"``."""
    seconds = max(0.0, seconds)
    if seconds < 60:
        return f"{seconds:.0f}s"
    if seconds < 3600:
        return f"{int(seconds // 60)}m{int(seconds % 60):02d}s"
    return f"{int(seconds // 3600)}h{int(seconds % 3600 // 60):02d}m"


@dataclass
class Clock:
    """The budget's clock: ``total`` seconds from ``start`` (``time.monotonic()``), of which ``reserve`` stay back
    for writing the submission at the end."""

    total: float
    start: float = field(default_factory=time.monotonic)

    @property
    def reserve(self) -> float:
        return max(MIN_RESERVE, RESERVE_SHARE * self.total)

    def elapsed(self) -> float:
        return time.monotonic() - self.start

    def left(self) -> float:
        """Seconds left for work (the reserve excluded)."""
        return self.total - self.reserve - self.elapsed()

    def deadline(self) -> float:
        """The monotonic time by which work must stop."""
        return self.start + self.total - self.reserve


class Watchdog:
    """Stops the work of the main thread at ``deadline`` (monotonic seconds), or at once with :meth:`stop`, by
    raising KeyboardInterrupt there; ``reason`` says why (None: it never fired, so a KeyboardInterrupt was the
    user's). Use as a context manager around one member."""

    def __init__(self, deadline: float) -> None:
        self.deadline = deadline
        self.reason: str | None = None
        self._done = threading.Event()
        self._lock = threading.Lock()
        self._armed = threading.current_thread() is threading.main_thread()
        self._main = threading.main_thread().ident
        self._thread = threading.Thread(target=self._watch, daemon=True)

    def _watch(self) -> None:
        while not self._done.wait(min(0.25, max(0.0, self.deadline - time.monotonic()))):
            if time.monotonic() >= self.deadline:
                self.stop("the budget ran out")
                return

    def stop(self, reason: str) -> None:
        """Interrupt the main thread now (once), noting ``reason``."""
        with self._lock:
            if self.reason is not None or self._done.is_set():
                return
            self.reason = reason
            if self._armed and self._main is not None:
                signal.pthread_kill(self._main, signal.SIGINT)

    def __enter__(self) -> Watchdog:
        if self._armed:
            self._handler = signal.signal(signal.SIGINT, signal.default_int_handler)  # a SIGINT is a KeyboardInterrupt
            self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        with self._lock:
            self._done.set()
        if self._thread.is_alive():
            self._thread.join(timeout=1)
        if self._armed:
            signal.signal(signal.SIGINT, self._handler)
