"""`kit init` on a pixel CSV whose pixel count fits several shapes: 768 values are 24×32 grey, 16×16 RGB stored
channels last or channels first, and more. The shape is chosen by how smooth the pixels read in each, the note lists
the candidates with their scores, partial settings keep the rest inferred, and a re-run says one thing."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import typer
from scipy.ndimage import gaussian_filter
from typer.testing import CliRunner

from kit.cli import competition as competition_cli
from kit.competitions import get_competition, load_spec
from kit.data import infer_competition, load_train, write_demo_data
from kit.data._infershape import Shape, candidates, smoothness
from kit.errors import KitError

# (height, width, channels), order: three readings of 768 values per row
THREE = {"grey": ((24, 32, 1), "hwc"), "hwc": ((16, 16, 3), "hwc"), "chw": ((16, 16, 3), "chw")}
SHAPE_NOTE = {"grey": "24×32×1", "hwc": "16×16×3", "chw": "3×16×16 (channels first)"}


def _digits(folder: Path, layout: str) -> Path:
    """Real handwritten digits (scikit-learn's, upscaled, colour ones tinted per channel) stored in ``layout``."""
    shape, order = THREE[layout]
    spec = replace(get_competition("digit-recognizer"), image_shape=shape, channel_order=order)
    write_demo_data(folder, spec, test_size=10, rows=50)
    return folder


def _fields(folder: Path, layout: str, rows: int = 40, smooth: float = 2.0) -> Path:
    """Smooth random fields (Gaussian blur of noise; colour ones a shared field plus a little of each channel's own,
    as real colour channels go together) stored in ``layout``, as train.csv and test.csv of 768 pixel columns."""
    (height, width, channels), order = THREE[layout]
    rng = np.random.default_rng(1)

    def field(count: int) -> np.ndarray:
        blurred = gaussian_filter(rng.normal(size=(count, height, width)), sigma=(0, smooth, smooth))
        return blurred / blurred.std()

    images = field(rows)[..., None] + 0.3 * np.stack([field(rows) for _ in range(channels)], axis=-1)
    images = np.clip(128 + 40 * images, 0, 255).astype(np.uint8)
    if order == "chw":
        images = images.transpose(0, 3, 1, 2)
    pixels = pd.DataFrame(images.reshape(rows, -1), columns=[f"pixel{i}" for i in range(768)])
    folder.mkdir(parents=True)
    pixels.assign(label=np.arange(rows) % 2)[["label", *pixels.columns]].to_csv(folder / "train.csv", index=False)
    pixels.head(10).to_csv(folder / "test.csv", index=False)
    return folder


@pytest.mark.parametrize("make", [_digits, _fields], ids=["digits", "fields"])
@pytest.mark.parametrize("layout", THREE)
def test_the_smoothest_reading_of_768_pixels_is_chosen(tmp_path, make, layout):
    folder = make(tmp_path / layout, layout)
    inferred = infer_competition(folder)
    spec = inferred.competition
    assert (spec.image_shape, spec.channel_order) == THREE[layout]
    note = next(note for note in inferred.notes if note.startswith("image: "))
    assert note.startswith(f"image: {SHAPE_NOTE[layout]} — 768 pixels fit 10 shapes; neighbouring-pixel correlation")
    if make is _digits:
        assert f"{SHAPE_NOTE[layout]} is clearly the smoothest" in note
    else:  # fields read as colour and as their grey twin (the channels side by side) score close: the convention
        assert (
            f"{SHAPE_NOTE[layout]} is clearly the smoothest" in note or f"the conventional {SHAPE_NOTE[layout]}" in note
        )
    others = [name for key, name in SHAPE_NOTE.items() if key != layout]
    assert all(name in note for name in others)  # the other candidates are listed, with their scores
    assert "--set image.height=H --set image.width=W --set image.channels=C --set image.order=hwc|chw" in note
    train = load_train(folder, spec)  # read back in the chosen layout: the images are as smooth as written
    assert train.images.shape[1:] == THREE[layout][0]


def test_candidates_and_scores():
    assert [str(shape) for shape in candidates(768, {})] == [
        "16×16×3",
        "3×16×16 (channels first)",
        "24×32×1",
        "32×24×1",
        "16×48×1",
        "48×16×1",
        "8×32×3",
        "32×8×3",
        "3×8×32 (channels first)",
        "3×32×8 (channels first)",
    ]  # the conventional first: squares, the least elongated, channels last, grey, wide before tall
    assert candidates(768, {"order": "chw", "height": 16}) == [Shape(16, 16, 3, "chw")]
    assert candidates(60, {"height": 6, "width": 10}) == [Shape(6, 10, 1)]
    assert candidates(24, {"width": 24}) == [Shape(1, 24, 1)]  # implausible, but the one that fits what was given
    assert candidates(768, {"height": 7}) == []
    rows = np.random.default_rng(0).normal(size=(20, 768))
    assert abs(smoothness(rows, Shape(16, 16, 3))) < 0.1


def test_noise_takes_the_conventional_square_and_says_why(tmp_path):
    folder = _fields(tmp_path / "noise", "hwc", smooth=0.0)
    frame = pd.read_csv(folder / "train.csv")
    frame.iloc[:, 1:] = np.random.default_rng(2).integers(0, 256, (len(frame), 768))
    frame.to_csv(folder / "train.csv", index=False)
    inferred = infer_competition(folder, write=False)
    assert inferred.competition.image_shape == (16, 16, 3) and inferred.competition.channel_order == "hwc"
    note = next(note for note in inferred.notes if note.startswith("image: "))
    assert "768 pixels fit 10 shapes" in note and "no shape reads smooth (best " in note
    assert "taking the conventional 16×16×3" in note


def test_a_partial_setting_keeps_the_rest_inferred(tmp_path):
    folder = _digits(tmp_path / "chw", "chw")
    spec = infer_competition(folder, settings={"image.order": "chw"}).competition
    assert (spec.image_shape, spec.channel_order) == ((16, 16, 3), "chw")  # not the 28×28 default
    spec = infer_competition(folder, write=False, settings={"image.height": 16}).competition
    assert (spec.image_shape, spec.channel_order) == ((16, 16, 3), "chw")
    notes = infer_competition(folder, write=False, settings={"image.channels": 1}).notes
    assert any(note.startswith("image: 48×16×1 — 768 pixels with image.channels = 1 fit 4 shapes") for note in notes)
    with pytest.raises(KitError, match=r"768 pixel values per image fit no shape with image.height = 7: set keys"):
        infer_competition(folder, settings={"image.height": 7})


def _init(folder: Path, *sets: str) -> str:
    app = typer.Typer()
    competition_cli.register(app)
    arguments = ["init", "--data", str(folder), *(part for item in sets for part in ("--set", item))]
    result = CliRunner().invoke(app, arguments, terminal_width=400)
    assert result.exit_code == 0, result.output
    return " ".join(result.output.split())  # as one line: the console wraps long ones


def test_the_cli_keeps_the_inferred_shape_and_says_one_thing_when_nothing_changes(tmp_path):
    folder = _digits(tmp_path / "chw", "chw")
    output = _init(folder, "image.order=chw")
    assert "• image: 3×16×16 (channels first) — 768 pixels with image.order = 'chw' fit 3 shapes" in output
    assert "wrote " in output and "already says this" not in output
    spec = load_spec(folder / "competition.toml")
    assert (spec.image_shape, spec.channel_order) == ((16, 16, 3), "chw")
    for sets in [(), ("image.height=16", "image.width=16", "image.channels=3", "image.order=chw")]:
        output = _init(folder, *sets)
        assert output.count("already says this; left as it is") == 1 and "wrote " not in output
