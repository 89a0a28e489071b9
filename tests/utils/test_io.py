"""kit.utils' checked files: atomic writes that leave nothing half-written, JSON without NaN, arrays checked on read."""

from __future__ import annotations

import numpy as np
import pytest

from kit.errors import KitError
from kit.utils import load_array, read_json, save_array, write_bytes_atomic, write_json


def test_an_atomic_write_replaces_the_file_and_leaves_no_temporary(tmp_path):
    path = tmp_path / "deep" / "file.txt"
    write_bytes_atomic(path, b"one")
    write_bytes_atomic(path, b"two")
    assert path.read_bytes() == b"two"
    assert sorted(p.name for p in path.parent.iterdir()) == ["file.txt"]


def test_a_failed_write_names_the_path_and_keeps_the_old_file(tmp_path, monkeypatch):
    path = tmp_path / "file.txt"
    path.write_bytes(b"old")

    def full_disk(*_):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("kit.utils._io.os.replace", full_disk)
    with pytest.raises(KitError, match=r"file\.txt: cannot write \(No space left on device\); earlier results"):
        write_bytes_atomic(path, b"new")
    assert path.read_bytes() == b"old" and sorted(p.name for p in tmp_path.iterdir()) == ["file.txt"]


def test_json_refuses_non_finite_numbers_and_reads_checked(tmp_path):
    with pytest.raises(KitError, match="non-finite"):
        write_json(tmp_path / "a.json", {"x": float("nan")})
    write_json(tmp_path / "a.json", {"x": 1})
    assert read_json(tmp_path / "a.json", dict) == {"x": 1}
    with pytest.raises(KitError, match=r"a\.json: damaged \(expected a JSON list, found dict\)"):
        read_json(tmp_path / "a.json", list)
    (tmp_path / "b.json").write_text("{")
    with pytest.raises(KitError, match=r"b\.json: damaged \(not valid JSON\)"):
        read_json(tmp_path / "b.json")
    with pytest.raises(KitError, match=r"c\.json: not found"):
        read_json(tmp_path / "c.json")


def test_arrays_are_checked_for_kind_shape_and_finiteness(tmp_path):
    path = tmp_path / "a.npy"
    save_array(path, np.ones((3, 2), dtype=np.float32))
    assert load_array(path, "f", (None, 2)).shape == (3, 2)
    with pytest.raises(KitError, match=r"shape 3×2, expected n×5"):
        load_array(path, "f", (None, 5))
    with pytest.raises(KitError, match="expected integers"):
        load_array(path, "i")
    save_array(path, np.array([np.inf]))
    with pytest.raises(KitError, match="non-finite"):
        load_array(path)
    path.write_bytes(b"not an array")
    with pytest.raises(KitError, match="damaged"):
        load_array(path)
