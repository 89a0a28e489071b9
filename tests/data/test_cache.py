"""kit.data._cache: image files decoded once into a memory-mapped uint8 cache that is never stale, written whole or
not at all, and found again only when nothing it depends on changed."""

from __future__ import annotations

import hashlib
import os
import time

import numpy as np
import pytest
from PIL import Image
from sklearn.datasets import load_digits

import kit.data._cache as cache
from kit.data._cache import PROGRESS_CALLS, cache_key, cached_images, chunked_sha256
from kit.data._images import decode_image
from kit.errors import KitError

SHAPE = (12, 12, 1)


@pytest.fixture
def data(tmp_path):
    """A data folder of 24 real digit images (16×16 PNGs and JPEGs, grey and RGB) and its cache folder."""
    folder = tmp_path / "data"
    folder.mkdir()
    for index, digit in enumerate(load_digits().images[:24]):
        image = Image.fromarray((digit * (255 / 16)).astype(np.uint8)).resize((16, 16))
        image = image.convert("RGB") if index % 3 == 0 else image
        image.save(folder / f"{index:02d}.{'jpg' if index % 4 == 0 else 'png'}")
    return folder


def paths_of(folder):
    return sorted(path for path in folder.iterdir() if path.is_file())


@pytest.fixture
def decodes(monkeypatch):
    """Counts the images the cache decodes."""
    seen = []

    def counting(path, shape, resize="squash"):
        seen.append(path)
        return decode_image(path, shape, resize)

    monkeypatch.setattr(cache, "decode_image", counting)
    return seen


def cache_files(folder):
    return sorted(path.name for path in folder.iterdir()) if folder.is_dir() else []


def test_rows_follow_the_paths_read_only_and_memory_mapped(data):
    paths = paths_of(data)[::-1]
    images = cached_images(paths, SHAPE, "squash", data / ".kit-cache", workers=3)
    assert isinstance(images, np.memmap) and images.dtype == np.uint8 and images.shape == (24, *SHAPE)
    assert not images.flags.writeable
    for row, path in zip(images, paths):
        assert np.array_equal(row, decode_image(path, SHAPE))
    (name,) = cache_files(data / ".kit-cache")
    assert name.startswith("images-") and name.endswith(".npy")


def test_a_second_call_decodes_nothing(data, decodes):
    first = cached_images(paths_of(data), SHAPE, "squash", data / ".kit-cache")
    assert len(decodes) == 24
    calls = []
    again = cached_images(paths_of(data), SHAPE, "squash", data / ".kit-cache", progress=lambda *a: calls.append(a))
    assert len(decodes) == 24 and np.array_equal(first, again) and calls == [(24, 24)]


def test_a_moved_data_folder_still_hits_when_keyed_relative_to_it(data, decodes):
    cached_images(paths_of(data), SHAPE, "squash", data / ".kit-cache", root=data)
    moved = data.rename(data.parent / "moved")
    cached_images(paths_of(moved), SHAPE, "squash", moved / ".kit-cache", root=moved)
    assert len(decodes) == 24
    cached_images(paths_of(moved), SHAPE, "squash", moved / ".kit-cache")  # keyed by absolute paths: another key
    assert len(decodes) == 48


def changed_mtime(data):
    path = data / "05.png"
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))


def changed_content_same_mtime(data):
    path = data / "05.png"
    stat = path.stat()
    Image.new("L", (16, 16), 255).save(path)
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))


def added(data):
    Image.new("L", (16, 16), 99).save(data / "99.png")


def removed(data):
    (data / "05.png").unlink()


@pytest.mark.parametrize("change", [changed_mtime, changed_content_same_mtime, added, removed])
def test_any_change_of_the_files_is_decoded_afresh(data, decodes, change):
    before = cached_images(paths_of(data), SHAPE, "squash", data / ".kit-cache")
    old = np.array(before)
    change(data)
    decodes.clear()
    after = cached_images(paths_of(data), SHAPE, "squash", data / ".kit-cache")
    assert len(decodes) == len(paths_of(data))
    assert len(cache_files(data / ".kit-cache")) == 2  # untagged: the older cache stays
    assert np.array_equal(after, np.stack([decode_image(path, SHAPE) for path in paths_of(data)]))
    assert change is changed_mtime or not np.array_equal(after, old)


