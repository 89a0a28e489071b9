"""Rows of a large image cache read batch by batch with plain file reads, so that a set larger than memory trains in
bounded memory.

Pages touched through a memory map count in the process's resident memory (RSS, PSS) for as long as they stay
mapped; bytes read with ``os.preadv`` land in the kernel's page cache, which the kernel may drop at any time, and in
the batch the reader fills. A set whose pixels take more than the memory budget (:func:`memory_budget`: 1 GiB, or
``$KIT_MEMORY_BUDGET``) and that is a memory-mapped file (the image cache, :mod:`kit.data._cache`) is therefore
handed to training as :class:`LazyRows`, a list of (source, rows) read on demand (:func:`take_rows`); every smaller
set, and every array in memory, keeps the exact path it always had (``images[rows]``, a copy in memory).
"""

from __future__ import annotations

import mmap
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Union

import numpy as np

from kit.errors import KitError

BUDGET_ENV = "KIT_MEMORY_BUDGET"
MEMORY_BUDGET = 1 << 30  # bytes of pixels above which a memory-mapped set is streamed from its file
_UNITS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}
_SIZE = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(?:i?b)?\s*", re.IGNORECASE)


def memory_budget() -> int:
    """Bytes of pixels a set may hold in memory: ``$KIT_MEMORY_BUDGET`` (bytes, or with a unit: ``512M``,
    ``2GiB``), else :data:`MEMORY_BUDGET`. Larger memory-mapped sets are streamed from their file."""
    text = os.environ.get(BUDGET_ENV, "").strip()
    if not text:
        return MEMORY_BUDGET
    match = _SIZE.fullmatch(text)
    if match is None:
        raise KitError(f"{BUDGET_ENV}={text!r}: not a size; give bytes, or a number with K, M or G (e.g. 512M)")
    return int(float(match.group(1)) * _UNITS[match.group(2).lower()])


@dataclass(frozen=True)
class RowReader:
    """The uint8 rows of shape ``shape`` stored one after another from byte ``offset`` of the file ``path``
    (``rows`` of them), read with plain file reads: no memory map, nothing kept open between reads (it pickles)."""

    path: str
    offset: int
    rows: int
    shape: tuple[int, ...]

    @property
    def row_bytes(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64))

    def read(self, rows: np.ndarray | Sequence[int]) -> np.ndarray:
        """The given rows (any order, repeats allowed) as a new uint8 array ``(len(rows), *shape)``; runs of
        consecutive rows are read with one call each."""
        rows = np.asarray(rows, dtype=np.int64).reshape(-1)
        out = np.empty((len(rows), *self.shape), dtype=np.uint8)
        if not len(rows):
            return out
        if rows.min() < 0 or rows.max() >= self.rows:
            bad = rows[(rows < 0) | (rows >= self.rows)][0]
            raise KitError(f"{self.path}: row {bad} is outside the cache's {self.rows} rows")
        breaks = np.flatnonzero(np.diff(rows) != 1) + 1
        starts, ends = np.concatenate([[0], breaks]), np.concatenate([breaks, [len(rows)]])
        flat = out.reshape(len(rows), -1)
        try:
            with open(self.path, "rb", buffering=0) as handle:
                for start, end in zip(starts.tolist(), ends.tolist()):
                    at = self.offset + int(rows[start]) * self.row_bytes
                    _read_into(handle, memoryview(flat[start:end]).cast("B"), at)
        except OSError as error:
            raise KitError(f"{self.path}: cannot read the image cache ({error.strerror or error})") from None
        return out


def _read_into(handle, buffer: memoryview, offset: int) -> None:
    """Fill ``buffer`` from byte ``offset`` of the open file ``handle`` (``os.preadv`` where the system has it)."""
    done, offset = 0, int(offset)
    while done < len(buffer):
        if hasattr(os, "preadv"):
            got = os.preadv(handle.fileno(), [buffer[done:]], offset + done)
        else:
            handle.seek(offset + done)
            got = handle.readinto(buffer[done:])
        if not got:
            raise OSError(f"the file ends {len(buffer) - done} bytes early (truncated?)")
        done += got


def reader_of(array: np.ndarray) -> RowReader | None:
    """A reader of ``array``'s rows from the file it is memory-mapped from (a C-ordered uint8 array, or rows of
    one), or None where it is not such an array (in memory, another kind)."""
    if not isinstance(array, np.memmap) or array.dtype != np.uint8 or array.ndim < 1:
        return None
    if not array.flags.c_contiguous or not array.filename:
        return None
    top = array
    while isinstance(top.base, np.memmap):
        top = top.base
    if not isinstance(top.base, mmap.mmap) or not top.flags.c_contiguous:
        return None
    start = top.offset + (array.__array_interface__["data"][0] - top.__array_interface__["data"][0])
    return RowReader(str(array.filename), int(start), len(array), tuple(int(size) for size in array.shape[1:]))


Source = Union[RowReader, np.ndarray]


