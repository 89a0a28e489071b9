"""A local stand-in for Kaggle's API, to drive the real ``kaggle`` client in tests without the internet.

With ``KAGGLE_API_ENVIRONMENT=LOCALHOST`` the client posts to ``http://localhost/api/v1/<Service>/<Method>``; with
``HTTP_PROXY`` pointing at this server those requests arrive here as absolute-URL request lines. Data files are
fetched through a 302 to ``/blobs/…`` (the archive of them all, as ``DownloadDataFiles`` and a ``DownloadDataset`` of
no file ask for, to ``/bundles/…``) and submissions are uploaded with a PUT to ``/uploads/…``, both on this server.
Besides the main competition (which takes submissions), it serves any other competitions and datasets (``owner/name``)
added with :meth:`FakeKaggle.add_competition` and :meth:`FakeKaggle.add_dataset`.

For ``kit kernel push`` it also plays Kaggle's datasets and kernels services: datasets created and versioned from
blobs uploaded with ``StartBlobUpload`` (processed after ``dataset_polls`` status calls), kernels saved with
``SaveKernel`` whose versions go through ``kernel_plan`` (QUEUED → RUNNING → COMPLETE, or ERROR with
``kernel_failure`` and ``kernel_log``) one status call at a time and then list ``kernel_outputs`` (served from
``/kernel-output/…``), and code submissions of a version's output, scored like file submissions.
:func:`point_client` points the official client at a running fake.
"""

from __future__ import annotations

import base64
import contextlib
import csv
import io
import json
import socket
import threading
import zipfile
from collections.abc import Iterator
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote, urlsplit

API = "/api/v1/"
PAGE_SIZE = 2  # the most files one ListDataFiles page holds, so the client has to page
DAILY_SUBMISSIONS = 5
CREATED = "2024-01-02T03:04:05.000Z"


def zipped(name: str, content: bytes) -> bytes:
    """``content`` as a one-member zip archive, the way Kaggle wraps a large data file."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(name, content)
    return buffer.getvalue()


def bundled(files: dict[str, bytes]) -> bytes:
    """Every file in one zip archive at its listed name, the way Kaggle ships a whole competition or dataset."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in sorted(files.items()):
            archive.writestr(name, content)
    return buffer.getvalue()


