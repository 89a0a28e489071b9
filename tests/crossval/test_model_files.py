"""A fold's ``model.keras`` that is damaged, crafted or of another shape ends as one line naming the file and what is
wrong, through every reader of fold models: ``load_fold_models``, ``load_run(...).models()``, ``kit.infer``,
test-time augmentation and ``kit predict --tta``."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from fake_runs import SHAPE, model_run, one_line, record_checksums, tiny_model, tta_run

from conftest import tiny_recipe_toml
from kit.crossval import RunFolder, infer, load_fold_models, load_run, run_cv
from kit.ensemble import load_member, with_tta
from kit.errors import KitError
from kit.recipes import load_recipe
from kit.utils import sha256_of

KIT = "import sys; from kit.cli import main; sys.argv[0] = 'kit'; main()"
IMAGES = np.random.default_rng(0).uniform(0, 255, (4, *SHAPE)).astype(np.float32)


def rewritten(source: Path, target: Path, edit: Callable[[str, bytes], bytes | None]) -> None:
    """Copy the .keras archive ``source`` to ``target`` with each member's bytes passed through ``edit`` (None drops
    the member): a crafted model file."""
    with zipfile.ZipFile(source) as archive, zipfile.ZipFile(target, "w") as out:
        for name in archive.namelist():
            data = edit(name, archive.read(name))
            if data is not None:
                out.writestr(name, data)


def in_config(old: bytes, new: bytes) -> Callable[[str, bytes], bytes | None]:
    return lambda name, data: data.replace(old, new) if name == "config.json" else data


def lambda_model():
    import keras

    inputs = keras.Input(SHAPE)
    x = keras.layers.Lambda(lambda t: t * 2)(keras.layers.Flatten()(inputs))
    return keras.Model(inputs, keras.layers.Dense(3, activation="softmax")(x))


def two_outputs():
    import keras

    inputs = keras.Input(SHAPE)
    x = keras.layers.Flatten()(inputs)
    return keras.Model(inputs, [keras.layers.Dense(3, activation="softmax")(x), keras.layers.Dense(3)(x)])


def damage(path: Path, how: str) -> None:
    """Replace the good model file ``path`` by a bad one of kind ``how``."""
    good = path.read_bytes()
    crafted = path.with_name("crafted.keras")
    if how == "truncated":
        path.write_bytes(good[: len(good) // 2])
    elif how == "empty":
        path.write_bytes(b"")
    elif how == "text":
        path.write_text("this is not a model\n")
    elif how == "no config":
        rewritten(path, crafted, lambda name, data: None if name == "config.json" else data)
    elif how == "no weights":
        rewritten(path, crafted, lambda name, data: None if name.endswith(".h5") else data)
    elif how == "unknown activation":
        rewritten(path, crafted, in_config(b'"softmax"', b'"no_such_activation"'))
    elif how == "unknown layer":
        rewritten(path, crafted, in_config(b'"Dense"', b'"NoSuchLayer"'))
    if crafted.exists():
        crafted.replace(path)


CASES = {
    "truncated": r"damaged \(not a \.keras archive: truncated, or another kind of file\)",
    "empty": r"empty file",
    "text": r"damaged \(not a \.keras archive",
    "no config": r"damaged \(a zip archive without a Keras model's config\.json\)",
    "no weights": r"not a loadable Keras model \(Expected a model\.weights\.h5",
    "unknown activation": r"not a loadable Keras model \(Could not interpret activation function .*no_such_activation",
    "unknown layer": r"not a loadable Keras model \(Could not deserialize .*NoSuchLayer",
}


@pytest.fixture(scope="module")
def good_model_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("good") / "model.keras"
    tiny_model().save(path)
    return path


def bad_run(folder: Path, good: Path, how: str) -> Path:
    model_run(folder, {1: tiny_model()}, checksums=False)
    shutil.copy(good, folder / "fold-1" / "model.keras")
    damage(folder / "fold-1" / "model.keras", how)
    return folder


@pytest.mark.parametrize("how", list(CASES))
def test_a_damaged_or_crafted_model_file_is_one_line(tmp_path, good_model_file, how):
    folder = bad_run(tmp_path / "run", good_model_file, how)
    path = folder / "fold-1" / "model.keras"
    with pytest.raises(KitError, match=CASES[how]) as error:
        load_fold_models(RunFolder(folder))
    assert one_line(error, path).endswith("rerun its `kit cv --force`")


@pytest.mark.parametrize("how", ["truncated", "unknown activation"])
def test_a_changed_model_file_of_a_run_with_checksums_is_not_the_file_it_wrote(tmp_path, good_model_file, how):
    folder = model_run(tmp_path / "run", {1: tiny_model()})
    damage(folder / "fold-1" / "model.keras", how)
    with pytest.raises(KitError, match="not the file run") as error:
        load_fold_models(RunFolder(folder))
    one_line(error, folder / "fold-1" / "model.keras")


@pytest.mark.parametrize(
    ("model", "expected"),
    [
        (lambda: tiny_model(classes=5), r"outputs 5 values per image, the run has 3 classes"),
        (lambda: tiny_model(shape=(10, 10, 3)), r"takes images of shape 10×10×3, the run's images are 8×8×1"),
        (lambda: tiny_model(activation="sigmoid"), r"not end in a softmax \(.* activation sigmoid: no"),
        (lambda_model, r"refused: it holds Python code \(a Lambda layer or a function\), which kit never loads"),
        (two_outputs, r"has 1 inputs and 2 outputs, a fold model one of each"),
    ],
    ids=["five classes", "input size", "sigmoid", "lambda", "two outputs"],
)
def test_a_model_of_another_kind_is_one_line(tmp_path, model, expected):
    folder = model_run(tmp_path / "run", {1: tiny_model(), 2: model()})
    with pytest.raises(KitError, match=expected) as error:
        load_fold_models(RunFolder(folder))
    one_line(error, folder / "fold-2" / "model.keras")


def test_a_model_file_that_cannot_be_read_is_one_line(tmp_path, good_model_file, monkeypatch):
    folder = bad_run(tmp_path / "run", good_model_file, "intact")
    assert len(load_fold_models(RunFolder(folder))) == 1

    def denied(path):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(zipfile, "is_zipfile", denied)
    with pytest.raises(KitError, match=r"model.keras: cannot read it \(Permission denied\)") as error:
        load_fold_models(RunFolder(folder))
    one_line(error, folder / "fold-1" / "model.keras")
    with pytest.raises(KitError, match=r"cannot read it \(Is a directory\)"):
        sha256_of(folder / "fold-1")


def test_a_folder_in_place_of_the_model_file_is_one_line(tmp_path):
    folder = model_run(tmp_path / "run", {1: tiny_model()}, checksums=False)
    (folder / "fold-1" / "model.keras").unlink()
    (folder / "fold-1" / "model.keras").mkdir()
    with pytest.raises(KitError, match=r"model.keras: not a file; the fold models of run .* are incomplete") as error:
        load_fold_models(RunFolder(folder))
    one_line(error, folder / "fold-1" / "model.keras")


@pytest.mark.parametrize("how", ["truncated", "unknown layer"])
def test_every_reader_of_fold_models_gives_the_one_line(tmp_path, good_model_file, how):
    folder = bad_run(tmp_path / "run", good_model_file, how)
    path = folder / "fold-1" / "model.keras"
    for read in (lambda: load_run(folder).models(), lambda: infer(folder, images=IMAGES)):
        with pytest.raises(KitError, match=CASES[how]) as error:
            read()
        one_line(error, path)
    tta = tta_run(tmp_path / "tta", tiny_model())
    shutil.copy(path, tta / "fold-1" / "model.keras")
    record_checksums(tta)  # the bad file as the run's own: its kind is what is refused
    with pytest.raises(KitError, match=CASES[how]) as error:
        with_tta(load_member(tta), IMAGES, IMAGES[:2], copies=1)
    one_line(error, tta / "fold-1" / "model.keras")


def test_good_models_still_load_and_predict_through_every_reader(tmp_path):
    models = {1: tiny_model(), 2: tiny_model()}
    folder = model_run(tmp_path / "run", models)
    expected = np.mean([model.predict_on_batch(IMAGES) for model in models.values()], axis=0)
    assert len(load_run(folder).models()) == 2
    assert infer(folder, images=IMAGES, engine="keras").softmax == pytest.approx(expected, abs=1e-6)


@pytest.fixture(scope="module")
def real_run(tmp_path_factory, tiny_dir) -> Path:
    """A tiny real `kit cv` run (2 folds, 1 epoch, 200 images, a recipe that augments)."""
    folder = tmp_path_factory.mktemp("real")
    (folder / "tiny.toml").write_text(tiny_recipe_toml("model files"))
    run_cv(load_recipe(str(folder / "tiny.toml")), tiny_dir, out=folder / "tiny")
    return folder / "tiny"


@pytest.mark.slow
def test_kit_predict_tta_with_a_five_class_model_is_one_line(real_run, tmp_path):
    import keras

    run = tmp_path / "run"
    shutil.copytree(real_run, run)
    inputs = keras.Input((28, 28, 1))
    five = keras.Model(inputs, keras.layers.Dense(5, activation="softmax")(keras.layers.Flatten()(inputs)))
    five.save(run / "fold-2" / "model.keras")
    done = subprocess.run(
        [sys.executable, "-c", KIT, "predict", str(run), "--tta", "1", "--out", str(tmp_path / "out")],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    lines = [line for line in done.stderr.splitlines() if line.startswith("error")]
    assert done.returncode != 0 and len(lines) == 1, done.stderr
    assert f"{run / 'fold-2' / 'model.keras'}: " in lines[0]
    assert "Traceback" not in done.stderr
