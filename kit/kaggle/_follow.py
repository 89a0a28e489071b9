"""Following a kernel on Kaggle: its datasets processed, its run (a live line of its status) until it completes or
fails (the last line of its log), and its output downloaded."""

from __future__ import annotations

import json
import re
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tenacity import RetryCallState, Retrying, retry_if_result, stop_before_delay, wait_exponential

from kit.errors import KitError
from kit.kaggle._datasets import DatasetSync, PushTransport, connect_push, remote_status
from kit.kaggle.submitting import Poll
from kit.kaggle.transport import TIMEOUT_FIX, Retry, Target
from kit.utils import Callback

KERNEL_POLL = Poll(interval=10.0, most=60.0, timeout=9 * 3600.0)  # a code competition's kernel may run 9 hours
ENDED = ("complete", "error", "cancel_requested", "cancel_acknowledged")
ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def follow(
    look: Callable[[], tuple[str, Any]],
    poll: Poll,
    left: Callable[[], float | None],
    phase: str,
    progress: Callback,
    late: Callable[[float], str],
) -> tuple[str, Any]:
    """Look until ``look`` says the thing ``ENDED`` (or ready), pausing longer each time; ``late`` words the line for
    a wait that ran out."""

    def ran_out(state: RetryCallState) -> Any:
        raise KitError(late(state.seconds_since_start or 0.0), fix=TIMEOUT_FIX)

    remaining = left()
    retrying = Retrying(
        retry=retry_if_result(lambda found: found[0] not in (*ENDED, "ready", "failed")),
        wait=wait_exponential(multiplier=poll.interval, exp_base=1.5, max=poll.most),
        stop=stop_before_delay(poll.timeout if remaining is None else min(poll.timeout, remaining)),
        sleep=poll.sleep,
        before_sleep=lambda state: progress.on_phase(f"{phase}: {state.outcome.result()[0]}", state.attempt_number),
        retry_error_callback=ran_out,
    )
    return retrying(look)


def wait_ready(
    sync: DatasetSync, retry: Retry, left: Callable[[], float | None], poll: Poll, progress: Callback
) -> None:
    """Wait until Kaggle has processed the dataset; one line if it failed to."""
    transport = connect_push(Target(sync.ref), retry, left)
    found, _ = follow(
        lambda: (remote_status(transport, sync.ref) or "pending", None),
        poll,
        left,
        f"Kaggle is processing dataset {sync.ref}",
        progress,
        lambda waited: f"dataset {sync.ref} was still being processed after {waited:.0f} s; rerun to go on waiting",
    )
    if found != "ready":
        raise KitError(f"Kaggle could not process dataset {sync.ref} (status {found}); build and push it again")


def log_tail(text: str) -> str:
    """The last line a kernel's log printed (its JSON records or plain text), as one line."""
    try:
        records = json.loads(text)
        lines = "".join(str(item.get("data", "")) for item in records if isinstance(item, dict)).splitlines()
    except (ValueError, TypeError, AttributeError):
        lines = text.splitlines()
    lines = [ANSI.sub("", line).strip() for line in lines if ANSI.sub("", line).strip()]
    return lines[-1][:300] if lines else "the log is empty"


def fetch_output(transport: PushTransport, kernel: str, into: Path) -> tuple[tuple[str, ...], str]:
    """Download the kernel's latest output into the folder ``into`` (replacing what was there); its file names and
    its log."""
    into.parent.mkdir(parents=True, exist_ok=True)
    inbox = Path(tempfile.mkdtemp(dir=into.parent, prefix=".kit-output-"))
    try:
        transport.client("kernels_output", kernel, str(inbox), force=True, quiet=True)
        slug = kernel.split("/")[-1]
        log_path = inbox / f"{slug}.log"
        log = log_path.read_text(encoding="utf-8", errors="replace") if log_path.is_file() else ""
        log_path.unlink(missing_ok=True)
        shutil.rmtree(into, ignore_errors=True)
        inbox.rename(into)
    finally:
        shutil.rmtree(inbox, ignore_errors=True)
    files = tuple(sorted(path.relative_to(into).as_posix() for path in into.rglob("*") if path.is_file()))
    return files, log


def run_kernel(
    transport: PushTransport,
    version: int | None,
    poll: Poll,
    left: Callable[[], float | None],
    progress: Callback,
    command: str = "kit kernel push",
) -> None:
    """Follow the kernel until it ends; one line with its log's last line when it failed (``command``: what to rerun
    to follow it further)."""
    kernel = transport.target.slug
    label = f"kernel {kernel}" + (f" version {version}" if version else "")

    def look() -> tuple[str, Any]:
        reply = transport.client("kernels_status", kernel)
        return reply.status.name.lower(), reply

    found, reply = follow(
        look,
        poll,
        left,
        f"Kaggle runs {label}",
        progress,
        lambda waited: (
            f"{label} was still running after {waited:.0f} s; rerun {command} to follow it (nothing is pushed again)"
        ),
    )
    if found == "complete":
        return
    if found == "error":
        with tempfile.TemporaryDirectory(prefix="kit-log-") as scratch:
            _, log = fetch_output(transport, kernel, Path(scratch) / "output")
        reason = getattr(reply, "failure_message", "") or "no reason given"
        raise KitError(f"{label} failed on Kaggle ({reason}): {log_tail(log)}")
    raise KitError(f"{label} was cancelled on Kaggle ({found}); push it again with force")
