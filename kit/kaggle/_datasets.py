"""The kernel's two datasets on Kaggle: created, or versioned only when their content changed.

Each dataset folder holds ``kit-dataset.json``: what kit made it for (its role and kernel) and the sha256 of the rest
of its content. ``kit kernel push`` reads that file back from Kaggle: the same hash means nothing to upload; another
means a new version; none means the slug holds a dataset kit did not make (taken: one line, nothing uploaded). A
dataset is used once Kaggle reports it ready. Folders are uploaded as zip archives (the client's ``dir_mode="zip"``).
"""

from __future__ import annotations

import hashlib
import json
import tempfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kit.errors import KitError
from kit.kaggle._notebook import DATASET_MARKER, DATASET_METADATA
from kit.kaggle.transport import Target, Transport, status

PENDING = "pending"  # a dataset Kaggle is still processing (or does not list yet, just created)


@dataclass(frozen=True)
class DatasetSync:
    """What push did with one dataset: ``created``, ``versioned`` or ``unchanged`` (already on Kaggle)."""

    ref: str
    role: str
    action: str
    sha256: str


def content_hash(folder: Path) -> str:
    """The sha256 of a dataset folder's content: every file's path and bytes, its metadata and marker left out."""
    digest = hashlib.sha256()
    skip = {DATASET_METADATA, DATASET_MARKER}
    for path in sorted(folder.rglob("*")):
        name = path.relative_to(folder).as_posix()
        if path.is_file() and name not in skip and not path.name.startswith("."):
            digest.update(f"{name}\n{path.stat().st_size}\n".encode())
            with path.open("rb") as stream:
                while block := stream.read(1 << 20):
                    digest.update(block)
    return digest.hexdigest()


def write_marker(folder: Path, role: str, kernel: str) -> str:
    """Write ``kit-dataset.json`` (role, kernel, content hash) into the dataset ``folder``; the hash."""
    import kit

    sha256 = content_hash(folder)
    marker = {"kit_dataset": role, "kernel": kernel, "sha256": sha256, "kit": kit.__version__}
    (folder / DATASET_MARKER).write_text(json.dumps(marker, indent=2) + "\n", encoding="utf-8")
    return sha256


def read_marker(path: Path) -> dict[str, Any] | None:
    """A ``kit-dataset.json`` as read (from a folder, or as Kaggle sent it, possibly zipped); None if not one."""
    try:
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as archive:
                content = json.loads(archive.read(DATASET_MARKER))
        else:
            content = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, KeyError, ValueError, zipfile.BadZipFile):
        return None
    return content if isinstance(content, dict) and "kit_dataset" in content else None


class KernelTarget(Target):
    """A kernel (``owner/slug``) as the target of calls: its failures name it as a kernel."""

    @property
    def kind(self) -> str:
        return "kernel"

    @property
    def page(self) -> str:
        return f"https://www.kaggle.com/code/{self.slug}"


class PushTransport(Transport):
    """The transport of ``kit kernel push``: the client's own retries off (kit's know the deadline), and 403/404
    worded for what push does with a kernel or one of its datasets."""

    def __init__(self, target: Target, retry: Any, timeout: float | None) -> None:
        super().__init__(target, retry, timeout)
        self.api.with_retry = lambda function, *args, **kwargs: function  # type: ignore[method-assign]

    def failure(self, error: BaseException | None, tries: str = "") -> str:
        code = None if error is None else status(error)
        kind, slug = self.target.kind, self.target.slug
        if code == 403 and kind in ("kernel", "dataset"):
            return (
                f"Kaggle refused access to {kind} {slug} (403 Forbidden): it belongs to another account or these "
                "credentials may not change it; build the kernel with another title or owner"
            )
        if code == 404 and kind == "kernel":
            return f"Kaggle has no kernel {slug} (404 Not Found): push it first with kit kernel push"
        return super().failure(error, tries)

    def client(self, operation: str, *args: Any, **kwargs: Any) -> Any:
        """The client's ``operation``, retried, its own ``ValueError`` lines (refused metadata, a failed upload, a
        denied kernel) as kit's: an HTTP error it hides behind one is handled as that HTTP error."""
        return self.retried(self.unwrapped, operation, *args, **kwargs)

    def unwrapped(self, operation: str, *args: Any, **kwargs: Any) -> Any:
        from requests.exceptions import HTTPError

        try:
            return self.invoke(operation, *args, **kwargs)
        except ValueError as error:
            if isinstance(error.__context__, HTTPError):
                raise error.__context__ from None
            raise KitError(f"the kaggle client refused {operation} for {self.target.slug}: {error}") from None


