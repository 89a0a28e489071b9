"""Recipe files: the shipped notebook models, inheritance, overrides and one-line errors."""

from __future__ import annotations

import json
import subprocess
import sys
import tomllib

import jsonschema
import pytest
from typer.testing import CliRunner

from kit.cli.recipe import recipe_app
from kit.errors import KitError
from kit.recipes import (
    ConvBlock,
    ModelSpec,
    Recipe,
    list_recipes,
    load_recipe,
    parse_set,
    recipe_json_schema,
    recipe_toml,
    shipped_recipes,
)


def write(folder, name, text):
    path = folder / f"{name}.toml"
    path.write_text(text)
    return path


MINIMAL = """
[[model.blocks]]
filters = 8
"""


def test_notebook_recipes_carry_the_notebook_numbers():
    base, deep, tuned = load_recipe("base"), load_recipe("deep"), load_recipe("tuned")
    assert [(b.filters, b.convs, b.dropout) for b in base.model.blocks] == [(32, 1, 0), (64, 1, 0), (128, 1, 0)]
    assert base.model.dense[0].units == 256 and base.train.optimizer == "adam" and base.train.batch_size == 32
    stop = base.callbacks.early_stopping
    assert (stop.min_delta, stop.patience, stop.restore_best_weights) == (0.001, 5, True)
    assert not base.augment.enabled and base.callbacks.reduce_lr_on_plateau is None
    assert [(b.convs, b.dropout) for b in deep.model.blocks] == [(2, 0.3)] * 3
    assert deep.train.optimizer == "rmsprop" and deep.train.batch_size == 128
    assert (deep.augment.rotation, deep.augment.zoom, deep.augment.width_shift, deep.augment.height_shift) == (
        10,
        0.1,
        0.1,
        0.1,
    )
    assert [b.dropout for b in tuned.model.blocks] + [tuned.model.dense[0].dropout] == [0.5, 0.4, 0.2, 0.1]
    assert tuned.model.dense[0].units == 512 and tuned.train.optimizer == "adam"
    assert (
        tuned.callbacks.reduce_lr_on_plateau.patience == 3
        and tuned.callbacks.reduce_lr_on_plateau.monitor == "val_accuracy"
    )
    assert tuned.train.batch_size == 128 and tuned.augment == deep.augment


def test_extends_overrides_a_few_keys_and_list_items_by_index(tmp_path):
    write(tmp_path, "parent", MINIMAL + "[[model.blocks]]\nfilters = 16\ndropout = 0.2\n[train]\nepochs = 4\n")
    child = write(tmp_path, "child", 'extends = "parent"\n[model.blocks.1]\ndropout = 0.4\n[train]\nbatch_size = 8\n')
    recipe = load_recipe(str(child))
    assert recipe.name == "child"
    assert [(b.filters, b.dropout) for b in recipe.model.blocks] == [(8, 0.0), (16, 0.4)]
    assert (recipe.train.epochs, recipe.train.batch_size) == (4, 8)


def test_callback_can_be_switched_off_by_a_child(tmp_path):
    child = write(tmp_path, "quiet", 'extends = "tuned"\n[callbacks]\nreduce_lr_on_plateau = false\n')
    assert load_recipe(str(child)).callbacks.reduce_lr_on_plateau is None


def test_recipes_found_through_kit_recipes(tmp_path, monkeypatch):
    write(tmp_path, "mine", MINIMAL)
    monkeypatch.setenv("KIT_RECIPES", str(tmp_path))
    assert load_recipe("mine").model.blocks[0].filters == 8


def test_content_hash_tracks_training_content_only(tmp_path):
    one = load_recipe(str(write(tmp_path, "one", 'description = "a"\n' + MINIMAL)))
    two = load_recipe(str(write(tmp_path, "two", 'description = "b"\n' + MINIMAL)))
    assert one.content_hash == two.content_hash
    assert one.with_overrides({"train.epochs": 3}).content_hash != one.content_hash


