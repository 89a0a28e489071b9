"""Submit a checked file to a competition, wait (with tenacity) for its score and note it in the sidecar; list
the submissions."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tenacity import RetryCallState, Retrying, retry_if_result, stop_before_delay, wait_exponential

from kit.competitions import DEFAULT_COMPETITION, Competition, as_competition
from kit.errors import KitError
from kit.kaggle._fetchdir import DATA_DIR
from kit.kaggle.services import Submissions, connect
from kit.kaggle.transport import RETRY, Retry, UploadError
from kit.submission import Sidecar, note_sidecar
from kit.submission import read_sidecar as submission_sidecar
from kit.utils import Callback, as_callback_list, renamed


@dataclass(frozen=True)
class Poll:
    """How ``submit`` waits for the score: ``interval`` seconds between looks, growing by half up to ``most``; no look
    starts after ``timeout`` seconds."""

    interval: float = 5.0
    most: float = 30.0
    timeout: float = 1800.0
    sleep: Callable[[float], None] = time.sleep


POLL = Poll()


@dataclass(frozen=True)
class Submission:
    """One submission as Kaggle lists it; ``status`` is pending, complete or error."""

    ref: int
    date: datetime | None
    file_name: str
    description: str
    status: str
    public_score: str | None
    private_score: str | None
    error: str | None


@dataclass(frozen=True)
class SubmissionList:
    """Recent submissions, newest first, and how many more Kaggle accepts today (None when it does not say)."""

    competition: str
    items: tuple[Submission, ...]
    left_today: int | None


@dataclass(frozen=True)
class SubmitResult:
    """What :func:`submit` did: the submission (scored when waited for), the submissions left today, and notes (e.g. a
    sidecar that could not be updated)."""

    competition: str
    path: Path
    submission: Submission
    left_today: int | None
    notes: tuple[str, ...] = ()


def as_submission(item: Any) -> Submission:
    """A kit :class:`Submission` from the client's ApiSubmission."""
    date = item.date
    return Submission(
        ref=item.ref,
        date=date.replace(tzinfo=UTC) if date and date.tzinfo is None else date,
        file_name=item.file_name or "",
        description=item.description or "",
        status=item.status.name.lower(),
        public_score=item.public_score or None,
        private_score=item.private_score or None,
        error=item.error_description or None,
    )


def read_sidecar(path: Path) -> tuple[Sidecar | None, str | None]:
    """The prediction sidecar of a submission file, if kit wrote one for it, and a note when a ``<name>.json`` is
    there but is not a readable sidecar of this file."""
    try:
        return submission_sidecar(path), None
    except KitError as error:
        return None, f"{error}; the submission is not noted there"


def record(path: Path, sidecar: Sidecar, competition: str, message: str, submission: Submission) -> Sidecar:
    """Note the submission (ref, status, score; never credentials) in the file's sidecar."""
    entry = {
        "competition": competition,
        "ref": submission.ref,
        "message": message,
        "submitted_at": (submission.date or datetime.now(UTC)).isoformat(timespec="seconds"),
        "status": submission.status,
        "public_score": submission.public_score,
    }
    earlier = [item.model_dump(mode="json") for item in sidecar.kaggle if item.ref != submission.ref]
    return note_sidecar(path, kaggle=[*earlier, entry])


def create(service: Submissions, path: Path, message: str) -> int:
    """Upload and create the submission; return its ref. A retry first looks whether Kaggle recorded a failed attempt
    after all, so a lost reply never spends a second submission."""
    known = {item.ref for item in service.transport.retried(service.submissions)}
    attempts = 0

    def recorded() -> int:
        for item in service.submissions():
            if item.ref not in known and item.file_name == path.name and (item.description or "") == message:
                return item.ref
        return 0

    def attempt() -> int:
        nonlocal attempts
        attempts += 1
        if attempts > 1 and (ref := recorded()):
            return ref
        reply = service.upload(path, message)
        if service.upload_failed(reply):
            raise UploadError
        return reply.ref or recorded()

    return service.transport.retried(attempt)