def connect_push(target: Target, retry: Any, left: Callable[[], float | None]) -> PushTransport:
    """A push transport for ``target`` whose calls end by the push's deadline (``left``: the seconds left)."""
    return PushTransport(target, retry, left())


def remote_status(transport: PushTransport, ref: str) -> str | None:
    """The dataset's processing status as the client words it (``ready``, ``failed``…), None when Kaggle has none."""
    from requests.exceptions import HTTPError

    def look() -> str | None:
        try:
            return transport.unwrapped("dataset_status", ref)
        except HTTPError as error:
            if status(error) == 404:
                return None
            raise

    return transport.retried(look)


def remote_marker(transport: PushTransport, ref: str) -> dict[str, Any] | None:
    """The ``kit-dataset.json`` of the dataset's current version on Kaggle; None when it has none."""
    from requests.exceptions import HTTPError

    def fetch() -> dict[str, Any] | None:
        with tempfile.TemporaryDirectory(prefix="kit-marker-") as inbox:
            try:
                transport.unwrapped("dataset_download_file", ref, DATASET_MARKER, inbox, force=True, quiet=True)
            except HTTPError as error:
                if status(error) == 404:
                    return None
                raise
            found = [path for path in Path(inbox).rglob("*") if path.is_file()]
            return read_marker(found[0]) if len(found) == 1 else None

    return transport.retried(fetch)


def upload(transport: PushTransport, folder: Path, ref: str, new: bool, notes: str) -> None:
    """Create the dataset from ``folder`` (``new``) or a new version of it; one line when Kaggle refuses."""
    if new:
        reply = transport.client("dataset_create_new", str(folder), public=False, quiet=True, dir_mode="zip")
    else:
        reply = transport.client("dataset_create_version", str(folder), notes, quiet=True, dir_mode="zip")
    error = getattr(reply, "error", None)
    if error:
        if "already in use" in str(error):
            raise KitError(taken(ref, "its slug is in use"))
        raise KitError(f"Kaggle refused the dataset {ref}: {error}")


def taken(ref: str, why: str) -> str:
    return (
        f"the Kaggle dataset {ref} exists and kit kernel build did not make it ({why}): build the kernel with another "
        "title, or delete that dataset; nothing was uploaded"
    )


def sync_dataset(
    folder: Path, recorded: str | None, retry: Any, left: Callable[[], float | None], notes: str
) -> DatasetSync:
    """Bring one dataset folder onto Kaggle: create it, version it when its content changed, or leave it.

    ``recorded``: the hash an earlier push uploaded (Kaggle may still be processing it, its marker not yet served)."""
    from kit.utils import read_json

    metadata = read_json(folder / DATASET_METADATA, dict)
    ref = str(metadata.get("id", ""))
    marker = read_marker(folder / DATASET_MARKER)
    if marker is None:
        raise KitError(f"{folder}: no {DATASET_MARKER}; build the kernel again with kit kernel build")
    role = str(marker["kit_dataset"])
    sha256 = write_marker(folder, role, str(marker.get("kernel", "")))  # the content as it is now
    transport = connect_push(Target(ref), retry, left)
    if remote_status(transport, ref) is None:
        upload(transport, folder, ref, new=True, notes=notes)
        return DatasetSync(ref, role, "created", sha256)
    found = remote_marker(transport, ref)
    if found is not None and found.get("kit_dataset") != role:
        raise KitError(taken(ref, f"it holds kit's {found.get('kit_dataset')} dataset, not the {role}"))
    if found is not None and found.get("sha256") == sha256:
        return DatasetSync(ref, role, "unchanged", sha256)
    if recorded == sha256:  # uploaded by an earlier push, not yet served back
        return DatasetSync(ref, role, "unchanged", sha256)
    if found is None:
        raise KitError(taken(ref, f"it has no {DATASET_MARKER}"))
    upload(transport, folder, ref, new=False, notes=notes)
    return DatasetSync(ref, role, "versioned", sha256)
