"""Kaggle through the official ``kaggle`` client: fetch a competition's data, submit, wait for the score, list.

Credentials follow the client's own conventions and are never printed or written anywhere. Calls that fail with 429,
5xx or a dropped connection are retried with exponential backoff (honouring ``Retry-After``, bounded in attempts and
time); every failure ends as one :class:`KitError` line.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import shutil
import sys
import tempfile
import time
import zipfile
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any, TypeVar

from rich.table import Table

from kit.competitions import DEFAULT_COMPETITION, Competition, get_competition
from kit.errors import KitError

if TYPE_CHECKING:
    from kaggle.api.kaggle_api_extended import KaggleApi

DATA_DIR = Path("data")
SETTINGS_URL = "https://www.kaggle.com/settings"
COMPETITION_URL = "https://www.kaggle.com/competitions/{name}"
UNCHANGED = "nothing was changed — rerun kit fetch"
PAGE_SIZE = 20  # the client's own page size for file listings
T = TypeVar("T")
Progress = Callable[[str], None]


@dataclass(frozen=True)
class Retry:
    """How failed calls are retried: at most ``attempts`` tries within ``budget`` seconds, waiting the server's
    ``Retry-After`` or else ``delay`` seconds doubling up to ``max_delay``."""

    attempts: int = 5
    delay: float = 2.0
    max_delay: float = 60.0
    budget: float = 300.0
    sleep: Callable[[float], None] = time.sleep


@dataclass(frozen=True)
class Poll:
    """How ``submit`` waits for the score: ``interval`` seconds between looks, growing by half up to ``most``, for at
    most ``timeout`` seconds."""

    interval: float = 5.0
    most: float = 30.0
    timeout: float = 1800.0
    sleep: Callable[[float], None] = time.sleep


RETRY = Retry()
POLL = Poll()


@dataclass(frozen=True)
class DataFile:
    """One file of a competition folder: size in bytes, data rows of a CSV, whether it was just downloaded."""

    name: str
    size: int
    rows: int | None
    downloaded: bool


@dataclass(frozen=True)
class Fetched:
    """What :func:`fetch` left in ``folder``."""

    competition: str
    folder: Path
    files: list[DataFile]


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
class Submissions:
    """Recent submissions, newest first, and how many more Kaggle accepts today (None when it does not say)."""

    competition: str
    items: list[Submission]
    left_today: int | None


@dataclass(frozen=True)
class Submitted:
    """The result of :func:`submit`: the submission (scored when waited for) and the submissions left today."""

    competition: str
    path: Path
    submission: Submission
    left_today: int | None


class _UploadFailed(Exception):
    """The client could not upload the file (it reports this through its reply, not an exception)."""


# --- credentials -------------------------------------------------------------------------------------------------


def _config_dir() -> Path:
    """Where the client reads kaggle.json: $KAGGLE_CONFIG_DIR, else ~/.kaggle, else (Linux) ~/.config/kaggle."""
    if os.environ.get("KAGGLE_CONFIG_DIR"):
        return Path(os.environ["KAGGLE_CONFIG_DIR"])
    home = Path.home() / ".kaggle"
    if sys.platform.startswith("linux") and not home.exists():
        return Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config") / "kaggle"
    return home


def credential_source() -> str:
    """Where the kaggle client will find credentials, in its own order (a description, never the secret).

    Access token (``KAGGLE_API_TOKEN``, ``~/.kaggle/access_token``), then username and key (``kaggle.json`` in
    ``KAGGLE_CONFIG_DIR`` or ``~/.kaggle``, overridden by ``KAGGLE_USERNAME``/``KAGGLE_KEY``), then the OAuth login of
    ``kaggle auth login``. Fails with one line saying how to set them up when there are none.
    """
    from kagglesdk.kaggle_env import get_access_token_from_env

    token, source = get_access_token_from_env()
    if token:
        return "~/.kaggle/access_token" if source == "access_token" else str(source)
    config = _config_dir() / "kaggle.json"
    values: Any = {}
    if config.is_file():
        try:
            values = json.loads(config.read_text())
        except (OSError, UnicodeDecodeError, json.JSONDecodeError):
            values = None
        if not isinstance(values, dict):
            raise KitError(f"{config}: not a readable kaggle.json; download a new one from {SETTINGS_URL}")
    for key in ("username", "key"):
        values[key] = os.environ.get(f"KAGGLE_{key.upper()}", values.get(key))
    if values.get("username") and values.get("key"):
        return "KAGGLE_USERNAME/KAGGLE_KEY" if "KAGGLE_KEY" in os.environ else str(config)
    if Path("~/.kaggle/credentials.json").expanduser().is_file():
        return "~/.kaggle/credentials.json (kaggle auth login)"
    where = os.environ.get("KAGGLE_CONFIG_DIR") or "~/.kaggle"
    raise KitError(
        f"no Kaggle credentials: put kaggle.json in {where}/ (or set KAGGLE_USERNAME and KAGGLE_KEY, or "
        f"KAGGLE_API_TOKEN) — see {SETTINGS_URL}"
    )


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Silence the client's prints (help texts, progress notes): the library reports through return values."""
    with contextlib.redirect_stdout(io.StringIO()):
        yield


