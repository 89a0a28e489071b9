"""kit kernel build: the kernel folder, and its notebook executed as Kaggle runs it — with no network (a new network
namespace), in a fresh virtual environment holding only the scientific stack of a Kaggle image, Jupyter and pip (not
kit, nor any of its other dependencies: the notebook installs them from the wheels dataset, which holds kit's wheel and
wheels of its other dependencies rebuilt from the distributions installed here), over a ``/kaggle`` tree laid out as
Kaggle lays it out — on the original test set and on one of other ids and another number of rows; each time its
submission.csv must be what ``kit predict`` writes (with ``--tta`` too: the kernel averages the same augmented copies
of its test images in)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import wheelhouse
from typer.testing import CliRunner

from conftest import tiny_recipe_toml
from kit.cli import app
from kit.crossval import run_cv
from kit.ensemble import predict
from kit.errors import KitError
from kit.kaggle import build_kernel, predict_kernel
from kit.kaggle._notebook import kernel_names, slugify
from kit.kaggle._wheels import KAGGLE_STACK, normalise, platform_tags, stack_closure
from kit.recipes import load_recipe

NAME = "kit-kernel-digits"  # a pixel-CSV competition with an id column, so a test set can have other ids
SPEC = f"""name = "{NAME}"
metric = "accuracy"
classes = 10
[columns]
label = "label"
id = "id"
submission = ["id", "label"]
[image]
height = 28
width = 28
channels = 1
[pixels]
prefix = "pixel"
"""
OWNER = "kit-tester"
IMAGE = (*KAGGLE_STACK, "ipykernel", "pip")  # what the kernel's environment holds, with all they pull in
ABSENT = ("kit", "typer", "kaggle", "pydantic", "tenacity", "lazy_loader", "nbformat", "dask", "slugify")
WEIGHTS = (2.0, 1.0)
TTA = 2
RUNNER = """
import sys, nbformat
from nbclient import NotebookClient
path, out, kernel, cwd = sys.argv[1:5]
book = nbformat.read(path, as_version=4)
NotebookClient(book, kernel_name=kernel, timeout=600, resources={"metadata": {"path": cwd}}).execute()
nbformat.write(book, out)
"""


def competition_folder(folder: Path, demo_dir: Path, rows: slice, ids: np.ndarray, sample_order: np.ndarray) -> Path:
    """A competition folder: 200 demo training rows, the demo test ``rows`` with these ``ids``, and a sample
    submission listing the ids in ``sample_order``."""
    folder.mkdir(parents=True)
    pd.read_csv(demo_dir / "train.csv", nrows=200).to_csv(folder / "train.csv", index=False)
    test = pd.read_csv(demo_dir / "test.csv").iloc[rows].reset_index(drop=True)
    pd.concat([pd.DataFrame({"id": ids}), test], axis=1).to_csv(folder / "test.csv", index=False)
    pd.DataFrame({"id": ids[sample_order], "label": 0}).to_csv(folder / "sample_submission.csv", index=False)
    (folder / "competition.toml").write_text(SPEC)
    return folder


@pytest.fixture(scope="session")
def test_sets(tmp_path_factory, demo_dir) -> dict[str, Path]:
    """Two folders of the same training rows: "a" with 40 test rows (ids 1000, 1007, …; the sample in file order),
    "b" with 23 other test rows, scattered ids, and the sample in another order."""
    root = tmp_path_factory.mktemp("kernel-data")
    rng = np.random.default_rng(5)
    ids_a = 1000 + 7 * np.arange(40)
    ids_b = rng.choice(np.arange(50_000, 90_000), size=23, replace=False)
    return {
        "a": competition_folder(root / "a", demo_dir, slice(0, 40), ids_a, np.arange(40)),
        "b": competition_folder(root / "b", demo_dir, slice(100, 123), ids_b, rng.permutation(23)),
    }


@pytest.fixture(scope="session")
def trained(tmp_path_factory, test_sets) -> dict[str, list[Path]]:
    """Two tiny runs (seeds 3 and 4) on each test set's folder: the same training rows, so the same fold models."""
    root = tmp_path_factory.mktemp("kernel-runs")
    runs: dict[str, list[Path]] = {}
    for key, folder in test_sets.items():
        for seed in (3, 4):
            recipe = root / f"tiny-{seed}.toml"
            recipe.write_text(tiny_recipe_toml(f"tiny seed {seed}", seed=seed))
            out = root / key / f"tiny-{seed}"
            run_cv(load_recipe(str(recipe)), folder, out=out)
            runs.setdefault(key, []).append(out)
    return runs


