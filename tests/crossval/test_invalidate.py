"""RunFolder.invalidate (what `kit cv --force` does first) leaves no file of the old run behind, pseudo-labels included,
and nothing it did not write."""

from __future__ import annotations

from kit.crossval import RunFolder
from kit.crossval._rundir import RUN_ARRAYS


def test_invalidate_removes_every_run_file_and_keeps_the_users(tmp_path):
    run = RunFolder(tmp_path)
    for name in (*RUN_ARRAYS, run.summary_path.name, "notes.txt"):
        (tmp_path / name).write_bytes(b"x")
    (tmp_path / "fold-1").mkdir()
    (tmp_path / "fold-1" / "fold.json").write_text("{}")
    run.invalidate()
    assert "pseudo_rows.npy" in RUN_ARRAYS and "pseudo_labels.npy" in RUN_ARRAYS
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]