class _Session:
    """An authenticated client for one competition whose calls are retried and fail as KitError lines."""

    def __init__(self, competition: Competition, retry: Retry) -> None:
        self.competition = competition
        self.name = competition.name
        self.retry = retry
        self.source = credential_source()
        with _quiet():  # the package authenticates on import and prints help when it cannot
            from kaggle.api.kaggle_api_extended import KaggleApi
        api = KaggleApi()
        # The client reads these when it is imported; read them now so later changes to the environment count.
        api.config_dir = str(_config_dir())
        api.config = os.path.join(api.config_dir, api.config_file)
        api.args = ["--local"] if os.environ.get("KAGGLE_API_ENVIRONMENT") == "LOCALHOST" else []
        self.api: KaggleApi = api
        try:
            self.call(api.authenticate)
        except SystemExit:
            raise KitError(
                f"Kaggle did not accept the credentials from {self.source} (invalid or expired): "
                f"create a new API token at {SETTINGS_URL}"
            ) from None

    def call(self, function: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """``function(*args, **kwargs)``, retried on 429, 5xx, dropped connections and failed uploads."""
        from requests.exceptions import RequestException

        started = time.monotonic()
        attempt = 0
        while True:
            attempt += 1
            try:
                with _quiet():
                    return function(*args, **kwargs)
            except (RequestException, _UploadFailed) as error:
                if not _transient(error):
                    raise KitError(self._failure(error)) from None
                asked = _retry_after(error)
                delay = asked if asked is not None else min(self.retry.max_delay, self.retry.delay * 2 ** (attempt - 1))
                elapsed = time.monotonic() - started
                if attempt >= self.retry.attempts or elapsed + delay > self.retry.budget:
                    tries = f"after {attempt} attempt{'s' if attempt > 1 else ''} in {elapsed:.0f} s"
                    if asked is not None and elapsed + asked > self.retry.budget:
                        tries += f", asked to wait {asked:.0f} s more"
                    raise KitError(self._failure(error, tries)) from None
                self.retry.sleep(delay)

    def _failure(self, error: Exception, tries: str = "") -> str:
        """The one line for a failed call (``tries`` says how often and how long it was tried)."""
        status = _status(error)
        page = COMPETITION_URL.format(name=self.name)
        after = f", {tries}" if tries else ""
        if isinstance(error, _UploadFailed):
            return f"uploading the submission to Kaggle failed ({tries}); nothing was submitted — try again later"
        if status is None:
            return (
                f"cannot reach Kaggle ({type(error).__name__}{after}): check the network connection and any proxy "
                "settings"
            )
        if status == 401:
            return (
                f"Kaggle rejected the credentials from {self.source} (401 Unauthorized): check them, "
                f"or create a new API token at {SETTINGS_URL}"
            )
        if status == 403:
            return (
                f"Kaggle refused access to {self.name} (403 Forbidden): accept the competition rules at {page}/rules "
                "(with the account of these credentials), then rerun"
            )
        if status == 404:
            return f"Kaggle has no competition {self.name!r} (404 Not Found): check the name in its address, {page}"
        if status == 429:
            return f"Kaggle is limiting the request rate (429 Too Many Requests{after}): wait a few minutes, then rerun"
        if status >= 500:
            reason = f"HTTP {status} {getattr(error, 'response').reason or ''}".strip()
            return f"Kaggle's server failed ({reason}{after}): try again later"
        detail = re.sub(r"[?]\S+", "", str(error))  # leave out the query of signed URLs
        return f"Kaggle refused the request (HTTP {status}): {detail}"

    def list_files(self) -> dict[str, int]:
        """The competition's data files and their sizes in bytes, all pages."""
        files: dict[str, int] = {}
        token = None
        while True:
            page = self.call(self.api.competition_list_files, self.name, token, PAGE_SIZE)
            files.update({item.name: item.total_bytes for item in page.files})
            token = page.next_page_token
            if not token:
                return files

    def download(self, name: str, inbox: Path, staged: Path) -> None:
        """Download the data file ``name`` into ``inbox`` and unpack it into ``staged`` (Kaggle zips large files)."""
        try:
            self.call(self.api.competition_download_file, self.name, name, str(inbox), force=True, quiet=True)
        except ValueError as error:  # the client's check of the received size, or of the path
            raise KitError(f"downloading {name} from Kaggle failed ({error}); {UNCHANGED}") from None
        files = [path for path in inbox.rglob("*") if path.is_file() and not path.name.endswith(".kaggle-partial")]
        if len(files) != 1:
            raise KitError(f"downloading {name} from Kaggle gave {len(files)} files instead of one; {UNCHANGED}")
        received = files[0]
        relative = _inside(name)
        if received.suffix == ".zip":
            wrapped = received.name == f"{relative.name}.zip"  # train.csv arrives as train.csv.zip
            _unzip(received, staged / relative.parent, relative.name if wrapped else None, name)
        else:
            (staged / relative).parent.mkdir(parents=True, exist_ok=True)
            os.replace(received, staged / relative)

    def limits(self) -> Any:
        """The client's ApiSubmissionLimits (num_allowed_now, num_today, num_total, limited_by_total; all 0 before
        joining the competition)."""
        return self.call(self.api.competition_get_submission_limits, self.name)

    def submissions(self, count: int = 20) -> list[Submission]:
        return [_submission(item) for item in self.call(self._list_submissions, count)]

    def _list_submissions(self, count: int) -> list[Any]:
        return [item for item in self.api.competition_submissions(self.name, page_size=count) or [] if item is not None]

    def create(self, path: Path, message: str) -> int:
        """Upload and create the submission; return its ref. A retry first looks whether Kaggle recorded a failed
        attempt after all, so a lost reply never spends a second submission."""
        known = {item.ref for item in self.submissions()}
        attempts = 0

        def attempt() -> int:
            nonlocal attempts
            attempts += 1
            if attempts > 1 and (recorded := self._recorded(known, path, message)):
                return recorded
            reply = self.api.competition_submit(str(path), message, self.name, quiet=True)
            if reply.message == self.api.COMPETITION_SUBMIT_UPLOAD_FAILED_MESSAGE:
                raise _UploadFailed
            return reply.ref or self._recorded(known, path, message)

        return self.call(attempt)

    def _recorded(self, known: set[int], path: Path, message: str) -> int:
        """The ref of a submission of ``path`` with ``message`` made since ``known`` was listed, else 0."""
        for item in self._list_submissions(20):
            if item.ref not in known and item.file_name == path.name and (item.description or "") == message:
                return item.ref
        return 0

    def wait(self, ref: int, poll: Poll, progress: Progress | None) -> Submission:
        """Poll the submission list until submission ``ref`` is scored."""
        started = time.monotonic()
        interval = poll.interval
        while True:
            found = next((item for item in self.submissions() if item.ref == ref), None)
            if found is not None and found.status == "complete":
                return found
            if found is not None and found.status == "error":
                raise KitError(f"Kaggle could not score submission {ref}: {found.error or 'no reason given'}")
            waited = time.monotonic() - started
            if waited + interval > poll.timeout:
                raise KitError(
                    f"submission {ref} was still being scored after {waited:.0f} s; "
                    f"see `kit submissions --competition {self.name}` later"
                )
            if progress:
                progress(f"Kaggle is scoring submission {ref} ({waited:.0f} s)…")
            poll.sleep(interval)
            interval = min(poll.most, interval * 1.5)


def _status(error: Exception) -> int | None:
    response = getattr(error, "response", None)
    return None if response is None else response.status_code


def _transient(error: Exception) -> bool:
    """Whether retrying may help: 429, 5xx, a dropped connection or timeout, a failed upload."""
    from requests.exceptions import ChunkedEncodingError, ConnectionError, Timeout

    status = _status(error)
    if status is not None:
        return status == 429 or status >= 500
    return isinstance(error, (ConnectionError, Timeout, ChunkedEncodingError, _UploadFailed))


def _retry_after(error: Exception) -> float | None:
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


def _competition(competition: Competition | str) -> Competition:
    return competition if isinstance(competition, Competition) else get_competition(competition)


# --- fetch -------------------------------------------------------------------------------------------------------


def _inside(name: str) -> PurePosixPath:
    """A file name from Kaggle as a relative path that stays inside the folder."""
    path = PurePosixPath(name.replace("\\", "/"))
    if path.is_absolute() or ".." in path.parts or not path.parts:
        raise KitError(f"Kaggle sent an unsafe file name {name!r}; nothing was changed")
    return path


def _unzip(archive: Path, into: Path, single: str | None, label: str) -> None:
    """Extract ``archive`` into ``into``; a one-member archive goes to ``single`` when given."""
    try:
        with zipfile.ZipFile(archive) as bundle:
            members = [member for member in bundle.infolist() if not member.is_dir()]
            for member in members:
                target = into / (single if single and len(members) == 1 else _inside(member.filename))
                target.parent.mkdir(parents=True, exist_ok=True)
                with bundle.open(member) as source, target.open("wb") as sink:
                    shutil.copyfileobj(source, sink, 1 << 20)
    except (zipfile.BadZipFile, zlib.error, EOFError) as error:
        raise KitError(f"{label}: the download from Kaggle is not a valid zip archive ({error}); {UNCHANGED}") from None
    archive.unlink()


def _csv_rows(path: Path) -> int:
    """Data rows of a CSV file: its lines less the header."""
    lines, last = 0, b"\n"
    with path.open("rb") as stream:
        while chunk := stream.read(1 << 20):
            lines += chunk.count(b"\n")
            last = chunk[-1:]
    return max(0, lines + (last != b"\n") - 1)


def _check_file(path: Path, name: str, competition: Competition) -> None:
    """Check ``path`` against the spec when ``name`` is the train, test or sample-submission file; others pass."""
    from kit.data import read_images
    from kit.submission import read_submission

    if name in (competition.train_file, competition.test_file):
        read_images(path, competition, labelled=name == competition.train_file)
    elif name == competition.sample_submission_file:
        read_submission(path, competition)


def check_data(
    folder: Path | str, competition: Competition | str, replaced: dict[str, Path] | None = None
) -> dict[str, int]:
    """Rows of the train, test and sample-submission files of ``folder`` after checking them as ``kit cv`` and
    ``kit predict`` do (the sample's ids must be the test ids, in order); ``replaced`` maps names to other paths."""
    from kit.data import read_images
    from kit.submission import read_submission

    competition = _competition(competition)
    paths = {name: (replaced or {}).get(name, Path(folder) / name) for name in _spec_files(competition)}
    train = read_images(paths[competition.train_file], competition, labelled=True)
    test = read_images(paths[competition.test_file], competition, labelled=False)
    sample = read_submission(paths[competition.sample_submission_file], competition, test.ids)
    return dict(zip(paths, (len(train), len(test), len(sample))))


def _spec_files(competition: Competition) -> tuple[str, str, str]:
    return competition.train_file, competition.test_file, competition.sample_submission_file


def _present(path: Path, size: int, name: str, competition: Competition) -> bool:
    """Whether ``path`` already holds the listed file: the listed size and, for a competition file, valid."""
    if not path.is_file() or (size and path.stat().st_size != size):
        return False
    try:
        _check_file(path, name, competition)
    except KitError:
        return False
    return True


def _describe(folder: Path, rows: dict[str, int], downloaded: set[str]) -> list[DataFile]:
    """Every file of ``folder`` (hidden ones aside), with rows for CSVs."""
    files = []
    for path in sorted(folder.rglob("*")):
        name = path.relative_to(folder).as_posix()
        if path.is_file() and not any(part.startswith(".") for part in PurePosixPath(name).parts):
            count = rows[name] if name in rows else _csv_rows(path) if path.suffix == ".csv" else None
            files.append(DataFile(name, path.stat().st_size, count, name in downloaded))
    return files


def fetch(
    competition: Competition | str = DEFAULT_COMPETITION,
    dest: Path | str = DATA_DIR,
    force: bool = False,
    retry: Retry = RETRY,
    progress: Progress | None = None,
) -> Fetched:
    """Download the competition's files with the kaggle client into ``dest/<competition>/`` and check them.

    Without ``force`` nothing is downloaded (nor Kaggle contacted) when the competition files are there and valid, and
    a listed file already present with its size (and valid) is kept. Downloads land in a temporary folder, are unzipped
    and checked there, and only then renamed into place, so a failure leaves the folder as it was.
    """
    competition = _competition(competition)
    folder = Path(dest) / competition.name
    if not force and folder.is_dir():
        if progress:
            progress(f"checking {folder}…")
        try:
            return Fetched(competition.name, folder, _describe(folder, check_data(folder, competition), set()))
        except KitError:
            pass  # something is missing or broken: ask Kaggle
    session = _Session(competition, retry)
    listed = session.list_files()
    if not listed:
        raise KitError(f"Kaggle lists no data files for {competition.name}")
    Path(dest).mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(dir=dest, prefix=f".{competition.name}-download-"))
    try:
        staged = work / "files"
        staged.mkdir()
        for index, (name, size) in enumerate(sorted(listed.items())):
            if force or not _present(folder / _inside(name), size, name, competition):
                if progress:
                    progress(f"downloading {name} ({_size(size)})…")
                session.download(name, work / "inbox" / str(index), staged)
        arrived = {path.relative_to(staged).as_posix(): path for path in staged.rglob("*") if path.is_file()}
        missing = [name for name in _spec_files(competition) if name not in arrived and not (folder / name).is_file()]
        if missing:
            raise KitError(
                f"Kaggle's files for {competition.name} ({', '.join(sorted(listed))}) have no {', '.join(missing)}; "
                "kit's spec of the competition expects them"
            )
        try:
            rows = check_data(folder, competition, arrived)
        except KitError as error:
            raise KitError(
                f"the files from Kaggle do not match kit's {competition.name} format: "
                f"{str(error).replace(str(staged) + os.sep, '')}; nothing in {folder} was changed"
            ) from None
        for name, path in arrived.items():
            (folder / name).parent.mkdir(parents=True, exist_ok=True)
            os.replace(path, folder / name)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return Fetched(competition.name, folder, _describe(folder, rows, set(arrived)))


