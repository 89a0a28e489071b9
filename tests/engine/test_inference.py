"""kit.engine._inference: the fold models of a run as one compiled graph (float32 or int8), checked against Keras, and
kit.infer."""

from __future__ import annotations

import numpy as np
import pytest

import kit
from conftest import tiny_recipe_toml
from kit.crossval import run_cv
from kit.engine import _inference as inference
from kit.engine import compile_predictor
from kit.errors import KitError
from kit.recipes import load_recipe

TINY = tiny_recipe_toml("a tiny CNN for inference tests", batch_size=64, seed=2)


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """Two untrained tiny models with different weights (float32), and one in mixed bfloat16."""
    from kit.engine import build_model

    folder = tmp_path_factory.mktemp("recipe")
    (folder / "tiny.toml").write_text(TINY)
    recipe = load_recipe(str(folder / "tiny.toml"))
    import keras

    built = []
    for seed, precision in ((1, "float32"), (2, "float32"), (3, "mixed_bfloat16")):
        keras.utils.set_random_seed(seed)
        built.append(build_model(recipe.with_overrides({"train.precision": precision}), (28, 28, 1), 10))
    return built


@pytest.fixture(scope="module")
def images():
    return np.random.default_rng(0).integers(0, 256, (37, 28, 28, 1), dtype=np.uint8)


def keras_mean(models, images):
    return np.mean([model.predict(images.astype(np.float32), verbose=0) for model in models], axis=0)


def test_one_graph_gives_the_mean_of_the_models_in_padded_batches(models, images):
    predictor = compile_predictor(models[:2], batch=16, threads=1)  # 37 rows: two full batches and a padded one
    assert (predictor.engine, predictor.precision, predictor.models, predictor.classes) == ("tflite", "float32", 2, 10)
    assert predictor.batch == 16
    got = predictor(images)
    assert got.dtype == np.float32 and got.shape == (37, 10)
    assert got == pytest.approx(keras_mean(models[:2], images), abs=1e-5)
    assert np.array_equal(predictor(images), got)  # the same bits every call
    assert np.array_equal(predictor(images[:5]), got[:5])  # a row's result does not depend on its batch
    assert predictor(images[:0]).shape == (0, 10)


def test_keras_engine_agrees_and_a_bfloat16_model_is_evaluated_in_float32(models, images):
    keras_engine = compile_predictor(models[:2], engine="keras")
    assert keras_engine.engine == "keras" and keras_engine.batch == inference.KERAS_BATCH
    assert keras_engine(images) == pytest.approx(keras_mean(models[:2], images), abs=1e-5)
    mixed = compile_predictor(models[2:])
    assert mixed.engine == "tflite"
    assert mixed(images) == pytest.approx(keras_mean(models[2:], images), abs=2e-2)  # bfloat16 vs float32


def test_a_mixed_global_policy_neither_reaches_the_graph_nor_is_lost(models, images):
    import keras

    keras.config.set_dtype_policy("mixed_bfloat16")  # as a notebook set for its own models
    try:
        predictor = compile_predictor(models[:2], threads=1)
        assert keras.config.dtype_policy().name == "mixed_bfloat16"
    finally:
        keras.config.set_dtype_policy("float32")
    assert predictor.engine == "tflite" and predictor.fallback is None
    assert predictor(images) == pytest.approx(keras_mean(models[:2], images), abs=1e-5)


def test_int8_quantizes_within_a_few_hundredths(models, images):
    predictor = compile_predictor(models[:2], precision="int8", probe=images)
    assert (predictor.engine, predictor.precision) == ("tflite", "int8")
    got = predictor(images)
    assert got == pytest.approx(keras_mean(models[:2], images), abs=0.05)
    assert got.sum(axis=1) == pytest.approx(np.ones(len(images)), abs=1e-4)
    with pytest.raises(KitError, match=r"^precision: int8 runs on engine tflite \(or auto\)"):
        compile_predictor(models[:1], engine="keras", precision="int8")


