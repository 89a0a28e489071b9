"""Pretrained backbones in kit's models: every registered application builds offline, saves its weights and loads
them back through a recipe (the path a run takes); ImageNet weights come from the Keras cache and, without a network,
fail before training with one line saying where to put the file; a file of another backbone, a missing file and a run
without a backbone are one line; ``run:PATH`` transfers a finished run's backbone; the backbone stays frozen (its
BatchNorm too) for ``freeze_epochs``, then trains at ``lr_factor`` × the head's rate; a fit killed in the frozen or
the unfrozen phase resumes to the same bits."""

from __future__ import annotations

import json
import socket
import urllib.error
from pathlib import Path

import numpy as np
import pytest

from kit.data import load_train
from kit.errors import KitError
from kit.recipes import BACKBONES, BackboneSpec, parse_recipe

pytestmark = pytest.mark.slow  # builds Keras applications and trains

IDENTITY = {"fold": 1, "recipe": "backbone"}
SMALL = {"name": "MobileNetV3Small", "input_size": 32}  # the one trained here: 28×28 digits resized to 32×32
BIG = {"InceptionResNetV2", "ConvNeXtSmall", "EfficientNetV2S"}  # built once, never trained


class Interrupt(Exception):
    """Raised by a callback after an epoch's checkpoint, as a kill would end the fit."""


def recipe_of(backbone: dict, epochs: int = 1, **train):
    """A recipe of ``backbone`` with a dense 8 head, compiled without XLA (quicker to trace on a CPU)."""
    table = {
        "model": {"backbone": backbone, "dense": [{"units": 8}]},
        "train": {"epochs": epochs, "batch_size": 32, "jit_compile": False, **train},
        "augment": {"rotation": 10.0},
    }
    return parse_recipe(table, "backbone")


def one_line(error: pytest.ExceptionInfo) -> str:
    text = str(error.value)
    assert "\n" not in text
    return text


@pytest.fixture(scope="module")
def keras():
    from kit.utils import prepare_tensorflow

    prepare_tensorflow(None)
    import keras

    return keras


@pytest.fixture(scope="module")
def train(tiny_dir, competition):
    return load_train(tiny_dir, competition)


def find_backbone_weights(model) -> list:
    from kit.engine import find_backbone

    return find_backbone(model).weights


def backbone_weights(model) -> list[np.ndarray]:
    from kit.engine import find_backbone

    return [np.asarray(weight) for weight in find_backbone(model).get_weights()]


@pytest.mark.parametrize("name", list(BACKBONES))
def test_each_backbone_builds_offline_and_loads_its_saved_weights_through_a_recipe(keras, tmp_path, name):
    from kit.engine import ImageNetPreprocessing, ToRGB, build_model, find_backbone, load_weights_file

    info, side = BACKBONES[name], max(32, BACKBONES[name].min_size)
    shape = (side, side, 1)  # greyscale: widened to RGB inside the model
    first = build_model(recipe_of({"name": name}), shape, 3, seed=0)
    backbone = find_backbone(first)
    assert backbone.output_shape == (None, info.features) and backbone.count_params() == info.parameters
    assert first.count_params() == recipe_of({"name": name}).parameter_count(shape, 3)
    assert isinstance(first.layers[0], ToRGB)
    assert isinstance(first.layers[1], ImageNetPreprocessing) == (info.preprocessing != "builtin")
    names = [layer.name for layer in backbone.layers]
    assert all(any(n.startswith(info.layer_prefix + block) for n in names) for block in info.blocks), name
    path, saved = tmp_path / f"{name}.weights.h5", backbone_weights(first)
    backbone.save_weights(path)
    if name in BIG:  # built once: its weights cleared, then read back by the loader a recipe's build uses
        backbone.set_weights([np.zeros_like(weights) for weights in saved])
        load_weights_file(backbone, BackboneSpec(name=name, weights=str(path)), path)
        assert all(np.array_equal(a, b) for a, b in zip(saved, backbone_weights(first)))
        return
    again = build_model(recipe_of({"name": name, "weights": str(path)}), shape, 3, seed=1)
    assert all(np.array_equal(a, b) for a, b in zip(saved, backbone_weights(again)))
    head, head_again = first.layers[-2].get_weights()[0], again.layers[-2].get_weights()[0]
    assert not np.array_equal(head, head_again)  # the head is new (another seed)


