"""A submission's CSV, its test softmax (.npy) and its sidecar (.json) are one unit: none of them is overwritten
without force, even when the others are missing."""

from __future__ import annotations

import pytest

from kit.ensemble import predict
from kit.errors import KitError
from kit.submission import refuse_overwrite


@pytest.mark.parametrize("present", ["p.csv", "p.npy", "p.json"])
def test_any_file_of_a_submission_is_refused_without_force(tmp_path, present):
    (tmp_path / present).write_text("mine")
    with pytest.raises(KitError, match=rf"{present} exists; pass force=True or name=\.\.\.$"):
        refuse_overwrite(tmp_path / "p.csv", force=False)
    refuse_overwrite(tmp_path / "p.csv", force=True)
    refuse_overwrite(tmp_path / "q.csv", force=False)


def test_predict_keeps_a_sidecar_whose_csv_is_missing(tmp_path):
    sidecar = tmp_path / "p.json"
    sidecar.write_text('{"submission": "p.csv", "note": "mine"}')
    with pytest.raises(KitError, match=r"p\.json exists"):
        predict(["no-such-run"], name="p", out=tmp_path)  # refused before any run is read
    assert sidecar.read_text() == '{"submission": "p.csv", "note": "mine"}'
