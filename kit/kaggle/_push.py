"""``kit kernel push``: a built kernel folder onto Kaggle, run, its output back, and (with ``submit``) submitted.

Every step is resumable. The datasets are compared with Kaggle by their content hash (:mod:`kit.kaggle._datasets`);
the kernel is pushed only when its notebook, metadata or datasets changed since the version recorded in the folder's
``.kit-push.json`` (a rerun follows that version instead); a code submission of that version is recorded there too,
so a rerun waits for its score rather than submitting again.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kit.errors import KitError
from kit.kaggle._codesubmit import submit_code
from kit.kaggle._datasets import DatasetSync, KernelTarget, PushTransport, connect_push, sync_dataset
from kit.kaggle._follow import KERNEL_POLL, fetch_output, run_kernel, wait_ready
from kit.kaggle._notebook import DATASET_METADATA, KERNEL_METADATA, OWNER_PLACEHOLDER
from kit.kaggle.submitting import POLL, Poll, Submission
from kit.kaggle.transport import RETRY, Retry
from kit.utils import Callback, as_callback_list, read_json, renamed, write_json

STATE = ".kit-push.json"
SUBMISSION = "submission.csv"
DATASETS = ("models", "wheels")  # the dataset folders a kernel folder may hold (a training kernel: wheels only)


@dataclass(frozen=True)
class KernelRun:
    """A kernel folder's version run on Kaggle: the datasets synced, the version (``pushed``: by this call, else
    found pushed before), and its output downloaded into ``output`` (file names)."""

    folder: Path
    kernel: str
    version: int | None
    pushed: bool
    datasets: tuple[DatasetSync, ...]
    output: Path
    files: tuple[str, ...]

    @property
    def label(self) -> str:
        return f"kernel {self.kernel}" + (f" version {self.version}" if self.version else "")


@dataclass(frozen=True)
class KernelPush:
    """What push did: the kernel's run on Kaggle, the checked submission's rows, and the code submission when
    asked."""

    run: KernelRun
    rows: int
    submission: Submission | None = None

    @property
    def kernel(self) -> str:
        return self.run.kernel

    @property
    def version(self) -> int | None:
        return self.run.version

    @property
    def pushed(self) -> bool:
        return self.run.pushed

    @property
    def datasets(self) -> tuple[DatasetSync, ...]:
        return self.run.datasets

    @property
    def output(self) -> Path:
        return self.run.output

    @property
    def files(self) -> tuple[str, ...]:
        return self.run.files


def read_state(folder: Path) -> dict[str, Any]:
    """The folder's push record (empty when there is none or it is unreadable: the push then checks everything)."""
    try:
        state = json.loads((folder / STATE).read_text())
    except (OSError, ValueError):
        return {}
    return state if isinstance(state, dict) else {}


def save_state(folder: Path, state: dict[str, Any]) -> None:
    write_json(folder / STATE, state)


def check_folder(folder: Path) -> dict[str, Any]:
    """The kernel's metadata, once the folder is known to hold a complete build; one line otherwise."""
    needed = [("kernel", KERNEL_METADATA), ("wheels", DATASET_METADATA)]
    needed += [("models", DATASET_METADATA)] if (folder / "models").exists() else []
    for part, name in needed:
        if not (folder / part / name).is_file():
            raise KitError(f"{folder}: no {part}/{name}; build the kernel there first with kit kernel build")
    return read_json(folder / "kernel" / KERNEL_METADATA, dict)


def fill_owner(folder: Path, user: str) -> None:
    """Put the authenticated ``user`` in the ids that hold the owner placeholder (a build that knew no user)."""
    for path in [folder / "kernel" / KERNEL_METADATA, *(folder / role / DATASET_METADATA for role in DATASETS)]:
        text = path.read_text(encoding="utf-8") if path.is_file() else ""
        if f'"{OWNER_PLACEHOLDER}/' in text:
            path.write_text(text.replace(f'"{OWNER_PLACEHOLDER}/', f'"{user}/'), encoding="utf-8")


def kernel_key(folder: Path, datasets: Iterable[DatasetSync]) -> str:
    """What the kernel version runs: its notebook and metadata, and its datasets' content."""
    digest = hashlib.sha256()
    for path in sorted((folder / "kernel").iterdir()):
        if path.is_file():
            digest.update(path.name.encode() + b"\n" + path.read_bytes())
    for dataset in datasets:
        digest.update(f"{dataset.ref} {dataset.sha256}\n".encode())
    return digest.hexdigest()


def push_version(transport: PushTransport, folder: Path) -> int | None:
    """Push the kernel folder (a new version, run at once); its version number."""
    reply = transport.client("kernels_push", str(folder / "kernel"))
    if getattr(reply, "error", None):
        raise KitError(f"Kaggle refused kernel {transport.target.slug}: {reply.error}")
    invalid = [
        *(getattr(reply, "invalid_dataset_sources", None) or []),
        *(getattr(reply, "invalid_competition_sources", None) or []),
    ]
    if invalid:
        raise KitError(
            f"Kaggle did not attach {', '.join(map(str, invalid))} to kernel {transport.target.slug}: check that "
            "the datasets are yours and that you joined the competition"
        )
    return reply.version_number or None