def test_overrides_are_validated():
    recipe = load_recipe("tuned").with_overrides({"train.epochs": 2, "model.blocks.1.dropout": 0.25})
    assert recipe.train.epochs == 2 and recipe.model.blocks[1].dropout == 0.25
    with pytest.raises(KitError, match=r"recipe tuned: key train.epochs: 0 must be ≥ 1"):
        load_recipe("tuned").with_overrides({"train.epochs": 0})
    with pytest.raises(KitError, match=r"key model.blocks.7.dropout: '7' is not an index of a list of 3"):
        load_recipe("tuned").with_overrides({"model.blocks.7.dropout": 0.1})


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (MINIMAL + "[train]\nepoch = 3\n", r"key train.epoch: unknown key \(known keys here: optimizer,"),
        (MINIMAL + "[train]\nepochs = 'ten'\n", r"key train.epochs: expected an integer, got 'ten'"),
        (MINIMAL + "[train]\nepochs = true\n", r"key train.epochs: expected an integer"),
        (MINIMAL + "[train]\noptimizer = 'adamax'\n", r"key train.optimizer: 'adamax' is not one of 'adam'"),
        (MINIMAL + "[train]\nlearning_rate = 0\n", r"key train.learning_rate: 0.0 must be > 0"),
        (MINIMAL + "[cv]\nfolds = 1\n", r"key cv.folds: 1 must be ≥ 2"),
        ("[[model.blocks]]\nfilters = 8\ndropout = 1.5\n", r"key model.blocks.0.dropout: 1.5 must be ≤ 0.95"),
        ("[[model.blocks]]\nconvs = 2\n", r"key model.blocks.0.filters: missing"),
        ("[train]\nepochs = 3\n", r"key model: missing"),
        (
            MINIMAL + "[callbacks.early_stopping]\npatience = -1\n",
            r"key callbacks.early_stopping.patience: -1 must be ≥ 0",
        ),
        (MINIMAL + "[callbacks.early_stop]\npatience = 1\n", r"key callbacks.early_stop: unknown key"),
        (MINIMAL + "[augment]\nrotation = 'lots'\n", r"key augment.rotation: expected a number"),
        ("model = 3\n", r"key model: expected a table"),
        (MINIMAL + "[train\n", r"invalid TOML"),
        ('extends = "nowhere"\n' + MINIMAL, r"recipe 'nowhere' not found; known recipes: .*tuned"),
        ('extends = "self"\n', r"extends itself"),
        ("extends = 3\n", r"key extends must be a recipe name"),
    ],
)
def test_bad_recipes_fail_with_one_line_naming_the_key(tmp_path, text, message):
    path = write(tmp_path, "self", text)
    with pytest.raises(KitError, match=message) as error:
        load_recipe(str(path))
    assert "\n" not in str(error.value)


def test_missing_recipe_file():
    with pytest.raises(KitError, match=r"recipe nowhere/x.toml: file not found"):
        load_recipe("nowhere/x.toml")
    with pytest.raises(KitError, match=r"recipe 'nope' not found; known recipes: .*base"):
        load_recipe("nope")


# ------------------------------------------------------------------ finite numbers, bounds and sizes (issue 11)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (MINIMAL + "[train]\nlearning_rate = nan\n", r"key train.learning_rate: nan is not a finite number"),
        (MINIMAL + "[augment]\nrotation = nan\n", r"key augment.rotation: nan is not a finite number"),
        (MINIMAL + "[augment]\nzoom = inf\n", r"key augment.zoom: inf is not a finite number"),
        (
            MINIMAL + "[train.schedule]\nkind = 'exponential'\ndecay = -inf\n",
            r"key train.schedule.decay: -inf is not a",
        ),
        (MINIMAL + "[cv]\nseed = 5000000\n", r"key cv.seed: 5000000 must be ≤ 1000000"),
        (MINIMAL + "[cv]\nfolds = 101\n", r"key cv.folds: 101 must be ≤ 100"),
        (MINIMAL + "[train]\nepochs = 10001\n", r"key train.epochs: 10001 must be ≤ 10000"),
        (MINIMAL + "[train]\nbatch_size = 65537\n", r"key train.batch_size: 65537 must be ≤ 65536"),
        (
            "[model]\ndense = [{ units = 1000000000000 }]\n" + MINIMAL,
            r"key model.dense.0.units: 1000000000000 must be ≤ 65536",
        ),
        ("[[model.blocks]]\nfilters = 5000\n", r"key model.blocks.0.filters: 5000 must be ≤ 4096"),
        ("[[model.blocks]]\nfilters = 8\nkernel = 65\n", r"key model.blocks.0.kernel: 65 must be ≤ 64"),
        (
            "[model]\ndense = [{ units = 65536 }, { units = 65536 }]\n" + MINIMAL,
            r"key model: 4,295,\d{3},\d{3} parameters even on the smallest images, "
            r"more than the 200,000,000 kit allows",
        ),
        (MINIMAL + "[train]\nepochs = '3'\n", r"key train.epochs: expected an integer, got '3'"),
        (MINIMAL + "[train]\nlearning_rate = '0.1'\n", r"key train.learning_rate: expected a number, got '0.1'"),
        (
            MINIMAL + "[callbacks.reduce_lr_on_plateau]\nfactor = 1.0\n",
            r"key callbacks.reduce_lr_on_plateau.factor: 1.0 must be < 1.0",
        ),
        (
            MINIMAL + "[train.schedule]\nkind = ['cosine']\n",
            r"key train.schedule.kind: \['cosine'\] is not one of 'constant'",
        ),
        (MINIMAL + "[train]\nschedule = 'cosine'\n", r"key train.schedule: expected a table, got 'cosine'"),
        (
            "[[model.blocks]]\nfilters = 8\nconvs = 2\nkernel = 3.5\n",
            r"key model.blocks.0.kernel: expected an integer or a list, got 3.5",
        ),
        ("[[model.blocks]]\n", r"key model.blocks.0.filters: missing; each conv block needs its filters"),
    ],
)
def test_non_finite_out_of_range_and_oversized_values_fail_with_one_line(tmp_path, text, message):
    path = write(tmp_path, "bad", text)
    with pytest.raises(KitError, match=message) as error:
        load_recipe(str(path))
    assert "\n" not in str(error.value) and str(error.value).startswith(f"recipe {path}: key ")