@pytest.mark.parametrize("mode", ["caffe", "tf", "torch"])
def test_the_preprocessing_layer_is_keras_preprocess_input(keras, mode):
    from keras.applications.imagenet_utils import preprocess_input

    from kit.engine import ImageNetPreprocessing

    pixels = np.random.default_rng(0).uniform(0, 255, (2, 4, 4, 3)).astype(np.float32)
    layer = ImageNetPreprocessing(mode)
    assert np.allclose(layer(pixels), preprocess_input(pixels.copy(), mode=mode), atol=1e-5)
    assert ImageNetPreprocessing.from_config(layer.get_config()).mode == mode


def legacy_h5(keras, model, path: Path) -> None:
    """``model``'s weights in the applications' own (Keras 2) .h5 layout, as Keras' ImageNet files are."""
    import h5py
    from keras.src.legacy.saving.legacy_h5_format import save_weights_to_hdf5_group

    with h5py.File(path, "w") as file:
        save_weights_to_hdf5_group(file, model)


@pytest.mark.parametrize("name", ["MobileNetV3Small", "EfficientNetV2B0"])
def test_imagenet_offline_fails_before_training_saying_where_the_file_goes(keras, tmp_path, monkeypatch, name):
    import keras.src.backend.config as config
    import keras.src.utils.file_utils as file_utils

    from kit.engine import build_backbone, build_model, fetch_backbone

    home = tmp_path / "keras"
    home.mkdir()  # as importing Keras makes its home
    monkeypatch.setenv("KERAS_HOME", str(home))
    monkeypatch.setattr(config, "_KERAS_DIR", str(home))
    asked = []

    def offline(url, target, *args):
        asked.append(Path(target).name)
        raise urllib.error.URLError(socket.gaierror(-3, "Temporary failure in name resolution"))

    monkeypatch.setattr(file_utils, "urlretrieve", offline)
    cached = home / "models" / BACKBONES[name].imagenet_file
    recipe = recipe_of({"name": name, "weights": "imagenet", "input_size": 32})
    with pytest.raises(KitError) as error:
        build_model(recipe, (28, 28, 1), 3)
    with pytest.raises(KitError) as fetched:
        fetch_backbone(recipe, (28, 28, 1))  # the check a run makes before its first fold
    assert str(fetched.value) == str(error.value)
    assert asked == [cached.name, cached.name]  # the file Keras asks for is the registry's
    assert one_line(error) == (
        f"backbone {name}: its ImageNet weights are not on this machine and could not be downloaded ([Errno -3] "
        f"Temporary failure in name resolution); place {cached.name} at {cached}, or attach a Kaggle dataset holding "
        "it and set model.backbone.weights to its folder (/kaggle/input/<dataset>)"
    )
    if name != "MobileNetV3Small":
        return
    source = build_backbone(BackboneSpec(name=name), (32, 32))
    legacy_h5(keras, source, cached)  # the file placed where Keras looks: no download
    offline_model = build_model(recipe, (28, 28, 1), 3)
    assert len(asked) == 2
    assert all(np.array_equal(a, b) for a, b in zip(source.get_weights(), backbone_weights(offline_model)))


def test_weights_of_another_backbone_a_missing_file_and_a_kaggle_folder(keras, tmp_path):
    from kit.engine import build_backbone, build_model

    small = build_backbone(BackboneSpec(name="MobileNetV3Small"), (32, 32))
    path = tmp_path / "small.weights.h5"
    small.save_weights(path)
    for weights in (path, tmp_path / "legacy.h5"):
        if weights.suffix == ".h5" and not weights.name.endswith(".weights.h5"):
            legacy_h5(keras, small, weights)
        with pytest.raises(KitError) as error:
            build_model(recipe_of({"name": "EfficientNetV2B0", "weights": str(weights)}), (32, 32, 3), 3)
        assert one_line(error).startswith(f"{weights}: not weights of EfficientNetV2B0 without its top (")
        assert "give EfficientNetV2B0's own, e.g. efficientnetv2-b0_notop.h5" in str(error.value)
    with pytest.raises(KitError) as error:
        build_model(recipe_of({"name": "MobileNetV3Small", "weights": str(tmp_path / "gone.h5")}), (32, 32, 3), 3)
    assert one_line(error) == (  # before the model is built: the recipe's check of its images and files
        f"recipe backbone: key model.backbone.weights: {tmp_path / 'gone.h5'} not found; give a weights file, a "
        "folder holding one or 'imagenet'"
    )
    dataset = tmp_path / "kaggle" / "input" / "mobilenet"
    dataset.mkdir(parents=True)
    path.rename(dataset / path.name)
    model = build_model(recipe_of({"name": "MobileNetV3Small", "weights": str(dataset)}), (32, 32, 3), 3)
    assert all(np.array_equal(a, b) for a, b in zip(small.get_weights(), backbone_weights(model)))


