"""The ``[model.backbone]`` keys: defaults and bounds, one-line errors at load, checks before training that need no
TensorFlow (images too small, a weights file missing), where the weights come from (``kit recipe show``), the content
hash of recipes without a backbone unchanged, the shipped photo-fast and photo-strong recipes, and ``kit tune``
searching a backbone's keys."""

from __future__ import annotations

import re
import typing

import jsonschema
import pytest
from typer.testing import CliRunner

from kit.cli.recipe import recipe_app
from kit.errors import KitError
from kit.recipes import BACKBONES, BackboneSpec, load_recipe, parse_recipe, recipe_json_schema, weights_source
from kit.recipes._backbone import RUN_MODEL, RUNS_DIR, BackboneName, keras_cache
from kit.tuning import parse_space

FILES = ("empty", "notes.txt", "fold.keras")


def recipe(backbone: dict, **model) -> object:
    return parse_recipe({"model": {"backbone": backbone, **model}}, "bb")


def problem(table: dict) -> str:
    with pytest.raises(KitError) as error:
        parse_recipe(table, "bb")
    text = str(error.value)
    assert "\n" not in text
    return text


def test_the_registry_names_every_backbone_once_with_its_blocks():
    assert list(BACKBONES) == list(typing.get_args(BackboneName))
    assert len(BACKBONES) == 13
    for name, info in BACKBONES.items():
        assert len(set(info.blocks)) == len(info.blocks), name
        assert info.imagenet_file.endswith(".h5") and info.min_size >= 32 and info.features > 0
    assert BACKBONES["EfficientNetV2B0"].blocks[-3:] == ("block6g", "block6h", "top")
    assert BACKBONES["ConvNeXtTiny"].layer_prefix == "convnext_tiny_"


def test_defaults_and_the_smallest_backbone_table():
    spec = recipe({"name": "MobileNetV3Small"}).model.backbone
    assert spec == BackboneSpec(name="MobileNetV3Small")
    assert (spec.weights, spec.input_size, spec.pooling, spec.dropout) == (None, None, "avg", 0.0)
    assert (spec.freeze_epochs, spec.unfreeze_from, spec.lr_factor, spec.train_batch_norm) == (0, 1.0, 1.0, None)
    assert spec.trains_batch_norm  # random weights: BatchNorm trains
    assert not recipe({"name": "ResNet50", "weights": "imagenet"}).model.backbone.trains_batch_norm
    assert recipe({"name": "ResNet50", "unfreeze_from": "conv5_block1"}).model.backbone.unfreeze_from == "conv5_block1"
    assert recipe({"name": "ResNet50", "unfreeze_from": 1}).model.backbone.unfreeze_from == 1.0
    assert recipe({"name": "ResNet50", "weights": False}).model.backbone.weights is None


@pytest.mark.parametrize(
    ("model", "message"),
    [
        ({"backbone": {"name": "ResNet51"}}, r"key model\.backbone\.name: 'ResNet51' is not one of 'ResNet50'"),
        ({"backbone": {"weights": "imagenet"}}, r"key model\.backbone\.name: missing; give the backbone"),
        ({"backbone": {"name": "ResNet50", "unfreeze_from": "block6a"}}, r"'block6a' is no block of ResNet50"),
        ({"backbone": {"name": "ResNet50", "unfreeze_from": 1.5}}, r"unfreeze_from: 1\.5 must be ≤ 1\.0"),
        ({"backbone": {"name": "ResNet50", "lr_factor": 0.0}}, r"lr_factor: 0\.0 must be > 0\.0"),
        ({"backbone": {"name": "ResNet50", "freeze_epochs": -1}}, r"freeze_epochs: -1 must be ≥ 0"),
        ({"backbone": {"name": "ResNet50", "input_size": 16}}, r"input_size: 16 must be ≥ 32"),
        ({"backbone": {"name": "ResNet50", "pooling": "flatten"}}, r"pooling: 'flatten' is not one of 'avg', 'max'"),
        ({"backbone": {"name": "ResNet50", "dropout": 1.0}}, r"dropout: 1\.0 must be ≤ 0\.95"),
        ({"backbone": {"name": "ResNet50", "weights": " "}}, r"weights: empty; give 'imagenet'"),
        ({"backbone": {"name": "ResNet50", "size": 3}}, r"backbone\.size: unknown key \(known keys here: name"),
        ({"backbone": {"name": "ResNet50"}, "blocks": [{"filters": 8}]}, r"model\.blocks: a backbone takes its place"),
        ({"backbone": {"name": "ResNet50"}, "head": "global_avg"}, r"model\.head: .*set model\.backbone\.pooling"),
        ({"backbone": {"name": "ResNet50"}, "head_dropout": 0.2}, r"head_dropout: .*model\.backbone\.dropout"),
        ({}, r"key model\.blocks: missing; give the conv blocks .*or a \[model\.backbone\]"),
    ],
)
def test_bad_backbone_keys_stop_at_load_with_one_line(model, message):
    assert re.search(message, problem({"model": model}))


