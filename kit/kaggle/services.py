"""Thin per-domain services over the transport: which client operation lists, downloads and submits what.

As in kagglesdk (``kaggle.competitions…``, ``kaggle.datasets…`` above one ``call``), each service only names the
operations of its domain and passes the arguments through :class:`kit.kaggle.transport.Transport`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kit.kaggle.transport import RETRY, Retry, Target, Transport

PAGE_SIZE = 20  # the client's own page size for file listings


class Files:
    """The data files of a competition or a dataset: list them and download one."""

    def __init__(self, transport: Transport) -> None:
        self.transport = transport
        self.slug = transport.target.slug
        self.dataset = transport.target.kind == "dataset"

    def list(self) -> dict[str, int]:
        """Every data file and its size in bytes, all pages."""
        files: dict[str, int] = {}
        token = None
        while True:
            if self.dataset:
                page = self.transport.call("dataset_list_files", self.slug, token, PAGE_SIZE)
                listed = page.dataset_files
            else:
                page = self.transport.call("competition_list_files", self.slug, token, PAGE_SIZE)
                listed = page.files
            files.update({item.name: item.total_bytes for item in listed or [] if item is not None})
            token = page.next_page_token
            if not token:
                return files

    def download(self, name: str, into: Path) -> None:
        """Download the file ``name`` into the folder ``into`` as the client receives it (large files zipped)."""
        operation = "dataset_download_file" if self.dataset else "competition_download_file"
        self.transport.call(operation, self.slug, name, str(into), force=True, quiet=True)


class Submissions:
    """A competition's submissions: the limits, the list, one upload."""

    def __init__(self, transport: Transport) -> None:
        self.transport = transport
        self.slug = transport.target.slug

    def limits(self) -> Any:
        """The client's ApiSubmissionLimits (num_allowed_now, num_today, num_total, limited_by_total; all 0 before
        joining the competition)."""
        return self.transport.call("competition_get_submission_limits", self.slug)

    def submissions(self, count: int = 20) -> list[Any]:
        """The client's ApiSubmission records, newest first (one unretried call; see :meth:`Transport.retried`)."""
        listed = self.transport.invoke("competition_submissions", self.slug, page_size=count)
        return [item for item in listed or [] if item is not None]

    def upload(self, path: Path, message: str) -> Any:
        """One unretried upload; the reply's ``message`` says whether the upload failed."""
        return self.transport.invoke("competition_submit", str(path), message, self.slug, quiet=True)

    def upload_failed(self, reply: Any) -> bool:
        return reply.message == self.transport.api.COMPETITION_SUBMIT_UPLOAD_FAILED_MESSAGE


def connect(slug: str, retry: Retry = RETRY, timeout: float | None = None) -> Transport:
    """An authenticated transport for the competition or dataset ``slug``; with ``timeout``, its calls end within
    that many seconds from now."""
    return Transport(Target(slug), retry, timeout)
