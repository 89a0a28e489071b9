"""A code competition's submission: a kernel version's ``submission.csv`` submitted with
``competition_submit_code`` and its score waited for, as ``kit submit --wait`` does for a file.

The submission's ref is recorded in the kernel folder's push record before the score is waited for, and a retried
call first looks whether Kaggle recorded the earlier attempt, so neither a rerun nor a lost reply spends a second
submission."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from kit.errors import KitError
from kit.kaggle._datasets import PushTransport, connect_push
from kit.kaggle.services import Submissions
from kit.kaggle.submitting import Poll, Submission, await_score
from kit.kaggle.transport import Retry, Target, UploadError

SUBMISSION = "submission.csv"


def check_limits(service: Submissions, competition: str) -> None:
    """One line when Kaggle takes no more submissions today (or ever) for this competition."""
    limits = service.limits()
    if limits.num_allowed_now <= 0 and limits.limited_by_total:
        raise KitError(f"no submissions left for {competition}: its lifetime limit is reached")
    if limits.num_allowed_now <= 0 and limits.num_today:
        raise KitError(
            f"no submissions left for {competition} today ({limits.num_today} made): try again after the daily "
            "reset at 00:00 UTC, with kit kernel push --submit (nothing is pushed again)"
        )


def create(service: Submissions, transport: PushTransport, kernel: str, version: int | None, message: str) -> int:
    """Submit the kernel version's output once; its ref. A retry looks for the earlier attempt first."""
    known = {item.ref for item in transport.retried(service.submissions)}
    attempts = 0

    def recorded() -> int:
        for item in service.submissions():
            if item.ref not in known and (item.description or "") == message:
                return item.ref
        return 0

    def attempt() -> int:
        nonlocal attempts
        attempts += 1
        if attempts > 1 and (ref := recorded()):
            return ref
        reply = transport.unwrapped(
            "competition_submit_code", SUBMISSION, message, service.slug, kernel, version, quiet=True
        )
        ref = getattr(reply, "ref", 0) or recorded()
        if not ref:
            raise UploadError  # no ref and none listed: Kaggle did not take it; retried
        return ref

    return transport.retried(attempt)


def submit_code(
    competition: str,
    kernel: str,
    version: int | None,
    message: str,
    made: int | None,
    record: Callable[[int], None],
    retry: Retry,
    poll: Poll,
    left: Callable[[], float | None],
    progress: Any,
) -> Submission:
    """Submit the kernel version's ``submission.csv`` to ``competition`` and wait for its score; ``made``: the ref
    of its submission when an earlier push made it (then only the score is waited for), ``record`` notes a new one
    before the wait."""
    transport = connect_push(Target(competition), retry, left)
    service = Submissions(transport)
    ref = made
    if not ref:
        check_limits(service, competition)
        progress.on_phase(f"submitting {kernel} version {version} to {competition}", 0, 1)
        ref = create(service, transport, kernel, version, message)
        record(ref)
    progress.on_phase(f"submitting {kernel} version {version} to {competition}", 1, 1)
    try:
        return await_score(service, int(ref), poll, progress)
    except KeyboardInterrupt:
        raise KitError(f"stopped waiting; submission {ref} is made — list the submissions for its score") from None
