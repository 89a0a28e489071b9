"""The one place that calls the official ``kaggle`` client: retried with tenacity, every failure worded as one line.

Like kagglesdk's ``KaggleHttpClient.call``, :meth:`Transport.call` is the single door to Kaggle; the thin services in
:mod:`kit.kaggle.services` name the operations. Calls that fail with 429, 5xx, a dropped connection, a silent or stalled
server or a failed upload are retried with exponential backoff and jitter (honouring ``Retry-After``), bounded in
attempts and in time. Every request the client makes during a call (API calls, the download of a file, the upload of a
submission) has a connect and a read timeout, capped by the command's deadline when it has one (``timeout``).
"""

from __future__ import annotations

import functools
import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Any, TypeVar

from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception,
    stop_after_attempt,
    stop_before_delay,
    wait_exponential_jitter,
)
from tenacity.wait import wait_base

from kit.errors import ANOTHER, KitError
from kit.kaggle import credentials
from kit.kaggle.timeouts import limited, timed_out

if TYPE_CHECKING:
    from kaggle.api.kaggle_api_extended import KaggleApi

T = TypeVar("T")
TIMEOUT_FIX = ("timeout", ANOTHER)  # a deadline that ran out: rerun with more time (``--timeout`` on the command line)
SLUG = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


@dataclass(frozen=True)
class Retry:
    """How failed calls are retried: at most ``attempts`` tries, none starting after ``budget`` seconds; waits are
    the server's ``Retry-After`` or else ``delay`` seconds doubling up to ``max_delay``, plus up to ``jitter`` s.

    Each request gives up after ``connect_timeout`` seconds without a connection and ``read_timeout`` seconds without
    a byte (a silent server, a stalled download); a call that timed out ``stalls`` times is not tried again."""

    attempts: int = 5
    delay: float = 2.0
    max_delay: float = 60.0
    budget: float = 300.0
    jitter: float = 1.0
    sleep: Callable[[float], None] = time.sleep
    connect_timeout: float = 10.0
    read_timeout: float = 15.0
    stalls: int = 2


RETRY = Retry()


@dataclass(frozen=True)
class Target:
    """What a call is about: a competition (``digit-recognizer``) or a dataset (``owner/name``)."""

    slug: str

    @property
    def kind(self) -> str:
        return "dataset" if "/" in self.slug else "competition"

    @property
    def name(self) -> str:
        """The last part of the slug: the folder the files go to."""
        return self.slug.rsplit("/", 1)[-1]

    @property
    def page(self) -> str:
        return f"https://www.kaggle.com/{self.kind}s/{self.slug}"

    def __post_init__(self) -> None:
        parts = self.slug.split("/")
        if len(parts) > 2 or not all(SLUG.match(part) for part in parts):
            raise KitError.invalid(
                "competition",
                "a Kaggle competition slug (the name in its address, e.g. digit-recognizer) or a dataset slug "
                "(owner/name)",
                self.slug,
            )


class UploadError(Exception):
    """The client could not upload a submission (it reports this in its reply, not with an exception)."""


def status(error: BaseException) -> int | None:
    """The HTTP status of a failed request, None when no answer came."""
    response = getattr(error, "response", None)
    return None if response is None else response.status_code


def transient(error: BaseException) -> bool:
    """Whether retrying may help: 429, 5xx, a dropped connection or timeout, a failed upload."""
    from requests.exceptions import ChunkedEncodingError, ConnectionError, RequestException, Timeout

    if not isinstance(error, (RequestException, UploadError)):
        return False
    code = status(error)
    if code is not None:
        return code == 429 or code >= 500
    return isinstance(error, (ConnectionError, Timeout, ChunkedEncodingError, UploadError))


def not_json(error: BaseException, operation: str) -> str:
    """The one line for a reply that should have been JSON and is not (a proxy's or captive portal's HTML page)."""
    document = getattr(error, "doc", "") or ""
    looks = "an HTML page" if document.lstrip()[:1] == "<" else "not JSON"
    return (
        f"Kaggle's reply to {operation} was {looks} instead of JSON: a proxy, captive portal or outage page may be "
        "in the way; check the network connection and any proxy settings, then rerun"
    )


def retry_after(error: BaseException | None) -> float | None:
    """The seconds the server's ``Retry-After`` header asks to wait (a number or an HTTP date), if it sends one."""
    response = getattr(error, "response", None)
    value = None if response is None else response.headers.get("Retry-After")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    when = when if when.tzinfo else when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


class wait_retry_after(wait_base):
    """Wait what the server's ``Retry-After`` asks for, else what ``fallback`` says."""

    def __init__(self, fallback: wait_base) -> None:
        self.fallback = fallback

    def __call__(self, retry_state: RetryCallState) -> float:
        outcome = retry_state.outcome
        asked = retry_after(outcome.exception()) if outcome is not None and outcome.failed else None
        return asked if asked is not None else self.fallback(retry_state)


