"""Image files decoded once, in parallel, into a memory-mapped ``uint8`` cache beside the data, never stale.

The cache file ``images-[<tag>-]<key>.npy`` is named by a hash of everything its pixels depend on: a format version,
Pillow's version, the target shape and resize mode, and for every file its name (relative to the data folder when
given, so a moved folder still hits), size and modification time; any change is another file, decoded afresh. It is
written through a ``.kit-tmp-`` temporary file, renamed only when every image decoded; a damaged one (short, another
shape) is decoded again, never trusted. Where the data's folder cannot be written (a read-only ``/kaggle/input``) the
cache goes to ``$KIT_CACHE_DIR``, else the user's cache folder (``~/.cache/kit/images``). Decoding runs in a thread
pool (Pillow decodes and resizes without the GIL): as fast on 2 cores as a safe (forkserver) process pool, with no
start-up cost and no fork after TensorFlow's threads.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import re
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from pathlib import Path
from typing import Any

import numpy as np
import PIL

from kit.data._images import decode_image, target_of
from kit.errors import KitError
from kit.utils._io import TEMP_PREFIX, is_temporary, os_error, temporary_path
from kit.utils._runtime import usable_cores

CACHE_VERSION = 1  # bump when the decoding changes the pixels it gives: every older cache is then missed
KEY_CHARS = 16
PROGRESS_CALLS = 50  # at most about this many progress calls per build, plus the last
IN_FLIGHT = 4  # runs of rows queued per worker: bounds memory while keeping every worker busy
MAX_RUN = 16  # rows a worker decodes per task: fewer wake-ups of the main thread on many cores
STALE_TEMPORARY_S = 3600  # a cache temporary untouched this long was left by a killed build
CHUNK_BYTES = 64 << 20  # chunked_sha256 hashes this many bytes at a time
_TAG = re.compile(r"[A-Za-z0-9_]{1,32}")
_CACHE_FILE = re.compile(r"images-(?:([A-Za-z0-9_]{1,48})-)?[0-9a-f]{16}\.npy")
_UNSUPPORTED = (errno.EOPNOTSUPP, errno.EINVAL, errno.ENOSYS)


def user_cache_dir() -> Path:
    """Where images are cached when the data's folder cannot be written: ``$KIT_CACHE_DIR``, else
    ``$XDG_CACHE_HOME/kit/images`` (``~/.cache/kit/images``)."""
    if os.environ.get("KIT_CACHE_DIR"):
        return Path(os.environ["KIT_CACHE_DIR"]).expanduser()
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "kit" / "images"


def cache_key(paths: Sequence[Path], shape: tuple[int, int, int], resize: str, root: Path | None = None) -> str:
    """The hash naming the cache of ``paths`` decoded to ``shape`` by ``resize``: it changes with the file list, any
    file's size or modification time, the target, the cache format or Pillow's version."""
    digest = hashlib.sha256()
    head = {"version": CACHE_VERSION, "pillow": PIL.__version__, "shape": list(shape), "resize": resize}
    digest.update(json.dumps(head, sort_keys=True).encode())
    base = None if root is None else Path(root).absolute()
    for path in paths:
        path = Path(path)
        try:
            stat = path.stat()
        except FileNotFoundError:
            raise KitError(f"{path}: not found") from None
        except OSError as error:
            raise os_error(path, error, "cannot read it") from None
        name = path.absolute()
        if base is not None and name.is_relative_to(base):
            name = name.relative_to(base)
        digest.update(("\n" + json.dumps([name.as_posix(), stat.st_size, stat.st_mtime_ns])).encode())
    return digest.hexdigest()[:KEY_CHARS]


def cached_images(
    paths: Sequence[Path],
    shape: tuple[int, int, int],
    resize: str,
    cache_dir: Path,
    *,
    root: Path | None = None,
    tag: str | None = None,
    progress: Callable[[int, int], None] | None = None,
    workers: int | None = None,
) -> np.ndarray:
    """The image files ``paths`` as a read-only memory-mapped ``uint8`` array ``(n, *shape)``, rows in their order,
    decoded once (by ``workers`` threads, default one per usable core) into a cache file in ``cache_dir`` (or the
    user's cache folder where that cannot be written). Names are keyed relative to ``root`` when given. After a build,
    the older caches of the same ``tag`` are removed. ``progress(done, total)`` follows the decoding."""
    options = {"root": root, "tag": tag, "progress": progress, "workers": workers}
    return image_cache(paths, shape, resize, cache_dir, **options)[0]


def image_cache(
    paths: Sequence[Path],
    shape: tuple[int, int, int],
    resize: str,
    cache_dir: Path,
    *,
    root: Path | None = None,
    tag: str | None = None,
    progress: Callable[[int, int], None] | None = None,
    workers: int | None = None,
) -> tuple[np.ndarray, str]:
    """(:func:`cached_images`, the cache's key): the key names everything the pixels depend on, so it stands for
    them (:meth:`kit.data.ImageSet.fingerprint`) without a read of the pixels."""
    target = target_of(shape, resize)
    if tag is not None and not (isinstance(tag, str) and _TAG.fullmatch(tag)):
        raise KitError.invalid("tag", "up to 32 letters, digits or underscores", tag)
    if workers is not None and (isinstance(workers, bool) or not isinstance(workers, int) or workers < 1):
        raise KitError.invalid("workers", "a whole number of at least 1", workers)
    paths = [Path(path) for path in paths]
    rows = (len(paths), *target)
    key = cache_key(paths, target, resize, root)
    if not paths:
        empty = np.zeros(rows, dtype=np.uint8)
        empty.flags.writeable = False
        return empty, key
    places = _places(Path(cache_dir), key, tag)
    for final, _ in places:
        if (found := _opened(final, rows)) is not None:
            if progress is not None:
                progress(len(paths), len(paths))
            return found, key
    temporary, array, (final, set_tag) = _created(places, rows)
    try:
        offset = array.offset
        array.flush()
        del array  # the header is written; the rows go in with plain writes, never through a memory map
        _decode_into((temporary, offset), paths, target, resize, progress, workers or usable_cores())
        os.replace(temporary, final)
    except OSError as error:
        _discard(temporary)
        raise os_error(final, error) from None
    except BaseException:
        _discard(temporary)
        raise
    _prune(final.parent, final.name, set_tag)
    built = _opened(final, rows)
    if built is None:
        raise KitError(f"{final}: damaged as soon as written (another process replaced it?); rerun")
    return built, key


def _opened(path: Path, rows: tuple[int, ...]) -> np.ndarray | None:
    """The cache file ``path`` memory-mapped read-only, or None where it is missing, unreadable or damaged (another
    shape or kind, a short or long file)."""
    try:
        array = np.load(path, mmap_mode="r", allow_pickle=False)
        size = path.stat().st_size
    except (OSError, ValueError, EOFError):
        return None
    if not isinstance(array, np.memmap) or array.dtype != np.uint8 or array.shape != rows:
        return None
    if not array.flags.c_contiguous or size != array.offset + array.nbytes:
        return None
    return array


def _places(cache_dir: Path, key: str, tag: str | None) -> list[tuple[Path, str | None]]:
    """Where the cache may be, in order, each with the tag of its set there: ``cache_dir``, then the user's cache
    folder, shared by every data folder, where the set's tag also names ``cache_dir`` (so that pruning one set there
    never removes another data folder's)."""
    places = [(cache_dir / (f"images-{tag}-{key}.npy" if tag else f"images-{key}.npy"), tag)]
    shared = user_cache_dir()
    if shared.absolute() != cache_dir.absolute():
        folder_tag = f"{tag}_{hashlib.sha256(str(cache_dir.absolute()).encode()).hexdigest()[:8]}" if tag else None
        places.append((shared / (f"images-{folder_tag}-{key}.npy" if tag else f"images-{key}.npy"), folder_tag))
    return places


def _created(places: list[tuple[Path, str | None]], rows: tuple[int, ...]) -> tuple[Path, np.memmap, tuple]:
    """A temporary cache file of ``rows``, its full size reserved, at the first of ``places`` where it can be made,
    and that place."""
    failures = []
    for place in places:
        temporary = temporary_path(place[0])
        try:
            place[0].parent.mkdir(parents=True, exist_ok=True)
            array = np.lib.format.open_memmap(temporary, mode="w+", dtype=np.uint8, shape=rows)
            _reserve(temporary, array.offset + array.nbytes)
            return temporary, array, place
        except OSError as error:
            _discard(temporary)
            failures.append(f"{place[0]} ({error.strerror or error})")
    raise KitError(f"cannot write the image cache: {'; nor '.join(failures)}; set KIT_CACHE_DIR to a writable folder")


def _discard(path: Path) -> None:
    """Remove ``path`` if it is there; a failure is left for the caller's own error to tell."""
    try:
        path.unlink(missing_ok=True)
    except OSError:
        pass


def _reserve(path: Path, size: int) -> None:
    """Allocate ``size`` bytes of ``path`` now, so that a full disk is an error here rather than a crash (SIGBUS)
    when a mapped page is written; a file system that cannot preallocate is left as it is."""
    if not hasattr(os, "posix_fallocate"):
        return
    handle = os.open(path, os.O_RDWR)
    try:
        os.posix_fallocate(handle, 0, size)
    except OSError as error:
        if error.errno not in _UNSUPPORTED:
            raise
    finally:
        os.close(handle)


def _row_writer(handle: Any, offset: int, shape: tuple[int, int, int]) -> Callable[[int, np.ndarray], None]:
    """A function writing an image as row ``index`` of the open cache file ``handle`` (rows from byte ``offset``)
    with a plain positional write: the pages go to the page cache, not into this process's resident memory as the
    pages of a written memory map do (a 4 GiB cache built through a map held 4 GiB of RSS)."""
    row_bytes = int(np.prod(shape))
    lock = threading.Lock()

    def write(index: int, image: np.ndarray) -> None:
        row = np.empty(shape, dtype=np.uint8)
        row[...] = image  # as an assignment into the array would cast and check it
        data, at = memoryview(row).cast("B"), offset + index * row_bytes
        if hasattr(os, "pwrite"):
            while data:
                data = data[os.pwrite(handle.fileno(), data, at + (row_bytes - len(data))) :]
            return
        with lock:  # no positional writes (Windows): seek and write under one lock
            handle.seek(at)
            handle.write(data)

    return write


def _decode_into(
    file: tuple[Path, int],
    paths: list[Path],
    shape: tuple[int, int, int],
    resize: str,
    progress: Callable[[int, int], None] | None,
    workers: int,
) -> None:
    """Decode ``paths[i]`` into row ``i`` of the cache file ``file`` = (path, byte offset of its rows) with a pool of
    ``workers`` threads (Pillow decodes and resizes without the GIL), a few small runs of rows in flight per worker
    (bounded memory, few wake-ups); the first error (in row order among the runs seen) is raised and the rows not
    yet started are skipped."""
    total = len(paths)
    step = max(1, -(-total // PROGRESS_CALLS))
    run = max(1, min(MAX_RUN, total // (workers * IN_FLIGHT * 4)))
    write: Callable[[int, np.ndarray], None]

    def decode_rows(start: int) -> int:
        for index in range(start, min(start + run, total)):
            write(index, decode_image(paths[index], shape, resize))
        return min(start + run, total) - start

    done = submitted = 0
    starts: dict[Future, int] = {}
    with open(file[0], "r+b", buffering=0) as handle, ThreadPoolExecutor(workers, "kit-decode") as pool:
        write = _row_writer(handle, file[1], shape)
        try:
            while starts or submitted < total:
                while submitted < total and len(starts) < workers * IN_FLIGHT:
                    starts[pool.submit(decode_rows, submitted)] = submitted
                    submitted += run
                finished, _ = wait(starts, return_when=FIRST_COMPLETED)
                before = done
                for future in sorted(finished, key=starts.__getitem__):
                    done += future.result()
                    del starts[future]
                if progress is not None and (done == total or done // step > before // step):
                    progress(done, total)
            os.fsync(handle.fileno())  # on disk before the rename, as the memory map's flush had it
        finally:
            for future in starts:
                future.cancel()


def _prune(folder: Path, keep: str, tag: str | None) -> None:
    """Best effort, after ``keep`` is in place: remove the other caches of ``tag`` in ``folder`` and the cache
    temporaries that killed builds left there. Files kit did not write (other names) are never touched."""
    now = time.time()
    try:
        for entry in folder.iterdir():
            if entry.name == keep or not entry.is_file() or entry.is_symlink():
                continue
            if is_temporary(entry):
                stale = _CACHE_FILE.fullmatch(entry.name[len(TEMP_PREFIX) :].partition("-")[2])
                if stale and now - entry.stat().st_mtime > STALE_TEMPORARY_S:
                    entry.unlink(missing_ok=True)
            elif tag is not None and (match := _CACHE_FILE.fullmatch(entry.name)) and match.group(1) == tag:
                entry.unlink(missing_ok=True)
    except OSError:
        pass  # another process pruning, a file in use (Windows): the space is reclaimed next time


def chunked_sha256(array: np.ndarray, chunk_rows: int | None = None) -> hashlib._Hash:
    """The sha256 of ``array``'s bytes in C order (as of ``array.tobytes()``), fed ``chunk_rows`` rows at a time (by
    default about 64 MiB) so a memory-mapped array larger than memory is never copied whole. Returns the hash object:
    update it further, or take its ``hexdigest()``."""
    digest = hashlib.sha256()
    if array.ndim == 0 or array.size == 0:
        digest.update(np.ascontiguousarray(array).tobytes())
        return digest
    row_bytes = max(1, array[:1].nbytes)
    step = chunk_rows if chunk_rows is not None else max(1, CHUNK_BYTES // row_bytes)
    if isinstance(step, bool) or not isinstance(step, int) or step < 1:
        raise KitError.invalid("chunk_rows", "a whole number of at least 1", chunk_rows)
    for start in range(0, len(array), step):
        digest.update(memoryview(np.ascontiguousarray(array[start : start + step])).cast("B"))
    return digest