def test_the_largest_allowed_seed_keeps_fold_seeds_within_int32(tmp_path):
    recipe = load_recipe(str(write(tmp_path, "seed", MINIMAL + "[cv]\nseed = 1000000\nfolds = 100\n")))
    assert recipe.cv.seed * 1000 + recipe.cv.folds < 2**31


def test_parameter_count_matches_keras_and_large_images_are_checked_when_the_shape_is_known(tmp_path):
    assert load_recipe("deotte").parameter_count((28, 28, 1), 10) == 327_242  # Keras' count_params(), see the zoo
    assert load_recipe("an7").parameter_count((28, 28, 1), 10) == 2_292_952
    wide = load_recipe(
        str(write(tmp_path, "wide", "[model]\ndense = [{ units = 1024 }]\n[[model.blocks]]\nfilters = 512\n"))
    )
    assert wide.feature_maps((28, 28, 1)) == [(14, 14, 512)]
    with pytest.raises(
        KitError, match=r"^recipe wide: key model: 34,\d{3},\d{3},\d{3} parameters on 512×512×3 images, more than"
    ):
        wide.feature_maps((512, 512, 3))


# ------------------------------------------------------------------------------------------------ extends


def test_extends_with_a_relative_path_resolves_against_the_recipes_folder(tmp_path, monkeypatch):
    (tmp_path / "shared").mkdir()
    (tmp_path / "mine").mkdir()
    write(tmp_path / "shared", "parent", MINIMAL + "[train]\nepochs = 4\n")
    child = write(tmp_path / "mine", "child", 'extends = "../shared/parent.toml"\n[train]\nbatch_size = 8\n')
    monkeypatch.chdir(tmp_path / "mine")  # from elsewhere too: the path is relative to the child, not the cwd
    assert (load_recipe(str(child)).train.epochs, load_recipe("child.toml").train.batch_size) == (4, 8)
    monkeypatch.chdir(tmp_path)
    assert load_recipe(str(child)).train.epochs == 4


@pytest.mark.parametrize(
    ("files", "message"),
    [
        ({"a": 'extends = "b"\n', "b": 'extends = "a"\n'}, r"extends itself through a → b → a"),
        (
            {"a": 'extends = "../nowhere.toml"\n'},
            r"^recipe .*a.toml: key extends: recipe ../nowhere.toml: file not found",
        ),
        ({"a": 'extends = "b"\n', "b": "[train\n"}, r"^recipe .*b.toml: invalid TOML"),
        ({"a": 'extends = ""\n'}, r"key extends must be a recipe name or a path"),
        (
            {"a": 'extends = "b"\n[model.blocks.x]\nfilters = 3\n', "b": MINIMAL},
            r"key model.blocks.x: 'x' is not an index",
        ),
    ],
)
def test_broken_extends_chains_fail_with_one_line(tmp_path, files, message):
    for name, text in files.items():
        write(tmp_path, name, text)
    with pytest.raises(KitError, match=message) as error:
        load_recipe(str(tmp_path / "a.toml"))
    assert "\n" not in str(error.value)


# ------------------------------------------------------------------------------------- overrides and --set


