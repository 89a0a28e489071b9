"""Files written whole or not at all, and read back checked: atomic writes through a temporary file and a rename,
JSON that refuses non-finite numbers, ``.npy`` arrays checked for kind, shape and finiteness. Every ``OSError`` and
every damaged file ends as one line naming the path.

Every temporary file kit writes is named ``.kit-tmp-…`` (:data:`TEMP_PREFIX`, :func:`temporary_path`), ending with the
name of the file it becomes (so ``model.keras`` keeps its suffix), in the folder of that file; :func:`remove_temporary`
removes only such files, only in the folder it is given: a user's own dot-files are never touched."""

from __future__ import annotations

import errno
import hashlib
import io
import json
import os
import secrets
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from kit.errors import KitError

TEMP_PREFIX = ".kit-tmp-"  # the one mark of kit's temporary files: nothing else is ever cleaned up as one


def temporary_path(path: Path) -> Path:
    """A fresh temporary name for a write of ``path``, beside it: ``.kit-tmp-<random>-<name>``."""
    return path.parent / f"{TEMP_PREFIX}{secrets.token_hex(4)}-{path.name}"


def is_temporary(path: Path) -> bool:
    return path.name.startswith(TEMP_PREFIX)


def remove_temporary(folder: Path) -> list[Path]:
    """Remove kit's temporary files (``.kit-tmp-…``) directly in ``folder`` (not below it, following no link to a
    folder); return them. A folder that is not there has none."""
    removed = []
    try:
        if folder.is_symlink() or not folder.is_dir():
            return removed
        for path in folder.iterdir():
            if is_temporary(path) and (path.is_symlink() or path.is_file()):
                path.unlink(missing_ok=True)  # a link is removed itself, never what it points to
                removed.append(path)
    except OSError as error:
        raise os_error(Path(error.filename or folder), error, "cannot clean up") from None
    return removed


def os_error(path: Path, error: OSError, doing: str = "cannot write") -> KitError:
    """The one line of an ``OSError`` about ``path``: what failed, the cause, and (for a write) that earlier results
    are intact."""
    cause = error.strerror or (errno.errorcode.get(error.errno, "") if error.errno else "") or str(error) or "error"
    intact = "; earlier results there are intact" if doing != "cannot read it" else ""
    return KitError(f"{path}: {doing} ({cause}){intact}")


def write_bytes_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same folder and an atomic rename.

    An ``OSError`` (full disk, file size limit, read-only or missing folder) ends as one line naming the path.
    """
    temporary = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=TEMP_PREFIX, suffix=f"-{path.name}")
        os.fchmod(handle, 0o644)  # mkstemp makes files private; results are meant to be read by others
        with os.fdopen(handle, "wb") as stream:
            stream.write(data)
        os.replace(temporary, path)
    except OSError as error:
        if temporary:
            Path(temporary).unlink(missing_ok=True)
        raise os_error(path, error) from None
    except BaseException:
        if temporary:
            Path(temporary).unlink(missing_ok=True)
        raise


def write_json(path: Path, content: Any) -> None:
    """Atomically write ``content`` as JSON; non-finite floats are refused (JSON has none)."""
    try:
        text = json.dumps(content, indent=2, sort_keys=False, allow_nan=False)
    except ValueError:
        raise KitError(f"{path}: refusing to write a non-finite number (NaN or infinity)") from None
    write_bytes_atomic(path, (text + "\n").encode())


def read_json(path: Path, kind: type = object) -> Any:
    """Read a JSON file, checking that it holds a ``kind`` (e.g. dict); one line naming the file otherwise."""
    try:
        content = json.loads(path.read_text())
    except FileNotFoundError:
        raise KitError(f"{path}: not found") from None
    except IsADirectoryError:
        raise KitError(f"{path}: is a folder, expected a JSON file") from None
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise KitError(f"{path}: damaged (not valid JSON); delete it and rerun the command that wrote it") from None
    except OSError as error:
        raise os_error(path, error, "cannot read it") from None
    if not isinstance(content, kind):
        raise KitError(f"{path}: damaged (expected a JSON {kind.__name__}, found {type(content).__name__})")
    return content


def save_array(path: Path, array: np.ndarray) -> None:
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    write_bytes_atomic(path, buffer.getvalue())


def load_array(path: Path, dtype: str | None = None, shape: tuple[int | None, ...] | None = None) -> np.ndarray:
    """Read a ``.npy`` file, checking its kind (``"f"`` float, ``"i"`` integer) and shape (None: any length)."""
    try:
        array = np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise KitError(f"{path}: not found") from None
    except OSError as error:
        if error.errno is None:  # numpy's own "not an array" error
            raise KitError(f"{path}: damaged (not a readable .npy array); rerun the command that wrote it") from None
        raise os_error(path, error, "cannot read it") from None
    except (ValueError, EOFError):
        raise KitError(f"{path}: damaged (not a readable .npy array); rerun the command that wrote it") from None
    if dtype is not None and array.dtype.kind not in dtype:
        raise KitError(
            f"{path}: damaged (holds {array.dtype} values, expected {'floats' if 'f' in dtype else 'integers'})"
        )
    if shape is not None and (
        array.ndim != len(shape) or any(want is not None and want != got for want, got in zip(shape, array.shape))
    ):
        wanted = "×".join("n" if want is None else str(want) for want in shape)
        raise KitError(f"{path}: damaged (shape {'×'.join(map(str, array.shape))}, expected {wanted})")
    if array.dtype.kind == "f" and not np.all(np.isfinite(array)):
        raise KitError(f"{path}: holds non-finite values (NaN or infinity); rerun the command that wrote it")
    return array


def sha256_of(path: Path) -> str:
    """The sha256 of a file (hexadecimal), read in 1 MiB blocks; one line naming the file if it cannot be read."""
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as stream:
            while block := stream.read(1 << 20):
                digest.update(block)
    except FileNotFoundError:
        raise KitError(f"{path}: not found") from None
    except OSError as error:
        raise KitError(f"{path}: cannot read it ({error.strerror or error})") from None
    return digest.hexdigest()
