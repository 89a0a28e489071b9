"""KerasHub backbones (``name = "hub:…"``, the optional ``hub`` extra), offline: a tiny ResNetBackbone with random
weights saved with ``save_to_preset`` trains one epoch through ``kit cv`` (greyscale widened, its converter's scale
and offset inside the model, the saved fold models loaded in safe mode) with no network at all; a Kaggle input folder
holding the preset is found; freeze → unfreeze from a layer name trains at ``lr_factor``; ``run:PATH`` transfers the
backbone; a missing, empty or mismatched preset folder is one line naming it. Skipped without keras-hub."""

from __future__ import annotations

import importlib.util
import shutil
import socket

import numpy as np
import pytest

from kit.errors import KitError
from kit.recipes import parse_recipe, weights_source

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(importlib.util.find_spec("keras_hub") is None, reason="keras-hub is not installed"),
]

SCALE, OFFSET = [0.02, 0.03, 0.04], [-1.0, -2.0, -3.0]


def one_line(error: pytest.ExceptionInfo) -> str:
    text = str(error.value)
    assert "\n" not in text
    return text


def recipe_of(backbone: dict, epochs: int = 1, **train):
    table = {
        "model": {"backbone": {"input_size": 32, **backbone}, "dense": [{"units": 8}]},
        "train": {"epochs": epochs, "batch_size": 32, "jit_compile": False, **train},
    }
    return parse_recipe(table, "hub")


@pytest.fixture
def offline(monkeypatch):
    """No network: any connection or name lookup fails (and is recorded)."""
    tried = []

    def refuse(*args, **kwargs):
        tried.append(args)
        raise OSError("network disabled in this test")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    return tried


@pytest.fixture(scope="module")
def presets(tmp_path_factory):
    """A tiny ResNet classifier preset (backbone, converter) and a bare ResNet backbone preset of another size."""
    from kit.utils import prepare_tensorflow

    prepare_tensorflow(None)
    import keras_hub

    def resnet(last: int):
        return keras_hub.models.ResNetBackbone(
            input_conv_filters=[64],
            input_conv_kernel_sizes=[3],
            stackwise_num_filters=[64, last],
            stackwise_num_blocks=[1, 1],
            stackwise_num_strides=[1, 2],
            block_type="basic_block",
            image_shape=(None, None, 3),
        )

    root = tmp_path_factory.mktemp("presets")
    converter = keras_hub.layers.ResNetImageConverter(image_size=(224, 224), scale=SCALE, offset=OFFSET)
    preprocessor = keras_hub.models.ResNetImageClassifierPreprocessor(image_converter=converter)
    backbone = resnet(16)
    keras_hub.models.ResNetImageClassifier(backbone, num_classes=3, preprocessor=preprocessor).save_to_preset(
        root / "tiny"
    )
    resnet(8).save_to_preset(root / "bare")
    return {"tiny": root / "tiny", "bare": root / "bare", "weights": [np.asarray(w) for w in backbone.get_weights()]}


def hub_weights(model) -> list[np.ndarray]:
    from kit.engine import find_backbone

    return [np.asarray(weight) for weight in find_backbone(model).get_weights()]


def test_a_preset_folder_trains_through_kit_cv_offline(presets, tmp_path, tiny_dir, offline):
    from kit.api import cv
    from kit.crossval._infer import load_model_file
    from kit.engine._hub import ScaleOffset

    kaggle = tmp_path / "kaggle" / "input" / "tiny-resnet" / "keras" / "tiny" / "1"  # a Kaggle model's mount
    shutil.copytree(presets["tiny"], kaggle)
    recipe = tmp_path / "hub.toml"
    recipe.write_text(
        "[model]\ndense = [{ units = 8 }]\n"
        f"[model.backbone]\nname = 'hub:ResNet'\nweights = '{tmp_path / 'kaggle' / 'input'}'\ninput_size = 32\n"
        "freeze_epochs = 1\nunfreeze_from = 'stack1'\nlr_factor = 0.1\n"
        "[train]\nepochs = 2\nbatch_size = 50\njit_compile = false\n[cv]\nfolds = 2\n"
    )
    spec = parse_recipe({"model": {"backbone": {"name": "hub:ResNet", "weights": str(kaggle.parents[3])}}}, "x")
    assert weights_source(spec.model.backbone).path == kaggle  # the preset inside the attached folder
    assert spec.model.backbone.info.parameters == sum(w.size for w in presets["weights"])
    run = cv(str(recipe), tiny_dir, out=tmp_path / "run", jobs=1).path
    model = load_model_file(run / "fold-1" / "model.keras", 10, (28, 28, 1))  # safe mode, as inference loads it
    kinds = [type(layer).__name__ for layer in model.layers]
    assert kinds[:5] == ["ToRGB", "Resizing", "ScaleOffset", "ResNetBackbone", "GlobalAveragePooling2D"]
    converter = next(layer for layer in model.layers if isinstance(layer, ScaleOffset))
    assert np.allclose(converter.scale, SCALE) and np.allclose(converter.offset, OFFSET)
    trained = hub_weights(model)
    changed = [not np.array_equal(a, b) for a, b in zip(presets["weights"], trained)]
    assert any(changed) and not all(changed)  # unfrozen from stack1: the stem and stack0 never train
    assert offline == []


