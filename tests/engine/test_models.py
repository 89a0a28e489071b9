"""Models built from recipes: layers, batch norm, learning-rate schedules, optimiser options, precision, shapes."""

from __future__ import annotations

import itertools

import keras
import numpy as np
import pytest

from kit.engine import build_layers, build_model, learning_rate, make_optimizer
from kit.errors import KitError
from kit.recipes import load_recipe

SMALL = """
[[model.blocks]]
filters = 4
convs = 2
kernel = [5, 3]
strides = [2, 1]
padding = ["valid", "same"]
batch_norm = "{position}"
pool = "none"
[model]
dense = [{{ units = 8, batch_norm = "{position}" }}]
head = "global_avg"
head_dropout = 0.25
output_batch_norm = {output_batch_norm}
batch_norm_momentum = 0.9
[train]
epochs = 4
batch_size = 10
learning_rate = 0.01
{train}
"""


@pytest.fixture
def recipe_from(tmp_path):
    def load(position="before_activation", output_batch_norm="false", train="", name="small"):
        path = tmp_path / f"{name}.toml"
        path.write_text(SMALL.format(position=position, output_batch_norm=output_batch_norm, train=train))
        return load_recipe(str(path))

    return load


def describe(layer) -> str:
    """A layer as one short line: its type and the settings that define it."""
    config = layer.get_config()
    kind = type(layer).__name__
    if kind == "Conv2D":
        (kernel, _), (stride, _) = config["kernel_size"], config["strides"]
        bias = "bias" if config["use_bias"] else "nobias"
        return (
            f"Conv2D {config['filters']} {kernel}x{kernel} s{stride} {config['padding']} {config['activation']} {bias}"
        )
    if kind == "Dense":
        return f"Dense {config['units']} {config['activation']} {'bias' if config['use_bias'] else 'nobias'}"
    if kind in {"Dropout", "Activation"}:
        return f"{kind} {config.get('rate', config.get('activation'))}"
    return kind


def test_notebook_models_keep_their_layers_and_parameter_counts():
    counts = {
        name: build_model(load_recipe(name), (28, 28, 1), 10).count_params()
        for name in ("base", "deep", "tuned", "demo")
    }
    assert counts == {"base": 619_786, "deep": 813_546, "tuned": 1_340_650, "demo": 105_866}
    layers = [describe(layer) for layer in build_layers(load_recipe("base"), (28, 28, 1), 10)[1:]]
    assert layers[:3] == ["Rescaling", "Conv2D 32 3x3 s1 same relu bias", "MaxPooling2D"]
    assert layers[-3:] == ["Dense 256 relu bias", "Dense 10 linear bias", "Activation softmax"]


def test_batch_norm_before_the_activation_drops_the_bias(recipe_from):
    layers = [describe(layer) for layer in build_layers(recipe_from("before_activation", "true"), (28, 28, 1), 10)[1:]]
    assert layers == [
        "Rescaling",
        "Conv2D 4 5x5 s2 valid linear nobias", "BatchNormalization", "Activation relu",
        "Conv2D 4 3x3 s1 same linear nobias", "BatchNormalization", "Activation relu",
        "GlobalAveragePooling2D", "Dropout 0.25",
        "Dense 8 linear nobias", "BatchNormalization", "Activation relu",
        "Dense 10 linear nobias", "BatchNormalization", "Activation softmax",
    ]  # fmt: skip


def test_batch_norm_after_the_activation_keeps_the_bias(recipe_from):
    stack = build_layers(recipe_from("after_activation"), (28, 28, 1), 10)
    layers = [describe(layer) for layer in stack[1:]]
    assert layers[1:5] == [
        "Conv2D 4 5x5 s2 valid relu bias",
        "BatchNormalization",
        "Conv2D 4 3x3 s1 same relu bias",
        "BatchNormalization",
    ]
    assert layers[-2:] == ["Dense 10 linear bias", "Activation softmax"]
    assert {layer.momentum for layer in stack if isinstance(layer, keras.layers.BatchNormalization)} == {0.9}


def test_model_output_shapes_follow_the_shape_walk(recipe_from):
    recipe = load_recipe("deotte")
    assert recipe.feature_maps((28, 28, 1)) == [(12, 12, 32), (4, 4, 64), (1, 1, 128)]
    model = build_model(recipe, (28, 28, 1), 10)
    flatten = next(layer for layer in model.layers if isinstance(layer, keras.layers.Flatten))
    assert tuple(flatten.input.shape[1:]) == (1, 1, 128)
    assert recipe_from().feature_maps((28, 28, 1)) == [(12, 12, 4)]
    assert recipe_from().feature_maps((9, 13, 1)) == [(3, 5, 4)]