def await_score(service: Submissions, ref: int, poll: Poll, progress: Callback) -> Submission:
    """Look at the submission list until submission ``ref`` is scored (or failed), growing the pause between looks."""
    phase = f"Kaggle is scoring submission {ref}"

    def listed() -> list[Any]:
        try:
            return service.transport.retried(service.submissions)
        except KitError as error:  # not "rerun" (nor its --timeout): that would spend another submission
            raise KitError(
                f"{error.message}; submission {ref} is made — see `kit submissions` or "
                f"kit.submissions({service.slug!r}) for its score"
            ) from None

    def look() -> Submission | None:
        found = next((as_submission(item) for item in listed() if item.ref == ref), None)
        if found is not None and found.status == "error":
            raise KitError(f"Kaggle could not score submission {ref}: {found.error or 'no reason given'}")
        return found

    def timed_out(state: RetryCallState) -> Submission:
        raise KitError(
            f"submission {ref} was still being scored after {state.seconds_since_start or 0:.0f} s; see "
            f"`kit submissions` or kit.submissions({service.slug!r}) later"
        )

    left = service.transport.left()
    retrying = Retrying(
        retry=retry_if_result(lambda found: found is None or found.status != "complete"),
        wait=wait_exponential(multiplier=poll.interval, exp_base=1.5, max=poll.most),
        stop=stop_before_delay(poll.timeout if left is None else min(poll.timeout, left)),
        sleep=poll.sleep,
        before_sleep=lambda state: progress.on_phase(phase, state.attempt_number, None),
        retry_error_callback=timed_out,
    )
    return retrying(look)


@renamed(data_dir="data")
def submit(
    path: Path | str,
    message: str,
    competition: Competition | str | None = None,
    data: Path | str | None = None,
    *,
    wait: bool = True,
    retry: Retry = RETRY,
    poll: Poll = POLL,
    timeout: float | None = None,
    callbacks: Iterable[Callback] | Callback = (),
) -> SubmitResult:
    """Check ``path`` as prediction does, submit it with ``message`` and (with ``wait``) wait for its score.

    The competition defaults to the one in the file's prediction sidecar, else digit-recognizer; the ids must match
    the sample submission in ``data`` (default the sidecar's data folder, else ``data/<competition>``). An
    invalid file is refused before Kaggle is contacted. The submission is noted in the sidecar. Every request times
    out (``retry``), and with ``timeout`` the whole call, waiting for the score included, ends within that many
    seconds.
    """
    data_dir = data  # the name inside (``data_dir`` is the deprecated keyword)
    from kit.submission import read_checked_submission

    progress = as_callback_list(callbacks)
    path = Path(path)
    sidecar, note = read_sidecar(path)
    notes = [note] if note else []
    chosen = competition or (sidecar.competition if sidecar else None)
    named = chosen.name if isinstance(chosen, Competition) else chosen
    recorded = Path(sidecar.data_dir) if sidecar is not None and sidecar.data_dir else None
    if data_dir is None and recorded is not None and recorded.is_dir():
        data_dir = recorded  # the folder kit predict wrote the submission from
    folder = Path(data_dir) if data_dir is not None else DATA_DIR / (named or DEFAULT_COMPETITION)
    competition = as_competition(chosen, folder)
    if data_dir is None:
        folder = DATA_DIR / competition.name
    if not message.strip():
        raise KitError.invalid("message", "a non-empty text (it labels the submission on Kaggle)", message)
    rows = len(read_checked_submission(path, competition, folder))
    progress.on_phase(f"submitting {path.name} ({rows} rows)", 0, 1)
    service = Submissions(connect(competition.name, retry, timeout))
    limits = service.limits()
    allowed = limits.num_allowed_now
    if allowed <= 0 and limits.limited_by_total:
        raise KitError(f"no submissions left for {competition.name}: its lifetime limit is reached")
    if allowed <= 0 and limits.num_today:
        raise KitError(
            f"no submissions left for {competition.name} today ({limits.num_today} made): try again after the daily "
            "reset at 00:00 UTC"
        )
    ref = create(service, path, message)
    if not ref:
        raise KitError(f"Kaggle accepted {path.name} but did not say which submission it is; list the submissions")
    progress.on_phase(f"submitting {path.name} ({rows} rows)", 1, 1)
    submission = Submission(ref, datetime.now(UTC), path.name, message, "pending", None, None, None)
    if sidecar is not None:
        sidecar = record(path, sidecar, competition.name, message, submission)
    if wait:
        try:
            submission = await_score(service, ref, poll, progress)
        except KeyboardInterrupt:  # the submission is made: submitting again would spend another one
            raise KitError(f"stopped waiting; submission {ref} is made — list the submissions for its score") from None
        if sidecar is not None:
            record(path, sidecar, competition.name, message, submission)
    left = allowed - 1 if allowed > 0 else None
    return SubmitResult(competition.name, path, submission, left, tuple(notes))


def submissions(
    competition: Competition | str = DEFAULT_COMPETITION, count: int = 20, *, retry: Retry = RETRY
) -> SubmissionList:
    """The ``count`` most recent submissions to the competition (any slug) and how many more Kaggle accepts today."""
    name = competition.name if isinstance(competition, Competition) else competition
    service = Submissions(connect(name, retry))
    items = tuple(as_submission(item) for item in service.transport.retried(service.submissions, count))
    limits = service.limits()
    known = limits.num_allowed_now or limits.num_today or limits.num_total
    return SubmissionList(name, items, limits.num_allowed_now if known else None)