@pytest.fixture(scope="session")
def dependency_wheels(tmp_path_factory) -> Path:
    """A folder of wheels of kit's dependencies beyond the Kaggle stack and what it pulls in (those the real build
    downloads), rebuilt from the distributions installed here: no network."""
    folder = tmp_path_factory.mktemp("dependency-wheels")
    wheelhouse.build_wheels(wheelhouse.kernel_dependencies().values(), folder)
    return folder


@pytest.fixture(scope="session")
def built(tmp_path_factory, trained, dependency_wheels):
    """The kernel of the "a" runs, weighted 2:1, its wheels taken offline from the rebuilt dependency wheels."""
    root = tmp_path_factory.mktemp("kernel-build")
    return build_kernel(trained["a"], root / "kernel", owner=OWNER, weights=WEIGHTS, wheels_from=dependency_wheels)


@pytest.fixture(scope="session")
def built_tta(tmp_path_factory, trained, dependency_wheels):
    """The kernel of the "a" runs stacked over their softmaxes with 2 augmented copies of the images averaged in:
    the stack is fitted on the augmented OOF softmaxes, so it differs from one fitted without TTA."""
    root = tmp_path_factory.mktemp("kernel-build-tta")
    return build_kernel(
        trained["a"], root / "kernel", owner=OWNER, stack=True, tta=TTA, wheels_from=dependency_wheels, title="kit tta"
    )


@pytest.fixture(scope="session")
def image_farm(tmp_path_factory) -> tuple[Path, set[str]]:
    """A folder of symbolic links to the files of the scientific stack, Jupyter's kernel and pip, with all they pull
    in, and nothing else installed here (no kit, none of kit's other dependencies): a Kaggle image's packages, as
    far as kit is concerned; and the names of those distributions."""
    pytest.importorskip("nbclient")
    pytest.importorskip("ipykernel")
    if shutil.which("unshare") is None or subprocess.run(["unshare", "-n", "true"]).returncode != 0:
        pytest.skip("needs unshare -n (a new network namespace) to run the notebook offline")
    dists = wheelhouse.requirement_closure(IMAGE)
    return wheelhouse.link_farm(dists, tmp_path_factory.mktemp("image") / "stack"), set(dists)


