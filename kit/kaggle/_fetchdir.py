"""Where a fetch writes: the data folder (``out``, or the deprecated parent ``dest``), proved writable before Kaggle is
contacted, and the temporary download folders a killed fetch left behind, swept by the next."""

from __future__ import annotations

import os
import shutil
import tempfile
import warnings
from pathlib import Path

from kit.errors import KitError
from kit.kaggle.transport import Target
from kit.utils._io import TEMP_PREFIX

DATA_DIR = Path("data")
DOWNLOADING = "-download-"  # dest/.<name>-download-<pid>-<random>/: the temporary folder of a fetch under way


def alive(pid: int) -> bool:
    """Whether a process ``pid`` runs on this machine."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's
        return True
    return True


def sweep(dest: Path, name: str) -> None:
    """Remove the temporary folders that fetches of ``name`` into ``dest`` left behind when killed mid-download (those
    of a fetch still running, named by its process id, stay)."""
    for path in dest.glob(f".{name}{DOWNLOADING}*") if dest.is_dir() else ():
        owner = path.name.removeprefix(f".{name}{DOWNLOADING}").split("-", 1)[0]
        if path.is_dir() and not (owner.isdigit() and int(owner) != os.getpid() and alive(int(owner))):
            shutil.rmtree(path, ignore_errors=True)


def prepare_dest(dest: Path, folder: Path) -> None:
    """Create ``dest`` and prove it can take the files (``folder`` inside it must be a folder if it is there);
    one line naming the cause otherwise."""
    for path in (dest, folder):
        if path.exists() and not path.is_dir():
            raise KitError(f"{path} exists and is not a folder; give a folder for the data as the destination")
    try:
        dest.mkdir(parents=True, exist_ok=True)
        Path(tempfile.mkdtemp(dir=dest, prefix=f"{TEMP_PREFIX}write-test-")).rmdir()
    except OSError as error:
        raise KitError(f"{dest}: cannot write there ({error.strerror or error}); nothing was downloaded") from None


def fetch_folder(target: Target, out: Path | str | None, dest: Path | str | None) -> Path:
    """The folder a fetch writes into: ``out``, else ``dest/<name>`` (``dest`` is deprecated), else ``data/<name>``."""
    if dest is not None:
        message = "fetch(dest=...) is deprecated and goes in the next release; use out=<the folder itself>"
        warnings.warn(message, DeprecationWarning, stacklevel=3)
    return Path(out) if out is not None else Path(DATA_DIR if dest is None else dest) / target.name