def run_on_kaggle(
    folder: Path,
    state: dict[str, Any],
    retry: Retry,
    poll: Poll,
    left: Callable[[], float | None],
    force: bool,
    progress: Callback,
    command: str = "kit kernel push",
) -> KernelRun:
    """Sync the folder's datasets, push its kernel unless this version ran before (or ``force``), follow it until
    it completes, and download its output into ``FOLDER/output``; the push record ``state`` is saved at each step."""
    metadata = check_folder(folder)
    transport = connect_push(KernelTarget(str(metadata.get("id", ""))), retry, left)
    user = transport.api.config_values.get(transport.api.CONFIG_NAME_USER)
    if user and str(metadata.get("id", "")).split("/")[0] != user:
        fill_owner(folder, user)
        metadata = check_folder(folder)
        transport = connect_push(KernelTarget(str(metadata["id"])), retry, left)
    recorded, syncs = state.setdefault("datasets", {}), []
    for role in (role for role in DATASETS if (folder / role).is_dir()):
        progress.on_phase(f"uploading the {role} dataset", 0, 1)
        sync = sync_dataset(folder / role, recorded.get(role), retry, left, f"kit kernel push of {metadata['id']}")
        recorded[role] = sync.sha256
        save_state(folder, state)
        wait_ready(sync, retry, left, poll, progress)
        syncs.append(sync)
    key, kernel = kernel_key(folder, syncs), transport.target.slug
    pushed = force or state.get("kernel", {}).get("key") != key
    if pushed:
        progress.on_phase(f"pushing kernel {kernel}", 0, 1)
        state["kernel"] = {"key": key, "version": push_version(transport, folder)}
        save_state(folder, state)
    version = state["kernel"].get("version")
    run_kernel(transport, version, poll, left, progress, command)
    files, _ = fetch_output(transport, kernel, folder / "output")
    return KernelRun(folder, kernel, version, pushed, tuple(syncs), folder / "output", files)


def check_output(run: KernelRun, data_dir: Path | str | None) -> int:
    """The rows of the kernel's submission, once checked as kit checks a submission; one line otherwise."""
    from kit.competitions import load_spec
    from kit.kaggle._fetchdir import DATA_DIR
    from kit.submission import read_checked_submission

    path = run.output / SUBMISSION
    if not path.is_file():
        written = ", ".join(run.files) or "no files"
        raise KitError(f"{run.label} finished without writing {SUBMISSION} (its output: {written}); see its log")
    competition = load_spec(run.folder / "models" / "competition.toml")
    folder = Path(data_dir) if data_dir is not None else DATA_DIR / competition.name
    return len(read_checked_submission(path, competition, folder))


def deadline_of(timeout: float | None) -> Callable[[], float | None]:
    """The seconds left of ``timeout`` from now, each time it is called (None: no deadline)."""
    deadline = None if timeout is None else time.monotonic() + timeout
    return lambda: None if deadline is None else max(0.001, deadline - time.monotonic())


@renamed(data_dir="data")
def push_kernel(
    folder: Path | str,
    *,
    submit: bool = False,
    message: str | None = None,
    timeout: float | None = None,
    poll: Poll = KERNEL_POLL,
    score_poll: Poll = POLL,
    retry: Retry = RETRY,
    force: bool = False,
    data: Path | str | None = None,
    callbacks: Iterable[Callback] | Callback = (),
) -> KernelPush:
    """Push the kernel folder built by :func:`kit.kaggle.build_kernel` and bring back its submission.

    Creates or versions the models and wheels datasets (only when their content changed) and waits until Kaggle has
    processed them; pushes the kernel (unless this version was pushed before: ``force`` pushes again), follows it
    until it completes or fails (the log's last line), downloads its output into ``FOLDER/output`` and checks
    ``submission.csv`` (ids against ``data``'s sample submission, default ``data/<competition>``, when there).
    With ``submit`` the kernel's output is submitted to the competition (``message``; default names the kernel
    version) and its score waited for (``score_poll``). With ``timeout`` the whole push ends within that many seconds;
    a rerun picks up where it stopped.
    """
    data_dir = data  # the name inside (``data_dir`` is the deprecated keyword)
    folder, progress, left = Path(folder), as_callback_list(callbacks), deadline_of(timeout)
    if not folder.is_dir():
        raise KitError(f"{folder}: no such folder; build the kernel there first with kit kernel build")
    if not (folder / "models").is_dir():
        raise KitError(f"{folder}: no models/ folder: not an inference kernel built by kit kernel build")
    state = read_state(folder)
    run = run_on_kaggle(folder, state, retry, poll, left, force, progress)
    rows = check_output(run, data_dir)
    if not submit:
        return KernelPush(run, rows)
    made = state.setdefault("submissions", {})

    def record(ref: int) -> None:
        made[str(run.version)] = ref
        save_state(folder, state)

    competition = str(read_json(folder / "kernel" / KERNEL_METADATA, dict)["competition_sources"][0])
    text = message or f"{run.label} (kit kernel push)"
    submission = submit_code(
        competition,
        run.kernel,
        run.version,
        text,
        made.get(str(run.version)),
        record,
        retry,
        score_poll,
        left,
        progress,
    )
    return KernelPush(run, rows, submission)