def test_auto_falls_back_to_keras_and_tflite_fails_in_one_line(models, images, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("converter exploded\nsecond line")

    monkeypatch.setattr(inference, "tflite_runner", broken)
    predictor = compile_predictor(models[:1])
    assert predictor.engine == "keras" and predictor.fallback == "TensorFlow Lite: converter exploded"
    assert predictor.description == "keras float32 (TensorFlow Lite: converter exploded)"
    assert predictor(images) == pytest.approx(keras_mean(models[:1], images), abs=1e-5)
    with pytest.raises(KitError, match=r"^engine tflite: TensorFlow Lite: converter exploded; use engine keras"):
        compile_predictor(models[:1], engine="tflite")


def test_a_graph_that_disagrees_with_keras_is_never_used(models, images, monkeypatch):
    real = inference.tflite_runner
    monkeypatch.setattr(inference, "tflite_runner", lambda *a, **k: lambda x: real(*a, **k)(x) + 0.01)
    predictor = compile_predictor(models[:1])
    assert predictor.engine == "keras" and "differ from Keras' by 1.0e-02" in predictor.fallback


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"engine": "onnx"}, r"^engine: must be one of auto, tflite, keras, got 'onnx'$"),
        ({"batch": 0}, r"^batch: must be 1–65,536 images, got 0$"),
        ({"threads": 0}, r"^threads: must be at least 1, got 0$"),
        ({"precision": "fp8"}, r"^precision: must be one of float32, int8, got 'fp8'$"),
    ],
)
def test_bad_arguments_fail_in_one_line(models, arguments, message):
    with pytest.raises(KitError, match=message):
        compile_predictor(models[:1], **arguments)


def test_no_models_and_wrong_shapes_fail_in_one_line(models, tmp_path):
    with pytest.raises(KitError, match=r"^models: none given"):
        compile_predictor([])
    with pytest.raises(KitError, match=r"^probe: shape \(2, 28, 28\), the models take \(rows, \(28, 28, 1\)\)$"):
        compile_predictor(models[:1], probe=np.zeros((2, 28, 28)))
    from kit.engine import build_model

    (tmp_path / "tiny.toml").write_text(TINY)
    three = build_model(load_recipe(str(tmp_path / "tiny.toml")), (28, 28, 1), 3)
    with pytest.raises(KitError, match=r"^models: they differ in input shape \[\(28, 28, 1\)\] or classes \[3, 10\]"):
        compile_predictor([models[0], three])
    empty_probe = compile_predictor(models[:1], probe=np.zeros((0, 28, 28, 1)))
    assert empty_probe.engine == "tflite" and empty_probe.description == "tflite float32"
    predictor = compile_predictor(models[:1], engine="keras")
    with pytest.raises(KitError, match=r"^images: shape \(3, 28, 28\), the models take \(rows, \(28, 28, 1\)\)"):
        predictor(np.zeros((3, 28, 28)))


def test_kit_infer_predicts_a_runs_test_rows_as_kit_cv_did(tmp_path, tiny_dir):
    (tmp_path / "tiny.toml").write_text(TINY)
    run_cv(load_recipe(str(tmp_path / "tiny.toml")), tiny_dir, out=tmp_path / "run")
    result = kit.infer(tmp_path / "run")
    assert isinstance(result, kit.Inference)
    assert (result.engine, result.precision, result.models, result.softmax.shape) == ("tflite", "float32", 2, (40, 10))
    assert result.softmax == pytest.approx(np.load(tmp_path / "run" / "test.npy"), abs=1e-5)
    assert np.array_equal(result.labels, result.softmax.argmax(axis=1)) and result.images_per_s > 0
    first = kit.infer(tmp_path / "run", images=np.zeros((3, 28, 28, 1), np.uint8), folds=[1], precision="int8")
    assert (first.models, first.precision, first.softmax.shape) == (1, "int8", (3, 10))
    with pytest.raises(KitError, match=r"^folds: run .* has folds \[1, 2\], not \[3\]$"):
        kit.infer(tmp_path / "run", folds=[3])
    with pytest.raises(KitError, match=r"^images and data exclude each other"):
        kit.infer(tmp_path / "run", images=np.zeros((3, 28, 28, 1)), data_dir=tiny_dir)
    with pytest.raises(KitError, match=r"^images: shape \(3, 28, 28\), run .*'s models take \(rows, \(28, 28, 1\)\)$"):
        kit.infer(tmp_path / "run", images=np.zeros((3, 28, 28)))


def test_a_prediction_runs_without_the_cyclic_garbage_collector_and_restores_it():
    import gc

    from kit.engine import Predictor

    seen = []

    def run(images):
        seen.append(gc.isenabled())
        return np.zeros((len(images), 3), np.float32)

    predictor = Predictor("keras", "float32", 1, 3, 64, 1, (2,), run)
    assert gc.isenabled()
    assert predictor(np.zeros((5, 2))).shape == (5, 3)
    assert seen == [False] and gc.isenabled()
    gc.disable()
    try:
        predictor(np.zeros((5, 2)))
        assert not gc.isenabled()  # a caller's choice stays
    finally:
        gc.enable()