@pytest.mark.parametrize(("shape", "resize"), [((12, 12, 3), "squash"), ((10, 12, 1), "squash"), (SHAPE, "pad")])
def test_another_target_is_another_cache(data, decodes, shape, resize):
    cached_images(paths_of(data), SHAPE, "squash", data / ".kit-cache")
    images = cached_images(paths_of(data), shape, resize, data / ".kit-cache")
    assert len(decodes) == 48 and images.shape == (24, *shape)
    assert cache_key(paths_of(data), SHAPE, "squash") != cache_key(paths_of(data), shape, resize)


def test_a_bad_image_mid_build_leaves_the_earlier_cache_intact_and_no_temporary(data):
    cache_dir = data / ".kit-cache"
    cached_images(paths_of(data), SHAPE, "squash", cache_dir, tag="train")
    (earlier,) = cache_dir.iterdir()
    content = earlier.read_bytes()
    (data / "13.png").write_text("not an image")
    with pytest.raises(KitError) as error:
        cached_images(paths_of(data), SHAPE, "squash", cache_dir, tag="train", workers=2)
    assert str(error.value) == f"{data / '13.png'}: not a readable image (not an image format Pillow reads); " + (
        "replace or remove it"
    )
    assert cache_files(cache_dir) == [earlier.name] and earlier.read_bytes() == content


def test_a_failed_rename_is_one_line_naming_the_cache_file(data, monkeypatch):
    cache_dir = data / ".kit-cache"

    def full(source, target):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(cache.os, "replace", full)
    with pytest.raises(KitError) as error:
        cached_images(paths_of(data), SHAPE, "squash", cache_dir)
    message = str(error.value)
    assert "\n" not in message and message.startswith(str(cache_dir / "images-"))
    assert "cannot write (No space left on device)" in message and cache_files(cache_dir) == []


@pytest.mark.parametrize("damage", ["short", "shape", "garbage", "long"])
def test_a_damaged_cache_file_is_decoded_again(data, decodes, damage):
    cached_images(paths_of(data), SHAPE, "squash", data / ".kit-cache")
    (path,) = (data / ".kit-cache").iterdir()
    if damage == "short":
        path.write_bytes(path.read_bytes()[:-100])
    elif damage == "shape":
        np.save(path, np.zeros((24, 12, 12, 3), np.uint8))
    elif damage == "garbage":
        path.write_bytes(b"\x93NUMPY garbage")
    else:
        path.write_bytes(path.read_bytes() + b"\0" * 64)
    images = cached_images(paths_of(data), SHAPE, "squash", data / ".kit-cache")
    assert len(decodes) == 48
    assert np.array_equal(images, np.stack([decode_image(p, SHAPE) for p in paths_of(data)]))


def test_an_unwritable_cache_folder_falls_back_to_kit_cache_dir(data, tmp_path, monkeypatch, decodes):
    (tmp_path / "blocked").write_text("a file where the cache folder would be")  # like a read-only /kaggle/input
    monkeypatch.setenv("KIT_CACHE_DIR", str(tmp_path / "user-cache"))
    images = cached_images(paths_of(data), SHAPE, "squash", tmp_path / "blocked" / ".kit-cache", tag="train")
    (name,) = cache_files(tmp_path / "user-cache")
    assert name.startswith("images-train_") and images.shape == (24, *SHAPE)
    cached_images(paths_of(data), SHAPE, "squash", tmp_path / "blocked" / ".kit-cache", tag="train")
    assert len(decodes) == 24  # found again there
    monkeypatch.setenv("KIT_CACHE_DIR", str(tmp_path / "blocked" / "user"))
    with pytest.raises(KitError) as error:
        cached_images(paths_of(data), (8, 8, 1), "squash", tmp_path / "blocked" / ".kit-cache")
    message = str(error.value)
    assert "\n" not in message and message.startswith("cannot write the image cache: ")
    assert message.endswith("set KIT_CACHE_DIR to a writable folder")


def test_a_full_disk_at_the_start_falls_back_before_decoding(data, tmp_path, monkeypatch):
    monkeypatch.setenv("KIT_CACHE_DIR", str(tmp_path / "user-cache"))
    original = cache._reserve

    def reserve(path, size):
        if path.parent.name == ".kit-cache":
            raise OSError(28, "No space left on device")
        original(path, size)

    monkeypatch.setattr(cache, "_reserve", reserve)
    cached_images(paths_of(data), SHAPE, "squash", data / ".kit-cache")
    assert cache_files(data / ".kit-cache") == [] and len(cache_files(tmp_path / "user-cache")) == 1


