"""`kit fetch --dest` that cannot hold the files ends as one line before Kaggle is contacted."""

from __future__ import annotations

import pytest

from kit.errors import KitError
from kit.kaggle.files import fetch


def test_a_destination_that_cannot_be_written_is_one_line_before_any_request(tmp_path, monkeypatch):
    def no_network(*args, **kwargs):
        raise AssertionError("Kaggle was contacted")

    monkeypatch.setattr("kit.kaggle.files.connect", no_network)
    with pytest.raises(KitError, match=r"^/proc/kit-fetch: cannot write there \(.*\); nothing was downloaded$"):
        fetch("digit-recognizer", dest="/proc/kit-fetch")
    afile = tmp_path / "a-file"
    afile.write_text("x")
    with pytest.raises(KitError, match=r"a-file exists and is not a folder"):
        fetch("digit-recognizer", dest=afile)
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "digit-recognizer").write_text("x")
    with pytest.raises(KitError, match=r"digit-recognizer exists and is not a folder"):
        fetch("digit-recognizer", dest=tmp_path / "data")
    assert afile.read_text() == "x"