def test_recipes_without_a_backbone_keep_their_content_hash_and_a_backbone_changes_it():
    base = load_recipe("base")
    assert base.content_hash == "60746c6b4985" and base.model.backbone is None
    one = recipe({"name": "MobileNetV3Small"})
    assert one.content_hash != recipe({"name": "MobileNetV3Small", "lr_factor": 0.5}).content_hash
    assert one.content_hash != recipe({"name": "MobileNetV3Small", "weights": "imagenet"}).content_hash


def test_the_parameter_count_is_the_backbones_and_the_heads():
    spec = recipe({"name": "EfficientNetV2B0"}, dense=[{"units": 64}])
    assert spec.parameter_count((96, 96, 3), 10) == 5_919_312 + 1280 * 64 + 64 + 64 * 10 + 10
    assert spec.parameter_count((32, 32, 1), 10) == spec.parameter_count((300, 200, 3), 10)  # no flatten


def test_images_too_small_for_a_backbone_stop_before_training():
    spec = recipe({"name": "Xception"})
    with pytest.raises(KitError, match=r"recipe bb: key model\.backbone: Xception takes images of at least 71×71, it"):
        spec.feature_maps((28, 28, 1))
    assert spec.with_overrides({"model.backbone.input_size": 71}).feature_maps((28, 28, 1)) == []
    assert recipe({"name": "ResNet50"}).feature_maps((32, 40, 3)) == []