def test_overrides_take_dotted_keys_and_nested_tables_and_keep_the_name():
    tuned = load_recipe("tuned")
    dotted = tuned.with_overrides({"train.learning_rate": 3e-3, "model.dense.0.units": 256})
    nested = tuned.with_overrides({"train": {"learning_rate": 3e-3}, "model": {"dense": {"0": {"units": 256}}}})
    assert dotted == nested and dotted.name == nested.name == "tuned"
    assert (nested.train.learning_rate, nested.train.batch_size, nested.model.dense[0].units) == (3e-3, 128, 256)
    assert nested.model.dense[0].dropout == 0.1  # the other keys of a table given as a table stay
    assert nested.content_hash != tuned.content_hash and tuned.train.learning_rate == 0.001  # the original is untouched
    switched = load_recipe("deotte").with_overrides({"train": {"schedule": {"kind": "cosine", "decay": False}}})
    assert switched.train.schedule.kind == "cosine" and switched.train.schedule.decay is None
    enabled = load_recipe("base").with_overrides({"callbacks.reduce_lr_on_plateau": {"patience": 2}})
    assert enabled.callbacks.reduce_lr_on_plateau.patience == 2


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"train": {"epochs": 0}}, r"^recipe tuned: key train.epochs: 0 must be ≥ 1 \(override train.epochs=0\)$"),
        ({"train.learning_rate": float("nan")}, r"key train.learning_rate: nan is not a finite number.*override"),
        ({"train.epoch": 3}, r"^recipe tuned: key train.epoch: unknown key \(known keys here: optimizer"),
        ({"train.epochs.x": 3}, r"key train.epochs.x: train.epochs is not a table"),
        ({"model..x": 3}, r"key 'model..x': not a dotted recipe key"),
        ({"train.schedule.kind": "exponential"}, r"key train.schedule.decay: missing; kind = 'exponential' needs it"),
    ],
)
def test_bad_overrides_fail_with_one_line_naming_the_key(overrides, message):
    with pytest.raises(KitError, match=message) as error:
        load_recipe("tuned").with_overrides(overrides)
    assert "\n" not in str(error.value)


def test_parse_set_reads_toml_values_and_bare_words():
    assert parse_set(
        [
            "train.learning_rate=3e-3",
            "model.dense.0.units = 256",
            "augment.fill_mode=nearest",
            'description="a b"',
            "model.blocks.0.kernel=[3, 5]",
            "callbacks.early_stopping={ patience = 2 }",
            "train.jit_compile=false",
            "train.epochs=2",
            "train.epochs=3",
        ]
    ) == {
        "train.learning_rate": 3e-3,
        "model.dense.0.units": 256,
        "augment.fill_mode": "nearest",
        "description": "a b",
        "model.blocks.0.kernel": [3, 5],
        "callbacks.early_stopping": {"patience": 2},
        "train.jit_compile": False,
        "train.epochs": 3,
    }
    assert load_recipe("demo").with_overrides(parse_set(["augment.fill_mode=nearest"])).augment.fill_mode == "nearest"
    with pytest.raises(KitError, match=r"key train.learning_rate: nan is not a finite number"):
        load_recipe("demo").with_overrides(parse_set(["train.learning_rate=nan"]))


@pytest.mark.parametrize(
    ("item", "message"),
    [
        ("train.epochs", r"^override 'train.epochs': expected KEY=VALUE"),
        ("=3", r"^override '=3': expected KEY=VALUE"),
        ("train epochs=3", r"expected KEY=VALUE with a dotted recipe key"),
        ("train.epochs=", r"^override 'train.epochs=': no value after '='"),
        ("model.blocks.0.kernel=[3, 5", r"'\[3, 5' is not a TOML value"),
        ("train.learning_rate=3e-3x", r"'3e-3x' is not a TOML value"),
        ('description="open', r"is not a TOML value"),
    ],
)
def test_malformed_set_items_fail_naming_the_item(item, message):
    with pytest.raises(KitError, match=message) as error:
        parse_set([item])
    assert "\n" not in str(error.value)


# ------------------------------------------------------------------------------- kit recipe list/show/schema