def test_progress_is_throttled_and_reaches_the_total(data):
    for index in range(24, 130):
        Image.new("L", (4, 4), index).save(data / f"{index:03d}.png")
    calls = []
    cached_images(paths_of(data), (4, 4, 1), "squash", data / ".kit-cache", progress=lambda *a: calls.append(a))
    assert calls[-1] == (130, 130) and len(calls) <= PROGRESS_CALLS + 1
    assert all(done <= total == 130 for done, total in calls) and calls == sorted(calls)


def test_a_new_cache_of_a_tag_replaces_the_older_ones_of_that_tag_only(data):
    cache_dir = data / ".kit-cache"
    cached_images(paths_of(data), SHAPE, "squash", cache_dir, tag="test")
    cached_images(paths_of(data), SHAPE, "squash", cache_dir)
    cached_images(paths_of(data), SHAPE, "squash", cache_dir, tag="train")
    (cache_dir / "notes.npy").write_bytes(b"mine")
    (cache_dir / "images-train-mine.npy").write_bytes(b"mine too")
    keep = sorted(set(cache_files(cache_dir)) - {f"images-train-{cache_key(paths_of(data), SHAPE, 'squash')}.npy"})
    cached_images(paths_of(data), (8, 8, 1), "squash", cache_dir, tag="train")
    new = f"images-train-{cache_key(paths_of(data), (8, 8, 1), 'squash')}.npy"
    assert cache_files(cache_dir) == sorted([*keep, new])


def test_a_stale_cache_temporary_is_removed_and_a_fresh_one_or_a_foreign_one_kept(data):
    cache_dir = data / ".kit-cache"
    cache_dir.mkdir()
    stale = cache_dir / ".kit-tmp-0badc0de-images-train-0123456789abcdef.npy"
    fresh = cache_dir / ".kit-tmp-12345678-images-train-fedcba9876543210.npy"
    foreign = cache_dir / ".kit-tmp-0badc0de-model.keras"
    for path in (stale, fresh, foreign):
        path.write_bytes(b"left by a killed build")
    old = time.time() - 2 * cache.STALE_TEMPORARY_S
    os.utime(stale, (old, old))
    os.utime(foreign, (old, old))
    cached_images(paths_of(data), SHAPE, "squash", cache_dir, tag="train")
    assert not stale.exists() and fresh.exists() and foreign.exists()


def test_no_paths_is_an_empty_array_and_bad_arguments_name_themselves(data):
    empty = cached_images([], SHAPE, "squash", data / ".kit-cache")
    assert empty.shape == (0, *SHAPE) and not empty.flags.writeable and cache_files(data / ".kit-cache") == []
    for arguments, name in [
        ({"tag": "no spaces"}, "tag"),
        ({"workers": 0}, "workers"),
        ({"workers": True}, "workers"),
    ]:
        with pytest.raises(KitError) as error:
            cached_images(paths_of(data), SHAPE, "squash", data / ".kit-cache", **arguments)
        assert error.value.argument == name
    with pytest.raises(KitError, match=r"gone\.png: not found$"):
        cached_images([data / "gone.png"], SHAPE, "squash", data / ".kit-cache")


@pytest.mark.parametrize("chunk_rows", [None, 1, 3, 7, 100])
def test_chunked_sha256_equals_the_hash_of_the_whole_bytes(tmp_path, chunk_rows):
    array = np.random.default_rng(0).integers(0, 256, (10, 5, 4, 3), dtype=np.uint8)
    expected = hashlib.sha256(array.tobytes()).hexdigest()
    assert chunked_sha256(array, chunk_rows).hexdigest() == expected
    np.save(tmp_path / "a.npy", array)
    assert chunked_sha256(np.load(tmp_path / "a.npy", mmap_mode="r"), chunk_rows).hexdigest() == expected
    strided = array[:, ::2]
    assert chunked_sha256(strided, chunk_rows).hexdigest() == hashlib.sha256(strided.tobytes()).hexdigest()
    assert chunked_sha256(array[:0]).hexdigest() == hashlib.sha256(b"").hexdigest()


def test_an_interrupted_build_leaves_no_temporary(data):
    def interrupt(done, total):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        cached_images(paths_of(data), SHAPE, "squash", data / ".kit-cache", progress=interrupt)
    assert cache_files(data / ".kit-cache") == []