# --- submissions -------------------------------------------------------------------------------------------------


def _submission(item: Any) -> Submission:
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


def _sidecar(path: Path) -> dict[str, Any] | None:
    """The ``kit predict`` sidecar of a submission file (``<name>.json`` naming it), if there is one."""
    from kit.rundir import read_json

    sidecar = path.with_suffix(".json")
    if not sidecar.is_file():
        return None
    try:
        content = read_json(sidecar)
    except KitError:
        return None
    return content if isinstance(content, dict) and content.get("submission") == path.name else None


def _record(path: Path, competition: str, message: str, submission: Submission) -> None:
    """Note the submission (ref, status, score; never credentials) in the file's sidecar, if it has one."""
    from kit.rundir import write_json

    content = _sidecar(path)
    if content is None:
        return
    entry = {
        "competition": competition,
        "ref": submission.ref,
        "message": message,
        "submitted_at": (submission.date or datetime.now(UTC)).isoformat(timespec="seconds"),
        "status": submission.status,
        "public_score": submission.public_score,
    }
    content["kaggle"] = [item for item in content.get("kaggle", []) if item.get("ref") != submission.ref] + [entry]
    write_json(path.with_suffix(".json"), content)


def submit(
    path: Path | str,
    message: str,
    competition: Competition | str | None = None,
    data_dir: Path | str | None = None,
    wait: bool = True,
    retry: Retry = RETRY,
    poll: Poll = POLL,
    progress: Progress | None = None,
) -> Submitted:
    """Check ``path`` as ``kit predict`` does, submit it with ``message`` and, with ``wait``, poll until it is scored.

    The competition defaults to the one in the file's ``kit predict`` sidecar, else digit-recognizer; an invalid file
    is refused before Kaggle is contacted. The submission is noted in the sidecar.
    """
    from kit.submission import read_checked_submission

    path = Path(path)
    sidecar = _sidecar(path) or {}
    competition = _competition(competition or sidecar.get("competition") or DEFAULT_COMPETITION)
    if not message.strip():
        raise KitError("give the submission a message with -m; it labels the submission on Kaggle")
    rows = len(read_checked_submission(path, competition, data_dir or DATA_DIR / competition.name))
    if progress:
        progress(f"submitting {path.name} ({rows} rows) to {competition.name}…")
    session = _Session(competition, retry)
    limits = session.limits()
    allowed = limits.num_allowed_now
    if allowed <= 0 and limits.limited_by_total:
        raise KitError(f"no submissions left for {competition.name}: its lifetime limit is reached")
    if allowed <= 0 and limits.num_today:
        raise KitError(
            f"no submissions left for {competition.name} today ({limits.num_today} made): try again after the daily "
            "reset at 00:00 UTC"
        )
    ref = session.create(path, message)
    if not ref:
        raise KitError(f"Kaggle accepted {path.name} but did not say which submission it is; see `kit submissions`")
    submission = Submission(ref, datetime.now(UTC), path.name, message, "pending", None, None, None)
    _record(path, competition.name, message, submission)
    if wait:
        try:
            submission = session.wait(ref, poll, progress)
        except KeyboardInterrupt:  # the submission is made: rerunning would spend another one
            raise KitError(f"stopped waiting; submission {ref} is made — see kit submissions for its score") from None
        _record(path, competition.name, message, submission)
    return Submitted(competition.name, path, submission, allowed - 1 if allowed > 0 else None)