def test_the_json_schema_accepts_every_shipped_recipe_and_rejects_bad_ones():
    validator = jsonschema.Draft7Validator(recipe_json_schema())
    validator.check_schema(validator.schema)
    for path in sorted(shipped_recipes().glob("*.toml")):
        raw = tomllib.loads(path.read_text())
        assert not list(validator.iter_errors(raw)), path.name  # the file as written (extends: a partial table)
        assert not list(validator.iter_errors(load_recipe(path.stem).content)), path.name  # resolved
    bad = [
        {"model": {"blocks": [{"filters": 0}]}},
        {"model": {"blocks": [{"filters": 8}]}, "train": {"epochs": "ten"}},
        {"model": {"blocks": [{"filters": 8}]}, "train": {"schedule": {"kind": "cosine", "decay": 0.9}}},
        {"train": {"epochs": 3}},  # no model and no extends
        {"extends": "base", "train": {"epoch": 3}},
        {"extends": "base", "model": {"blocks": {"0": {"dropout": 2.0}}}},
    ]
    for table in bad:
        assert list(validator.iter_errors(table)), table
    cleared = {"model": {"blocks": []}, "train": {"schedule": {"kind": "cosine", "decay": False}}}
    assert not list(validator.iter_errors(cleared))


def test_kit_recipe_show_prints_the_resolved_recipe_that_loads_back(tmp_path):
    result = CliRunner().invoke(recipe_app, ["show", "tuned", "--set", "train.epochs=3", "--set", "augment.zoom=0.2"])
    assert result.exit_code == 0, result.output
    expected = load_recipe("tuned").with_overrides({"train.epochs": 3, "augment.zoom": 0.2})
    assert result.output.startswith(f"# recipe tuned, content hash {expected.content_hash}\n")
    again = load_recipe(str(write(tmp_path, "again", result.output)))
    assert again.content_hash == expected.content_hash and again.train.epochs == 3


def test_kit_recipe_list_and_schema(tmp_path, monkeypatch):
    write(tmp_path, "demo", MINIMAL + 'description = "my own demo"\n')
    write(tmp_path, "broken", "[train\n")
    monkeypatch.setenv("KIT_RECIPES", str(tmp_path))
    monkeypatch.setenv("COLUMNS", "80")
    entries = {entry.name: entry for entry in list_recipes()}
    assert entries["demo"].origin == str(tmp_path) and entries["demo"].shadows == (shipped_recipes() / "demo.toml",)
    assert entries["deotte"].origin == "shipped" and entries["broken"].description.startswith(
        "(unreadable: invalid TOML"
    )
    listed = CliRunner().invoke(recipe_app, ["list"])
    assert listed.exit_code == 0 and "deotte" in listed.output and "shadows" in listed.output
    assert max(len(line) for line in listed.output.splitlines()) <= 80
    out = tmp_path / "recipe.schema.json"
    written = CliRunner().invoke(recipe_app, ["schema", "--out", str(out)])
    assert written.exit_code == 0 and json.loads(out.read_text()) == recipe_json_schema()
    printed = CliRunner().invoke(recipe_app, ["schema"])
    assert json.loads(printed.output) == recipe_json_schema()


def test_recipes_and_the_recipe_commands_import_no_tensorflow():
    code = (
        "import sys\n"
        "from typer.testing import CliRunner\n"
        "from kit.cli.recipe import recipe_app\n"
        "from kit.recipes import list_recipes, load_recipe\n"
        "[load_recipe(entry.name).feature_maps((28, 28, 1)) for entry in list_recipes()]\n"
        "for args in (['list'], ['schema'], ['show', 'deotte'], ['show', 'nope']):\n"
        "    CliRunner().invoke(recipe_app, args)\n"
        "print(sorted(m for m in ('tensorflow', 'keras', 'keras_tuner', 'sklearn', 'pandas') if m in sys.modules))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


def test_a_recipe_built_in_python_takes_overrides_and_writes_toml(tmp_path):
    built = Recipe(name="py", model=ModelSpec(blocks=(ConvBlock(filters=8),)))
    changed = built.with_overrides({"train.epochs": 2, "train": {"schedule": {"kind": "cosine"}}})
    assert (changed.name, changed.train.epochs, changed.train.schedule.kind) == ("py", 2, "cosine")
    again = load_recipe(str(write(tmp_path, "again", recipe_toml(changed))))
    assert again.content_hash == changed.content_hash and again.model == built.model


def test_content_hashes_of_shipped_recipes_are_stable():
    """Run folders record these hashes: a key added to the format must not change them, or old runs stop resuming."""
    hashes = {name: load_recipe(name).content_hash for name in ("base", "demo", "deotte", "tuned")}
    assert hashes == {"base": "60746c6b4985", "demo": "2a13f4e78099", "deotte": "6244bd2ca60c", "tuned": "834c5189db27"}
