"""The recipe zoo (deotte, an3/an5/an7, fast) against the published designs, and the recipe keys they need."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from kit.cli import app
from kit.engine import build_layers, build_model
from kit.errors import KitError
from kit.recipes import load_recipe

pytestmark = pytest.mark.slow  # trains models or starts subprocesses

ZOO = ("deotte", "an3", "an5", "an7", "fast", "fast-bf16")


def conv_lines(recipe) -> list[str]:
    """The weight layers of a recipe's model, one short line each, in order."""
    lines = []
    for layer in build_layers(recipe, (28, 28, 1), 10)[1:]:
        config, kind = layer.get_config(), type(layer).__name__
        if kind == "Conv2D":
            bias = "" if config["use_bias"] else " nobias"
            lines.append(
                f"{config['filters']}C{config['kernel_size'][0]}s{config['strides'][0]} {config['padding']}{bias}"
            )
        elif kind == "Dense":
            lines.append(f"Dense {config['units']}{'' if config['use_bias'] else ' nobias'}")
        elif kind in {"BatchNormalization", "Flatten"}:
            lines.append({"BatchNormalization": "BN", "Flatten": "Flatten"}[kind])
        elif kind == "Dropout":
            lines.append(f"Drop {config['rate']}")
        elif kind == "Activation":
            lines.append(config["activation"])
    return lines


def counts(recipe) -> tuple[int, int]:
    model = build_model(recipe, (28, 28, 1), 10)
    return model.count_params(), sum(int(np.prod(weight.shape)) for weight in model.trainable_weights)


def test_deotte_is_the_kaggle_kernel_network():
    recipe = load_recipe("deotte")
    assert conv_lines(recipe) == [
        "32C3s1 valid", "BN", "32C3s1 valid", "BN", "32C5s2 same", "BN", "Drop 0.4",
        "64C3s1 valid", "BN", "64C3s1 valid", "BN", "64C5s2 same", "BN", "Drop 0.4",
        "128C4s1 valid", "BN", "Flatten", "Drop 0.4", "Dense 10", "softmax",
    ]  # fmt: skip
    assert counts(recipe) == (327_242, 326_410)
    train = recipe.train
    assert (train.optimizer, train.learning_rate, train.batch_size, train.epochs) == ("adam", 0.001, 64, 45)
    assert (train.schedule.kind, train.schedule.decay) == ("exponential", 0.95)
    augment = recipe.augment
    assert (augment.rotation, augment.zoom, augment.width_shift, augment.height_shift) == (15, 0.15, 0.1, 0.1)
    assert augment.fill_mode == "nearest" and recipe.callbacks.reduce_lr_on_plateau is None


@pytest.mark.parametrize(
    ("name", "kernel", "channels", "flat", "total", "trainable"),
    [
        ("an3", 3, [32, 48, 64, 80, 96, 112, 128, 144, 160, 176], 8 * 8 * 176, 1_126_280, 1_124_180),
        ("an5", 5, [32, 64, 96, 128, 160], 8 * 8 * 160, 1_129_160, 1_128_180),
        ("an7", 7, [48, 96, 144, 192], 4 * 4 * 192, 2_292_952, 2_291_972),
    ],
)
def test_an_et_al_models_match_the_authors_code(name, kernel, channels, flat, total, trainable):
    recipe = load_recipe(name)
    convs = [[f"{filters}C{kernel}s1 valid nobias", "BN", "relu"] for filters in channels]
    assert conv_lines(recipe) == [line for conv in convs for line in conv] + [
        "Flatten",
        "Dense 10 nobias",
        "BN",
        "softmax",
    ]
    assert recipe.feature_maps((28, 28, 1))[-1][0] ** 2 * channels[-1] == flat
    assert counts(recipe) == (total, trainable)  # trainable = the PyTorch parameter count of ModelM3/M5/M7
    # The PyTorch count by hand: bias-free convs, BN scale and offset, a bias-free Dense 10 with its BN.
    inputs = [1, *channels[:-1]]
    assert trainable == sum(kernel * kernel * a * b + 2 * b for a, b in zip(inputs, channels)) + flat * 10 + 20
    train = recipe.train
    assert (train.optimizer, train.learning_rate, train.batch_size, train.epochs, train.ema) == (
        "adam",
        0.001,
        120,
        150,
        0.999,
    )
    assert (train.schedule.kind, train.schedule.decay, recipe.model.batch_norm_momentum) == ("exponential", 0.98, 0.9)
    augment = recipe.augment
    assert (augment.rotation, augment.zoom, augment.width_shift, augment.height_shift) == (20, 0, 0.2, 0.2)


