"""kit kernel push: the real kaggle client against the local fake of Kaggle's datasets, kernels and competitions
services — datasets created or versioned only when changed, the kernel pushed and followed, its output checked and
submitted, every step resumable, and every failure one line."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from conftest import minimal_summary, tiny_recipe_toml
from kaggle_server import FakeKaggle, point_client
from kit.cli import app
from kit.crossval import RunFolder
from kit.errors import KitError
from kit.kaggle import Poll, Retry, build_kernel, push_kernel, train_kernel
from kit.utils import save_array, write_json

USERNAME, KEY = "kit-tester", "s3cret-key-that-must-never-show-0123"
FAST = Retry(attempts=3, delay=0.001, max_delay=0.002, budget=10, jitter=0)
QUICK = Poll(interval=0.001, most=0.002, timeout=10)
KERNEL = f"{USERNAME}/kit-digit-recognizer"
MODELS, WHEELS = f"{KERNEL}-models", f"{KERNEL}-wheels"
ERROR_LOG = json.dumps(
    [
        {"stream_name": "stdout", "time": 1.0, "data": "installing kit\n"},
        {"stream_name": "stderr", "time": 2.0, "data": "Traceback (most recent call last):\n"},
        {"stream_name": "stderr", "time": 3.0, "data": "\x1b[0;31mKitError\x1b[0m: test.csv: not found\n"},
    ]
)


def fake_run(folder: Path, seed: int) -> Path:
    """A finished digit-recognizer run without training: softmaxes, labels, ids, placeholder fold models."""
    rng = np.random.default_rng(seed)
    run = RunFolder(folder)
    folder.mkdir(parents=True)

    def softmax(rows: int) -> np.ndarray:
        values = rng.random((rows, 10))
        return (values / values.sum(axis=1, keepdims=True)).astype(np.float32)

    save_array(run.oof_path, softmax(60))
    save_array(run.test_path, softmax(40))
    save_array(run.labels_path, np.arange(60) % 10)
    save_array(run.test_ids_path, np.arange(1, 41))
    for fold in (1, 2):
        run.model_path(fold).parent.mkdir()
        run.model_path(fold).write_bytes(f"fold {fold} of run {seed}".encode())
    data = {"train_rows": 60, "test_rows": 40, "image_shape": [28, 28, 1], "classes": 10}
    write_json(run.summary_path, minimal_summary(data=data, seed=seed))
    return folder


@pytest.fixture(scope="module")
def fake_runs(tmp_path_factory) -> list[Path]:
    root = tmp_path_factory.mktemp("fake-runs")
    return [fake_run(root / name, seed) for seed, name in enumerate(("cnn", "resnet"))]


@pytest.fixture(scope="module")
def no_wheels(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("no-wheels")


@pytest.fixture(scope="module")
def built_once(tmp_path_factory, fake_runs, no_wheels) -> Path:
    """A kernel folder built (offline, owner unknown) for two fake runs; each test pushes a copy."""
    folder = tmp_path_factory.mktemp("kernel-push") / "kernel"
    build_kernel(fake_runs, folder, wheels_from=no_wheels)
    return folder


@pytest.fixture
def kaggle(tmp_path, monkeypatch, tiny_dir):
    """The fake Kaggle with the tiny digit-recognizer competition and its answers; a kernel run writes a perfect
    submission.csv by default."""
    files = {name: (tiny_dir / name).read_bytes() for name in ("train.csv", "test.csv", "sample_submission.csv")}
    solution = pd.read_csv(tiny_dir / "solution.csv")
    answers = dict(zip(solution["ImageId"], solution["Label"], strict=True))
    with FakeKaggle("digit-recognizer", files, answers, USERNAME, KEY) as server:
        with point_client(server, monkeypatch, tmp_path, USERNAME, KEY):
            server.kernel_outputs = {"submission.csv": solution.to_csv(index=False).encode()}
            yield server


@pytest.fixture
def folder(built_once, tmp_path) -> Path:
    return Path(shutil.copytree(built_once, tmp_path / "kernel"))


def push(folder: Path, **options):
    return push_kernel(folder, retry=FAST, poll=QUICK, score_poll=QUICK, **options)


def test_push_uploads_runs_the_kernel_and_submits_its_output(kaggle, folder, tiny_dir):
    pushed = push(folder, submit=True, data_dir=tiny_dir)
    assert [(sync.ref, sync.action) for sync in pushed.datasets] == [(MODELS, "created"), (WHEELS, "created")]
    assert pushed.kernel == KERNEL and pushed.version == 1 and pushed.pushed
    assert pushed.rows == 40 and "submission.csv" in pushed.files
    assert (folder / "output" / "submission.csv").read_bytes() == kaggle.kernel_outputs["submission.csv"]
    assert pushed.submission.status == "complete" and pushed.submission.public_score == "1.00000"
    request = kaggle.kernels[KERNEL][0]["request"]
    assert request["enableInternet"] is False and request["isPrivate"] is True
    assert request["datasetDataSources"] == [MODELS, WHEELS]
    assert request["competitionDataSources"] == ["digit-recognizer"]
    assert "--no-index" in request["text"]
    uploaded = kaggle.catalog[("dataset", MODELS)][0]
    assert json.loads(uploaded["kit-dataset.json"])["kit_dataset"] == "models" and "runs.zip" in uploaded
    assert any(name.startswith("kit-") and name.endswith(".whl") for name in kaggle.catalog[("dataset", WHEELS)][0])
    metadata = json.loads((folder / "kernel" / "kernel-metadata.json").read_text())
    assert metadata["id"] == KERNEL  # the owner placeholder of the build, filled in
    assert kaggle.requests.count("GetKernelSessionStatus") == 3  # QUEUED, RUNNING, COMPLETE
    assert kaggle.requests.count("CreateCodeSubmission") == 1


def test_a_rerun_uploads_pushes_and_submits_nothing_again(kaggle, folder, tiny_dir):
    push(folder, submit=True, data_dir=tiny_dir)
    before = list(kaggle.requests)
    again = push(folder, submit=True, data_dir=tiny_dir)
    new = kaggle.requests[len(before) :]
    assert [sync.action for sync in again.datasets] == ["unchanged", "unchanged"]
    assert not again.pushed and again.version == 1
    assert again.submission.public_score == "1.00000"
    assert not {"CreateDataset", "CreateDatasetVersion", "StartBlobUpload", "SaveKernel", "CreateCodeSubmission"} & set(
        new
    )


def test_a_rebuild_of_the_same_runs_uploads_and_pushes_nothing(kaggle, folder, fake_runs, no_wheels):
    push(folder)
    build_kernel(fake_runs, folder, wheels_from=no_wheels, force=True)  # a new kit wheel, the same bytes
    again = push(folder)
    assert [sync.action for sync in again.datasets] == ["unchanged", "unchanged"] and not again.pushed


def test_changed_models_make_a_new_dataset_version_and_kernel_version(kaggle, folder):
    push(folder)
    (folder / "models" / "runs" / "cnn" / "recipe.toml").write_text("# changed\n")
    again = push(folder)
    assert [sync.action for sync in again.datasets] == ["versioned", "unchanged"]
    assert again.pushed and again.version == 2
    assert kaggle.dataset_versions == {MODELS: 2, WHEELS: 1}


def test_push_waits_until_kaggle_has_processed_the_datasets(kaggle, folder):
    kaggle.dataset_polls = 3
    push(folder)
    statuses = [call for call in kaggle.requests if call == "GetDatasetStatus"]
    assert len(statuses) >= 2 * 4  # each dataset: not there, then processing three times, then ready


def test_a_failed_kernel_ends_with_the_last_line_of_its_log(kaggle, folder):
    kaggle.kernel_plan = ["QUEUED", "RUNNING", "ERROR"]
    kaggle.kernel_failure = "Your notebook hit an error"
    kaggle.kernel_log = ERROR_LOG
    with pytest.raises(KitError) as error:
        push(folder)
    text = str(error.value)
    assert text == (
        f"kernel {KERNEL} version 1 failed on Kaggle (Your notebook hit an error): KitError: test.csv: not found"
    )
    with pytest.raises(KitError) as again:
        push(folder)  # rerun: the same version, followed, not pushed again
    assert "version 1 failed" in str(again.value) and kaggle.requests.count("SaveKernel") == 1


def test_a_kernel_that_never_finishes_ends_at_the_timeout(kaggle, folder):
    kaggle.kernel_plan = ["QUEUED", "RUNNING"]
    with pytest.raises(KitError) as error:
        push_kernel(folder, retry=FAST, poll=Poll(interval=0.01, most=0.02, timeout=0.3))
    text = str(error.value)
    assert "\n" not in text and f"kernel {KERNEL} version 1 was still running after" in text
    assert "rerun kit kernel push" in text
    kaggle.kernel_plan = ["COMPLETE"]  # a later run of the same version finishes: the rerun follows it
    kaggle.kernels[KERNEL][0]["plan"] = ["COMPLETE"]
    assert push(folder).version == 1 and kaggle.requests.count("SaveKernel") == 1


def test_an_output_without_a_submission_is_one_line(kaggle, folder):
    kaggle.kernel_outputs = {"log.txt": b"hello"}
    with pytest.raises(KitError, match=rf"^kernel {KERNEL} version 1 finished without writing submission.csv "):
        push(folder)


def test_a_wrong_submission_is_refused_before_submitting(kaggle, folder, tiny_dir):
    kaggle.kernel_outputs = {"submission.csv": b"ImageId,Label\n1,3\n2,4\n"}
    with pytest.raises(KitError, match="2 rows; the test set has 40 images"):
        push(folder, submit=True, data_dir=tiny_dir)
    assert "CreateCodeSubmission" not in kaggle.requests


def test_a_dataset_slug_taken_by_another_dataset_uploads_nothing(kaggle, folder):
    kaggle.add_dataset(MODELS, {"prices.csv": b"a,b\n1,2\n"})
    with pytest.raises(KitError) as error:
        push(folder)
    assert str(error.value).startswith(f"the Kaggle dataset {MODELS} exists and kit kernel build did not make it")
    assert "StartBlobUpload" not in kaggle.requests and "SaveKernel" not in kaggle.requests


@pytest.mark.parametrize(
    ("call", "code", "expected"),
    [
        ("GetDatasetStatus", 401, "Kaggle rejected the credentials from KAGGLE_USERNAME/KAGGLE_KEY (401 Unauthorized)"),
        ("SaveKernel", 403, f"Kaggle refused access to kernel {KERNEL} (403 Forbidden)"),
        ("CreateDataset", 403, f"Kaggle refused access to dataset {MODELS} (403 Forbidden)"),
        ("GetKernelSessionStatus", 404, f"Kaggle has no kernel {KERNEL} (404 Not Found)"),
        ("GetKernelSessionStatus", 403, f"Kaggle refused access to kernel {KERNEL} (403 Forbidden)"),
        ("SaveKernel", 429, "Kaggle is limiting the request rate (429 Too Many Requests"),
        ("CreateDatasetVersion", 503, "Kaggle's server failed (HTTP 503"),
        ("ListKernelSessionOutput", 500, "Kaggle's server failed (HTTP 500"),
        ("CreateCodeSubmission", 403, "Kaggle refused access to digit-recognizer (403 Forbidden): accept the"),
    ],
)
def test_http_failures_are_one_line(kaggle, folder, tiny_dir, call, code, expected):
    if call == "CreateDatasetVersion":
        push(folder)
        (folder / "models" / "competition.toml").write_text((folder / "models" / "competition.toml").read_text() + "\n")
    kaggle.fail(call, code, times=10)
    with pytest.raises(KitError) as error:
        push(folder, submit=True, data_dir=tiny_dir)
    text = str(error.value)
    assert text.startswith(expected), text
    assert "\n" not in text and KEY not in text


def test_the_command_line_pushes_and_prints_the_score(kaggle, folder, tiny_dir, monkeypatch):
    import kit.kaggle

    monkeypatch.setattr(kit.kaggle, "KERNEL_POLL", Poll(interval=0.001, most=0.002, timeout=10))
    done = CliRunner().invoke(app, ["kernel", "push", str(folder), "--submit", "--data", str(tiny_dir)])
    assert done.exit_code == 0, done.output
    assert f"dataset {MODELS}: created" in done.output and "pushed and ran" in done.output
    assert "public score 1.00000" in done.output and KEY not in done.output


# --- kit kernel train ----------------------------------------------------------------------------------------------


def test_train_runs_kit_cv_on_kaggle_and_brings_the_run_folder_back(kaggle, tmp_path, no_wheels):
    recipe = tmp_path / "tiny.toml"
    recipe.write_text(tiny_recipe_toml("tiny"))
    made = fake_run(tmp_path / "made-on-kaggle", seed=7)  # what the kernel's kit cv leaves in /kaggle/working/runs
    files = [path for path in made.rglob("*") if path.is_file()]
    kaggle.kernel_outputs = {f"runs/tiny/{path.relative_to(made).as_posix()}": path.read_bytes() for path in files}
    trained = train_kernel(recipe, epochs=1, wheels_from=no_wheels, retry=FAST, poll=QUICK)
    assert trained.run == Path("runs/tiny") and trained.folds == 2 and trained.pushed
    for path in files:
        assert (tmp_path / "runs" / "tiny" / path.relative_to(made)).read_bytes() == path.read_bytes()
    kernel = f"{USERNAME}/kit-tiny-digit-recognizer"
    request = kaggle.kernels[kernel][0]["request"]
    assert request["enableGpu"] is True and request["enableInternet"] is False
    assert request["datasetDataSources"] == [f"{kernel}-wheels"]
    assert request["competitionDataSources"] == ["digit-recognizer"]
    assert "kit.cv(" in request["text"] and "epochs=1" in request["text"]
    again = train_kernel(recipe, epochs=1, wheels_from=no_wheels, retry=FAST, poll=QUICK)
    assert not again.pushed and again.run == trained.run
    assert kaggle.requests.count("SaveKernel") == 1 and kaggle.requests.count("CreateDataset") == 1


def test_train_refuses_an_output_without_the_run(kaggle, tmp_path, no_wheels):
    recipe = tmp_path / "tiny.toml"
    recipe.write_text(tiny_recipe_toml("tiny"))
    kaggle.kernel_outputs = {"runs/tiny/fold-1/fold.json": b"{}"}
    with pytest.raises(KitError, match="^the kernel's output holds no finished run tiny "):
        train_kernel(recipe, wheels_from=no_wheels, retry=FAST, poll=QUICK)
    assert not (tmp_path / "runs" / "tiny").exists()
