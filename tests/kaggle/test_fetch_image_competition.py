"""`kit fetch` of a whole image-file competition as Kaggle ships it (zipped image folders beside the CSVs): the folder
is unpacked, its spec inferred and its images checked as `kit cv` lists them, and the competition trains at once."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

from image_data import build
from test_fetch_images import serving

from kit.competitions import load_spec
from kit.data import load_test, load_train
from kit.kaggle import fetch

SLUG = "dogs-vs-cats-redux-kernels-edition"


def zipped(folder: Path, part: str) -> bytes:
    """``folder/part/`` as Kaggle zips it: a zip holding the folder ``part/``."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for path in sorted((folder / part).rglob("*")):
            archive.write(path, path.relative_to(folder).as_posix())
    return buffer.getvalue()


def test_an_image_competition_is_fetched_unpacked_inferred_and_checked(tmp_path, monkeypatch):
    built = build("dogs-vs-cats", tmp_path / "made")
    served = {"train.zip": zipped(built.folder, "train"), "test.zip": zipped(built.folder, "test")}
    served["sample_submission.csv"] = (built.folder / "sample_submission.csv").read_bytes()
    with serving(SLUG, served, tmp_path, monkeypatch):
        result = fetch(SLUG, tmp_path / "data")
    folder = result.folder
    assert not list(folder.glob("*.zip")) and (folder / "train" / "cat.1.jpg").is_file()
    spec = load_spec(folder / "competition.toml")
    assert (spec.images.layout, spec.images.pattern, spec.images.test_ids) == ("filename", "{label}.{n}.jpg", "stem")
    rows = {item.name: item.rows for item in result.files}
    assert rows.get("train") == 120 and rows.get("test") == 30
    train, test = load_train(folder, spec), load_test(folder, spec)
    assert train.images.shape == (120, *spec.image_shape) and sorted(test.ids.tolist()) == list(range(1, 31))