def test_a_kernel_larger_than_its_feature_map_fails_naming_the_key():
    recipe = load_recipe("deotte").with_overrides({"model.blocks.2.kernel": 5})
    with pytest.raises(KitError, match=r"^recipe deotte: key model.blocks.2.kernel: the 5×5 kernel of conv 1 is larger "
                                       r"than the 4×4 feature map it gets; use a smaller kernel"):  # fmt: skip
        build_layers(recipe, (28, 28, 1), 10)
    nine = load_recipe("an3").with_overrides({"model.blocks.0.convs": 14, "model.blocks.0.filters": 8})
    with pytest.raises(KitError, match=r"key model.blocks.0.kernel: the 3×3 kernel of conv 14 is larger than the 2×2"):
        nine.feature_maps((28, 28, 1))
    assert load_recipe("an7").feature_maps((28, 28, 1)) == [(4, 4, 192)]
    same = load_recipe("an7").with_overrides(
        {"model.blocks.0.convs": 6, "model.blocks.0.filters": 8, "model.blocks.0.padding": "same"}
    )
    assert same.feature_maps((28, 28, 1)) == [(28, 28, 8)]  # "same" padding never shrinks the map


def lr_at(rate, step: int) -> float:
    return float(rate(step)) if callable(rate) else float(rate)


def test_exponential_decay_multiplies_the_rate_once_per_epoch(recipe_from):
    train = recipe_from(train='[train.schedule]\nkind = "exponential"\ndecay = 0.5').train
    rate = learning_rate(train, steps_per_epoch=7)
    assert [lr_at(rate, step) for step in (0, 6, 7, 13, 14, 27)] == pytest.approx(
        [0.01, 0.01, 0.005, 0.005, 0.0025, 0.00125]
    )


def test_cosine_anneals_to_the_final_factor(recipe_from):
    train = recipe_from(train='[train.schedule]\nkind = "cosine"\nfinal_factor = 0.1').train
    rate = learning_rate(train, steps_per_epoch=25)  # 4 epochs: 100 steps
    assert [lr_at(rate, step) for step in (0, 50, 100, 120)] == pytest.approx([0.01, 0.0055, 0.001, 0.001])


def test_one_cycle_warms_up_then_anneals(recipe_from):
    train = recipe_from(train='[train.schedule]\nkind = "one_cycle"').train
    rate = learning_rate(train, steps_per_epoch=25)  # 100 steps, 30 of them warming up from 0.01 × 0.04
    values = [lr_at(rate, step) for step in range(101)]
    assert (
        values[0] == pytest.approx(0.0004) and values[30] == pytest.approx(0.01) and max(values) == pytest.approx(0.01)
    )
    assert values[100] == pytest.approx(0.0, abs=1e-9)
    assert all(a < b for a, b in itertools.pairwise(values[:31])) and all(
        a >= b for a, b in itertools.pairwise(values[30:])
    )
    shorter = recipe_from(
        train='[train.schedule]\nkind = "one_cycle"\nwarmup = 0.1\nstart_factor = 0.5', name="s"
    ).train
    rate = learning_rate(shorter, steps_per_epoch=25)
    assert [lr_at(rate, step) for step in (0, 10)] == pytest.approx([0.005, 0.01])


@pytest.mark.slow
def test_the_schedule_spans_the_training_rows_it_is_given(recipe_from, tiny_dir):
    """A fit on 40 rows in batches of 10 lowers an exponential rate exactly once per epoch."""
    recipe = recipe_from(train='[train.schedule]\nkind = "exponential"\ndecay = 0.9')
    model = build_model(recipe, (28, 28, 1), 10, train_rows=40)
    seen = []
    record = keras.callbacks.LambdaCallback(
        on_epoch_begin=lambda epoch, logs: seen.append(float(model.optimizer.learning_rate))
    )
    images = np.random.default_rng(0).integers(0, 255, (40, 28, 28, 1)).astype("float32")
    model.fit(
        images,
        keras.utils.to_categorical(np.arange(40) % 10, 10),
        batch_size=10,
        epochs=3,
        callbacks=[record],
        verbose=0,
    )
    assert seen == pytest.approx([0.01, 0.009, 0.0081])


def test_constant_rate_stays_a_number_for_reduce_lr_on_plateau(recipe_from):
    optimizer = make_optimizer(load_recipe("tuned").train)
    assert float(optimizer.learning_rate) == pytest.approx(0.001)
    assert learning_rate(recipe_from().train, steps_per_epoch=3) == 0.01