def test_run_transfers_a_finished_runs_backbone_with_a_new_head(keras, tmp_path, tiny_dir):
    from kit.api import cv
    from kit.crossval._infer import load_model_file
    from kit.engine import build_model

    source = tmp_path / "source.toml"
    source.write_text(
        "[model]\ndense = [{ units = 8 }]\n[model.backbone]\nname = 'MobileNetV3Small'\ninput_size = 32\n"
        "[train]\nepochs = 1\nbatch_size = 50\njit_compile = false\n"
        "[cv]\nfolds = 2\n"
    )
    run = cv(str(source), tiny_dir, out=tmp_path / "run", jobs=1).path
    fold_model = load_model_file(run / "fold-1" / "model.keras", 10, (28, 28, 1))  # kit's loader: safe mode
    recipe = recipe_of({**SMALL, "weights": f"run:{run}"})
    transferred = build_model(recipe.with_overrides({"model.dense.0.units": 16}), (28, 28, 1), 4, seed=0)
    assert all(np.array_equal(a, b) for a, b in zip(backbone_weights(fold_model), backbone_weights(transferred)))
    assert transferred.output_shape == (None, 4)
    with pytest.raises(KitError) as error:
        build_model(recipe_of({"name": "EfficientNetV2B0", "weights": f"run:{run}"}), (32, 32, 1), 4)
    model_file = run / "fold-1" / "model.keras"
    assert one_line(error).startswith(f"{model_file}: its backbone (MobileNetV3Small, ")
    assert "is not EfficientNetV2B0 (" in str(error.value)
    with pytest.raises(KitError) as error:
        build_model(recipe_of({**SMALL, "weights": f"run:{tmp_path / 'none'}"}), (28, 28, 1), 4)
    assert one_line(error) == (
        f"recipe backbone: key model.backbone.weights: run:{tmp_path / 'none'}: no fold-1/model.keras in "
        f"{tmp_path / 'none'}; give a finished kit run folder"
    )


def test_the_backbone_learns_at_lr_factor_times_the_heads_rate_from_its_first_own_step(keras):
    from kit.engine import build_callbacks, build_model

    rng = np.random.default_rng(0)
    images, labels = rng.integers(0, 255, (8, 28, 28, 1)).astype(np.float32), np.eye(3)[rng.integers(0, 3, 8)]
    rate, factor = 0.01, 0.25
    recipe = recipe_of({**SMALL, "lr_factor": factor, "freeze_epochs": 1}, epochs=2, learning_rate=rate, batch_size=8)
    keras.utils.set_random_seed(0)
    model = build_model(recipe, (28, 28, 1), 3, train_rows=8, seed=0)
    kept = []
    snapshot = keras.callbacks.LambdaCallback(on_epoch_begin=lambda *_: kept.append(model.get_weights()))
    model.fit(images, labels, 8, 2, 0, [*build_callbacks(recipe), snapshot], shuffle=False)
    backbone_weights_, count = find_backbone_weights(model), len(find_backbone_weights(model))
    trained = sum(weight.trainable for weight in backbone_weights_)
    assert model.optimizer.backbone_variables == trained and model.optimizer.backbone_start == 1
    frozen = [b - a for a, b in zip(kept[0][:count], kept[1][:count])]
    assert not any(step.any() for step in frozen)  # epoch 1: the head alone
    trainable = {id(v) for v in model.trainable_variables}
    moved = [
        np.abs(b - a).ravel()
        for a, b, weight in zip(kept[1], model.get_weights(), model.weights)
        if id(weight) in trainable
    ]
    backbone, head = np.concatenate(moved[:-4]), np.concatenate(moved[-4:])
    # Adam's first step of a variable is ± its rate where the gradient is not tiny: factor × rate for the backbone
    # (its bias correction counted from its own first step, the optimizer's second), not ~3 times that
    assert backbone.max() <= factor * rate * 1.0001 and np.quantile(backbone, 0.5) > factor * rate * 0.9
    assert head.max() > 2 * factor * rate  # the head at the full rate