class LazyRows:
    """Rows of one or more sources, read only when asked for: ``parts`` is a tuple of (source, rows), a source a
    :class:`RowReader` or an array in memory; row ``i`` of the view is the ``i``-th of the parts' rows in order.

    It looks enough like an array for the pipeline and the fold (``len``, ``shape``, ``dtype``, ``ndim``,
    ``nbytes``); :meth:`gather` reads a batch; indexing gives a narrower view, never the pixels."""

    def __init__(self, parts: Sequence[tuple[Source, np.ndarray]]) -> None:
        shapes = {tuple(source.shape[1:]) if isinstance(source, np.ndarray) else source.shape for source, _ in parts}
        if len(shapes) != 1:
            raise KitError(f"rows of images of different shapes ({', '.join(map(str, sorted(shapes)))}) cannot mix")
        self.parts = tuple((source, np.asarray(rows, dtype=np.int64).reshape(-1)) for source, rows in parts)
        self.row_shape = shapes.pop()
        counts = [len(rows) for _, rows in self.parts]
        self.ends = np.cumsum(counts, dtype=np.int64)

    def __len__(self) -> int:
        return int(self.ends[-1]) if len(self.ends) else 0

    @property
    def shape(self) -> tuple[int, ...]:
        return (len(self), *self.row_shape)

    @property
    def dtype(self) -> np.dtype:
        return np.dtype(np.uint8)

    @property
    def ndim(self) -> int:
        return 1 + len(self.row_shape)

    @property
    def nbytes(self) -> int:
        return len(self) * int(np.prod(self.row_shape, dtype=np.int64))

    def __repr__(self) -> str:
        return f"LazyRows(shape={self.shape}, parts={len(self.parts)})"

    def _located(self, index: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(part, row within that part's source) of each view row in ``index``."""
        index = np.asarray(index, dtype=np.int64).reshape(-1)
        if len(index) and (index.min() < 0 or index.max() >= len(self)):
            raise IndexError(f"row {index[(index < 0) | (index >= len(self))][0]} of {len(self)} rows")
        part = np.searchsorted(self.ends, index, side="right")
        starts = np.concatenate([[0], self.ends[:-1]])
        rows = np.empty_like(index)
        for number, (_, part_rows) in enumerate(self.parts):
            chosen = part == number
            rows[chosen] = part_rows[index[chosen] - starts[number]]
        return part, rows

    def gather(self, index: np.ndarray | Sequence[int]) -> np.ndarray:
        """Rows ``index`` of the view (any order, repeats allowed) as a uint8 array in memory."""
        part, rows = self._located(np.asarray(index))
        out = np.empty((len(rows), *self.row_shape), dtype=np.uint8)
        for number, (source, _) in enumerate(self.parts):
            chosen = np.flatnonzero(part == number)
            if len(chosen):
                out[chosen] = source.read(rows[chosen]) if isinstance(source, RowReader) else source[rows[chosen]]
        return out

    def __getitem__(self, key) -> LazyRows:
        index = np.arange(len(self))[key]
        if np.ndim(index) != 1:
            raise TypeError("LazyRows takes a slice or an array of rows; gather(rows) reads them")
        part, rows = self._located(index)
        pieces, start = [], 0
        for stop in [*(np.flatnonzero(np.diff(part)) + 1).tolist(), len(part)]:
            if stop > start:
                pieces.append((self.parts[part[start]][0], rows[start:stop]))
            start = stop
        return LazyRows(pieces or [(self.parts[0][0], rows)])

    def __array__(self, dtype=None, copy=None) -> np.ndarray:
        everything = self.gather(np.arange(len(self)))
        return everything if dtype is None else everything.astype(dtype)


def streams(images: np.ndarray | LazyRows) -> bool:
    """Whether ``images`` is read batch by batch: a lazy view, or a memory-mapped set above :func:`memory_budget`."""
    if isinstance(images, LazyRows):
        return True
    return images.nbytes > memory_budget() and reader_of(images) is not None


def take_rows(images: np.ndarray | LazyRows, rows: np.ndarray | None = None) -> np.ndarray | LazyRows:
    """``images[rows]`` (all rows for None) as training and prediction take them: for a set in memory or within
    the memory budget exactly as before (a copy, or the array itself for all rows); for a larger memory-mapped set
    a :class:`LazyRows` view that reads its rows from the file batch by batch."""
    if isinstance(images, LazyRows):
        return images if rows is None else images[rows]
    if not streams(images):
        return images if rows is None else images[rows]
    selected = np.arange(len(images)) if rows is None else np.arange(len(images))[rows]
    return LazyRows([(reader_of(images), selected)])


def join_rows(first: np.ndarray | LazyRows, second: np.ndarray | LazyRows) -> np.ndarray | LazyRows:
    """The rows of ``first`` then those of ``second``: ``np.concatenate`` of two arrays in memory (as before), else
    a lazy view over both."""
    if not isinstance(first, LazyRows) and not isinstance(second, LazyRows):
        return np.concatenate([first, second])

    def parts(images: np.ndarray | LazyRows) -> tuple[tuple[Source, np.ndarray], ...]:
        return images.parts if isinstance(images, LazyRows) else ((images, np.arange(len(images))),)

    return LazyRows([*parts(first), *parts(second)])