def test_fast_is_cheaper_than_the_notebook_model():
    fast, tuned = load_recipe("fast"), load_recipe("tuned")
    assert fast.train.epochs * 3 <= tuned.train.epochs and fast.train.batch_size >= tuned.train.batch_size
    assert counts(fast)[0] < counts(tuned)[0] / 4
    assert fast.train.schedule.kind == "one_cycle" and fast.train.label_smoothing > 0


@pytest.mark.parametrize("name", ZOO)
def test_every_zoo_recipe_runs_kit_cv_end_to_end(name, tiny_dir, tmp_path):
    """`kit cv NAME --epochs 1` on the first 200 rows of the embedded data (2 folds to keep it quick)."""
    out = tmp_path / name
    args = ["cv", name, "--data", str(tiny_dir), "--out", str(out), "--epochs", "1", "--folds", "2"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "OOF accuracy" in result.output
    summary = json.loads((out / "summary.json").read_text())
    assert summary["recipe"] == name and [fold["epochs"] for fold in summary["folds"]] == [1, 1]
    assert summary["recipe_content"]["train"]["epochs"] == 1
    oof = np.load(out / "oof.npy")
    assert oof.shape == (200, 10) and np.allclose(oof.sum(axis=1), 1, atol=1e-4)


def write(folder, name, text):
    path = folder / f"{name}.toml"
    path.write_text(text)
    return path


BLOCK = "[[model.blocks]]\nfilters = 8\n"


def test_per_conv_lists_and_single_values(tmp_path):
    recipe = load_recipe(
        str(
            write(
                tmp_path,
                "lists",
                BLOCK + "convs = 3\nkernel = [3, 5, 3]\nstrides = 2\npadding = ['same', 'valid', 'same']\n",
            )
        )
    )
    assert recipe.model.blocks[0].conv_layout() == [(8, 3, 2, "same"), (8, 5, 2, "valid"), (8, 3, 2, "same")]
    assert load_recipe("base").model.blocks[0].conv_layout() == [(32, 3, 1, "same")]


def test_a_child_switches_schedule_by_clearing_the_parents_settings(tmp_path):
    write(tmp_path, "child", 'extends = "deotte"\n[train.schedule]\nkind = "cosine"\ndecay = false\n')
    schedule = load_recipe(str(tmp_path / "child.toml")).train.schedule
    assert (schedule.kind, schedule.decay, schedule.setting("warmup"), schedule.setting("final_factor")) == (
        "cosine",
        None,
        0.0,
        0.0,
    )
    assert load_recipe("fast").with_overrides({"train.schedule.warmup": 0.1}).train.schedule.setting("warmup") == 0.1


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[train.schedule]\nkind = 'exponential'\ndecay = -0.5\n", r"key train.schedule.decay: -0.5 must be > 0"),
        ("[train.schedule]\nkind = 'exponential'\ndecay = 1.5\n", r"key train.schedule.decay: 1.5 must be ≤ 1"),
        (
            "[train.schedule]\nkind = 'step'\n",
            r"key train.schedule.kind: 'step' is not one of 'constant', 'exponential'",
        ),
        (
            "[train.schedule]\nkind = 'exponential'\n",
            r"key train.schedule.decay: missing; kind = 'exponential' needs it",
        ),
        (
            "[train.schedule]\nkind = 'cosine'\ndecay = 0.9\n",
            r"key train.schedule.decay: only used when kind is 'exponential', not 'cosine'",
        ),
        (
            "[train.schedule]\nwarmup = 0.1\n",
            r"key train.schedule.warmup: only used when kind is 'cosine' or 'one_cycle'",
        ),
        ("[train.schedule]\nkind = 'one_cycle'\nwarmup = 0.95\n", r"key train.schedule.warmup: 0.95 must be ≤ 0.9"),
        (
            "[train.schedule]\nkind = 'one_cycle'\nstart_factor = 0\n",
            r"key train.schedule.start_factor: 0.0 must be > 0",
        ),
        (
            "[train.schedule]\nkind = 'cosine'\n[callbacks.reduce_lr_on_plateau]\npatience = 2\n",
            r"key callbacks.reduce_lr_on_plateau: cannot lower a learning rate "
            r"that train.schedule.kind = 'cosine' sets",
        ),
        ("[train]\nweight_decay = -0.1\n", r"key train.weight_decay: -0.1 must be ≥ 0"),
        ("[train]\nema = 1.0\n", r"key train.ema: 1.0 must be ≤ 0.99999"),
        (
            "[train]\nprecision = 'float16'\n",
            r"key train.precision: 'float16' is not one of 'float32', 'mixed_bfloat16'",
        ),
        (
            "[train]\njit_compile = 'yes'\n",
            r"key train.jit_compile: expected true or false or one of 'auto', got 'yes'",
        ),
        ("[model]\nhead_dropout = 1.0\n", r"key model.head_dropout: 1.0 must be ≤ 0.95"),
        ("[model]\nbatch_norm_momentum = 0\n", r"key model.batch_norm_momentum: 0.0 must be > 0"),
    ],
)
def test_bad_training_keys_fail_with_one_line_naming_the_key(tmp_path, text, message):
    path = write(tmp_path, "bad", BLOCK + text)
    with pytest.raises(KitError, match=message) as error:
        load_recipe(str(path))
    assert "\n" not in str(error.value) and str(error.value).startswith(f"recipe {path}: key ")


