"""`kit init`: spec inference from the files of a data folder, its notes, and the cases it must refuse."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import typer
from layout_data import LAYOUTS, build
from typer.testing import CliRunner

from kit.cli import competition as competition_cli
from kit.competitions import as_competition, load_spec
from kit.data import infer_competition, load_test, load_train
from kit.errors import KitError


@pytest.mark.parametrize("layout", LAYOUTS)
def test_infers_each_layout(tmp_path, layout):
    folder = tmp_path / layout
    built = build(layout, folder)
    inferred = infer_competition(folder, settings=built.settings)
    spec = inferred.competition
    assert inferred.path == folder / "competition.toml" and load_spec(inferred.path) == spec
    assert as_competition(None, folder) == spec and spec.name == layout
    for key, value in built.expect.items():
        actual = spec.pixel_layout.kind if key == "kind" else getattr(spec, key)
        assert actual == value, key
    train, test = load_train(folder, spec), load_test(folder, spec)
    assert train.images.shape[1:] == spec.image_shape and set(train.labels) <= set(range(spec.classes))
    assert len(test) == 30 and inferred.notes[-1].startswith("checked: 70 train and 30 test images")
    assert all("\n" not in note for note in inferred.notes)


def test_notes_say_what_was_found_and_why(tmp_path):
    build("rgb-gaps", tmp_path)
    notes = infer_competition(tmp_path, write=False).notes
    assert "label column 'label' (its name)" in notes
    assert any(note.startswith("image: 8×8×3 — 192 pixels fit 10 shapes; neighbouring-pixel") for note in notes)
    assert "labels 0–10 without 9 → 10 classes" in notes
    assert "submission columns ImageId,Label (from sample_submission.csv)" in notes
    assert not (tmp_path / "competition.toml").exists()
    build("rect-strings", tmp_path / "r")
    notes = infer_competition(tmp_path / "r", write=False).notes
    assert "columns 1x1…6x10 → pattern '{row}x{col}' from 1, 6 rows × 10 columns" in notes
    assert any(note.startswith("text labels ('Bag', 'Coat', 'Dress', 'Pullover', …) → 10 classes") for note in notes)


def test_what_cannot_be_inferred_stops_naming_the_key_and_writes_nothing(tmp_path):
    build("nonsquare-given", tmp_path)
    frame = pd.read_csv(tmp_path / "train.csv")  # noise: no shape of 60 pixels reads smooth, and none is a square
    pixels = [c for c in frame.columns if c.startswith("pixel")]
    frame[pixels] = np.random.default_rng(0).integers(0, 256, (len(frame), len(pixels)))
    frame.to_csv(tmp_path / "train.csv", index=False)
    with pytest.raises(
        KitError, match=r"60 pixels fit 10 shapes; .*: no shape reads smooth .* none is a square: set keys image.height"
    ):
        infer_competition(tmp_path)
    assert not (tmp_path / "competition.toml").exists()
    frame = pd.read_csv(tmp_path / "train.csv").rename(columns={"label": "answer"})
    frame.insert(1, "other", 0)
    frame.to_csv(tmp_path / "train.csv", index=False)
    with pytest.raises(KitError, match=r"cannot tell the label column: set key columns.label"):
        infer_competition(tmp_path, settings={"image.height": 6, "image.width": 10})
    spec = infer_competition(
        tmp_path,
        settings={"image.height": 6, "image.width": 10, "columns.label": "answer", "columns.ignore": ["other"]},
    ).competition
    assert spec.label_column == "answer" and spec.image_shape == (6, 10, 1)


@pytest.mark.slow
def test_an_existing_spec_is_kept_unless_forced(tmp_path):
    build("digit-recognizer", tmp_path)
    first = infer_competition(tmp_path)
    again = infer_competition(tmp_path)
    assert again.notes[-1].endswith("already says this; left as it is")
    with pytest.raises(KitError, match=r"competition.toml exists with other settings \(.*\); pass force=True$"):
        infer_competition(tmp_path, name="other")
    assert load_spec(first.path).name == tmp_path.name
    assert infer_competition(tmp_path, name="other", force=True).competition.name == "other"
    assert load_spec(first.path).name == "other"


def test_a_wrong_class_list_stops_at_load_naming_the_key(tmp_path):
    build("rgb-gaps", tmp_path)
    path = infer_competition(tmp_path).path
    path.write_text(path.read_text().replace("classes = [\n    0,", "classes = [\n"))
    with pytest.raises(
        KitError,
        match=r"line \d+, column label: 0 is not a class \(classes 1–8, 10\); if it is one, add "
        r"it to key classes in .*competition.toml",
    ):
        load_train(tmp_path, as_competition(None, tmp_path))


def test_the_cli_prints_the_notes_and_the_path(tmp_path):
    app = typer.Typer()
    competition_cli.register(app)
    build("nonsquare-given", tmp_path)
    result = CliRunner().invoke(
        app, ["init", "--data", str(tmp_path), "--set", "image.height=6", "--set", "image.width=10"]
    )
    assert result.exit_code == 0, result.output
    assert "• given: image.height = 6, image.width = 10" in result.output
    assert f"wrote {tmp_path / 'competition.toml'}" in result.output.replace("\n", "")
    result = CliRunner().invoke(app, ["init", "--data", str(tmp_path), "--set", "novalue"])
    assert isinstance(result.exception, KitError) and "must be KEY=VALUE" in str(result.exception)
