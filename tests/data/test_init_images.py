"""`kit init` on image-file competitions: each generated Kaggle layout inferred as its careful hand-written spec, the
notes saying why, the settings that override it, and the cases it must refuse with one line naming the key."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
import typer
from image_data import DISEASES, LAYOUTS, build
from PIL import Image
from typer.testing import CliRunner

from kit.cli import competition as competition_cli
from kit.competitions import load_spec, parse_spec
from kit.data import infer_competition
from kit.data._inferimages import image_size
from kit.errors import KitError

# where the default metric (by submission kind and task) is not the competition's own
DEFAULT_METRIC = {"seedlings": "accuracy", "dogs-vs-cats": "roc_auc"}


def _hand(built):
    return parse_spec(built.spec, "hand", built.name)


@pytest.mark.parametrize("layout", LAYOUTS)
def test_each_layout_is_inferred_as_its_hand_written_spec(tmp_path, layout):
    built = build(layout, tmp_path / layout)
    inferred = infer_competition(built.folder)
    spec, hand = load_spec(inferred.path), _hand(built)
    assert spec == inferred.competition
    assert spec.metric == DEFAULT_METRIC.get(layout, hand.metric)
    # everything else as the hand spec says: layout, folders, pattern, test ids, classes (in the submission's order),
    # task, label / labels / group / id columns, submission kind, k and columns, files, and the image size, which the
    # rule (median 32×32 of colour images, multiples of 8, at most 96) gives as the hand spec's 32×32×3
    assert replace(spec, source="", metric=hand.metric) == replace(hand, source="")
    assert spec.image_shape == (32, 32, 3)
    notes = inferred.notes
    assert all("\n" not in note for note in notes)
    assert notes[0].startswith(f"layout: {hand.images.layout} — ")
    assert any(note.startswith(f"task: {hand.task} — ") for note in notes)
    assert any(note.startswith(f"submission: {hand.submission_kind} — ") for note in notes)
    assert any(note.startswith(f"metric: {spec.metric} — ") for note in notes)
    assert notes[-1] == "checked: 120 train and 30 test images listed (decoded at 32×32×3 on first use)"


def test_notes_say_what_was_found_and_why(tmp_path):
    notes = infer_competition(build("seedlings", tmp_path / "s").folder, write=False).notes
    assert "layout: folders — train/ holds 10 folders of images (one per class)" in notes
    assert notes[-2].startswith("image: 32×32×3 — median size of 40 sampled images 32×32, rounded to multiples of 8")
    notes = infer_competition(build("aptos", tmp_path / "a").folder, write=False).notes
    assert (
        "layout: csv — column 'id_code' of train.csv names the images of train_images/ with suffix .png "
        "(pattern '{id_code}.png')"
    ) in notes
    assert "task: ordinal — integer grades 0–4 in column 'diagnosis', named like a grade" in notes
    assert "metric: qwk — the default for ordinal grades; set the competition's own with --set metric=…" in notes
    notes = infer_competition(build("pathology", tmp_path / "p").folder, write=False).notes
    assert "test images: the 30 rows of test.csv name them in images/ (beside the training images)" in notes
    assert any(
        note.startswith("group column 'patient_id' (named like a patient, 40 groups of 120 rows)") for note in notes
    )
    assert not (tmp_path / "p" / "competition.toml").exists()


def test_the_cli_writes_the_spec_and_settings_win(tmp_path):
    app = typer.Typer()
    competition_cli.register(app)
    built = build("seedlings", tmp_path / "seedlings")
    result = CliRunner().invoke(
        app, ["init", "--data", str(built.folder), "--set", "metric=micro_f1", "--set", "images.resize=pad"]
    )
    assert result.exit_code == 0, result.output
    assert "• layout: folders — train/ holds 10 folders" in result.output
    assert "• given: metric = 'micro_f1', images.resize = 'pad'" in result.output
    assert f"wrote {built.folder / 'competition.toml'}" in result.output.replace("\n", "")
    spec = load_spec(built.folder / "competition.toml")
    assert spec.images.resize == "pad" and spec.metric == "micro_f1"
    assert replace(spec, source="", images=replace(spec.images, resize="squash")) == replace(_hand(built), source="")


def test_settings_steer_the_inference(tmp_path):
    folder = build("cactus", tmp_path).folder
    spec = infer_competition(folder, write=False, settings={"submission.kind": "probabilities"}).competition
    assert spec.submission_kind == "probabilities" and spec.submission_columns == ("id", "0", "1")
    assert spec.metric == "log_loss"
    settings = {"task": "single", "submission.kind": "label", "image.height": 48, "images.pattern": "{id}"}
    spec = infer_competition(folder, write=False, settings=settings).competition
    assert (spec.task, spec.submission_kind, spec.metric) == ("single", "label", "accuracy")
    assert spec.image_shape == (48, 32, 3) and spec.images.pattern == "{id}"


def test_space_separated_labels_are_multilabel(tmp_path):
    folder = build("pathology", tmp_path).folder
    train = pd.read_csv(folder / "train.csv")
    tags = [" ".join(d for d in DISEASES if row[d]) for _, row in train.iterrows()]
    pd.DataFrame({"image_id": train["image_id"], "tags": tags}).to_csv(folder / "train.csv", index=False)
    sample = pd.read_csv(folder / "sample_submission.csv")
    pd.DataFrame({"image_id": sample["image_id"], "tags": "healthy rust"}).to_csv(
        folder / "sample_submission.csv", index=False
    )
    inferred = infer_competition(folder, write=False)
    spec = inferred.competition
    assert (spec.task, spec.label_column, spec.label_columns, spec.label_separator) == ("multilabel", "tags", (), " ")
    assert spec.class_values == tuple(sorted(DISEASES)) and spec.submission_kind == "label"
    assert spec.metric == "micro_f1" and spec.submission_columns == ("image_id", "tags")
    assert "column 'tags' holds space-separated labels: 4 labels → task multilabel" in inferred.notes


def test_what_cannot_be_told_stops_naming_the_key_and_writes_nothing(tmp_path):
    folder = build("cactus", tmp_path / "c").folder
    train = pd.read_csv(folder / "train.csv")
    train["quality"] = np.where(np.arange(len(train)) % 3, "good", "poor")  # a second column of repeated values
    train.to_csv(folder / "train.csv", index=False)
    sample = pd.read_csv(folder / "sample_submission.csv")
    sample.rename(columns={"has_cactus": "prediction"}).to_csv(folder / "sample_submission.csv", index=False)
    with pytest.raises(KitError, match=r"cannot tell the label column \(candidates: has_cactus, quality\): set key "
                                       r"columns.label$"):  # fmt: skip
        infer_competition(folder)
    assert not (folder / "competition.toml").exists()
    assert infer_competition(folder, settings={"columns.label": "has_cactus"}).competition.label_column == "has_cactus"
    folder = build("dogs-vs-cats", tmp_path / "d").folder
    (folder / "test").rename(folder / "holdout")
    with pytest.raises(KitError, match=r"no folder of test images \(named like test\) found: set key images.test$"):
        infer_competition(folder)
    assert infer_competition(folder, settings={"images.test": "holdout"}).competition.images.test == "holdout"
    for path in sorted((folder / "train").iterdir())[:2]:  # two names no longer {label}.{n}.jpg
        path.rename(path.with_name(path.name.replace(".", "-", 1)))
    with pytest.raises(KitError, match=r"not how the images get their labels .*: set key images.layout$"):
        infer_competition(folder, settings={"images.test": "holdout"})


def test_the_image_size_rule(tmp_path):
    paths = []
    for index, size in enumerate([(300, 200), (310, 190), (290, 210)]):  # width × height
        grey = np.full((size[1], size[0], 3), 40 + index, dtype=np.uint8)  # equal red, green and blue
        paths.append(tmp_path / f"{index}.png")
        Image.fromarray(grey).save(paths[-1])
    table, note = image_size(paths)
    assert table == {"height": 64, "width": 96, "channels": 1}  # 200×300 scaled to 64×96
    assert note.startswith("image: 64×96×1 — median size of 3 sampled images 200×300") and "all grey" in note
    Image.fromarray(np.zeros((50, 70, 3), dtype=np.uint8) + np.uint8([255, 0, 0])).save(paths[0])
    assert image_size(paths[:1])[0] == {"height": 48, "width": 72, "channels": 3}