class FakeKaggle:
    """Serves ``files`` of one competition and scores submissions against ``solution`` (id → label).

    Files named in ``wrapped`` are served as ``<name>.zip``. Set ``rules_accepted`` false to answer 403,
    ``pending_polls`` to keep a new submission PENDING for that many ListSubmissions calls, ``corrupt`` to serve
    broken archives, queue failures with :meth:`fail` and misbehaviour (silence, a cut body, HTML) with :meth:`fault`.
    ``requests`` logs every call in order.
    """

    def __init__(
        self,
        competition: str,
        files: dict[str, bytes],
        solution: dict[int, int],
        username: str,
        key: str,
        wrapped: tuple[str, ...] = (),
    ) -> None:
        self.competition = competition
        self.files = files
        self.catalog: dict[tuple[str, str], tuple[dict[str, bytes], set[str]]] = {}
        self.solution = solution
        self.credentials = "Basic " + base64.b64encode(f"{username}:{key}".encode()).decode()
        self.username = username
        self.dataset_versions: dict[str, int] = {}  # datasets made through the API: slug -> version
        self.dataset_polls = 0  # status calls a new dataset version stays in processing
        self._processing: dict[str, int] = {}
        self.kernels: dict[str, list[dict]] = {}  # "owner/slug" -> its versions, oldest first
        self.kernel_plan = ["QUEUED", "RUNNING", "COMPLETE"]  # the statuses of the next version, one per status call
        self.kernel_outputs: dict[str, bytes] = {}  # the output files of the next version
        self.kernel_log = ""
        self.kernel_failure = ""
        self.wrapped = set(wrapped)
        self.catalog[("competition", competition)] = (files, self.wrapped)
        self.rules_accepted = True
        self.pending_polls = 0
        self.corrupt: set[str] = set()
        self.requests: list[str] = []
        self.bundles: list[str] = []
        self.submissions: list[dict] = []
        self.uploads: dict[str, bytes] = {}
        self.upload_names: dict[str, str] = {}
        self._failures: dict[str, list[tuple[int, str | None, bool]]] = {}
        self._faults: dict[str, list[str]] = {}
        self.closing = threading.Event()  # set on exit: silent handlers let go
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True)

    def __enter__(self) -> FakeKaggle:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.closing.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()

    def fail(self, call: str, status: int, times: int = 1, retry_after: str | None = None, after: bool = False) -> None:
        """Answer the next ``times`` ``call``s (a method name, ``blob`` or ``upload``) with ``status``.

        ``after``: do the work first, then fail (a server that records a submission but errors on the reply).
        """
        self._failures.setdefault(call, []).extend([(status, retry_after, after)] * times)

    def fault(self, call: str, mode: str, times: int = 1) -> None:
        """Misbehave on the next ``times`` ``call``s (a method name, ``blob`` or ``upload``; ``*``: any call).

        ``silent``: accept the request and never answer; ``stalled``: send the headers and half the body, then fall
        silent; ``cut``: send the headers and half the body, then close the connection; ``html``: answer 200 with an
        HTML page (a proxy's or captive portal's) instead of JSON.
        """
        assert mode in ("silent", "stalled", "cut", "html"), mode
        self._faults.setdefault(call, []).extend([mode] * times)

    def next_fault(self, call: str) -> str | None:
        with self._lock:
            for name in (call, "*"):
                if self._faults.get(name):
                    return self._faults[name].pop(0)
            return None

    def next_failure(self, call: str) -> tuple[int, str | None, bool] | None:
        with self._lock:
            self.requests.append(call)
            queued = self._failures.get(call)
            return queued.pop(0) if queued else None

    def add_competition(self, name: str, files: dict[str, bytes], wrapped: tuple[str, ...] = ()) -> None:
        """Serve the data ``files`` of another competition (it takes no submissions)."""
        self.catalog[("competition", name)] = (files, set(wrapped))

    def add_dataset(self, slug: str, files: dict[str, bytes], wrapped: tuple[str, ...] = ()) -> None:
        """Serve the dataset ``owner/name`` with these ``files``."""
        self.catalog[("dataset", slug)] = (files, set(wrapped))

    def blob_url(self, kind: str, slug: str, name: str) -> str:
        served = f"{name}.zip" if name in self.catalog[(kind, slug)][1] else name
        return f"http://localhost/blobs/{kind}/{quote(slug, safe='')}/{served}"

    def blob(self, kind: str, slug: str, served: str) -> bytes | None:
        """The bytes behind a blob URL: a file, zipped when it is wrapped, broken when it is corrupt."""
        files, wrapped = self.catalog.get((kind, slug), ({}, set()))
        name = {f"{name}.zip" if name in wrapped else name: name for name in files}.get(served)
        if name is None:
            return None
        content = zipped(name, files[name]) if name in wrapped else files[name]
        if name in self.corrupt:
            content = b"PK\x03\x04" + b"\x00garbled" * (len(content) // 8)
        return content

    def bundle(self, kind: str, slug: str) -> bytes | None:
        """The archive of all the files of a competition or dataset (``bundles`` logs each one served)."""
        if (kind, slug) not in self.catalog:
            return None
        self.bundles.append(f"{kind}/{slug}")
        return bundled(self.catalog[(kind, slug)][0])

    def score(self, content: bytes) -> tuple[str, str | None]:
        """(public score, None) for a readable submission, else ("", the reason it failed)."""
        rows = list(csv.reader(io.StringIO(content.decode("utf-8", errors="replace"))))
        if not rows or len(rows[0]) != 2:
            return "", "Submission must have exactly two columns"
        try:
            answers = {int(row[0]): int(row[1]) for row in rows[1:] if row}
        except ValueError:
            return "", "Submission values must be integers"
        if set(answers) != set(self.solution):
            return "", f"Submission must have {len(self.solution)} rows, one per test id"
        correct = sum(answers[image] == label for image, label in self.solution.items())
        return f"{correct / len(self.solution):.5f}", None

    def create_submission(self, body: dict) -> dict:
        content = self.uploads.get(body.get("blobFileTokens", ""))
        if content is None:
            raise _Reply(400, "unknown blob token")
        name = self.upload_names[body["blobFileTokens"]]
        return self.record_submission(content, name, body.get("submissionDescription", ""))

    def record_submission(self, content: bytes, name: str, description: str) -> dict:
        """A new submission of ``content``, pending until scored (an error at once when it cannot be scored)."""
        public, error = self.score(content)
        ref = 1000 + len(self.submissions)
        self.submissions.insert(
            0,
            {
                "ref": ref,
                "totalBytes": len(content),
                "date": CREATED,
                "description": description,
                "fileName": name,
                "status": "ERROR" if error else "PENDING",
                "errorDescription": error or "",
                "_score": public,
                "_polls": self.pending_polls,
            },
        )
        return {"message": f"Successfully submitted to {self.competition}", "ref": ref}

    # --- datasets and kernels (kit kernel push) ---------------------------------------------------------------------

    def start_blob(self, body: dict) -> dict:
        token = f"blob-{len(self.upload_names) + 1}"
        self.upload_names[token] = body.get("name", "")
        return {"token": token, "createUrl": f"http://localhost/uploads/{token}"}

    def _own(self, owner: str) -> None:
        if owner != self.username:
            raise _Reply(403, "You do not have permission to change this")

    def _blob_files(self, listed: list) -> dict[str, bytes]:
        files = {}
        for item in listed or []:
            token = item.get("token", "")
            if token not in self.uploads:
                raise _Reply(400, f"unknown blob token {token}")
            files[self.upload_names[token]] = self.uploads[token]
        return files

    def save_dataset(self, owner: str, slug: str, listed: list, new: bool) -> dict:
        """Create the dataset ``owner/slug`` from uploaded blobs, or a new version of it."""
        ref = f"{owner}/{slug}"
        exists = ("dataset", ref) in self.catalog
        if new and exists:
            return {"status": "error", "error": f'The requested slug "{slug}" is already in use'}
        if not new and not exists:
            raise _Reply(404, "Dataset not found")
        self._own(owner)
        self.catalog[("dataset", ref)] = (self._blob_files(listed), set())
        self.dataset_versions[ref] = self.dataset_versions.get(ref, 0) + 1
        self._processing[ref] = self.dataset_polls
        return {"ref": ref, "url": f"https://www.kaggle.com/datasets/{ref}", "status": "ok", "error": ""}

    def dataset_status(self, ref: str) -> dict:
        if ("dataset", ref) not in self.catalog:
            raise _Reply(404, "Dataset not found")
        if self._processing.get(ref, 0) > 0:
            self._processing[ref] -= 1
            return {"status": "BLOBS_RECEIVED"}
        return {"status": "READY"}

    def save_kernel(self, body: dict) -> dict:
        """A new version of the kernel ``body["slug"]``, to run through ``kernel_plan``."""
        ref = body.get("slug", "")
        self._own(ref.split("/")[0])
        missing = [source for source in body.get("datasetDataSources", []) if ("dataset", source) not in self.catalog]
        unknown = [name for name in body.get("competitionDataSources", []) if ("competition", name) not in self.catalog]
        versions = self.kernels.setdefault(ref, [])
        if not missing and not unknown:
            versions.append(
                {
                    "request": body,
                    "plan": list(self.kernel_plan),
                    "outputs": dict(self.kernel_outputs),
                    "log": self.kernel_log,
                    "failure": self.kernel_failure,
                    "polls": 0,
                }
            )
        return {
            "ref": f"/code/{ref}",
            "url": f"https://www.kaggle.com/code/{ref}",
            "versionNumber": len(versions),
            "error": "",
            "invalidDatasetSources": missing,
            "invalidCompetitionSources": unknown,
        }

    def kernel_version(self, body: dict, version: int | None = None) -> dict:
        versions = self.kernels.get(f"{body.get('userName', '')}/{body.get('kernelSlug', '')}")
        if not versions:
            raise _Reply(404, "Kernel not found")
        return versions[-1] if version is None else versions[version - 1]

    def kernel_status(self, body: dict) -> dict:
        """The latest version's status: the next of its plan (the last one stays)."""
        run = self.kernel_version(body)
        status = run["plan"][min(run["polls"], len(run["plan"]) - 1)]
        run["polls"] += 1
        return {"status": status, "failureMessage": run["failure"] if status == "ERROR" else ""}

    def kernel_output(self, body: dict) -> dict:
        run = self.kernel_version(body)
        ref = f"{body['userName']}/{body['kernelSlug']}"
        number = self.kernels[ref].index(run) + 1
        files = [
            {"url": f"http://localhost/kernel-output/{quote(ref, safe='')}/{number}/{name}", "fileName": name}
            for name in sorted(run["outputs"])
        ]
        return {"files": files, "log": run["log"], "nextPageToken": ""}

    def output_file(self, ref: str, number: str, name: str) -> bytes | None:
        versions = self.kernels.get(ref, [])
        if not number.isdigit() or not 0 < int(number) <= len(versions):
            return None
        return versions[int(number) - 1]["outputs"].get(name)

    def create_code_submission(self, body: dict) -> dict:
        """Submit the output file of a kernel version to the main competition."""
        run = self.kernel_version(
            {"userName": body.get("kernelOwner", ""), "kernelSlug": body.get("kernelSlug", "")},
            body.get("kernelVersion") or None,
        )
        name = body.get("fileName", "")
        if name not in run["outputs"]:
            raise _Reply(400, f"the kernel version has no output file {name}")
        return self.record_submission(run["outputs"][name], name, body.get("submissionDescription", ""))

    def list_submissions(self) -> list[dict]:
        """The submissions, newest first; each call brings a pending one a step closer to its score."""
        for submission in self.submissions:
            if submission["status"] == "PENDING":
                if submission["_polls"] <= 0:
                    submission.update(status="COMPLETE", publicScore=submission["_score"])
                submission["_polls"] -= 1
        return [{key: value for key, value in item.items() if not key.startswith("_")} for item in self.submissions]


class _Reply(Exception):
    """An error answer: HTTP ``status`` with Kaggle's JSON error body."""

    def __init__(self, status: int, message: str, retry_after: str | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.retry_after = status, message, retry_after


def _handler(kaggle: FakeKaggle) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:  # keep test output clean
            pass

        def do_POST(self) -> None:
            path = urlsplit(self.path).path
            method = path.rsplit("/", 1)[-1] if path.startswith(API) else path
            self._answer(method, lambda: self._api(method, json.loads(self._body() or b"{}")))

        def do_GET(self) -> None:
            if urlsplit(self.path).path.startswith("/kernel-output/"):
                parts = urlsplit(self.path).path.removeprefix("/kernel-output/").split("/", 2)
                parts = parts if len(parts) == 3 else ["", "", ""]
                self._answer("output", lambda: self._output(*map(unquote, parts)))
                return
            if urlsplit(self.path).path.startswith("/bundles/"):
                parts = urlsplit(self.path).path.removeprefix("/bundles/").split("/", 2)
                self._answer(
                    "bundle",
                    lambda: self._bundle(*map(unquote, parts[:2])) if len(parts) == 3 else self._bundle("", ""),
                )
                return
            parts = urlsplit(self.path).path.removeprefix("/blobs/").split("/", 2)
            self._answer(
                "blob", lambda: self._blob(*map(unquote, parts)) if len(parts) == 3 else self._blob("", "", "")
            )

        def do_PUT(self) -> None:
            self._answer("upload", lambda: self._upload(urlsplit(self.path).path.removeprefix("/uploads/")))

        def _body(self) -> bytes:
            return self.rfile.read(int(self.headers.get("Content-Length") or 0))

        def _answer(self, call: str, work) -> None:
            failure, fault = kaggle.next_failure(call), kaggle.next_fault(call)
            if fault == "silent":
                kaggle.closing.wait(120)
                self.close_connection = True
                return
            if fault == "html":
                page = b"<!DOCTYPE html><html><head><title>Sign in to the network</title></head><body></body></html>"
                self._send(200, page, {"Content-Type": "text/html; charset=utf-8"})
                return
            try:
                if failure and not failure[2]:
                    raise _Reply(failure[0], "injected failure", failure[1])
                result = work()
                if failure:
                    raise _Reply(failure[0], "injected failure after the work", failure[1])
            except _Reply as reply:
                headers = {"Retry-After": reply.retry_after} if reply.retry_after is not None else {}
                self._send(reply.status, {"code": reply.status, "message": reply.message}, headers)
                return
            self._send(*result, cut=fault)

        def _send(
            self, status: int, body: dict | bytes, headers: dict[str, str] | None = None, cut: str | None = None
        ) -> None:
            """Answer; ``cut`` (``stalled`` or ``cut``) sends only half the body, then stays silent or hangs up."""
            content = json.dumps(body).encode() if isinstance(body, dict) else body
            self.send_response(status)
            if isinstance(body, dict):
                self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(content)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            if cut is None:
                self.wfile.write(content)
                return
            self.wfile.write(content[: len(content) // 2])
            self.wfile.flush()
            if cut == "stalled":
                kaggle.closing.wait(120)
            self.close_connection = True

        def _api(self, method: str, body: dict):
            if self.headers.get("Authorization") != kaggle.credentials:
                raise _Reply(401, "Unauthenticated")
            if method == "StartSubmissionUpload":
                self._require_competition(body, rules=True)
                token = f"token-{len(kaggle.upload_names) + 1}"
                kaggle.upload_names[token] = body.get("fileName", "")
                return 200, {"token": token, "createUrl": f"http://localhost/uploads/{token}"}
            if method == "CreateSubmission":
                self._require_competition(body, rules=True)
                return 200, kaggle.create_submission(body)
            if method == "ListSubmissions":
                self._require_competition(body)
                return 200, {"submissions": kaggle.list_submissions(), "nextPageToken": ""}
            if method == "GetSubmissionLimits":
                self._require_competition(body)
                today = len(kaggle.submissions)
                left = max(0, DAILY_SUBMISSIONS - today)
                return 200, {"numToday": today, "numTotal": today, "numAllowedNow": left, "limitedByTotal": False}
            if method == "StartBlobUpload":
                return 200, kaggle.start_blob(body)
            if method in ("CreateDataset", "CreateDatasetVersion"):
                new = method == "CreateDataset"
                owner = body.get("ownerSlug", "")
                slug = body.get("slug" if new else "datasetSlug", "")
                files = body.get("files") if new else body.get("body", {}).get("files")
                return 200, kaggle.save_dataset(owner, slug, files, new)
            if method == "GetDatasetStatus":
                return 200, kaggle.dataset_status(f"{body.get('ownerSlug', '')}/{body.get('datasetSlug', '')}")
            if method == "SaveKernel":
                return 200, kaggle.save_kernel(body)
            if method == "GetKernelSessionStatus":
                return 200, kaggle.kernel_status(body)
            if method == "ListKernelSessionOutput":
                return 200, kaggle.kernel_output(body)
            if method == "CreateCodeSubmission":
                self._require_competition(body, rules=True)
                return 200, kaggle.create_code_submission(body)
            if method in ("ListDataFiles", "ListDatasetFiles"):
                kind, slug, files = self._source(method, body)
                start = int(body.get("pageToken") or 0)
                names = sorted(files)[start : start + PAGE_SIZE]
                listed = [{"name": n, "totalBytes": len(files[n]), "creationDate": CREATED} for n in names]
                more = start + PAGE_SIZE < len(files)
                key = "files" if kind == "competition" else "datasetFiles"
                return 200, {key: listed, "nextPageToken": str(start + PAGE_SIZE) if more else ""}
            if method == "DownloadDataFiles" or (method == "DownloadDataset" and not body.get("fileName")):
                kind, slug, files = self._source(method, body, rules=True)
                served = f"{quote(slug, safe='')}/{slug.rsplit('/', 1)[-1]}.zip"
                return 302, b"", {"Location": f"http://localhost/bundles/{kind}/{served}"}
            if method in ("DownloadDataFile", "DownloadDataset"):
                kind, slug, files = self._source(method, body, rules=True)
                name = body.get("fileName", "")
                if name not in files:
                    raise _Reply(404, f"no file {name}")
                return 302, b"", {"Location": kaggle.blob_url(kind, slug, name)}
            raise _Reply(400, f"the fake server does not implement {method}")

        def _source(self, method: str, body: dict, rules: bool = False) -> tuple[str, str, dict[str, bytes]]:
            """The competition or dataset a files request names, and its files."""
            if "Dataset" in method:
                slug = f"{body.get('ownerSlug', '')}/{body.get('datasetSlug', '')}"
                if ("dataset", slug) not in kaggle.catalog:
                    raise _Reply(404, "Dataset not found")
                return "dataset", slug, kaggle.catalog[("dataset", slug)][0]
            slug = body.get("competitionName", "")
            if ("competition", slug) not in kaggle.catalog:
                raise _Reply(404, "Competition not found")
            if rules and not kaggle.rules_accepted:
                raise _Reply(403, "You must accept this competition's rules before you can use it")
            return "competition", slug, kaggle.catalog[("competition", slug)][0]

        def _require_competition(self, body: dict, rules: bool = False) -> None:
            if body.get("competitionName") != kaggle.competition:
                raise _Reply(404, "Competition not found")
            if rules and not kaggle.rules_accepted:
                raise _Reply(403, "You must accept this competition's rules before you can use it")

        def _blob(self, kind: str, slug: str, served: str):
            content = kaggle.blob(kind, slug, served)
            if content is None:
                raise _Reply(404, "no such blob")
            kind = "application/zip" if served.endswith(".zip") else "text/csv"
            return 200, content, {"Content-Type": kind, "Last-Modified": formatdate(usegmt=True)}

        def _bundle(self, kind: str, slug: str):
            content = kaggle.bundle(kind, slug)
            if content is None:
                raise _Reply(404, "no such bundle")
            return 200, content, {"Content-Type": "application/zip", "Last-Modified": formatdate(usegmt=True)}

        def _output(self, ref: str, number: str, name: str):
            content = kaggle.output_file(ref, number, name)
            if content is None:
                raise _Reply(404, "no such output file")
            return 200, content, {"Content-Type": "application/octet-stream", "Last-Modified": formatdate(usegmt=True)}

        def _upload(self, token: str):
            if token not in kaggle.upload_names:
                raise _Reply(404, "unknown upload")
            kaggle.uploads[token] = self._body()
            return 200, {}

    return Handler


@contextlib.contextmanager
def point_client(server: FakeKaggle, monkeypatch: Any, folder: Path, username: str, key: str) -> Iterator[None]:
    """Point the official client at the running ``server`` with these credentials: its API calls go through the
    fake as an HTTP proxy, HTTPS (the production host) to a closed local port; HOME and the client's config folder
    are empty folders in ``folder``, which becomes the working directory."""
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        nowhere = f"http://127.0.0.1:{closed.getsockname()[1]}"
        for name in ("NO_PROXY", "ALL_PROXY", "KAGGLE_API_TOKEN", "KAGGLE_KERNEL_RUN_TYPE", "XDG_CONFIG_HOME"):
            monkeypatch.delenv(name, raising=False)
            monkeypatch.delenv(name.lower(), raising=False)
        for name, value in {
            "KAGGLE_API_ENVIRONMENT": "LOCALHOST",
            "HTTP_PROXY": f"http://127.0.0.1:{server.port}",
            "http_proxy": f"http://127.0.0.1:{server.port}",
            "HTTPS_PROXY": nowhere,
            "https_proxy": nowhere,
            "HOME": str(folder / "home"),
            "KAGGLE_CONFIG_DIR": str(folder / "kaggle-config"),
            "KAGGLE_USERNAME": username,
            "KAGGLE_KEY": key,
        }.items():
            monkeypatch.setenv(name, value)
        (folder / "kaggle-config").mkdir(exist_ok=True)
        monkeypatch.chdir(folder)
        with contextlib.redirect_stdout(io.StringIO()):  # the client reads its config once, when imported
            from kaggle.api.kaggle_api_extended import KaggleApi
        monkeypatch.setattr(KaggleApi, "config_dir", str(folder / "kaggle-config"))
        monkeypatch.setattr(KaggleApi, "config", str(folder / "kaggle-config" / "kaggle.json"))
        monkeypatch.setattr(KaggleApi, "args", ["--local"])
        yield