class Transport:
    """An authenticated client for one target whose calls are retried and fail as one KitError line; with a
    ``timeout``, no request and no retry goes past that many seconds from now."""

    def __init__(self, target: Target, retry: Retry = RETRY, timeout: float | None = None) -> None:
        if timeout is not None and not timeout > 0:
            raise KitError.invalid("timeout", "a positive number of seconds", timeout)
        self.target = target
        self.retry = retry
        self.timeout = timeout
        self.deadline = None if timeout is None else time.monotonic() + timeout
        self.api: KaggleApi = credentials.new_client()
        # The client retries a broken download itself, sleeping up to a minute between tries and blind to any
        # deadline: leave that to kit's retries (a fresh download each time).
        self.api.download_file = functools.partial(  # type: ignore[method-assign]
            type(self.api).download_file, self.api, max_retries=0, timeout=retry.read_timeout
        )
        self.call("authenticate")

    def left(self) -> float | None:
        """Seconds left before the deadline (None: no deadline)."""
        return None if self.deadline is None else max(0.0, self.deadline - time.monotonic())

    def invoke(self, operation: str, *args: Any, **kwargs: Any) -> Any:
        """One call of the client's method ``operation``, quiet and not retried."""
        with credentials.quiet(), limited(self.retry.connect_timeout, self.retry.read_timeout, self.deadline):
            try:
                return getattr(self.api, operation)(*args, **kwargs)
            except SystemExit as stop:  # the client exits where it cannot go on (authenticate: no credentials found)
                if operation == "authenticate":
                    raise KitError(credentials.missing(self.api)) from None
                raise KitError(f"the kaggle client stopped in {operation} (exit code {stop.code})") from None
            except json.JSONDecodeError as error:  # requests' own JSONDecodeError is one too
                raise KitError(not_json(error, operation)) from None

    def call(self, operation: str, *args: Any, **kwargs: Any) -> Any:
        """The client's method ``operation`` called with these arguments, retried."""
        return self.retried(self.invoke, operation, *args, **kwargs)

    def retried(self, function: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """``function(*args, **kwargs)`` retried on transient failures; any failure ends as one KitError line."""
        retry = self.retry
        seen = {"stalls": 0, "late": False}

        def worth_retrying(error: BaseException) -> bool:
            seen["stalls"] += timed_out(error)
            return transient(error)

        def out_of_time(state: RetryCallState) -> bool:
            """No stall left, or the next try would start after the deadline."""
            wake = time.monotonic() + (state.upcoming_sleep or 0)
            seen["late"] = self.deadline is not None and wake >= self.deadline
            return seen["stalls"] >= retry.stalls or seen["late"]

        retrying = Retrying(
            retry=retry_if_exception(worth_retrying),
            wait=wait_retry_after(
                wait_exponential_jitter(multiplier=retry.delay, max=retry.max_delay, jitter=retry.jitter)
            ),
            stop=stop_after_attempt(retry.attempts) | stop_before_delay(retry.budget) | out_of_time,
            sleep=retry.sleep,
            retry_error_callback=lambda state: self._give_up(state, late=seen["late"]),
        )
        from requests.exceptions import RequestException

        try:
            return retrying(function, *args, **kwargs)
        except (RequestException, UploadError) as error:  # not worth retrying
            raise KitError(self.failure(error)) from None

    def _give_up(self, state: RetryCallState, late: bool = False) -> Any:
        """Called by tenacity when the attempts, the stalls or the time (``late``: the deadline) are spent: say how
        often and how long."""
        error = state.outcome.exception() if state.outcome is not None else None
        attempts = state.attempt_number
        elapsed = state.seconds_since_start or 0.0
        tries = f"after {attempts} attempt{'s' if attempts > 1 else ''} in {elapsed:.0f} s"
        asked = retry_after(error)
        if asked is not None and elapsed + asked >= self.retry.budget:
            tries += f", asked to wait {asked:.0f} s more"
        if late:
            raise KitError(f"{self.failure(error, tries)} — the {self.timeout:g} s allowed are spent", fix=TIMEOUT_FIX)
        raise KitError(self.failure(error, tries))

    def failure(self, error: BaseException | None, tries: str = "") -> str:
        """The one line for a failed call (``tries`` says how often and how long it was tried)."""
        code = None if error is None else status(error)
        target, page = self.target, self.target.page
        after = f", {tries}" if tries else ""
        if isinstance(error, UploadError):
            return f"uploading the submission to Kaggle failed ({tries}); nothing was submitted — try again later"
        if timed_out(error):
            return (
                f"Kaggle did not answer in time ({type(error).__name__}{after}): check the network connection and any "
                "proxy settings"
            )
        if code is None:
            return (
                f"cannot reach Kaggle ({type(error).__name__}{after}): check the network connection and any proxy "
                "settings"
            )
        if code == 401:
            return (
                f"Kaggle rejected the credentials from {credentials.source(self.api)} (401 Unauthorized): check them, "
                f"or create a new API token at {credentials.SETTINGS_URL}"
            )
        if code == 403 and target.kind == "competition":
            return (
                f"Kaggle refused access to {target.slug} (403 Forbidden): accept the competition rules at {page}/rules "
                "(with the account of these credentials), then rerun"
            )
        if code == 403:
            return (
                f"Kaggle refused access to {target.slug} (403 Forbidden): the dataset is private or its terms are not "
                f"accepted; open {page} with the account of these credentials"
            )
        if code == 404:
            return f"Kaggle has no {target.kind} {target.slug!r} (404 Not Found): check the name in its address, {page}"
        if code == 429:
            return f"Kaggle is limiting the request rate (429 Too Many Requests{after}): wait a few minutes, then rerun"
        if code >= 500:
            reason = f"HTTP {code} {error.response.reason or ''}".strip()
            return f"Kaggle's server failed ({reason}{after}): try again later"
        detail = re.sub(r"[?]\S+", "", str(error))  # leave out the query of signed URLs
        return f"Kaggle refused the request (HTTP {code}): {detail}"