def test_weight_decay_skips_biases_and_batch_norm_and_ema_is_on(recipe_from):
    recipe = recipe_from("after_activation", train="optimizer = 'adamw'\nweight_decay = 0.05\nema = 0.99")
    model = build_model(recipe, (28, 28, 1), 10)
    optimizer = model.optimizer
    assert optimizer.weight_decay == 0.05 and optimizer.use_ema and optimizer.ema_momentum == 0.99
    decayed = {
        variable.path.split("/")[-1] for variable in model.trainable_variables if optimizer._use_weight_decay(variable)
    }
    assert decayed == {"kernel"}
    assert make_optimizer(load_recipe("base").train).weight_decay is None
    assert (
        make_optimizer(recipe_from(train="optimizer = 'adamw'", name="w").train).weight_decay == 0.004
    )  # Keras' default


def test_mixed_precision_layers_and_a_float32_softmax(recipe_from, monkeypatch):
    # Keras turns XLA off while TensorFlow op determinism is on, which an earlier kit cv in this process switched on.
    from tensorflow.python.framework import config

    monkeypatch.setattr(config, "is_op_determinism_enabled", lambda: False)
    model = build_model(recipe_from(train="precision = 'mixed_bfloat16'\njit_compile = false"), (28, 28, 1), 10)
    policies = {layer.dtype_policy.name for layer in model.layers[:-1]}
    assert policies == {"mixed_bfloat16"} and model.layers[-1].dtype_policy.name == "float32"
    assert model.jit_compile is False
    proba = model.predict(np.zeros((3, 28, 28, 1), "float32"), verbose=0)
    assert proba.dtype == np.float32 and np.allclose(proba.sum(axis=1), 1, atol=1e-5)
    half = build_model(recipe_from(train="precision = 'mixed_float16'", name="half"), (28, 28, 1), 10)
    assert isinstance(half.optimizer, keras.optimizers.LossScaleOptimizer)
    assert build_model(recipe_from(train="jit_compile = true", name="xla"), (28, 28, 1), 10).jit_compile is True


def test_the_weight_average_warms_up_like_tensorflows_moving_average(recipe_from):
    optimizer = make_optimizer(recipe_from(train="ema = 0.999").train, steps_per_epoch=10)
    variable = keras.Variable([0.0])
    optimizer.build([variable])
    expected = 0.0
    for step in range(5):
        optimizer.apply([keras.ops.convert_to_tensor([1.0])], [variable])
        value = float(variable.numpy()[0])
        momentum = 0.0 if step == 0 else min(0.999, (2 + step) / (11 + step))  # update n = step + 1
        expected = value if step == 0 else momentum * expected + (1 - momentum) * value
    assert float(optimizer._model_variables_moving_average[0].numpy()[0]) == pytest.approx(expected)
    assert expected < 0.8 * value  # Keras' own EMA would still sit at the first step's weights


@pytest.mark.slow
def test_a_model_trained_with_ema_saves_and_loads(recipe_from, tmp_path):
    model = build_model(recipe_from("after_activation", train="ema = 0.99"), (28, 28, 1), 10)
    images = np.random.default_rng(0).integers(0, 255, (20, 28, 28, 1)).astype("float32")
    model.fit(images, keras.utils.to_categorical(np.arange(20) % 10, 10), batch_size=10, epochs=1, verbose=0)
    model.save(tmp_path / "model.keras")
    loaded = keras.saving.load_model(tmp_path / "model.keras")
    assert type(loaded.optimizer).__name__ == "WarmEMAAdam"
    assert np.allclose(loaded.predict(images, verbose=0), model.predict(images, verbose=0), atol=1e-6)


def test_a_seeded_model_draws_keras_numbers_whatever_other_threads_take_from_random():
    """With ``seed`` the initial weights and dropout seeds are those Keras draws from Python's ``random`` seeded with
    ``seed`` (kit's earlier numbers), and a draw by anyone else in between (Dask's event loop) changes nothing."""
    import random
    import threading

    recipe = load_recipe("turbo")  # conv, dense and dropout layers

    def state(model):
        return [np.asarray(variable) for variable in model.variables]

    random.seed(11)
    keras_own = state(build_model(recipe, (28, 28, 1), 10))
    random.seed(11)
    other = threading.Thread(target=lambda: [random.random() for _ in range(100)])
    other.start()
    other.join()
    seeded = state(build_model(recipe, (28, 28, 1), 10, seed=11))
    random.seed(11)
    random.random()
    unseeded = state(build_model(recipe, (28, 28, 1), 10))
    assert len(seeded) == len(keras_own) and all(np.array_equal(a, b) for a, b in zip(seeded, keras_own, strict=True))
    assert not all(np.array_equal(a, b) for a, b in zip(unseeded, keras_own, strict=True))  # the draw did matter
