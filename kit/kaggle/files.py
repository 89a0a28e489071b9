"""Fetch: download a competition's or a dataset's files into ``dest/<name>/``, unzip them, check them against kit's
spec of the competition when there is one, and infer a spec (``competition.toml``) when there is none."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from kit.competitions import DEFAULT_COMPETITION, Competition, as_competition, find_competition_for
from kit.errors import KitError
from kit.kaggle._archives import UNCHANGED, Step, expand, extract, inside, read_manifest, unpacked, write_manifest
from kit.kaggle._fetchdir import DOWNLOADING, fetch_folder, prepare_dest, sweep
from kit.kaggle.services import Files, connect
from kit.kaggle.transport import RETRY, Retry, Target
from kit.utils import Callback, CallbackList, as_callback_list

BUNDLE_ABOVE = 50  # more files wanted than this (images listed one by one): one download of the whole archive


@dataclass(frozen=True)
class DataFile:
    """One file of a fetched folder: size in bytes, data rows of a CSV, whether this fetch downloaded it."""

    name: str
    size: int
    rows: int | None
    downloaded: bool


@dataclass(frozen=True)
class FetchResult:
    """What :func:`fetch` left in ``folder``: the files, the spec they match (``competition``: kit's known spec, or
    the one inferred and written to ``spec_path``; None when there is none) and notes on what it found or skipped."""

    slug: str
    kind: str
    folder: Path
    files: tuple[DataFile, ...]
    competition: Competition | None
    spec_path: Path | None = None
    notes: tuple[str, ...] = ()

    @property
    def downloaded(self) -> int:
        return sum(item.downloaded for item in self.files)


def csv_rows(path: Path) -> int:
    """Data rows of a CSV file: its lines less the header."""
    lines, last = 0, b"\n"
    with path.open("rb") as stream:
        while chunk := stream.read(1 << 20):
            lines += chunk.count(b"\n")
            last = chunk[-1:]
    return max(0, lines + (last != b"\n") - 1)


def required_files(competition: Competition) -> tuple[str, str]:
    """The files a competition folder must hold (the sample submission and extra labelled files are optional; an
    image-file competition's images are checked as folders by :func:`check_data`)."""
    if competition.images is not None:
        return ()
    return competition.train_file, competition.test_file


def check_data(
    folder: Path | str, competition: Competition | str, replaced: dict[str, Path] | None = None
) -> dict[str, int]:
    """Rows of the train, test, sample-submission (when there) and extra labelled files of ``folder`` after checking
    them as cross-validation and prediction do (the sample's ids must be the test ids, in order); ``replaced`` maps
    names to other paths."""
    from kit.data import read_images
    from kit.submission import read_submission

    competition = as_competition(competition, folder)
    if competition.images is not None:
        from kit.kaggle._imagecheck import check_image_files

        return check_image_files(Path(folder), competition)

    def path(name: str) -> Path:
        return (replaced or {}).get(name, Path(folder) / name)

    train = read_images(path(competition.train_file), competition, labelled=True)
    test = read_images(path(competition.test_file), competition, labelled=False)
    rows = {competition.train_file: len(train), competition.test_file: len(test)}
    sample = path(competition.sample_submission_file)
    if sample.is_file():
        rows[competition.sample_submission_file] = len(
            read_submission(sample, competition, test.ids, check_labels=False)
        )
    for name in competition.extra_files:
        if path(name).is_file():
            rows[name] = len(read_images(path(name), competition, labelled=True))
    return rows


def check_file(path: Path, name: str, competition: Competition) -> None:
    """Check ``path`` against the spec when ``name`` is one of its files (train, test, sample, extra); others pass."""
    from kit.data import read_images
    from kit.submission import read_submission

    if competition.images is not None and name != competition.sample_submission_file:
        return  # image files and their CSVs are checked together, as folders (check_data)
    if name in (competition.train_file, competition.test_file, *competition.extra_files):
        read_images(path, competition, labelled=name != competition.test_file)
    elif name == competition.sample_submission_file:
        read_submission(path, competition, check_labels=False)  # a sample's labels are placeholders


def missing_reason(path: Path, size: int, name: str, competition: Competition | None) -> str | None:
    """Why the listed file ``name`` must be downloaded into ``path`` ("" when absent or of another size, a note when
    present but invalid), or None when it is there: the listed size and, for a file of the spec, valid."""
    if not path.is_file() or (size and path.stat().st_size != size):
        return ""
    if competition is None:
        return None
    try:
        check_file(path, name, competition)
    except KitError as error:
        return f"{name} was present but invalid ({error}); downloaded again"
    return None


def describe(folder: Path, rows: dict[str, int], downloaded: set[str]) -> tuple[DataFile, ...]:
    """Every file of ``folder`` (hidden ones aside), with rows for CSVs; a folder of images is one entry (its size
    in all, its images as rows, downloaded when any of its files was)."""
    files: dict[str, DataFile] = {}
    for path in sorted(folder.rglob("*")):
        name = path.relative_to(folder).as_posix()
        parts = PurePosixPath(name).parts
        if not path.is_file() or any(part.startswith(".") for part in parts):
            continue
        top = parts[0] if len(parts) > 1 else name
        count = rows[top] if top in rows else csv_rows(path) if path.suffix == ".csv" else None
        entry = DataFile(top, path.stat().st_size, count, name in downloaded or top in downloaded)
        if top in files:  # another file of a folder: added to its entry
            known = files[top]
            entry = DataFile(top, known.size + entry.size, known.rows, known.downloaded or entry.downloaded)
        files[top] = entry
    return tuple(files.values())


def is_html(path: Path) -> bool:
    """Whether the file ``path`` starts as an HTML page does."""
    with path.open("rb") as stream:
        start = stream.read(256).lstrip().lower()
    return start.startswith((b"<!doctype html", b"<html"))


def received(inbox: Path, name: str) -> Path:
    """The one file the download of ``name`` left in ``inbox``, once proved not to be an HTML page."""
    found = [path for path in inbox.rglob("*") if path.is_file() and not path.name.endswith(".kaggle-partial")]
    if len(found) != 1:
        raise KitError(f"downloading {name} from Kaggle gave {len(found)} files instead of one; {UNCHANGED}")
    if is_html(found[0]) and not name.lower().endswith((".html", ".htm")):
        raise KitError(
            f"downloading {name} from Kaggle gave an HTML page instead of the file: a proxy, captive portal or outage "
            f"page may be in the way; {UNCHANGED}"
        )
    return found[0]


def download(files: Files, name: str | None, inbox: Path, staged: Path, step: Step | None = None) -> None:
    """Download the data file ``name`` (None: the archive of them all) into ``inbox`` and unpack it into ``staged``
    (Kaggle zips large files, and the whole competition)."""
    operation = "dataset_download_files" if files.dataset else "competition_download_files"
    try:
        if name:
            files.download(name, inbox)
        else:
            files.transport.call(operation, files.slug, str(inbox), force=True)
    except ValueError as error:  # the client's check of the received size, or of the path
        raise KitError(f"downloading {name or 'the files'} from Kaggle failed ({error}); {UNCHANGED}") from None
    path = received(inbox, name or files.slug)
    relative = inside(name or path.name)
    if path.suffix == ".zip" and (path.name != relative.name or not name):  # train.csv arrives as train.csv.zip
        single = relative.name if path.name == f"{relative.name}.zip" else None
        extract(path, staged / relative.parent, name or path.name, "the download from Kaggle", step, single)
    else:
        (staged / relative).parent.mkdir(parents=True, exist_ok=True)
        os.replace(path, staged / relative)


def receive(
    files: Files, wanted: list[str], work: Path, progress: CallbackList
) -> tuple[dict[str, Path], dict[str, list[str]], list[str]]:
    """Download the ``wanted`` files (one by one, or as one archive when more than :data:`BUNDLE_ABOVE`) into
    ``work``, unpacked with the zips inside them: the files by name, the paths each zip gave, notes."""
    staged = work / "files"
    staged.mkdir()
    batches: list[str | None] = [None] if len(wanted) > BUNDLE_ABOVE else list(wanted)
    for index, name in enumerate(batches):
        progress.on_phase("downloading", index, len(batches))
        download(files, name, work / "inbox" / str(index), staged, progress.on_phase)
    progress.on_phase("downloading", len(batches), len(batches))
    gave, notes = expand(staged, progress.on_phase)
    arrived = {path.relative_to(staged).as_posix(): path for path in staged.rglob("*") if path.is_file()}
    return arrived, gave, notes


def infer(folder: Path, name: str) -> tuple[Competition | None, Path | None, list[str]]:
    """The spec of a competition kit does not know, inferred from the files and written beside them as
    ``competition.toml``. A spec that cannot be inferred is a note, not a failure: the files stay."""
    from kit.data import infer_competition

    try:
        inferred = infer_competition(folder, name, write=True)
    except KitError as error:
        return None, None, [f"no competition spec could be inferred: {error}"]
    return inferred.competition, inferred.path, [str(note) for note in inferred.notes]


def fetch(
    competition: Competition | str = DEFAULT_COMPETITION,
    out: Path | str | None = None,
    *,
    dest: Path | str | None = None,
    force: bool = False,
    retry: Retry = RETRY,
    timeout: float | None = None,
    callbacks: Iterable[Callback] | Callback = (),
) -> FetchResult:
    """Download a competition's (or an ``owner/dataset``'s) files with the kaggle client into the folder ``out``
    (default ``data/<name>``; ``dest``, deprecated, names its parent instead: ``dest/<name>/``).

    With a spec (given; ``competition.toml`` in the folder; or kit's spec of that name), the files are checked against
    it, and without ``force`` nothing is downloaded (nor Kaggle contacted) when they are there and valid. Without one,
    every listed file is downloaded unless present with its size, and a spec is inferred from the files and written
    beside them as ``competition.toml``. Downloads land in a temporary folder and are unzipped and checked there
    before being moved into place, so a failure leaves the folder as it was; those a killed fetch left behind are
    removed by the next. Zips inside the download (``train.zip`` holding ``train/…``) are unpacked beside themselves
    (into ``<name>/`` when not all under one folder), then removed; a listed zip unpacked by an earlier fetch counts as
    present (``.kit-unpacked.json``). Over ``BUNDLE_ABOVE`` wanted files come as one archive. Every request times out
    (``retry``; a stalled download is aborted and retried), and with ``timeout`` the whole fetch ends within that many
    seconds. Progress goes to ``callbacks`` (``on_phase``: ``downloading`` files, ``unpacking <archive>`` members).
    """
    progress = as_callback_list(callbacks)
    target = Target(competition.name) if isinstance(competition, Competition) else Target(competition)
    folder = fetch_folder(target, out, dest)
    dest = folder.parent
    sweep(dest, target.name)
    known = competition if isinstance(competition, Competition) else find_competition_for(folder)
    notes: list[str] = []
    if known is not None and not force and folder.is_dir():
        progress.on_phase("checking", 0, 1)
        try:
            rows = check_data(folder, known)
        except KitError as error:
            notes.append(f"{error}; asked Kaggle for the files")
        else:
            progress.on_phase("checking", 1, 1)
            if known.sample_submission_file in rows:
                return FetchResult(target.slug, target.kind, folder, describe(folder, rows, set()), known)
            notes.append(f"{folder / known.sample_submission_file} is missing; asked Kaggle for it")
    prepare_dest(dest, folder)  # before Kaggle is contacted
    files = Files(connect(target.slug, retry, timeout))
    listed = files.list()
    if not listed:
        raise KitError(f"Kaggle lists no data files for {target.slug}")
    dest.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(dir=dest, prefix=f".{target.name}{DOWNLOADING}{os.getpid()}-"))
    manifest = read_manifest(folder)
    try:
        wanted = []
        for name, size in sorted(listed.items()):
            if not force and unpacked(manifest, folder, name, size):
                continue
            reason = "" if force else missing_reason(folder / inside(name), size, name, known)
            if reason is not None:
                wanted.append(name)
                notes += [reason] if reason else []
        arrived, gave, found = receive(files, wanted, work, progress)
        notes += found
        rows = {} if known is None else check_arrival(folder, known, listed, arrived, work / "files")
        for name, path in arrived.items():
            (folder / name).parent.mkdir(parents=True, exist_ok=True)
            os.replace(path, folder / name)
        if gave := {name: {"size": listed[name], "paths": paths} for name, paths in gave.items() if name in listed}:
            write_manifest(folder, manifest | gave)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    spec_path = None
    if known is None:
        progress.on_phase("inferring the competition spec", 0, 1)
        known, spec_path, found = infer(folder, target.name)
        notes += found
        rows = check_data(folder, known) if known is not None and known.images is not None else rows  # by folder
        progress.on_phase("inferring the competition spec", 1, 1)
    return FetchResult(
        target.slug, target.kind, folder, describe(folder, rows, set(arrived)), known, spec_path, tuple(notes)
    )


def check_arrival(
    folder: Path, competition: Competition, listed: dict[str, int], arrived: dict[str, Path], staged: Path
) -> dict[str, int]:
    """Rows of the spec's files once the new ones (``arrived``, still in ``staged``) replace those in ``folder``."""
    missing = [name for name in required_files(competition) if name not in arrived and not (folder / name).is_file()]
    if missing:
        raise KitError(
            f"Kaggle's files for {competition.name} ({', '.join(sorted(listed))}) have no {', '.join(missing)}; "
            "kit's spec of the competition expects them"
        )
    try:
        return check_data(folder, competition, arrived)
    except KitError as error:
        raise KitError(
            f"the files from Kaggle do not match kit's {competition.name} format: "
            f"{str(error).replace(str(staged) + os.sep, '')}; nothing in {folder} was changed"
        ) from None
