"""The photo keys of ``[augment]`` (flips, quarter turns, crops, colour jitter): defaults off, checked at load with
one-line errors, in the JSON Schema and ``kit recipe show``, absent from the content hash until set; and the shipped
``photo`` recipe that turns them on."""

from __future__ import annotations

import re

import jsonschema
import pytest
from typer.testing import CliRunner

from kit.cli.recipe import recipe_app
from kit.errors import KitError
from kit.recipes import AugmentSpec, load_recipe, recipe_json_schema

PHOTO_KEYS = {
    "flip_horizontal": False,
    "flip_vertical": False,
    "rotate90": False,
    "crop": None,
    "brightness": 0.0,
    "contrast": 0.0,
    "saturation": 0.0,
    "hue": 0.0,
}
TOML = {"yes": '"yes"', "half": '"half"', "lots": '"lots"'}  # how a value is written in a recipe file
VALID = [
    ("flip_horizontal", True),
    ("flip_vertical", True),
    ("rotate90", True),
    ("crop", 0.05),
    ("crop", 0.5),
    ("crop", 1.0),
    ("brightness", 1.0),
    ("contrast", 0.3),
    ("saturation", 0.0),
    ("hue", 0.5),
]


def test_photo_keys_default_off_so_recipes_augment_as_before():
    assert {name: getattr(AugmentSpec(), name) for name in PHOTO_KEYS} == PHOTO_KEYS
    for name in ("base", "deep", "deotte", "fast", "turbo", "an5"):
        augment = load_recipe(name).augment
        assert not augment.photo and augment.enabled == augment.affine, name


@pytest.mark.parametrize(("key", "value"), VALID)
def test_each_photo_key_loads_and_switches_the_photo_set_on(key, value):
    base = load_recipe("base")
    recipe = base.with_overrides({f"augment.{key}": value})
    on = value != 0.0
    assert getattr(recipe.augment, key) == value and not recipe.augment.affine
    assert recipe.augment.photo == recipe.augment.enabled == on
    assert (recipe.content_hash != base.content_hash) == on


def test_keys_at_their_default_leave_the_content_hash_and_false_clears_a_crop():
    fast = load_recipe("fast")
    defaults = {f"augment.{key}": False if value is None else value for key, value in PHOTO_KEYS.items()}
    assert fast.with_overrides(defaults).content_hash == fast.content_hash == "db8cce679e5a"
    cropped = fast.with_overrides({"augment.crop": 0.5})
    assert cropped.content_hash != fast.content_hash
    assert cropped.with_overrides({"augment.crop": False}).augment.crop is None


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("flip_horizontal", 1, "expected true or false, got 1"),
        ("flip_vertical", "yes", "expected true or false, got 'yes'"),
        ("rotate90", 90, "expected true or false, got 90"),
        ("crop", 0.0, "0.0 must be ≥ 0.05"),
        ("crop", 1.5, "1.5 must be ≤ 1.0"),
        ("crop", "half", "expected a number or false"),
        ("brightness", -0.1, "-0.1 must be ≥ 0.0"),
        ("brightness", 1.5, "1.5 must be ≤ 1.0"),
        ("contrast", 2, "2.0 must be ≤ 1.0"),
        ("saturation", "lots", "expected a number, got 'lots'"),
        ("hue", 0.6, "0.6 must be ≤ 0.5"),
        ("hue", float("nan"), "nan is not a finite number"),
    ],
)
def test_a_bad_photo_key_stops_at_load_with_one_line(tmp_path, key, value, message):
    with pytest.raises(KitError, match=rf"^recipe base: key augment\.{key}: {message}") as error:
        load_recipe("base").with_overrides({f"augment.{key}": value})
    assert "\n" not in str(error.value)
    path = tmp_path / "bad.toml"
    path.write_text(f'extends = "base"\n[augment]\n{key} = {TOML.get(value, value)}\n')
    with pytest.raises(KitError, match=rf"^recipe {re.escape(str(path))}: key augment\.{key}: {message}"):
        load_recipe(str(path))


def test_quarter_turns_need_square_images_known_before_training():
    recipe = load_recipe("photo").with_overrides({"augment.rotate90": True})
    assert recipe.feature_maps((64, 64, 3))[-1] == (8, 8, 128)
    with pytest.raises(KitError, match=r"^recipe photo: key augment\.rotate90: .*square images, got 64×96;") as error:
        recipe.feature_maps((64, 96, 3))
    assert "\n" not in str(error.value)
    assert load_recipe("photo").feature_maps((64, 96, 3))  # without quarter turns any shape goes


def test_the_schema_and_recipe_show_carry_the_photo_keys():
    schema = recipe_json_schema()
    properties = schema["$defs"]["AugmentSpec"]["properties"]
    assert properties["hue"]["maximum"] == 0.5 and properties["crop"]["anyOf"][1] == {"const": False}
    assert properties["flip_horizontal"]["type"] == "boolean" and properties["brightness"]["minimum"] == 0.0
    validator = jsonschema.Draft7Validator(schema)
    good = {"extends": "photo", "augment": {"rotate90": True, "crop": False, "hue": 0.1}}
    assert not list(validator.iter_errors(good))
    for bad in ({"crop": 0.01}, {"hue": 0.7}, {"flip_vertical": 1}, {"flip": True}):
        assert list(validator.iter_errors({"extends": "photo", "augment": bad})), bad
    shown = CliRunner().invoke(recipe_app, ["show", "photo", "--set", "augment.flip_vertical=true"])
    assert shown.exit_code == 0, shown.output
    assert "[augment]\nflip_horizontal = true\ncrop = 0.5\n" in shown.output and "flip_vertical = true" in shown.output


def test_the_shipped_photo_recipe():
    recipe = load_recipe("photo")
    augment = recipe.augment
    assert augment.photo and not augment.affine and augment.flip_horizontal and augment.crop == 0.5
    assert not augment.flip_vertical and not augment.rotate90  # photos are taken upright
    assert augment.colour == (0.2, 0.2, 0.2, 0.02)
    assert recipe.model.head == "global_avg" and recipe.train.optimizer == "adamw"
    assert recipe.train.schedule.kind == "one_cycle"
    assert recipe.parameter_count((64, 64, 3), 10) == recipe.parameter_count((96, 96, 3), 10) < 300_000