def test_weights_come_from_imagenet_a_file_a_folder_a_model_or_a_run(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    source = weights_source(BackboneSpec(name="EfficientNetV2B0", weights="imagenet"))
    assert source.kind == "imagenet" and source.problem is None
    assert source.path == tmp_path / "keras" / "models" / "efficientnetv2-b0_notop.h5" == keras_cache(source.path.name)
    assert "not there yet: Keras downloads it on first use" in source.describe()
    assert weights_source(BackboneSpec(name="ResNet50")).describe() == "none (random initial weights)"

    dataset = tmp_path / "kaggle" / "input" / "weights"
    (dataset / "deep").mkdir(parents=True)
    (dataset / "deep" / "mine.weights.h5").write_bytes(b"x")
    found = weights_source(BackboneSpec(name="ResNet50", weights=str(dataset)))
    assert found.kind == "file" and found.path == dataset / "deep" / "mine.weights.h5" and not found.problem
    (dataset / "resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5").write_bytes(b"x")
    assert weights_source(BackboneSpec(name="ResNet50", weights=str(dataset))).path.name.startswith("resnet50_")
    several = weights_source(BackboneSpec(name="Xception", weights=str(dataset))).problem
    assert "holds 2 weights files (mine.weights.h5, resnet50_" in several and "give the file's path" in several
    (tmp_path / "empty").mkdir()
    assert (
        "holds no weights file"
        in weights_source(BackboneSpec(name="ResNet50", weights=str(tmp_path / "empty"))).problem
    )
    (tmp_path / "notes.txt").write_text("x")
    assert (
        "is no weights file"
        in weights_source(BackboneSpec(name="ResNet50", weights=str(tmp_path / "notes.txt"))).problem
    )
    (tmp_path / "fold.keras").write_bytes(b"x")
    assert weights_source(BackboneSpec(name="ResNet50", weights=str(tmp_path / "fold.keras"))).kind == "model"

    run = tmp_path / "run"
    (run / RUN_MODEL).parent.mkdir(parents=True)
    (run / RUN_MODEL).write_bytes(b"x")
    assert weights_source(BackboneSpec(name="ResNet50", weights=f"run:{run}")).path == run / RUN_MODEL
    monkeypatch.chdir(tmp_path)
    (RUNS_DIR / "named" / RUN_MODEL).parent.mkdir(parents=True)
    (RUNS_DIR / "named" / RUN_MODEL).write_bytes(b"x")
    assert weights_source(BackboneSpec(name="ResNet50", weights="run:named")).path == RUNS_DIR / "named" / RUN_MODEL
    missing = weights_source(BackboneSpec(name="ResNet50", weights="run:nowhere")).problem
    assert missing.startswith("run:nowhere: no fold-1/model.keras in nowhere or runs/nowhere")


def test_the_run_folder_names_match_the_run_folders_own():
    from kit.crossval._rundir import MODEL_FILE, RunFolder
    from kit.crossval._rundir import RUNS_DIR as RUNS

    assert RUNS == RUNS_DIR and RunFolder(RUNS / "x").model_path(1) == RUNS / "x" / RUN_MODEL
    assert RUN_MODEL.name == MODEL_FILE


def test_a_missing_weights_file_stops_before_training_with_one_line(tmp_path):
    spec = recipe({"name": "ResNet50", "weights": str(tmp_path / "gone.weights.h5")})
    with pytest.raises(KitError, match=r"key model\.backbone\.weights: .*gone\.weights\.h5 not found; give a weights"):
        spec.feature_maps((64, 64, 3))


def test_recipe_show_prints_where_the_weights_come_from(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    shown = CliRunner().invoke(recipe_app, ["show", "photo-fast", "--set", "model.backbone.lr_factor=0.5"])
    assert shown.exit_code == 0, shown.output
    lines = shown.output.splitlines()
    assert lines[1] == (
        f"# backbone EfficientNetV2B0 weights: imagenet, from the Keras cache {tmp_path}/models/"
        "efficientnetv2-b0_notop.h5 (not there yet: Keras downloads it on first use)"
    )
    assert "[model.backbone]" in shown.output and "lr_factor = 0.5" in shown.output
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "efficientnetv2-b0_notop.h5").write_bytes(b"x")
    again = CliRunner().invoke(recipe_app, ["show", "photo-fast"])
    assert "efficientnetv2-b0_notop.h5 (present)" in again.output


def test_the_shipped_photo_recipes():
    fast, strong = load_recipe("photo-fast"), load_recipe("photo-strong")
    assert (fast.model.backbone.name, fast.model.backbone.input_size) == ("EfficientNetV2B0", 96)
    assert (strong.model.backbone.name, strong.model.backbone.input_size) == ("EfficientNetV2S", 224)
    for shipped in (fast, strong):
        backbone = shipped.model.backbone
        assert backbone.weights == "imagenet" and backbone.freeze_epochs >= 1 and backbone.lr_factor == 0.1
        assert shipped.train.precision == "auto" and shipped.feature_maps((28, 28, 1)) == []
    assert fast.model.backbone.freeze_epochs == 2
    validator = jsonschema.Draft7Validator(recipe_json_schema())
    assert not list(validator.iter_errors({"extends": "photo-fast", "model": {"backbone": {"unfreeze_from": 0.5}}}))
    for bad in ({"name": "VGG16"}, {"lr_factor": 0}, {"unfreeze_from": 2.0}, {"freeze": 1}):
        assert list(validator.iter_errors({"extends": "photo-fast", "model": {"backbone": bad}})), bad


def test_tune_searches_a_backbones_name_block_rate_and_the_learning_rate():
    space = {
        "model.backbone.name": ["EfficientNetV2B0", "MobileNetV3Small"],
        "model.backbone.unfreeze_from": {"min": 0.2, "max": 1.0},
        "model.backbone.lr_factor": {"min": 0.01, "max": 1.0, "sampling": "log"},
        "train.learning_rate": {"min": 1e-4, "max": 1e-2, "sampling": "log"},
    }
    searched = parse_space(load_recipe("photo-fast").with_overrides({"tune": space}))
    assert searched.keys == list(space)
    assert searched.tunables[0].choices == ("EfficientNetV2B0", "MobileNetV3Small")
    blocks = load_recipe("photo-fast").with_overrides({"tune": {"model.backbone.unfreeze_from": ["block5a", "top"]}})
    assert parse_space(blocks).tunables[0].choices == ("block5a", "top")
    names_only = load_recipe("photo-fast").with_overrides({"tune": {"model.backbone.name": ["MobileNetV3Small"]}})
    with pytest.raises(KitError, match=r"'MobileNetV3Small' does not fit the recipe \(key model\.backbone\.unfreeze"):
        parse_space(names_only)  # its block4a is no MobileNetV3 block: search unfreeze_from as a share too
    with pytest.raises(KitError, match=r"unknown key 'name'"):
        parse_space(load_recipe("base").with_overrides({"tune": {"name": ["x"]}}))
