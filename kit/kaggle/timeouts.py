"""Timeouts for the requests the ``kaggle`` client makes: a connect and a read timeout on each, capped by a deadline.

The client builds its ``requests`` sessions itself (several per operation: the API call, the download of a file from
its signed URL, the upload of a submission) and passes no timeout to most of them, so a server that accepts the
connection and stays silent would hold it forever. While :func:`limited` is open (kit's transport opens it around each
call), every ``requests`` session send gets kit's timeouts; outside, nothing changes.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import time
from collections.abc import Iterator
from typing import Any

# (connect, read) seconds and the monotonic deadline for the requests of the kit call under way; None outside one.
_LIMITS: contextvars.ContextVar[tuple[float, float, float | None] | None] = contextvars.ContextVar(
    "kit_kaggle_limits", default=None
)


def _capped(timeout: Any, limits: tuple[float, float, float | None]) -> tuple[float, float]:
    """The (connect, read) timeout of one request: the caller's, if any, capped by kit's limits and the deadline."""
    connect, read, deadline = limits
    if isinstance(timeout, tuple):
        connect, read = (min(mine, theirs or mine) for mine, theirs in zip((connect, read), timeout))
    elif isinstance(timeout, (int, float)):
        connect, read = min(connect, timeout), min(read, timeout)
    if deadline is not None:
        left = deadline - time.monotonic()
        if left <= 0:
            from requests.exceptions import ReadTimeout

            raise ReadTimeout("the time allowed for the command ran out")
        connect, read = min(connect, left), min(read, left)
    return connect, read


@functools.cache
def install() -> None:
    """Make every ``requests`` session honour kit's limits while a kit call is under way (the client creates its
    sessions itself, several per operation, and passes no timeout to most of them); outside a kit call nothing
    changes. Connection-level retries are left to kit's own, which know the deadline."""
    from requests import Session
    from urllib3.util.retry import Retry as ConnectionRetry

    send = Session.send

    @functools.wraps(send)
    def send_with_timeouts(session: Session, request: Any, **kwargs: Any) -> Any:
        limits = _LIMITS.get()
        if limits is not None:
            kwargs["timeout"] = _capped(kwargs.get("timeout"), limits)
            for adapter in session.adapters.values():
                adapter.max_retries = ConnectionRetry(0, read=False)
        return send(session, request, **kwargs)

    Session.send = send_with_timeouts  # type: ignore[method-assign]


@contextlib.contextmanager
def limited(connect: float, read: float, deadline: float | None) -> Iterator[None]:
    """Within: every request has at most ``connect`` and ``read`` seconds of timeout, and none starts or waits past
    ``deadline`` (a :func:`time.monotonic` time; None: no deadline)."""
    install()
    token = _LIMITS.set((connect, read, deadline))
    try:
        yield
    finally:
        _LIMITS.reset(token)


def timed_out(error: BaseException | None) -> bool:
    """Whether a request failed for want of an answer: no connection, or no byte within the read timeout."""
    from requests.exceptions import ConnectionError, Timeout
    from urllib3.exceptions import ReadTimeoutError

    if isinstance(error, Timeout):
        return True
    return isinstance(error, ConnectionError) and any(isinstance(arg, ReadTimeoutError) for arg in error.args)