def test_freeze_then_unfreeze_a_hub_backbone_at_lr_factor(presets, offline):
    import keras

    from kit.engine import build_callbacks, build_model

    rng = np.random.default_rng(0)
    images, labels = rng.integers(0, 255, (8, 28, 28, 1)).astype(np.float32), np.eye(3)[rng.integers(0, 3, 8)]
    backbone = {"name": "hub:ResNetBackbone", "weights": str(presets["tiny"]), "freeze_epochs": 1}
    recipe = recipe_of({**backbone, "unfreeze_from": "stack1", "lr_factor": 0.25}, epochs=2, batch_size=8)
    keras.utils.set_random_seed(0)
    model = build_model(recipe, (28, 28, 1), 3, train_rows=8, seed=0)
    assert all(np.array_equal(a, b) for a, b in zip(presets["weights"], hub_weights(model)))
    kept = []
    snapshot = keras.callbacks.LambdaCallback(on_epoch_begin=lambda *_: kept.append(hub_weights(model)))
    model.fit(images, labels, 8, 2, 0, [*build_callbacks(recipe), snapshot], shuffle=False)
    assert all(np.array_equal(a, b) for a, b in zip(kept[0], kept[1]))  # epoch 1: frozen
    assert model.optimizer.backbone_start == 1 and model.optimizer.backbone_lr_factor == 0.25
    with pytest.raises(KitError) as error:
        build_model(recipe.with_overrides({"model.backbone.unfreeze_from": "block4a"}), (28, 28, 1), 3)
    expected = "key model.backbone.unfreeze_from: hub:ResNetBackbone has no layer named block4a…"
    assert one_line(error).startswith(expected)
    assert "(its layers: conv1_pad, conv1_conv," in str(error.value)
    assert offline == []


def test_run_transfers_a_hub_backbone(presets, tmp_path, tiny_dir, offline):
    from kit.api import cv
    from kit.engine import build_model

    source = tmp_path / "source.toml"
    source.write_text(
        f"[model]\ndense = [{{ units = 8 }}]\n[model.backbone]\nname = 'hub:ResNet'\nweights = '{presets['bare']}'\n"
        "input_size = 32\n[train]\nepochs = 1\nbatch_size = 50\njit_compile = false\n[cv]\nfolds = 2\n"
    )
    run = cv(str(source), tiny_dir, out=tmp_path / "run", jobs=1).path
    from kit.crossval._infer import load_model_file

    fold = load_model_file(run / "fold-1" / "model.keras", 10, (28, 28, 1))
    moved = build_model(recipe_of({"name": "hub:ResNet", "weights": f"run:{run}"}), (28, 28, 1), 4, seed=0)
    assert all(np.array_equal(a, b) for a, b in zip(hub_weights(fold), hub_weights(moved)))
    assert moved.output_shape == (None, 4)
    assert offline == []


def test_missing_empty_and_mismatched_preset_folders_are_one_line(presets, tmp_path, offline):
    from kit.engine import build_model, fetch_backbone

    def problem(name: str, weights: str) -> str:
        with pytest.raises(KitError) as error:
            build_model(recipe_of({"name": name, "weights": weights}), (28, 28, 1), 3)
        return one_line(error)

    gone, empty = tmp_path / "gone", tmp_path / "empty"
    empty.mkdir()
    (empty / "notes.txt").write_text("no preset here")
    assert problem("hub:ResNet", str(gone)) == (
        f"recipe hub: key model.backbone.weights: {gone} not found; give a KerasHub preset folder (or one holding it: "
        "/kaggle/input/<model>), a kaggle:// or hf:// handle"
    )
    assert problem("hub:ResNet", str(empty)).startswith(
        f"recipe hub: key model.backbone.weights: {empty} holds no KerasHub preset (config.json"
    )
    tiny = presets["tiny"]
    assert problem("hub:ViT", str(tiny)) == (
        f"recipe hub: key model.backbone.weights: {tiny}: holds a ResNetBackbone preset, not ViT; give a ViT preset "
        "or change the name"
    )
    assert problem("hub:vit_base_patch16_224_imagenet", str(tiny)) == (
        f"{tiny}: holds a ResNetBackbone preset, not vit_base_patch16_224_imagenet (a ViTBackbone); give "
        "vit_base_patch16_224_imagenet's folder"
    )
    assert problem("hub:resnet_50_imagenet", str(tiny)).startswith(
        f"{tiny}: holds a ResNetBackbone of 88,960 parameters, not resnet_50_imagenet (23,561,152)"
    )
    damaged = tmp_path / "damaged"
    shutil.copytree(presets["bare"], damaged)
    shutil.copy(tiny / "model.weights.h5", damaged / "model.weights.h5")  # another ResNet's weights
    assert problem("hub:my_resnet", str(damaged)).startswith(f"{damaged}: not a loadable KerasHub backbone preset (")
    with pytest.raises(KitError) as error:
        fetch_backbone(recipe_of({"name": "hub:ResNet", "weights": str(damaged)}), (28, 28, 1))  # before any fold
    assert one_line(error).startswith(f"{damaged}: not a loadable KerasHub backbone preset (")
    assert offline == []


def test_downloads_only_when_asked_and_offline_that_is_one_line(offline):
    from kit.engine import fetch_backbone

    for weights, handle in (
        ("download", "resnet_18_imagenet"),
        ("kaggle://keras/resnetv1/keras/resnet_18_imagenet/2", "kaggle://keras/resnetv1/keras/resnet_18_imagenet/2"),
    ):
        recipe = recipe_of({"name": "hub:resnet_18_imagenet", "weights": weights})
        assert weights_source(recipe.model.backbone).describe().startswith(f"the KerasHub preset {handle}, downloaded")
        with pytest.raises(KitError) as error:
            fetch_backbone(recipe, (28, 28, 1))
        assert one_line(error).startswith(f"backbone hub:resnet_18_imagenet: KerasHub could not download {handle} (")
        assert "set model.backbone.weights to its folder (/kaggle/input/<model>)" in str(error.value)
    assert offline  # those two asked for the network: nothing else here did