@pytest.mark.parametrize(
    ("block", "message"),
    [
        (
            "convs = 2\nkernel = [3, 5, 7]\n",
            r"key model.blocks.0.kernel: 3 values for 2 convs; give one value or one per conv",
        ),
        ("filters = [8]\nconvs = 2\n", r"key model.blocks.0.filters: 1 values for 2 convs"),
        ("kernel = [3, 0]\nconvs = 2\n", r"key model.blocks.0.kernel.1: 0 must be ≥ 1"),
        ("kernel = [3, 'x']\nconvs = 2\n", r"key model.blocks.0.kernel.1: expected an integer, got 'x'"),
        ("kernel = 'big'\n", r"key model.blocks.0.kernel: expected an integer or a list, got 'big'"),
        ("strides = 0\n", r"key model.blocks.0.strides: 0 must be ≥ 1"),
        ("padding = 'full'\n", r"key model.blocks.0.padding: expected one of 'same', 'valid' or a list, got 'full'"),
        (
            "padding = ['same', 'causal']\nconvs = 2\n",
            r"key model.blocks.0.padding.1: 'causal' is not one of 'same', 'valid'",
        ),
        (
            "batch_norm = true\n",
            r"key model.blocks.0.batch_norm: "
            r"expected one of 'before_activation', 'after_activation' or false, got True",
        ),
    ],
)
def test_bad_block_keys_fail_with_one_line_naming_the_key(tmp_path, block, message):
    path = write(tmp_path, "bad", "[[model.blocks]]\n" + ("" if "filters" in block else "filters = 8\n") + block)
    with pytest.raises(KitError, match=message) as error:
        load_recipe(str(path))
    assert "\n" not in str(error.value)


def test_kit_cv_reports_a_kernel_too_large_before_training(tmp_path, tiny_dir):
    path = write(tmp_path, "wide", 'extends = "deotte"\n[model.blocks.2]\nkernel = 6\n')
    out = tmp_path / "run"
    result = CliRunner().invoke(app, ["cv", str(path), "--data", str(tiny_dir), "--out", str(out)])
    assert isinstance(result.exception, KitError)
    assert str(result.exception) == (
        "recipe wide: key model.blocks.2.kernel: the 6×6 kernel of conv 1 is larger than the 4×4 feature map it gets; "
        "use a smaller kernel, fewer convs or padding = 'same'"
    )
    assert not out.exists()