def submissions(
    competition: Competition | str = DEFAULT_COMPETITION, count: int = 20, retry: Retry = RETRY
) -> Submissions:
    """The ``count`` most recent submissions to the competition and how many more Kaggle accepts today."""
    session = _Session(_competition(competition), retry)
    items = session.submissions(count)
    limits = session.limits()
    known = limits.num_allowed_now or limits.num_today or limits.num_total
    return Submissions(session.name, items, limits.num_allowed_now if known else None)


# --- tables ------------------------------------------------------------------------------------------------------


def _size(size: int) -> str:
    """Bytes for people: 512 B, 9.4 KB, 73.2 MB."""
    power = 0
    while power < 3 and size >= 1000 ** (power + 1):
        power += 1
    return f"{size} B" if power == 0 else f"{size / 1000**power:.1f} {'KMG'[power - 1]}B"


def fetched_table(fetched: Fetched) -> Table:
    """The files of a fetched competition folder: name, rows, size, whether just downloaded."""
    table = Table(title=f"{fetched.competition} in {fetched.folder}")
    for column, justify in (("file", "left"), ("rows", "right"), ("size", "right"), ("", "left")):
        table.add_column(column, justify=justify)
    for item in fetched.files:
        rows = "" if item.rows is None else f"{item.rows:,}"
        table.add_row(item.name, rows, _size(item.size), "downloaded" if item.downloaded else "already present")
    return table


def submissions_table(listed: Submissions) -> Table:
    """Recent submissions, newest first: ref, date, file, message, status and scores."""
    left = "" if listed.left_today is None else f" — {listed.left_today} left today"
    table = Table(title=f"submissions to {listed.competition}{left}")
    for column in ("ref", "date (UTC)", "file", "message", "status", "public", "private"):
        table.add_column(column, justify="right" if column in ("ref", "public", "private") else "left")
    for item in listed.items:
        date = item.date.strftime("%Y-%m-%d %H:%M") if item.date else ""
        status = f"error: {item.error}" if item.status == "error" and item.error else item.status
        scores = (item.public_score or "", item.private_score or "")
        table.add_row(str(item.ref), date, item.file_name, item.description, status, *scores)
    return table
