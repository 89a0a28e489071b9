"""kit.data._rows: rows of an image cache read with plain file reads (any order, repeats, a last partial batch), the
lazy views the fold trains on above the memory budget, and the exact old path below it."""

from __future__ import annotations

import os
import pickle

import numpy as np
import pytest

from kit.data._cache import cached_images
from kit.data._rows import (
    BUDGET_ENV,
    MEMORY_BUDGET,
    LazyRows,
    join_rows,
    memory_budget,
    reader_of,
    streams,
    take_rows,
)
from kit.errors import KitError

ROWS, SHAPE = 37, (5, 4, 3)


@pytest.fixture
def cache(tmp_path):
    """A cache file of 37 random 5×4×3 rows, memory-mapped as the image cache opens it, and the same in memory."""
    pixels = np.random.default_rng(0).integers(0, 256, (ROWS, *SHAPE), dtype=np.uint8)
    np.save(tmp_path / "images.npy", pixels)
    return np.load(tmp_path / "images.npy", mmap_mode="r"), pixels


def test_rows_in_any_order_with_repeats_equal_fancy_indexing(cache):
    mapped, pixels = cache
    reader = reader_of(mapped)
    assert reader.rows == ROWS and reader.shape == SHAPE and reader.offset == mapped.offset
    for rows in ([3, 1, 2], [5, 5, 5, 0], list(range(ROWS)), [36, 0, 35, 1, 2, 3, 4], []):
        read = reader.read(rows)
        assert read.dtype == np.uint8 and read.shape == (len(rows), *SHAPE)
        assert np.array_equal(read, pixels[rows])
    again = pickle.loads(pickle.dumps(reader))  # a worker process gets it as a value: path, offset, shape
    assert np.array_equal(again.read([7, 8, 9]), pixels[7:10])


def test_batches_of_a_view_cover_every_row_up_to_the_last_partial_batch(cache):
    mapped, pixels = cache
    view = LazyRows([(reader_of(mapped), np.arange(ROWS)[::-1])])
    batches = [view.gather(np.arange(start, min(start + 8, ROWS))) for start in range(0, ROWS, 8)]
    assert [len(batch) for batch in batches] == [8, 8, 8, 8, 5]
    assert np.array_equal(np.concatenate(batches), pixels[::-1])
    assert view.shape == (ROWS, *SHAPE) and view.nbytes == pixels.nbytes and view.ndim == 4


def test_a_reader_of_rows_of_a_map_starts_at_their_offset(cache):
    mapped, pixels = cache
    assert np.array_equal(reader_of(mapped[10:20]).read([0, 9]), pixels[[10, 19]])
    assert reader_of(pixels) is None and reader_of(mapped[:, :2]) is None  # in memory; not whole rows


def test_rows_outside_the_cache_and_a_short_file_are_one_line(cache, tmp_path):
    mapped, _ = cache
    with pytest.raises(KitError, match=r"row 37 is outside the cache's 37 rows"):
        reader_of(mapped).read([1, 37])
    truncated = tmp_path / "short.npy"
    truncated.write_bytes((tmp_path / "images.npy").read_bytes()[:-10])
    reader = reader_of(mapped).__class__(str(truncated), mapped.offset, ROWS, SHAPE)
    with pytest.raises(KitError, match=r"short.npy: cannot read the image cache \(the file ends 10 bytes early"):
        reader.read([ROWS - 1])


def test_views_narrow_and_join_without_reading(cache):
    mapped, pixels = cache
    view = LazyRows([(reader_of(mapped), [4, 2, 9, 9]), (pixels, [0, 1])])
    assert len(view) == 6 and np.array_equal(view.gather([5, 0, 3]), pixels[[1, 4, 9]])
    narrow = view[[5, 2, 1]]
    assert isinstance(narrow, LazyRows) and np.array_equal(np.asarray(narrow), pixels[[1, 9, 2]])
    assert np.array_equal(np.asarray(view[1:4]), pixels[[2, 9, 9]])
    joined = join_rows(view, pixels[:2])
    assert np.array_equal(np.asarray(joined), pixels[[4, 2, 9, 9, 0, 1, 0, 1]])
    with pytest.raises(IndexError):
        view.gather([6])


def test_below_the_budget_the_old_path_above_it_a_lazy_view(cache, monkeypatch):
    mapped, pixels = cache
    monkeypatch.delenv(BUDGET_ENV, raising=False)
    assert memory_budget() == MEMORY_BUDGET and not streams(mapped)
    kept = take_rows(mapped, np.array([3, 1]))
    assert type(kept) is np.ndarray and np.array_equal(kept, pixels[[3, 1]])  # a copy in memory, as before
    assert take_rows(mapped) is mapped and type(join_rows(pixels[:2], pixels[3:5])) is np.ndarray
    monkeypatch.setenv(BUDGET_ENV, "100")
    assert streams(mapped) and not streams(pixels)  # only a file-backed set streams
    lazy = take_rows(mapped, np.array([3, 1, 3]))
    assert isinstance(lazy, LazyRows) and np.array_equal(lazy.gather([0, 1, 2]), pixels[[3, 1, 3]])
    assert np.array_equal(np.asarray(take_rows(mapped)), pixels)
    assert isinstance(join_rows(lazy, pixels[:1]), LazyRows)


@pytest.mark.parametrize(("text", "size"), [("2048", 2048), ("512M", 512 << 20), ("1.5GiB", 3 << 29), ("4kb", 4096)])
def test_the_budget_takes_bytes_or_units(monkeypatch, text, size):
    monkeypatch.setenv(BUDGET_ENV, text)
    assert memory_budget() == size


def test_a_bad_budget_is_one_line(monkeypatch):
    monkeypatch.setenv(BUDGET_ENV, "lots")
    with pytest.raises(KitError, match=r"^KIT_MEMORY_BUDGET='lots': not a size; give bytes"):
        memory_budget()


def test_a_built_cache_is_written_without_a_map_and_read_back_by_rows(tmp_path):
    from PIL import Image

    folder = tmp_path / "data"
    folder.mkdir()
    rng = np.random.default_rng(1)
    for index in range(9):
        Image.fromarray(rng.integers(0, 256, (10, 12, 3), dtype=np.uint8)).save(folder / f"{index}.png")
    paths = sorted(folder.glob("*.png"))
    images = cached_images(paths, (10, 12, 3), "squash", folder / ".kit-cache", workers=2)
    expected = np.stack([np.asarray(Image.open(path)) for path in paths])
    assert np.array_equal(images, expected)
    assert np.array_equal(reader_of(images).read([8, 0, 4]), expected[[8, 0, 4]])
    assert os.path.getsize(images.filename) == images.offset + expected.nbytes
