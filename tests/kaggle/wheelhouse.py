"""Wheels and environments made from the distributions installed here, with no network: what a kernel test needs to
run kit's notebook as Kaggle runs it.

* :func:`requirement_closure`: the installed distributions a set of requirements pulls in (markers evaluated for
  this interpreter with ``packaging``, extras followed).
* :func:`kernel_dependencies`: the distributions ``kit kernel build`` puts in the wheels dataset: kit's requirements
  less the Kaggle stack and what it pulls in, chosen by :func:`kit.kaggle._wheels.stack_closure` as the real build
  chooses them.
* :func:`build_wheel`: a wheel rebuilt from an installed distribution: its files inside site-packages (as its
  ``RECORD`` lists them; scripts and data outside it are left out) and its ``.dist-info``, tagged as its ``WHEEL`` file
  says, with a fresh ``RECORD``.
* :func:`link_farm`: a folder of symbolic links to the files of some distributions only, for a ``.pth`` to name.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import os
import re
import zipfile
from collections.abc import Iterable, Mapping
from importlib import metadata
from pathlib import Path, PurePosixPath

from packaging.markers import default_environment
from packaging.requirements import InvalidRequirement, Requirement
from packaging.version import Version

from kit.kaggle._wheels import KAGGLE_STACK, PYTHON, normalise, stack_closure

ZIP_TIME = (1980, 1, 1, 0, 0, 0)  # the earliest a zip archive holds: the same files give the same wheel
LEFT_OUT = {"RECORD", "INSTALLER", "REQUESTED", "direct_url.json"}  # written by the installer, not part of a wheel


def installed() -> dict[str, metadata.Distribution]:
    """The distributions this interpreter sees, by normalised name (the first on ``sys.path`` of each)."""
    found: dict[str, metadata.Distribution] = {}
    for dist in metadata.distributions():
        name = dist.metadata["Name"]
        if name:
            found.setdefault(normalise(name), dist)
    return found


def requirement_closure(
    roots: Iterable[str], dists: Mapping[str, metadata.Distribution] | None = None
) -> dict[str, metadata.Distribution]:
    """The installed distributions the requirements ``roots`` pull in, the roots included, by normalised name.
    Requirements whose markers fail here are left out; extras are followed (``dask[distributed]``); a requirement
    nothing installed satisfies raises ``LookupError``."""
    dists = installed() if dists is None else dists
    environment = default_environment()
    extras_of: dict[str, frozenset[str]] = {}
    pending = [Requirement(text) for text in roots]
    while pending:
        requirement = pending.pop()
        name, extras = normalise(requirement.name), frozenset(map(normalise, requirement.extras))
        if name in extras_of and extras <= extras_of[name]:
            continue
        if name not in dists:
            raise LookupError(f"{requirement} is not installed here")
        extras_of[name] = extras_of.get(name, frozenset()) | extras
        for text in dists[name].requires or []:
            try:
                needed = Requirement(text)
            except InvalidRequirement:
                continue
            wanted = ("", *sorted(extras_of[name]))
            if needed.marker is None or any(needed.marker.evaluate({**environment, "extra": e}) for e in wanted):
                pending.append(needed)
    return {name: dists[name] for name in sorted(extras_of)}


def kernel_dependencies(project: str = "kit") -> dict[str, metadata.Distribution]:
    """The installed distributions of ``project``'s requirements that the real ``kit kernel build`` downloads: all
    of them but the project itself, the Kaggle stack and what the stack pulls in (:func:`stack_closure` over a
    report of these distributions, as ``resolve`` reads pip's)."""
    needed = requirement_closure([project])
    report = {
        "install": [
            {"metadata": {"name": dist.metadata["Name"], "version": dist.version, "requires_dist": dist.requires}}
            for dist in needed.values()
        ]
    }
    left_out = stack_closure(report, PYTHON, KAGGLE_STACK) | {normalise(project)}
    return {name: dist for name, dist in needed.items() if name not in left_out}


def site_files(dist: metadata.Distribution) -> list[PurePosixPath]:
    """The files of ``dist`` inside its site-packages, as its ``RECORD`` lists them, less compiled bytecode."""
    if dist.files is None:
        raise ValueError(f"{dist.metadata['Name']} has no RECORD: it cannot be rebuilt into a wheel")
    kept = []
    for path in dist.files:
        posix = PurePosixPath(path.as_posix())
        if posix.is_absolute() or ".." in posix.parts or "__pycache__" in posix.parts or posix.suffix == ".pyc":
            continue
        kept.append(posix)
    return kept


def dist_info(dist: metadata.Distribution) -> str:
    """The name of the ``.dist-info`` folder of ``dist`` (the folder of its ``METADATA`` in ``RECORD``)."""
    folders = {path.parts[0] for path in site_files(dist) if path.parts[0].endswith(".dist-info")}
    if len(folders) != 1:
        raise ValueError(f"{dist.metadata['Name']}: {len(folders)} .dist-info folders in its RECORD")
    return folders.pop()


def wheel_name(dist: metadata.Distribution) -> str:
    """``{name}-{version}(-{build})?-{python}-{abi}-{platform}.whl`` (the wheel spec's escaping, and compressed
    tag sets) from the ``Tag:`` and ``Build:`` lines of the installed ``WHEEL`` file."""
    text = dist.read_text("WHEEL") or ""
    tags = [line.split(":", 1)[1].strip() for line in text.splitlines() if line.startswith("Tag:")]
    if not tags:
        raise ValueError(f"{dist.metadata['Name']}: no Tag: line in its WHEEL file")
    parts: list[list[str]] = [[], [], []]
    for tag in tags:
        for slot, part in zip(parts, tag.split("-")):
            for piece in part.split("."):
                if piece not in slot:
                    slot.append(piece)
    build = [line.split(":", 1)[1].strip() for line in text.splitlines() if line.startswith("Build:")]
    name = re.sub(r"[-_.]+", "_", dist.metadata["Name"]).lower()
    version = str(Version(dist.version)).replace("-", "_")
    return "-".join([name, version, *build[:1], *(".".join(slot) for slot in parts)]) + ".whl"


def record_hash(data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"sha256={digest}"


def build_wheel(dist: metadata.Distribution, dest: Path) -> Path:
    """Zip the installed files of ``dist`` into a wheel in ``dest``; its path."""
    root = Path(str(dist.locate_file("")))
    info = dist_info(dist)
    rows = []
    target = dest / wheel_name(dist)
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
        files = [path for path in site_files(dist) if not (path.parts[0] == info and path.name in LEFT_OUT)]
        for path in sorted(set(files), key=lambda path: (path.parts[0] == info, str(path))):
            data = (root / path).read_bytes()
            entry = zipfile.ZipInfo(str(path), ZIP_TIME)
            entry.external_attr = ((os.stat(root / path).st_mode & 0o777) | 0o100000) << 16
            entry.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(entry, data)
            rows.append((str(path), record_hash(data), str(len(data))))
        rows.append((f"{info}/RECORD", "", ""))
        record = io.StringIO()
        csv.writer(record, lineterminator="\n").writerows(rows)
        entry = zipfile.ZipInfo(f"{info}/RECORD", ZIP_TIME)
        entry.external_attr = 0o100644 << 16
        archive.writestr(entry, record.getvalue(), zipfile.ZIP_DEFLATED)
    return target


def build_wheels(dists: Iterable[metadata.Distribution], dest: Path) -> list[Path]:
    """A wheel of each of ``dists`` in ``dest``; their paths."""
    dest.mkdir(parents=True, exist_ok=True)
    return [build_wheel(dist, dest) for dist in dists]


def link_farm(dists: Mapping[str, metadata.Distribution], folder: Path) -> Path:
    """``folder`` holding symbolic links to the files of ``dists`` only: a top-level package or module of theirs as
    one link, unless a distribution not among them has files in it too (a namespace package such as ``google``),
    then a real folder with a link for each of their files. ``.pth`` files are left out (nothing reads them here)."""
    everything = installed()
    owners: dict[tuple[Path, str], set[str]] = {}
    for name, dist in everything.items():
        if dist.files is None:  # no RECORD (or being reinstalled this moment): it owns no recorded file
            continue
        root = Path(str(dist.locate_file("")))
        for path in site_files(dist):
            owners.setdefault((root, path.parts[0]), set()).add(name)
    folder.mkdir(parents=True, exist_ok=True)
    for dist in dists.values():
        root = Path(str(dist.locate_file("")))
        for path in site_files(dist):
            top = path.parts[0]
            if top.endswith(".pth"):
                continue
            if owners[(root, top)] <= dists.keys():
                link, source = folder / top, root / top
            else:
                link, source = folder / path, root / path
                link.parent.mkdir(parents=True, exist_ok=True)
            if not link.is_symlink():
                link.symlink_to(source)
    return folder