FINE_TUNE = {**SMALL, "freeze_epochs": 1, "unfreeze_from": "expanded_conv_8", "lr_factor": 0.1, "dropout": 0.2}
ADAMW = {"optimizer": "adamw", "weight_decay": 0.01, "ema": 0.9, "schedule": {"kind": "one_cycle", "warmup": 0.3}}


def fit(keras, recipe, train, folder: Path | None = None, interrupt_after: int | None = None, seen=None):
    """Train on rows 0–95 as a fold does (the recipe's callbacks, the epoch checkpoint last; no validation, which a
    phase does not change) and predict rows 96–127; return the final weights, softmax, history and backbone weights.
    ``seen`` collects, at each epoch's start, the number of trainable variables and the backbone's weights."""
    from kit.engine import (
        EpochCheckpoint,
        build_callbacks,
        build_model,
        evaluation_dataset,
        resume_state,
        training_dataset,
    )

    rows, held_out, batch, seed = np.arange(96), np.arange(96, 128), recipe.train.batch_size, 5
    keras.utils.set_random_seed(seed)

    def builder():
        return build_model(recipe, train.images.shape[1:], 10, train_rows=len(rows), seed=seed)

    state = resume_state(folder, IDENTITY, builder) if folder else None
    model = state.model if state else builder()
    start = state.initial_epoch if state else 0
    callbacks = build_callbacks(recipe)
    data, per_epoch = training_dataset(
        train.images[rows], train.labels[rows], 10, batch, recipe.augment, seed, start, recipe.train.epochs
    )
    extra = [EpochCheckpoint(folder, callbacks, IDENTITY, resume=state)] if folder else []
    if interrupt_after:

        def interrupt(epoch, logs):
            if epoch + 1 == interrupt_after:
                raise Interrupt

        extra.append(keras.callbacks.LambdaCallback(on_epoch_end=interrupt))
    if seen is not None:

        def record(epoch, logs):
            seen.append({"trainable": len(model.trainable_variables), "backbone": backbone_weights(model)})

        extra.append(keras.callbacks.LambdaCallback(on_epoch_begin=record))
    fitted = model.fit(
        data,
        steps_per_epoch=per_epoch,
        epochs=recipe.train.epochs,
        initial_epoch=start,
        callbacks=[*callbacks, *extra],
        shuffle=False,
        verbose=0,
    )
    proba = model.predict(evaluation_dataset(train.images[held_out], None, 10, batch), verbose=0)
    history = (
        extra[0].history if folder else {key: [float(v) for v in values] for key, values in fitted.history.items()}
    )
    return model.get_weights(), proba, history, backbone_weights(model)


def test_freeze_then_unfreeze_at_the_right_epoch_and_a_killed_fit_resumes_in_either_phase(keras, train, tmp_path):
    recipe = recipe_of(FINE_TUNE, epochs=3, **ADAMW)
    seen = []
    weights, proba, history, final = fit(keras, recipe, train, seen=seen)
    trainable = [epoch["trainable"] for epoch in seen]
    assert trainable[0] == 4 and trainable[1] == trainable[2] > 4  # the head alone, then from expanded_conv_8 on
    first, second, third = (epoch["backbone"] for epoch in seen)
    assert all(np.array_equal(a, b) for a, b in zip(first, second))  # frozen: weights and BatchNorm statistics
    assert not all(np.array_equal(a, b) for a, b in zip(second, third))  # unfrozen: trained
    changed = [not np.array_equal(a, b) for a, b in zip(first, final)]
    assert any(changed) and not all(changed)  # the blocks below expanded_conv_8 never train
    folder = tmp_path / "checkpoint"
    for after, phase in ((1, "frozen"), (2, "unfrozen")):
        with pytest.raises(Interrupt):
            fit(keras, recipe, train, folder, interrupt_after=after)
        state = json.loads((folder / "state.json").read_text())
        assert state["epochs_done"] == after and state["callbacks"] == [{"kind": "BackbonePhases", "phase": phase}]
    resumed = fit(keras, recipe, train, folder)
    assert all(np.array_equal(a, b) for a, b in zip(weights, resumed[0]))
    assert np.array_equal(proba, resumed[1]) and history == resumed[2]
