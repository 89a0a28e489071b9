"""The zip archives Kaggle ships, unpacked safely: the file it wraps (``train.csv`` arrives as ``train.csv.zip``), the
archive of a whole competition, and the zips inside (Dogs vs Cats: ``train.zip`` holding ``train/*.jpg``).

Before a byte of an archive is written its central directory is checked: a member with an absolute path, a ``..`` or
a symbolic link is refused (zip-slip), and so is an archive of more than :data:`MAX_MEMBERS` members or
:data:`MAX_BYTES` bytes unpacked (a zip bomb; zipfile never reads a member past the size the directory gives), or
one that would not fit on the disk. Names are kept as written (spaces, capitals, unicode): UTF-8 when the archive
flags it, else UTF-8 when the bytes are valid UTF-8 (as zips made on macOS and Linux hold), else cp437 as zipfile
reads them. macOS's ``__MACOSX/`` resource forks are skipped. Every failure is one line naming the archive.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import struct
import zipfile
import zlib
from collections.abc import Callable
from pathlib import Path, PurePosixPath, PureWindowsPath

from kit.errors import KitError
from kit.utils._io import write_bytes_atomic

MAX_BYTES = 200 * 1000**3  # unpacked bytes one archive may hold: the largest image competitions ship ~100-150 GB
MAX_MEMBERS = 5_000_000  # members one archive may hold: the largest ship ~1-2 million images
MAX_DEPTH = 3  # zips within the download unpacked, levels deep (the download, a train.zip in it, a zip in that)
UTF8_FLAG = 0x800  # general-purpose flag bit 11: the member's name is UTF-8
SYMLINK = 0o120000
JUNK = "__MACOSX"
MANIFEST = ".kit-unpacked.json"  # in a fetched folder: listed zip name -> its size and the paths unpacking it gave
UNCHANGED = "nothing was changed — fetch again"
Step = Callable[[str, int, int], None]  # on_phase(name, done, total)


def inside(name: str) -> PurePosixPath:
    """A file name from Kaggle as a relative path that stays inside the folder."""
    path = PurePosixPath(name.replace("\\", "/"))
    if path.is_absolute() or ".." in path.parts or not path.parts:
        raise KitError(f"Kaggle sent an unsafe file name {name!r}; nothing was changed")
    return path


def written_name(info: zipfile.ZipInfo) -> str:
    """The member's name as its maker wrote it: UTF-8 when flagged or given in an Info-ZIP unicode path field
    (0x7075) that matches, else its bytes as UTF-8 when they are, else cp437 as zipfile read it."""
    if info.flag_bits & UTF8_FLAG:
        return info.filename
    raw, extra = info.filename.encode("cp437"), info.extra
    while len(extra) >= 4:
        kind, size = struct.unpack("<HH", extra[:4])
        field, extra = extra[4 : 4 + size], extra[4 + size :]
        if (
            kind == 0x7075
            and len(field) > 5
            and field[0] == 1
            and struct.unpack("<L", field[1:5])[0] == zlib.crc32(raw)
        ):
            with contextlib.suppress(UnicodeError):
                return field[5:].decode("utf-8")
    with contextlib.suppress(UnicodeError):
        return raw.decode("utf-8")
    return info.filename


def member_path(info: zipfile.ZipInfo, label: str) -> PurePosixPath | None:
    """Where the member ``info`` of the archive ``label`` goes, relative to where it is unpacked (None: skipped)."""
    name = written_name(info)
    written = name.replace("\\", "/")
    path = PurePosixPath(written)
    why = (
        "an absolute path"
        if path.is_absolute() or PureWindowsPath(written).anchor
        else "a path out of the folder (..)"
        if ".." in path.parts
        else "a symbolic link"
        if (info.external_attr >> 16) & 0o170000 == SYMLINK
        else ""
    )
    if why:
        raise KitError(f"{label}: refused the zip archive's member {name!r}: {why}; nothing was changed")
    return None if not path.parts or path.parts[0] == JUNK else path


def survey(bundle: zipfile.ZipFile, label: str, disk: Path) -> list[tuple[zipfile.ZipInfo, PurePosixPath]]:
    """The members of ``bundle`` to unpack and their paths, once checked from its central directory."""
    infos = bundle.infolist()
    total = sum(info.file_size for info in infos)
    if len(infos) > MAX_MEMBERS or total > MAX_BYTES:
        raise KitError(
            f"{label}: the zip archive would unpack to {len(infos):,} members and {total / 1e9:.1f} GB, over kit's "
            f"limits of {MAX_MEMBERS:,} and {MAX_BYTES / 1e9:.0f} GB (kit.kaggle._archives.MAX_MEMBERS, MAX_BYTES); "
            "nothing was changed"
        )
    members = [(info, path) for info in infos if (path := member_path(info, label)) is not None]
    free = shutil.disk_usage(disk).free
    if total > free:
        raise KitError(f"{label}: unpacking needs {total / 1e9:.1f} GB, {free / 1e9:.1f} GB are free; {UNCHANGED}")
    return members


def layout(members: list[tuple[zipfile.ZipInfo, PurePosixPath]], archive: Path) -> Path:
    """Where an inner zip unpacks: beside itself when everything in it is in one folder (``train.zip`` holding
    ``train/…``) or it wraps one file of its name (``train.csv.zip``, ``sample_submission.zip`` holding
    ``sample_submission.csv``); else in a folder named after it (``test.zip`` holding bare files → ``test/``)."""
    stem = archive.name[: -len(".zip")]
    files = [path for info, path in members if not info.is_dir()]
    folder = len({path.parts[0] for _, path in members}) == 1 and all(len(path.parts) > 1 for path in files)
    wraps = len(files) == len(members) == 1 and stem in (files[0].name, files[0].stem)
    return archive.parent if folder or wraps or not members else archive.parent / stem


def extract(
    archive: Path,
    into: Path | None,
    label: str,
    what: str,
    step: Step | None = None,
    single: str | None = None,
) -> tuple[Path, set[str], list[Path]]:
    """Unpack ``archive`` into the folder ``into`` (None: where :func:`layout` says) after the checks, never
    overwriting a file, and remove it; a one-file archive goes to the name ``single`` when given. The folder it went
    to, the first parts of the paths written there, and the zips among them."""
    tops: set[str] = set()
    zips: list[Path] = []
    try:
        with zipfile.ZipFile(archive) as bundle:
            members = survey(bundle, label, archive.parent)
            base = layout(members, archive) if into is None else into
            files = [(info, path) for info, path in members if not info.is_dir()]
            every = max(1, len(members) // 200)
            for done, (info, path) in enumerate(members, 1):
                target = base / (single if single and len(files) == 1 and not info.is_dir() else path)
                if info.is_dir():
                    target.mkdir(parents=True, exist_ok=True)
                elif target.exists() or target.is_symlink():
                    raise KitError(f"{label}: the zip archive's member {str(path)!r} would overwrite {target.name}")
                else:
                    target.parent.mkdir(parents=True, exist_ok=True)
                    with bundle.open(info) as source, target.open("wb") as sink:
                        shutil.copyfileobj(source, sink, 1 << 20)
                    tops.add(target.relative_to(base).parts[0])
                    zips += [target] if target.suffix.lower() == ".zip" else []
                if step and (done % every == 0 or done == len(members)):
                    step(f"unpacking {label}", done, len(members))
    except (zipfile.BadZipFile, zlib.error, EOFError) as error:
        raise KitError(f"{label}: {what} is not a valid zip archive ({error}); {UNCHANGED}") from None
    except (NotImplementedError, RuntimeError) as error:  # Deflate64, bzip2 without bz2, a password
        raise KitError(
            f"{label}: {what} cannot be unpacked by Python's zipfile ({error}); nothing was changed"
        ) from None
    except OSError as error:
        raise KitError(f"{label}: unpacking failed ({error.strerror or error}); {UNCHANGED}") from None
    archive.unlink()
    return base, tops, zips


def expand(root: Path, step: Step | None = None) -> tuple[dict[str, list[str]], list[str]]:
    """Unpack every ``.zip`` under ``root``, and the zips inside those, down to :data:`MAX_DEPTH` levels, each where
    :func:`layout` says; each is removed once unpacked (a 20 GB set would otherwise take its space twice). Returns the
    paths (relative to ``root``) the zips first found gave, by zip, and notes on the zips left packed."""
    pending = [(path, 1) for path in sorted(root.rglob("*.[zZ][iI][pP]")) if path.is_file()]
    gave: dict[str, list[str]] = {}
    notes = []
    while pending:
        archive, depth = pending.pop(0)
        label = archive.relative_to(root).as_posix()
        if depth > MAX_DEPTH:
            notes.append(f"{label} is a zip {depth} levels deep and was left packed")
            continue
        base, tops, zips = extract(archive, None, label, "the zip in the download", step)
        pending += [(path, depth + 1) for path in zips]
        if depth == 1:  # what a listed zip gave: its folder, or the names it put beside itself
            given = [base / top for top in tops] if base == archive.parent else [base]
            gave[label] = sorted(path.relative_to(root).as_posix() for path in given)
    return gave, notes


def read_manifest(folder: Path) -> dict[str, dict]:
    """The zips an earlier fetch unpacked into ``folder``: listed name -> ``{"size": …, "paths": […]}``."""
    try:
        manifest = json.loads((folder / MANIFEST).read_text())
    except (OSError, ValueError):
        return {}
    return manifest if isinstance(manifest, dict) else {}


def unpacked(manifest: dict[str, dict], folder: Path, name: str, size: int) -> bool:
    """Whether the listed zip ``name`` of ``size`` bytes was unpacked into ``folder`` and what it gave is there."""
    entry = manifest.get(name)
    if not isinstance(entry, dict) or entry.get("size") != size or not isinstance(entry.get("paths"), list):
        return False
    try:
        return all((folder / inside(str(path))).exists() for path in entry["paths"])
    except KitError:  # a hand-edited record: download again
        return False


def write_manifest(folder: Path, manifest: dict[str, dict]) -> None:
    if manifest:
        write_bytes_atomic(folder / MANIFEST, json.dumps(manifest, indent=1, ensure_ascii=False).encode())
