"""Competition specs: shipped TOML files, user specs (./competitions, beside the data), one-line validation errors."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from kit.competitions import (
    COMPETITIONS,
    DEFAULT_COMPETITION,
    as_competition,
    class_values_of,
    find_competition_for,
    get_competition,
    known_competitions,
    load_spec,
    parse_spec,
    spec_toml,
)
from kit.data import load_extra, load_test, load_train, write_demo_data
from kit.errors import KitError

SHIPPED = {"digit-recognizer", "Kannada-MNIST", "fashion-mnist", "sign-language-mnist", "fer2013"}


def test_shipped_specs_load_and_keep_the_attributes_other_modules_use():
    assert set(COMPETITIONS) >= SHIPPED and set(known_competitions()) >= SHIPPED
    digits = get_competition(DEFAULT_COMPETITION)
    assert (digits.image_shape, digits.classes, digits.label_column, digits.first_id) == ((28, 28, 1), 10, "label", 1)
    assert (digits.train_file, digits.test_file, digits.sample_submission_file) == (
        "train.csv",
        "test.csv",
        "sample_submission.csv",
    )
    assert digits.submission_columns == ("ImageId", "Label") and digits.test_id_column is None
    assert (
        digits.pixels == 784
        and digits.pixel_columns[:2] == ["pixel0", "pixel1"]
        and digits.class_values == tuple(range(10))
    )
    kannada = COMPETITIONS["Kannada-MNIST"]
    assert kannada.test_id_column == "id" and kannada.extra_files == ("Dig-MNIST.csv",)
    signs = get_competition("sign-language-mnist")
    assert signs.classes == 24 and 9 not in signs.class_values and signs.describe_classes() == "0–8, 10–24"
    assert signs.pixel_columns[0] == "pixel1" and signs.test_labels
    fer = get_competition("fer2013")
    assert fer.pixel_layout.kind == "string" and fer.image_shape == (48, 48, 1) and fer.ignore_columns == ("Usage",)


def test_importing_the_specs_reads_no_files_and_imports_no_heavy_modules():
    code = (
        "import sys, kit.competitions._spec as c; "
        "heavy = [m for m in ('numpy', 'pydantic', 'pandas', 'tensorflow') if m in sys.modules];"
        "print(heavy)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_class_values_map_indices_back():
    signs = get_competition("sign-language-mnist")
    assert class_values_of(signs, np.array([0, 8, 9, 23])).tolist() == [0, 8, 10, 24]
    clothes = replace(signs, class_values=("T-shirt", "cat"))
    assert clothes.class_values_of(np.array([1, 0])).tolist() == ["cat", "T-shirt"]


def test_a_user_spec_shadows_a_shipped_one(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "competitions").mkdir()
    (tmp_path / "competitions" / "digit-recognizer.toml").write_text("classes = 3\n[image]\nheight = 8\nwidth = 8\n")
    mine = get_competition("digit-recognizer")
    assert (
        mine.classes == 3
        and mine.image_shape == (8, 8, 1)
        and mine.source.endswith("competitions/digit-recognizer.toml")
    )
    (tmp_path / "competitions" / "mine.toml").write_text('name = "other"\n')
    with pytest.raises(KitError, match=r"mine.toml: key name: 'other' differs from the file name"):
        get_competition("mine")


def test_unknown_competition_lists_the_known_ones():
    with pytest.raises(
        KitError,
        match=r"^competition: must be one of .*digit-recognizer.*competition.toml beside the data\), got 'nope'$",
    ):
        get_competition("nope")


def test_the_spec_beside_the_data_wins_for_that_folder(tmp_path):
    folder = tmp_path / "faces"
    folder.mkdir()
    assert find_competition_for(folder) is None
    with pytest.raises(KitError, match=r"faces: no competition.toml and not digit-recognizer's files .* `kit init"):
        as_competition(None, folder)  # a folder of other files is not read as the default competition
    assert as_competition(DEFAULT_COMPETITION, folder).name == DEFAULT_COMPETITION  # unless named
    (folder / "competition.toml").write_text(
        'classes = 7\n[pixels]\nstring = "pixels"\n[image]\nheight = 12\nwidth = 12\n'
    )
    spec = as_competition(None, folder)
    assert spec.name == "faces" and spec.classes == 7 and spec.image_shape == (12, 12, 1)
    assert as_competition(DEFAULT_COMPETITION, folder) == spec  # the default name gives way to the folder's spec
    assert find_competition_for(folder) == spec
    assert as_competition(str(folder / "competition.toml")).name == "faces"
    with pytest.raises(KitError, match=r"competition.toml describes competition 'faces', not 'fer2013'"):
        as_competition("fer2013", folder)
    assert as_competition(spec) is spec
    named = tmp_path / "Kannada-MNIST"
    named.mkdir()
    assert as_competition(None, named).name == "Kannada-MNIST"  # a folder named like a spec


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[image]\ndepth = 3\n", r"key image.depth: unknown key"),
        ("colour = true\n", r"key colour: unknown key"),
        ("classes = 1\n", r"key classes: expected a count"),
        ('classes = [1, "a"]\n', r"key classes: expected a count"),
        ("classes = [0, 1, 1]\n", r"key classes: 1 is listed twice"),
        ("[image]\nheight = 0\n", r"key image.height: Input should be greater than or equal to 1"),
        ('[image]\nheight = "28"\n', r"key image.height: Input should be a valid integer"),
        ('metric = "auc"\n', r"key metric: unknown metric 'auc'; one of accuracy, log_loss"),
        ('[pixels]\nprefix = "p"\nstring = "x"\n', r"key pixels: choose one of prefix, pattern, columns, string, rest"),
        ('[pixels]\ncolumns = ["a", "b"]\n', r"key pixels.columns: 2 columns do not fit image 28×28×1 = 784 pixels"),
        ('[pixels]\npattern = "p{row}"\n', r"key pixels.pattern: 'p\{row\}' needs \{i\} or both \{row\} and \{col\}"),
        ('[pixels]\ncolumns = ["label"]\n[image]\nheight = 1\nwidth = 1\n', r"key pixels: .*also the label"),
        ('[columns]\nsubmission = ["id"]\n', r"key columns.submission: List should have at least 2 items"),
        ("classes = \n", r"invalid TOML"),
    ],
)
def test_spec_errors_name_the_file_and_the_key(tmp_path, text, message):
    path = tmp_path / "competition.toml"
    path.write_text(text)
    with pytest.raises(KitError, match=message) as error:
        load_spec(path)
    assert str(error.value).startswith(str(path)) and "\n" not in str(error.value)


def test_spec_toml_round_trips():
    for competition in COMPETITIONS.values():
        text = spec_toml(competition, header="a header")
        assert text.startswith("# a header\n")
        import tomllib

        again = parse_spec(tomllib.loads(text), competition.source, "unused")
        assert replace(again, description="") == replace(competition, description="")


def test_extra_labelled_files_load(tmp_path):
    kannada = get_competition("Kannada-MNIST")
    folder = write_demo_data(tmp_path, kannada, test_size=30, rows=100)
    extra = load_extra(folder, kannada)
    assert list(extra) == ["Dig-MNIST.csv"] and len(extra["Dig-MNIST.csv"]) == 30
    assert extra["Dig-MNIST.csv"].labels.max() <= 9


def test_spec_values_that_do_not_fit_the_data_name_the_key(tmp_path):
    digits = get_competition(DEFAULT_COMPETITION)
    write_demo_data(tmp_path, replace(digits, image_shape=(8, 8, 3)), test_size=20, rows=80)
    with pytest.raises(
        KitError,
        match=r"missing column pixel192 and 591 more.*the file has 192 pixel columns but image "
        r"28×28×1 is 784: set image.height, image.width, image.channels in .*digit-recognizer.toml",
    ):
        load_train(tmp_path, digits)
    with pytest.raises(KitError, match=r"unexpected column 'pixel64'.*the file has 192 pixel columns but image 8×8×1"):
        load_train(tmp_path, replace(digits, image_shape=(8, 8, 1), source="mine.toml"))
    short = replace(digits, image_shape=(8, 8, 3), class_values=(0, 1, 2, 3, 4, 5, 6, 7, 8), source="mine.toml")
    with pytest.raises(
        KitError,
        match=r"line \d+, column label: 9 is not a class \(integers 0–8\); if it is one, add it to "
        r"key classes in mine.toml",
    ):
        load_train(tmp_path, short)
    gapped = replace(short, class_values=(0, 1, 2, 3, 4, 5, 6, 7, 8, 10))
    with pytest.raises(KitError, match=r"9 is not a class \(classes 0–8, 10\); if it is one, add it to key classes"):
        load_train(tmp_path, gapped)


def test_rest_layout_takes_every_other_column(tmp_path):
    digits = replace(get_competition(DEFAULT_COMPETITION), image_shape=(4, 4, 1))
    frame = pd.DataFrame(np.arange(3 * 16).reshape(3, 16) % 256, columns=[f"c{i}x" for i in range(16)])
    frame.insert(3, "label", [0, 1, 2])
    frame.to_csv(tmp_path / "train.csv", index=False)
    rest = replace(digits, pixel_layout=replace(digits.pixel_layout, kind="rest"))
    train = load_train(tmp_path, rest)
    assert train.images.shape == (3, 4, 4, 1) and train.images[1, 0, 0, 0] == 16 and train.labels.tolist() == [0, 1, 2]
    with pytest.raises(KitError, match=r"16 pixel columns .* but the image 5×5×1 needs 25: set image.height"):
        load_train(tmp_path, replace(rest, image_shape=(5, 5, 1)))
    frame.drop(columns=["label"]).to_csv(tmp_path / "test.csv", index=False)
    assert load_test(tmp_path, rest).ids.tolist() == [1, 2, 3]