@pytest.fixture
def fresh_env(tmp_path_factory, image_farm) -> Callable[[], dict[str, str]]:
    """Make a fresh virtual environment whose ``.pth`` names the image's folder of links, and a Jupyter kernel spec
    that runs it: what a Kaggle image is to kit, new for each kernel run."""

    def make() -> dict[str, str]:
        root = tmp_path_factory.mktemp("kernel-env")
        subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(root / "venv")], check=True)
        python = root / "venv" / "bin" / "python"
        venv_site = subprocess.run(
            [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        (Path(venv_site) / "kit-test-stack.pth").write_text(f"{image_farm[0]}\n")
        spec = root / "jupyter" / "kernels" / "kaggle-like"
        spec.mkdir(parents=True)
        argv = [str(python), "-m", "ipykernel_launcher", "-f", "{connection_file}"]
        (spec / "kernel.json").write_text(
            json.dumps({"argv": argv, "display_name": "Kaggle-like", "language": "python"})
        )
        return {"python": str(python), "jupyter": str(root / "jupyter"), "site": venv_site}

    return make


def check_image(env: dict[str, str], cwd: Path) -> None:
    """The environment has the stack and Jupyter's kernel, and neither kit nor its other dependencies."""
    probe = f"import importlib.util as u; print([n for n in {list(ABSENT)!r} if u.find_spec(n) is not None])"
    found = subprocess.run([env["python"], "-I", "-c", probe], cwd=cwd, capture_output=True, text=True, check=True)
    assert found.stdout.strip() == "[]", found.stdout
    imports = "import tensorflow, keras, numpy, pandas, sklearn, scipy, matplotlib, PIL, joblib, ipykernel, pip"
    assert subprocess.run([env["python"], "-I", "-c", imports], cwd=cwd, capture_output=True).returncode == 0


def installed_here(env: dict[str, str]) -> set[str]:
    """The distributions installed in the environment itself (not through its ``.pth``), by normalised name."""
    return {normalise(path.name.split("-")[0]) for path in Path(env["site"]).glob("*.dist-info")}


def kaggle_tree(root: Path, data: Path, built) -> Path:
    """``root/input/<competition>`` (the test files, as Kaggle mounts them), the two datasets beside it, and
    ``root/working``."""
    (root / "input").mkdir(parents=True)
    shutil.copytree(data, root / "input" / NAME)
    for role, ref in (("models", built.models_dataset), ("wheels", built.wheels_dataset)):
        shutil.copytree(built.folder / role, root / "input" / ref.split("/")[1])
    (root / "working").mkdir()
    return root


def printed_by(tree: Path) -> str:
    """What the notebook executed over ``tree`` printed."""
    cells = json.loads((tree / "executed.ipynb").read_text())["cells"]
    return "".join("".join(out.get("text", "")) for cell in cells for out in cell.get("outputs", []))


def execute(notebook: Path, tree: Path, env: dict[str, str]) -> Path:
    """Run the ``notebook`` offline over the Kaggle tree; the submission it wrote (if it writes one)."""
    runner = tree / "runner.py"
    runner.write_text(RUNNER)
    command = (
        f"ip link set lo up && exec {sys.executable} {runner} {notebook} {tree / 'executed.ipynb'} "
        f"kaggle-like {tree / 'working'}"
    )
    environment = {**os.environ, "KAGGLE_ROOT": str(tree), "JUPYTER_PATH": env["jupyter"], "PYTHONPATH": ""}
    done = subprocess.run(
        ["unshare", "-n", "sh", "-c", command],
        cwd=tree / "working",
        env=environment,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "kit's pins do not match" not in printed_by(tree)  # pip resolved kit's requirements from the wheels dataset
    return tree / "working" / "submission.csv"


def kit_predict(runs: list[Path], data: Path, out: Path) -> Path:
    return predict(runs, name="reference", out=out, weights=WEIGHTS, data=data).path


@pytest.mark.slow
def test_the_notebook_runs_offline_without_kit_and_writes_what_kit_predict_writes(
    built, trained, test_sets, fresh_env, image_farm, dependency_wheels, tmp_path
):
    started = time.perf_counter()
    dependencies = {normalise(wheel.name.split("-")[0]) for wheel in dependency_wheels.glob("*.whl")}
    for key in ("a", "b"):
        env = fresh_env()  # each kernel run starts from the bare image
        check_image(env, tmp_path)
        tree = kaggle_tree(tmp_path / key, test_sets[key], built)
        written = execute(built.notebook, tree, env)
        expected = kit_predict(trained[key], test_sets[key], tmp_path / f"reference-{key}")
        assert written.read_text() == expected.read_text(), key
        sample = pd.read_csv(test_sets[key] / "sample_submission.csv")
        assert pd.read_csv(written)["id"].tolist() == sample["id"].tolist()
        # the notebook installed kit and its dependencies the image lacks, from the wheels dataset
        assert installed_here(env) == {"kit"} | (dependencies - image_farm[1]), key
        assert (Path(env["site"]) / "kit").is_dir() and (Path(env["site"]) / "typer").is_dir()
    assert len(pd.read_csv(tmp_path / "b" / "working" / "submission.csv")) == 23
    assert time.perf_counter() - started < 300


@pytest.mark.slow
def test_a_kernel_with_tta_writes_what_kit_predict_tta_writes_on_any_test_set(
    built_tta, trained, test_sets, fresh_env, tmp_path
):
    manifest = json.loads((built_tta.models_dir / "kit-models.json").read_text())
    assert manifest["tta"] == built_tta.tta == TTA and built_tta.weighting.startswith("stack")
    expected = {
        key: predict(trained[key], name=f"tta-{key}", out=tmp_path, stack=True, tta=TTA, data=test_sets[key])
        for key in ("a", "b")
    }
    assert all(run["tta"] == TTA for prediction in expected.values() for run in prediction.sidecar["runs"])
    # in this process, on the test set of the build: the same combined softmax (the runs' own, without the copies,
    # differ from it far more), not only the same labels
    written = predict_kernel(built_tta.models_dir, test_sets["a"], tmp_path / "a.csv")
    assert written.tta == TTA and written.path.read_text() == expected["a"].path.read_text()
    assert np.allclose(written.softmax, np.load(expected["a"].path.with_suffix(".npy")), atol=1e-6)
    # the notebook, offline, on the unseen test set: other ids, another number of rows, the sample in another order
    tree = kaggle_tree(tmp_path / "b", test_sets["b"], built_tta)
    written_b = execute(built_tta.notebook, tree, fresh_env())
    assert written_b.read_text() == expected["b"].path.read_text()
    assert len(pd.read_csv(written_b)) == 23 and f"TTA ×{TTA}" in printed_by(tree)


@pytest.mark.slow
def test_the_runs_of_both_test_sets_are_the_same_models(trained):
    for first, second in zip(trained["a"], trained["b"]):
        assert np.array_equal(np.load(first / "oof.npy"), np.load(second / "oof.npy"))


@pytest.mark.slow
def test_the_kernel_folder_holds_the_datasets_and_metadata(built, trained):
    metadata = json.loads((built.kernel_dir / "kernel-metadata.json").read_text())
    assert metadata["enable_internet"] is False
    assert metadata["kernel_type"] == "notebook"
    assert metadata["enable_gpu"] is False
    assert metadata["id"] == f"{OWNER}/{slugify(metadata['title'])}" == built.kernel
    assert metadata["competition_sources"] == [NAME]
    assert metadata["dataset_sources"] == [built.models_dataset, built.wheels_dataset]
    assert metadata["code_file"] == built.notebook.name
    for role in ("models", "wheels"):
        dataset = json.loads((built.folder / role / "dataset-metadata.json").read_text())
        assert dataset["id"] == getattr(built, f"{role}_dataset")
        assert 6 <= len(dataset["title"]) <= 50
    manifest = json.loads((built.models_dir / "kit-models.json").read_text())
    assert [run["weight"] for run in manifest["runs"]] == pytest.approx([2 / 3, 1 / 3])
    for run, source in zip(manifest["runs"], trained["a"]):
        copied = built.models_dir / run["folder"]
        assert (copied / "fold-1" / "model.keras").read_bytes() == (source / "fold-1" / "model.keras").read_bytes()
        assert (copied / "recipe.toml").is_file()
    assert "[pixels]" in (built.models_dir / "competition.toml").read_text()
    wheels = {normalise(name.split("-")[0]): name for name in built.wheels}
    assert set(wheels) == {"kit"} | set(wheelhouse.kernel_dependencies())
    assert {"typer", "kaggle", "pydantic", "pydantic-core", "keras-tuner", "dask", "distributed"} <= set(wheels)
    assert not set(wheels) & {"tensorflow", "keras", "numpy", "pandas", "rich", "protobuf", "packaging"}
    assert wheels["pydantic-core"].endswith("x86_64.whl") and wheels["typer"].endswith("-py3-none-any.whl")
    assert sorted(path.name for path in built.wheels_dir.glob("*.whl")) == sorted(built.wheels)
    source = built.notebook.read_text()
    assert "--no-index" in source and "KAGGLE_ROOT" in source


def test_titles_and_owners_are_checked():
    assert kernel_names("kit digit-recognizer", OWNER).kernel == f"{OWNER}/kit-digit-recognizer"
    assert kernel_names("kit digit-recognizer", OWNER).dataset("models") == f"{OWNER}/kit-digit-recognizer-models"
    long = kernel_names("x" * 50, OWNER)
    assert len(long.dataset_slug("wheels")) <= 50
    for title in ("kit", "x" * 51, "!!!!!!"):
        with pytest.raises(KitError, match="name: must be a kernel title"):
            kernel_names(title, OWNER)
    with pytest.raises(KitError, match="owner: must be a Kaggle username"):
        kernel_names("kit digits", "Not A User")


def test_platforms_cover_every_older_manylinux():
    tags = platform_tags("manylinux2014_x86_64")
    assert tags[0] == "manylinux_2_17_x86_64" and "manylinux2014_x86_64" in tags and "manylinux1_x86_64" in tags
    assert "manylinux_2_28_x86_64" not in tags
    assert "manylinux_2_27_x86_64" in platform_tags("manylinux_2_35_x86_64")
    assert platform_tags("win_amd64") == ["win_amd64"]


def test_the_stack_and_what_it_pulls_in_are_left_to_the_image():
    def item(name: str, *requires: str) -> dict:
        return {"metadata": {"name": name, "version": "1", "requires_dist": list(requires)}}

    report = {
        "install": [
            item("kit", "tensorflow>=2", "pydantic>=2", "typer"),
            item("tensorflow", "numpy", "protobuf", "tensorboard ; python_version >= '3.9'", "pytest ; extra == 'x'"),
            item("numpy"),
            item("protobuf"),
            item("tensorboard", "markdown"),
            item("markdown"),
            item("pydantic", "pydantic-core", "typing_extensions"),
            item("pydantic-core"),
            item("typer", "click"),
            item("click"),
            item("pytest"),
        ]
    }
    closure = stack_closure(report, "3.11", ["tensorflow", "numpy"])
    assert closure >= {"tensorflow", "numpy", "protobuf", "tensorboard", "markdown"}
    assert not closure & {"pydantic", "pydantic-core", "typer", "click", "pytest", "kit"}


def test_build_refuses_a_folder_holding_a_build(tmp_path, monkeypatch):
    (tmp_path / "kernel" / "models").mkdir(parents=True)
    from kit.kaggle import _kernels

    with pytest.raises(KitError, match="holds a built kernel already"):
        _kernels.prepare(tmp_path / "kernel", force=False)


def test_the_command_line_names_its_flags_in_errors(tmp_path):
    result = CliRunner().invoke(app, ["kernel", "build", str(tmp_path / "no-run"), "--weights", "1,x"])
    assert result.exit_code != 0
    assert str(result.exception).startswith("--weights: must be comma-separated numbers")


@pytest.mark.slow
def test_a_stacked_kernel_predicts_what_kit_predict_stack_writes(trained, test_sets, tmp_path):
    built = build_kernel(
        trained["a"], tmp_path / "kernel", owner=OWNER, stack=True, wheels_from=tmp_path, title="kit stacked"
    )
    assert built.weights is None and built.weighting.startswith("stack")
    assert (built.models_dir / "stack.npz").is_file()
    for key in ("a", "b"):
        written = predict_kernel(built.models_dir, test_sets[key], tmp_path / f"{key}.csv")
        expected = predict(trained[key], name=f"stack-{key}", out=tmp_path, stack=True, data=test_sets[key])
        assert written.path.read_text() == expected.path.read_text()


@pytest.mark.parametrize("labels", ["single", "multi"])
def test_a_saved_stack_predicts_as_the_fitted_one(tmp_path, labels):
    from kit.ensemble._stacking import fit_meta
    from kit.kaggle._stackfile import load_stack, stack_arrays

    rng = np.random.default_rng(0)
    rows, classes = 90, 3

    def softmax() -> np.ndarray:
        values = rng.random((rows, classes)) + 0.05
        return values / values.sum(axis=1, keepdims=True)

    oofs = [softmax(), softmax()]
    truth = np.arange(rows) % classes if labels == "single" else (rng.random((rows, classes)) > 0.5).astype(int)
    if labels == "multi":
        oofs = [rng.random((rows, classes)) for _ in range(2)]
    folds = [np.arange(rows)[k::3] for k in range(3)]
    meta = fit_meta(oofs, truth, folds, c=1.0)
    np.savez(tmp_path / "stack.npz", **stack_arrays(meta))
    loaded = load_stack(tmp_path / "stack.npz", classes)
    tests = [softmax(), softmax()] if labels == "single" else [rng.random((rows, classes)) for _ in range(2)]
    assert np.allclose(loaded.predict(tests), meta.predict(tests), atol=1e-12)


@pytest.mark.slow
def test_the_training_notebook_runs_kit_cv_offline_and_leaves_a_run_like_a_local_one(
    trained, test_sets, fresh_env, dependency_wheels, tmp_path
):
    from kit.competitions import as_competition
    from kit.kaggle._train import write_training
    from kit.recipes import recipe_toml

    local = trained["a"][0]
    recipe = load_recipe(str(local.parent.parent / "tiny-3.toml"))
    job = {"name": recipe.name, "toml": recipe_toml(recipe), "folds": None, "epochs": None}
    options = {"owner": OWNER, "title": None, "gpu": True, "wheels": {"wheels_from": dependency_wheels}}
    kernel, notebook = write_training(tmp_path / "kernel", recipe, as_competition(None, test_sets["a"]), job, options)
    assert kernel == f"{OWNER}/kit-tiny-3-{NAME}"
    tree = tmp_path / "kaggle"
    (tree / "input").mkdir(parents=True)
    shutil.copytree(test_sets["a"], tree / "input" / NAME)
    shutil.copytree(tmp_path / "kernel" / "wheels", tree / "input" / f"kit-tiny-3-{NAME}-wheels")
    (tree / "working").mkdir()
    env = fresh_env()
    check_image(env, tmp_path)
    execute(notebook, tree, env)
    assert {"kit", "typer", "pydantic", "keras-tuner"} <= installed_here(env)  # from the wheels dataset
    run = tree / "working" / "runs" / recipe.name

    def files(folder: Path) -> set[str]:
        return {path.relative_to(folder).as_posix() for path in folder.rglob("*") if path.is_file()}

    assert files(run) == files(local)
    assert np.array_equal(np.load(run / "oof.npy"), np.load(local / "oof.npy"))
    assert np.array_equal(np.load(run / "test.npy"), np.load(local / "test.npy"))
    combined = predict([run, trained["a"][1]], name="mixed", out=tmp_path, data=test_sets["a"])
    assert len(pd.read_csv(combined.path)) == 40


@pytest.mark.slow
def test_an_image_file_kernel_predicts_other_test_files_as_kit_predict_does(tmp_path):
    import image_data

    written_a = image_data.build("seedlings", tmp_path / "seedlings", seed=0)
    image_data.write_spec(written_a)
    data_a = written_a.folder
    data_b = tmp_path / "b" / "seedlings"  # the same training images; 17 of the test images, renamed and reordered
    shutil.copytree(data_a / "train", data_b / "train")
    shutil.copy2(data_a / "competition.toml", data_b / "competition.toml")
    (data_b / "test").mkdir()
    chosen = sorted((data_a / "test").iterdir())[5:22]
    names = [f"unseen-{index:03d}{path.suffix}" for index, path in enumerate(chosen)]
    for path, name in zip(chosen, names):
        shutil.copy2(path, data_b / "test" / name)
    sample = pd.read_csv(data_a / "sample_submission.csv").iloc[:1]
    order = np.random.default_rng(1).permutation(len(names))
    pd.DataFrame({"file": [names[k] for k in order], "species": sample["species"].iloc[0]}).to_csv(
        data_b / "sample_submission.csv", index=False
    )
    recipe = tmp_path / "tiny.toml"
    recipe.write_text(tiny_recipe_toml("tiny"))
    runs = {key: tmp_path / f"run-{key}" for key in ("a", "b")}
    for key, data in (("a", data_a), ("b", data_b)):
        run_cv(load_recipe(str(recipe)), data, out=runs[key])
    built = build_kernel([runs["a"]], tmp_path / "kernel", owner=OWNER, wheels_from=tmp_path / "b")
    for key, data in (("a", data_a), ("b", data_b)):
        written = predict_kernel(built.models_dir, data, tmp_path / f"{key}.csv")
        expected = predict([runs[key]], name=f"expected-{key}", out=tmp_path, data=data)
        assert written.path.read_text() == expected.path.read_text()
    assert len(pd.read_csv(tmp_path / "b.csv")) == 17
    runs_folder = built.models_dir / "runs"  # Kaggle may keep a folder uploaded as a zip (the client's dir_mode) packed
    shutil.make_archive(str(runs_folder), "zip", root_dir=runs_folder)
    shutil.rmtree(runs_folder)
    again = predict_kernel(built.models_dir, data_b, tmp_path / "zipped.csv")
    assert again.path.read_text() == (tmp_path / "b.csv").read_text()


def test_a_manifest_reads_its_tta_and_refuses_an_impossible_one(tmp_path):
    from kit.kaggle._bundle import MANIFEST, read_manifest

    run = {"name": "r", "folder": "runs/r", "folds": [1], "weight": 1.0}
    for tta in (-1, 65, "2", 2.0, True):
        (tmp_path / MANIFEST).write_text(json.dumps({"kit_models": 1, "stack": None, "tta": tta, "runs": [run]}))
        with pytest.raises(KitError, match=f"{MANIFEST}: key tta: must be 0 \\(off\\) or a number"):
            read_manifest(tmp_path)
    (tmp_path / MANIFEST).write_text(json.dumps({"kit_models": 1, "stack": None, "runs": [run]}))  # before TTA
    assert read_manifest(tmp_path)[1][0].folds == (1,)
