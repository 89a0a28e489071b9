"""Bad image-file input ends as one line naming the file (and the fix) before any training, and never damages or
mixes an earlier cache: a corrupt or truncated image, a file the CSV names but that is missing, an image no CSV row
names, an empty class folder, duplicate ids, a label outside the classes, a multi-label row with no label, an image too
small to resize sensibly."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import pandas as pd
import pytest
from image_data import build, write_spec
from PIL import Image

from kit.competitions import load_spec
from kit.data import load_test, load_train
from kit.errors import KitError


def _folder(tmp_path: Path, layout: str) -> tuple[Path, object]:
    built = build(layout, tmp_path / layout)
    return built.folder, load_spec(write_spec(built))


def _cache_state(folder: Path) -> dict[str, str]:
    cache = folder / ".kit-cache"
    return {path.name: hashlib.sha256(path.read_bytes()).hexdigest() for path in sorted(cache.glob("*"))}


def _one_line(error: pytest.ExceptionInfo, *words: str) -> str:
    message = str(error.value)
    assert "\n" not in message and all(word in message for word in words), message
    return message


def _first_image(folder: Path) -> Path:
    return sorted(path for path in folder.rglob("*") if path.suffix in (".png", ".jpg"))[0]


def test_a_truncated_image_is_one_line_and_the_earlier_cache_stays(tmp_path):
    folder, spec = _folder(tmp_path, "cactus")
    load_train(folder, spec)
    before = _cache_state(folder)
    victim = _first_image(folder / "train")
    victim.write_bytes(victim.read_bytes()[:100])
    with pytest.raises(KitError) as error:
        load_train(folder, spec)
    _one_line(error, victim.name)
    assert _cache_state(folder) == before  # the earlier cache is byte-identical, no half-written one beside it


def test_a_text_file_named_like_an_image_is_one_line(tmp_path):
    folder, spec = _folder(tmp_path, "seedlings")
    victim = _first_image(folder / "train")
    victim.write_text("not a picture")
    with pytest.raises(KitError) as error:
        load_train(folder, spec)
    _one_line(error, victim.name)


def test_a_file_the_csv_names_but_missing_names_the_line(tmp_path):
    folder, spec = _folder(tmp_path, "aptos")
    victim = _first_image(folder / "train_images")
    victim.unlink()
    with pytest.raises(KitError) as error:
        load_train(folder, spec)
    _one_line(error, "train.csv", "line", victim.name, "not found")


def test_an_image_no_row_names_is_one_line(tmp_path):
    folder, spec = _folder(tmp_path, "whale")
    stray = folder / "train" / "stray.jpg"
    shutil.copy(_first_image(folder / "train"), stray)
    with pytest.raises(KitError) as error:
        load_train(folder, spec)
    _one_line(error, "stray.jpg", "no row")


def test_an_empty_class_folder_is_one_line(tmp_path):
    folder, spec = _folder(tmp_path, "seedlings")
    empty = next(path for path in (folder / "train").iterdir() if path.is_dir())
    for path in empty.iterdir():
        path.unlink()
    with pytest.raises(KitError) as error:
        load_train(folder, spec)
    _one_line(error, empty.name, "empty class folder")


def test_a_folder_that_is_not_a_class_is_one_line(tmp_path):
    folder, spec = _folder(tmp_path, "seedlings")
    extra = folder / "train" / "Weed"
    extra.mkdir()
    shutil.copy(_first_image(folder / "train"), extra / "x.png")
    with pytest.raises(KitError) as error:
        load_train(folder, spec)
    _one_line(error, "'Weed' is not a class", "classes")


def test_duplicate_ids_name_the_line(tmp_path):
    folder, spec = _folder(tmp_path, "cactus")
    frame = pd.read_csv(folder / "train.csv")
    frame.loc[5, "id"] = frame.loc[2, "id"]
    frame.to_csv(folder / "train.csv", index=False)
    with pytest.raises(KitError) as error:
        load_train(folder, spec)
    _one_line(error, "train.csv", "line 7", "appears twice")


def test_a_label_outside_the_classes_names_the_line(tmp_path):
    folder, spec = _folder(tmp_path, "whale")
    frame = pd.read_csv(folder / "train.csv")
    frame.loc[3, "Id"] = "new_whale"
    frame.to_csv(folder / "train.csv", index=False)
    with pytest.raises(KitError) as error:
        load_train(folder, spec)
    _one_line(error, "train.csv", "line 5", "new_whale", "not a class")


def test_a_label_in_a_file_name_outside_the_classes_is_one_line(tmp_path):
    folder, spec = _folder(tmp_path, "dogs-vs-cats")
    shutil.copy(_first_image(folder / "train"), folder / "train" / "fox.7.jpg")
    with pytest.raises(KitError) as error:
        load_train(folder, spec)
    _one_line(error, "fox.7.jpg", "'fox' is not a class")


def test_a_multilabel_row_without_a_label_names_the_line(tmp_path):
    folder, spec = _folder(tmp_path, "pathology")
    frame = pd.read_csv(folder / "train.csv")
    frame.loc[0, ["healthy", "multiple_diseases", "rust", "scab"]] = 0
    frame.to_csv(folder / "train.csv", index=False)
    with pytest.raises(KitError) as error:
        load_train(folder, spec)
    _one_line(error, "train.csv", "line 2", "no label")


def test_a_multilabel_cell_that_is_not_0_or_1_names_the_cell(tmp_path):
    folder, spec = _folder(tmp_path, "pathology")
    frame = pd.read_csv(folder / "train.csv").astype({"rust": object})
    frame.loc[4, "rust"] = "yes"
    frame.to_csv(folder / "train.csv", index=False)
    with pytest.raises(KitError) as error:
        load_train(folder, spec)
    _one_line(error, "line 6", "column rust", "'yes' is not 0 or 1")


def test_an_image_too_small_to_resize_is_one_line(tmp_path):
    folder, spec = _folder(tmp_path, "seedlings")
    victim = _first_image(folder / "test")
    Image.new("RGB", (1, 1)).save(victim)
    with pytest.raises(KitError) as error:
        load_test(folder, spec)
    _one_line(error, victim.name)


def test_a_changed_image_rebuilds_the_cache_never_stale(tmp_path):
    folder, spec = _folder(tmp_path, "cactus")
    first = load_train(folder, spec)
    victim = _first_image(folder / "train")
    row = list(first.ids).index(victim.name)
    Image.new("RGB", (30, 30), (255, 255, 255)).save(victim, quality=95)
    again = load_train(folder, spec)
    assert again.images[row].min() > 200 and first.fingerprint() != again.fingerprint()


def test_a_missing_train_folder_names_the_key(tmp_path):
    folder, spec = _folder(tmp_path, "seedlings")
    shutil.rmtree(folder / "train")
    with pytest.raises(KitError) as error:
        load_train(folder, spec)
    _one_line(error, "folder not found", "images.train")
