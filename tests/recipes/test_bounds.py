"""Hostile recipes stop at load with one line naming the key: callbacks' monitor and mode, and nesting depth."""

from __future__ import annotations

import pytest

from kit.errors import KitError
from kit.recipes import load_recipe
from kit.recipes._keys import MAX_DEPTH


def one_line(error: pytest.ExceptionInfo) -> str:
    text = str(error.value)
    assert "\n" not in text
    return text


@pytest.mark.parametrize("callback", ["early_stopping", "reduce_lr_on_plateau"])
@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("monitor", "val_acc", r"monitor: 'val_acc' is not one of 'val_loss', 'val_accuracy', 'loss', 'accuracy'"),
        ("monitor", "learning_rate", r"monitor: 'learning_rate' is not one of 'val_loss'"),
        ("monitor", 3, r"monitor: 3 is not one of 'val_loss'"),
        ("mode", "up", r"mode: 'up' is not one of 'auto', 'min', 'max'"),
    ],
)
def test_a_monitor_or_mode_keras_cannot_judge_stops_at_load(callback, key, value, message):
    base = load_recipe("base")
    with pytest.raises(KitError, match=rf"^recipe base: key callbacks\.{callback}\.{message}") as error:
        base.with_overrides({f"callbacks.{callback}": {"monitor": "val_loss", key: value}})
    one_line(error)


@pytest.mark.parametrize("monitor", ["val_loss", "val_accuracy", "loss", "accuracy"])
def test_every_metric_kit_logs_may_be_monitored(monitor):
    recipe = load_recipe("base").with_overrides(
        {"callbacks.early_stopping.monitor": monitor, "callbacks.reduce_lr_on_plateau": {"monitor": monitor}}
    )
    assert recipe.callbacks.early_stopping.monitor == recipe.callbacks.reduce_lr_on_plateau.monitor == monitor


@pytest.mark.parametrize(
    "text",
    [
        "[tune." + ".".join(["a"] * 2000) + "]\nb = 1\n",  # headers build deep tables without TOML's recursion
        "[tune]\nx = " + "[" * 40 + "]" * 40 + "\n",
        "[tune]\nx = " + "{ a = " * 40 + "1" + " }" * 40 + "\n",
        "[tune]\nx = " + "[" * 5000 + "]" * 5000 + "\n",  # deeper than the TOML reader's recursion
    ],
)
def test_a_deeply_nested_recipe_stops_with_one_line(tmp_path, text):
    path = tmp_path / "deep.toml"
    path.write_text('extends = "base"\n' + text)
    expected = rf"^recipe {path}: (key tune\.\S+…: nested more than {MAX_DEPTH} |invalid TOML \(nested too deeply\))"
    with pytest.raises(KitError, match=expected) as error:
        load_recipe(str(path))
    one_line(error)


def test_deeply_nested_overrides_stop_with_one_line():
    deep: dict = {"b": 1}
    for _ in range(3000):
        deep = {"a": deep}
    with pytest.raises(KitError, match=rf"^recipe base: key tune\.a\.a\.a…: nested more than {MAX_DEPTH}") as error:
        load_recipe("base").with_overrides({"tune": deep})
    one_line(error)


def test_a_recipe_nested_within_the_bound_still_loads(tmp_path):
    path = tmp_path / "nested.toml"
    path.write_text('extends = "base"\n[tune.' + ".".join(["a"] * (MAX_DEPTH - 2)) + "]\nb = [1, 2]\n")
    assert load_recipe(str(path)).tune["a"]["a"]
