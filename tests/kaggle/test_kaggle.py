"""kit fetch / submit / submissions: the real kaggle client against a local fake of Kaggle's API (loopback only)."""

from __future__ import annotations

import contextlib
import functools
import io
import json
import os
import socket
import subprocess
import sys
import time
import types
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from kaggle_server import FakeKaggle
from kit.cli import app
from kit.competitions import Competition
from kit.errors import KitError
from kit.kaggle import Poll, Retry, check_data, fetch, submissions, submit
from kit.utils import Callback

USERNAME, KEY = "kit-tester", "s3cret-key-that-must-never-show-0123"
FILES = ("train.csv", "test.csv", "sample_submission.csv")
FAST = Retry(attempts=3, delay=0.001, max_delay=0.002, budget=10, jitter=0)
NEW = "fashion-mnist-lite"  # a competition kit has no spec for
DATASET = "kit-tester/fashion-mnist-csv"
QUICK = Poll(interval=0.001, most=0.002, timeout=10)


@pytest.fixture
def solution(tiny_dir) -> pd.DataFrame:
    return pd.read_csv(tiny_dir / "solution.csv")


@pytest.fixture
def kaggle(tmp_path, monkeypatch, tiny_dir, solution):
    """The fake Kaggle serving the tiny digit-recognizer files (train and test zipped), with the client pointed at it.

    Only the fake is reachable: HTTPS (the production host) goes to a closed local port. HOME and the config folder
    are empty temporary folders, and the working directory is ``tmp_path``.
    """
    files = {name: (tiny_dir / name).read_bytes() for name in FILES}
    answers = dict(zip(solution["ImageId"], solution["Label"], strict=True))
    fake = FakeKaggle("digit-recognizer", files, answers, USERNAME, KEY, wrapped=("train.csv", "test.csv"))
    with fake as server, socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        nowhere = f"http://127.0.0.1:{closed.getsockname()[1]}"
        for name in ("NO_PROXY", "ALL_PROXY", "KAGGLE_API_TOKEN", "KAGGLE_KERNEL_RUN_TYPE", "XDG_CONFIG_HOME"):
            monkeypatch.delenv(name, raising=False)
            monkeypatch.delenv(name.lower(), raising=False)
        for name, value in {
            "KAGGLE_API_ENVIRONMENT": "LOCALHOST",
            "HTTP_PROXY": f"http://127.0.0.1:{server.port}",
            "http_proxy": f"http://127.0.0.1:{server.port}",
            "HTTPS_PROXY": nowhere,
            "https_proxy": nowhere,
            "HOME": str(tmp_path / "home"),
            "KAGGLE_CONFIG_DIR": str(tmp_path / "kaggle-config"),
            "KAGGLE_USERNAME": USERNAME,
            "KAGGLE_KEY": KEY,
        }.items():
            monkeypatch.setenv(name, value)
        (tmp_path / "kaggle-config").mkdir()
        monkeypatch.chdir(tmp_path)
        # The client reads its config folder and environment once, when imported: point it at this test's.
        with contextlib.redirect_stdout(io.StringIO()):
            from kaggle.api.kaggle_api_extended import KaggleApi
        monkeypatch.setattr(KaggleApi, "config_dir", str(tmp_path / "kaggle-config"))
        monkeypatch.setattr(KaggleApi, "config", str(tmp_path / "kaggle-config" / "kaggle.json"))
        monkeypatch.setattr(KaggleApi, "args", ["--local"])
        server.add_competition(NEW, dict(fashion_files()), wrapped=("train.csv",))
        server.add_dataset(DATASET, dict(dataset_files()), wrapped=("fashion-mnist_train.csv",))
        yield server


def pixel_csv(labels: list | None, ids: list | None = None, rows: int = 0, seed: int = 0) -> bytes:
    """A Fashion-MNIST-style CSV: ``label`` (when given), ``id`` (when given), then ``pixel1…pixel784``."""
    count = len(labels) if labels is not None else len(ids) if ids is not None else rows
    pixels = np.random.default_rng(seed).integers(0, 256, size=(count, 784))
    columns = ([] if labels is None else ["label"]) + ([] if ids is None else ["id"])
    frame = pd.DataFrame(pixels, columns=[f"pixel{i}" for i in range(1, 785)])
    for position, name in enumerate(columns):
        frame.insert(position, name, labels if name == "label" else ids)
    return frame.to_csv(index=False).encode()


@functools.cache
def fashion_files() -> dict[str, bytes]:
    """A small competition kit has never seen: label + pixel1…784 train, id + pixels test, id,label sample."""
    test_ids = list(range(10))
    return {
        "train.csv": pixel_csv([index % 10 for index in range(40)]),
        "test.csv": pixel_csv(None, test_ids, seed=1),
        "sample_submission.csv": pd.DataFrame({"id": test_ids, "label": 0}).to_csv(index=False).encode(),
    }


@functools.cache
def dataset_files() -> dict[str, bytes]:
    """A dataset laid out as Zalando's Fashion-MNIST CSVs: two labelled files."""
    return {
        "fashion-mnist_train.csv": pixel_csv([index % 10 for index in range(30)], seed=2),
        "fashion-mnist_test.csv": pixel_csv([index % 10 for index in range(10)], seed=3),
    }


class Phases(Callback):
    def __init__(self) -> None:
        self.seen: list[tuple[str, int, int | None]] = []

    def on_phase(self, name: str, done: int = 0, total: int | None = None) -> None:
        self.seen.append((name, done, total))


@pytest.fixture
def inferred(monkeypatch) -> list[tuple[Path, str | None, bool]]:
    """A stand-in for kit.data.infer_competition that records its calls and writes a small competition.toml."""
    calls: list[tuple[Path, str | None, bool]] = []

    def infer_competition(data_dir: Path, name: str | None = None, write: bool = True):
        calls.append((Path(data_dir), name, write))
        if name == "broken":
            raise KitError(f"{data_dir}: cannot tell the label column; set label_column in competition.toml")
        path = Path(data_dir) / "competition.toml"  # not written: the real one checks and writes it
        spec = Competition(name, test_id_column="id", first_id=0, submission_columns=("id", "label"))
        return types.SimpleNamespace(competition=spec, path=path, notes=["784 pixel columns -> 28x28x1"])

    import kit.data

    monkeypatch.setattr(kit.data, "infer_competition", infer_competition, raising=False)
    return calls


def _downloads(server: FakeKaggle) -> int:
    return server.requests.count("DownloadDataFile")


def _leftovers(tmp_path) -> list[str]:
    return [path.name for path in (tmp_path / "data").rglob(".*")]


def _submission(tmp_path: Path, solution: pd.DataFrame, wrong: int = 0, rows: int | None = None) -> Path:
    """submissions/cnn.csv with the first ``wrong`` labels wrong, and its kit predict sidecar."""
    frame = solution.head(rows).copy() if rows else solution.copy()
    frame.iloc[:wrong, 1] = (frame.iloc[:wrong, 1] + 1) % 10
    path = tmp_path / "submissions" / "cnn.csv"
    path.parent.mkdir(exist_ok=True)
    frame.to_csv(path, index=False)
    path.with_suffix(".json").write_text(json.dumps({"submission": "cnn.csv", "competition": "digit-recognizer"}))
    return path


# --- fetch -------------------------------------------------------------------------------------------------------


def test_fetch_downloads_unzips_and_checks_the_files(kaggle, tmp_path, tiny_dir):
    fetched = fetch(retry=FAST)
    folder = tmp_path / "data" / "digit-recognizer"
    assert fetched.folder == Path("data/digit-recognizer")
    assert [(item.name, item.rows, item.downloaded) for item in fetched.files] == [
        ("sample_submission.csv", 40, True),
        ("test.csv", 40, True),
        ("train.csv", 200, True),
    ]
    for name in FILES:  # train and test arrived as .zip and were unwrapped
        assert (folder / name).read_bytes() == (tiny_dir / name).read_bytes()
        assert next(item.size for item in fetched.files if item.name == name) == (tiny_dir / name).stat().st_size
    assert sorted(path.name for path in folder.iterdir()) == sorted(FILES)
    assert _leftovers(tmp_path) == []
    assert kaggle.requests.count("ListDataFiles") == 2  # the fake pages the listing
    assert _downloads(kaggle) == 3
    assert check_data(folder, "digit-recognizer") == {"train.csv": 200, "test.csv": 40, "sample_submission.csv": 40}


def test_second_fetch_skips_without_contacting_kaggle(kaggle, monkeypatch):
    fetch(retry=FAST)
    before = list(kaggle.requests)
    monkeypatch.delenv("KAGGLE_KEY")  # not needed when everything is there
    again = fetch(retry=FAST)
    assert kaggle.requests == before
    assert [item.downloaded for item in again.files] == [False, False, False]
    assert [item.rows for item in again.files] == [40, 40, 200]


def test_force_downloads_again(kaggle):
    fetch(retry=FAST)
    refreshed = fetch(force=True, retry=FAST)
    assert _downloads(kaggle) == 6
    assert all(item.downloaded for item in refreshed.files)


def test_only_missing_or_broken_files_are_downloaded(kaggle, tmp_path):
    fetch(retry=FAST)
    folder = tmp_path / "data" / "digit-recognizer"
    (folder / "test.csv").unlink()
    (folder / "sample_submission.csv").write_text("ImageId,Label\n1,x\n")
    again = fetch(retry=FAST)
    assert _downloads(kaggle) == 5
    assert {item.name: item.downloaded for item in again.files} == {
        "sample_submission.csv": True,
        "test.csv": True,
        "train.csv": False,
    }


def test_corrupt_zip_leaves_the_good_files_in_place(kaggle, tmp_path):
    fetch(retry=FAST)
    train = tmp_path / "data" / "digit-recognizer" / "train.csv"
    good = train.read_bytes()
    kaggle.corrupt.add("train.csv")
    with pytest.raises(KitError, match=r"^train\.csv: the download from Kaggle is not a valid zip archive .*nothing"):
        fetch(force=True, retry=FAST)
    assert train.read_bytes() == good
    assert _leftovers(tmp_path) == []


def test_files_that_do_not_match_the_format_are_refused(kaggle, tmp_path):
    kaggle.files["train.csv"] = kaggle.files["train.csv"].replace(b"label,", b"digit,", 1)
    with pytest.raises(KitError, match=r"do not match kit's digit-recognizer format: train\.csv: missing column label"):
        fetch(retry=FAST)
    assert not (tmp_path / "data" / "digit-recognizer").exists()
    assert _leftovers(tmp_path) == []


def test_transient_failures_are_retried_with_exponential_backoff(kaggle):
    slept: list[float] = []
    kaggle.fail("DownloadDataFile", 503, times=2)
    kaggle.fail("blob", 500)
    fetch(retry=Retry(attempts=4, delay=0.5, jitter=0, sleep=slept.append))
    assert slept == [0.5, 1.0, 2.0]  # the first download fails three times: two replies, then its blob


def test_retry_after_is_honoured(kaggle):
    slept: list[float] = []
    kaggle.fail("ListDataFiles", 429, retry_after="3")
    fetch(retry=Retry(attempts=2, delay=0.5, sleep=slept.append))
    assert slept == [3.0]


def test_a_retry_after_beyond_the_time_budget_gives_up_at_once(kaggle):
    kaggle.fail("ListDataFiles", 429, retry_after="3600")
    with pytest.raises(KitError, match=r"429 Too Many Requests, after 1 attempt in 0 s, asked to wait 3600 s more\)"):
        fetch(retry=Retry(budget=60, sleep=pytest.fail))
    assert kaggle.requests == ["ListDataFiles"]


@pytest.mark.parametrize(
    ("setup", "expected"),
    [
        ("wrong key", r"^Kaggle rejected the credentials from KAGGLE_USERNAME/KAGGLE_KEY \(401 Unauthorized\): "),
        (
            "rules not accepted",
            r"^Kaggle refused access to digit-recognizer \(403 Forbidden\): accept the competition "
            r"rules at https://www\.kaggle\.com/competitions/digit-recognizer/rules",
        ),
        ("unknown competition", r"^Kaggle has no competition 'Kannada-MNIST' \(404 Not Found\)"),
        ("server error", r"^Kaggle's server failed \(HTTP 500 Internal Server Error, after 3 attempts in \d+ s\): "),
        ("bad request", r"^Kaggle refused the request \(HTTP 400\): injected failure$"),
        ("offline", r"^cannot reach Kaggle \(ProxyError, after 3 attempts in \d+ s\): check the network connection"),
    ],
)
def test_failures_are_one_clear_line(kaggle, monkeypatch, tmp_path, setup, expected):
    competition = "Kannada-MNIST" if setup == "unknown competition" else "digit-recognizer"
    if setup == "wrong key":
        monkeypatch.setenv("KAGGLE_KEY", "not-the-key")
    elif setup == "rules not accepted":
        kaggle.rules_accepted = False
    elif setup == "server error":
        kaggle.fail("ListDataFiles", 500, times=3)
    elif setup == "bad request":
        kaggle.fail("ListDataFiles", 400)
    elif setup == "offline":
        monkeypatch.setenv("HTTP_PROXY", os.environ["HTTPS_PROXY"])
        monkeypatch.setenv("http_proxy", os.environ["HTTPS_PROXY"])
    with pytest.raises(KitError, match=expected) as failure:
        fetch(competition, retry=FAST)
    assert "\n" not in str(failure.value) and KEY not in str(failure.value)
    assert not (tmp_path / "data" / competition).exists()
    if setup == "server error":
        assert kaggle.requests == ["ListDataFiles"] * 3


def test_missing_credentials_stop_before_any_request(kaggle, monkeypatch, tmp_path):
    monkeypatch.delenv("KAGGLE_USERNAME")
    monkeypatch.delenv("KAGGLE_KEY")
    with pytest.raises(KitError, match=rf"^no Kaggle credentials: put kaggle\.json in {tmp_path}/kaggle-config/ "):
        fetch(retry=FAST)
    assert kaggle.requests == []


def test_kaggle_json_in_the_config_dir_is_used_and_named_never_shown(kaggle, monkeypatch, tmp_path):
    monkeypatch.delenv("KAGGLE_USERNAME")
    monkeypatch.delenv("KAGGLE_KEY")
    config = tmp_path / "kaggle-config" / "kaggle.json"
    config.write_text(json.dumps({"username": USERNAME, "key": KEY}))
    config.chmod(0o600)
    assert len(fetch(retry=FAST).files) == 3
    config.write_text(json.dumps({"username": USERNAME, "key": "stale-key-0000"}))
    with pytest.raises(KitError, match=rf"rejected the credentials from {config} \(401") as failure:
        fetch(force=True, retry=FAST)
    assert "stale-key-0000" not in str(failure.value)


def test_an_access_token_is_used_as_the_client_does(kaggle, monkeypatch):
    monkeypatch.setenv("KAGGLE_API_TOKEN", "KGAT_token-that-must-never-show")
    with pytest.raises(KitError, match=r"^Kaggle rejected the credentials from KAGGLE_API_TOKEN \(401") as failure:
        fetch(retry=FAST)
    assert "KGAT_" not in str(failure.value)


def test_fetch_reports_its_phases_through_callbacks(kaggle):
    phases = Phases()
    fetch(retry=FAST, callbacks=[phases])
    assert [step for step in phases.seen if step[0] == "downloading"] == [("downloading", n, 3) for n in range(4)]
    again = Phases()
    fetch(retry=FAST, callbacks=again)
    assert again.seen == [("checking", 0, 1), ("checking", 1, 1)]


def test_a_broken_local_file_is_noted_when_fetched_again(kaggle, tmp_path):
    fetch(retry=FAST)
    sample = tmp_path / "data" / "digit-recognizer" / "sample_submission.csv"
    sample.write_bytes(sample.read_bytes().replace(b"Label", b"Lbael", 1))  # the listed size, but broken
    again = fetch(retry=FAST)
    assert {item.name for item in again.files if item.downloaded} == {"sample_submission.csv"}
    assert any("sample_submission.csv" in note and "asked Kaggle" in note for note in again.notes)
    assert any(note.startswith("sample_submission.csv was present but invalid") for note in again.notes)


def test_an_unknown_competition_is_fetched_and_its_spec_inferred(kaggle, tmp_path):
    pytest.importorskip(
        "kit.data._infer", reason="kit.data._infer (infer_competition, another helper's) is not there yet"
    )
    phases = Phases()
    fetched = fetch(NEW, retry=FAST, callbacks=[phases])
    folder = Path("data") / NEW
    assert (fetched.slug, fetched.kind, fetched.folder) == (NEW, "competition", folder)
    for name, content in fashion_files().items():  # train.csv arrived zipped and was unwrapped
        assert (folder / name).read_bytes() == content
    assert fetched.spec_path == folder / "competition.toml" and fetched.spec_path.is_file()
    assert fetched.competition.name == NEW and fetched.competition.image_shape == (28, 28, 1)
    assert fetched.notes and all(isinstance(note, str) for note in fetched.notes)
    assert [(item.name, item.rows, item.downloaded) for item in fetched.files] == [
        ("competition.toml", None, False),
        ("sample_submission.csv", 10, True),
        ("test.csv", 10, True),
        ("train.csv", 40, True),
    ]
    assert ("inferring the competition spec", 1, 1) in phases.seen
    assert _leftovers(tmp_path) == []
    before = list(kaggle.requests)
    again = fetch(NEW, retry=FAST)  # the written spec is now the competition's: checked here, Kaggle not asked
    assert kaggle.requests == before and again.downloaded == 0 and again.notes == ()
    assert again.competition.name == NEW and again.spec_path is None


def test_submit_checks_against_the_spec_inferred_at_fetch(kaggle, tmp_path):
    pytest.importorskip(
        "kit.data._infer", reason="kit.data._infer (infer_competition, another helper's) is not there yet"
    )
    fetch(NEW, retry=FAST)
    before = list(kaggle.requests)
    path = tmp_path / "fashion.csv"
    path.write_text("ImageId,Label\n" + "".join(f"{index},0\n" for index in range(10)))
    with pytest.raises(KitError, match=r"expected exactly id,label"):
        submit(path, "wrong columns", NEW, retry=FAST)
    assert kaggle.requests == before


def test_fetch_hands_a_new_competition_to_the_spec_inference(kaggle, inferred):
    fetched = fetch(NEW, retry=FAST)
    folder = Path("data") / NEW
    assert inferred == [(folder, NEW, True)]
    assert fetched.competition.name == NEW and fetched.spec_path == folder / "competition.toml"
    assert fetched.notes == ("784 pixel columns -> 28x28x1",)
    assert fetched.downloaded == 3


def test_a_dataset_slug_is_fetched_into_its_name(kaggle, inferred):
    fetched = fetch(DATASET, dest="datasets", retry=FAST)
    folder = Path("datasets/fashion-mnist-csv")
    assert (fetched.kind, fetched.folder) == ("dataset", folder)
    assert {item.name: item.rows for item in fetched.files if item.downloaded} == {
        "fashion-mnist_test.csv": 10,
        "fashion-mnist_train.csv": 30,
    }
    assert (folder / "fashion-mnist_train.csv").read_bytes() == dataset_files()["fashion-mnist_train.csv"]
    assert kaggle.requests.count("DownloadDataset") == 2 and inferred == [(folder, "fashion-mnist-csv", True)]


def test_a_dataset_named_like_a_shipped_spec_is_checked_against_it(kaggle, inferred):
    kaggle.add_dataset("zalando/fashion-mnist", dict(dataset_files()))  # no sample submission, as the real one
    fetched = fetch("zalando/fashion-mnist", retry=FAST)
    assert fetched.competition.name == "fashion-mnist" and fetched.spec_path is None and inferred == []
    assert {item.name: item.rows for item in fetched.files} == {
        "fashion-mnist_test.csv": 10,
        "fashion-mnist_train.csv": 30,
    }
    again = fetch("zalando/fashion-mnist", retry=FAST)  # the sample the spec names is asked for, nothing downloaded
    assert again.downloaded == 0
    assert again.notes == ("data/fashion-mnist/sample_submission.csv is missing; asked Kaggle for it",)
    kaggle.catalog[("dataset", "zalando/fashion-mnist")][0]["fashion-mnist_test.csv"] = b"label,pixel1\n1,2\n"
    with pytest.raises(KitError, match=r"do not match kit's fashion-mnist format: fashion-mnist_test\.csv: "):
        fetch("zalando/fashion-mnist", force=True, retry=FAST)
    assert Path("data/fashion-mnist/fashion-mnist_test.csv").read_bytes() == dataset_files()["fashion-mnist_test.csv"]


def test_a_spec_that_cannot_be_inferred_is_a_note_and_the_files_stay(kaggle, inferred):
    kaggle.add_competition("broken", {"train.csv": b"a,b\n1,2\n"})
    fetched = fetch("broken", retry=FAST)
    assert (Path("data/broken/train.csv")).read_bytes() == b"a,b\n1,2\n"
    assert fetched.competition is None and fetched.spec_path is None
    assert fetched.notes == (
        "no competition spec could be inferred: data/broken: cannot tell the label column; "
        "set label_column in competition.toml",
    )


@pytest.mark.parametrize(
    ("slug", "expected"),
    [
        (
            "kit-tester/nope",
            r"^Kaggle has no dataset 'kit-tester/nope' \(404 Not Found\): check the name in its "
            r"address, https://www\.kaggle\.com/datasets/kit-tester/nope$",
        ),
        ("no such", r"^competition: must be a Kaggle competition slug .*, got 'no such'$"),
        ("a/b/c", r"^competition: must be a Kaggle competition slug .* or a dataset slug \(owner/name\), got 'a/b/c'$"),
    ],
)
def test_unknown_or_malformed_slugs_are_one_line(kaggle, tmp_path, slug, expected):
    with pytest.raises(KitError, match=expected):
        fetch(slug, retry=FAST)
    assert not (tmp_path / "data").exists() or list((tmp_path / "data").iterdir()) == []


def test_cli_fetches_a_competition_kit_has_never_seen(kaggle, tmp_path):
    pytest.importorskip(
        "kit.data._infer", reason="kit.data._infer (infer_competition, another helper's) is not there yet"
    )
    done = CliRunner().invoke(app, ["fetch", "--competition", NEW])
    assert done.exit_code == 0, done.output
    folder = tmp_path / "data" / NEW
    assert sorted(path.name for path in folder.iterdir()) == ["competition.toml", *sorted(fashion_files())]
    assert "downloaded 3 files" in done.output and "inferred spec" in done.output
    dataset = CliRunner().invoke(app, ["fetch", "--competition", DATASET])
    assert dataset.exit_code == 0, dataset.output
    assert (tmp_path / "data" / "fashion-mnist-csv" / "fashion-mnist_test.csv").is_file()


# --- submit ------------------------------------------------------------------------------------------------------


def test_submit_waits_for_the_score_and_notes_it_in_the_sidecar(kaggle, tmp_path, solution):
    fetch(retry=FAST)
    path = _submission(tmp_path, solution, wrong=4)
    kaggle.pending_polls = 2
    progress = Phases()
    result = submit(path, "cnn, 5 folds", retry=FAST, poll=QUICK, callbacks=[progress])
    assert result.submission.status == "complete" and result.submission.public_score == "0.90000"
    assert result.left_today == 4
    assert kaggle.uploads == {"token-1": path.read_bytes()}
    assert kaggle.requests.count("CreateSubmission") == 1 and kaggle.requests.count("ListSubmissions") >= 3
    assert any("scoring submission 1000" in name for name, _, _ in progress.seen)
    sidecar = path.with_suffix(".json").read_text()
    assert json.loads(sidecar)["kaggle"] == [
        {
            "competition": "digit-recognizer",
            "ref": 1000,
            "message": "cnn, 5 folds",
            "submitted_at": "2024-01-02T03:04:05+00:00",
            "status": "complete",
            "public_score": "0.90000",
        }
    ]
    assert KEY not in sidecar and USERNAME not in sidecar


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        ("label", r"line 4, column Label: 12 is not a class"),
        ("rows", r"39 rows; the test set has 40 images"),
        ("columns", r"expected exactly ImageId,Label"),
    ],
)
def test_an_invalid_file_is_refused_before_any_request(kaggle, tmp_path, solution, tiny_dir, edit, expected):
    frame = solution.copy()
    if edit == "label":
        frame.loc[2, "Label"] = 12
    elif edit == "rows":
        frame = frame.head(39)
    else:
        frame = frame.rename(columns={"Label": "label"})
    path = tmp_path / "bad.csv"
    frame.to_csv(path, index=False)
    with pytest.raises(KitError, match=expected):
        submit(path, "bad", data=tiny_dir, retry=FAST, poll=QUICK)
    assert kaggle.requests == []


def test_no_wait_returns_the_pending_submission(kaggle, tmp_path, solution):
    kaggle.pending_polls = 5
    result = submit(_submission(tmp_path, solution), "quick", wait=False, retry=FAST)
    assert (result.submission.ref, result.submission.status) == (1000, "pending")
    assert kaggle.requests[-1] == "CreateSubmission"


def test_a_failed_upload_is_retried(kaggle, tmp_path, solution):
    kaggle.fail("upload", 500)
    result = submit(_submission(tmp_path, solution), "retried", retry=FAST, poll=QUICK)
    assert result.submission.public_score == "1.00000"
    assert kaggle.requests.count("StartSubmissionUpload") == 2 and len(kaggle.submissions) == 1


def test_a_lost_reply_does_not_submit_twice(kaggle, tmp_path, solution):
    kaggle.fail("CreateSubmission", 502, after=True)  # Kaggle records the submission, then the reply fails
    result = submit(_submission(tmp_path, solution), "once", retry=FAST, poll=QUICK)
    assert len(kaggle.submissions) == 1 and kaggle.requests.count("CreateSubmission") == 1
    assert result.submission.ref == 1000


def test_a_submission_kaggle_cannot_score_is_an_error(kaggle, tmp_path, solution):
    path = _submission(tmp_path, solution, rows=39)  # no sample_submission.csv here: only the format's ids are checked
    with pytest.raises(KitError, match=r"^Kaggle could not score submission 1000: Submission must have 40 rows"):
        submit(path, "short", retry=FAST, poll=QUICK)


def test_waiting_gives_up_after_the_timeout(kaggle, tmp_path, solution):
    kaggle.pending_polls = 10**6
    path = _submission(tmp_path, solution)
    with pytest.raises(KitError, match=r"^submission 1000 was still being scored after \d+ s; see `kit submissions"):
        submit(path, "slow", retry=FAST, poll=Poll(interval=0.01, timeout=0.05))
    assert json.loads(path.with_suffix(".json").read_text())["kaggle"][0]["status"] == "pending"


def test_the_daily_limit_is_checked_before_uploading(kaggle, tmp_path, solution):
    path = _submission(tmp_path, solution)
    for number in range(5):
        submit(path, f"try {number}", wait=False, retry=FAST)
    with pytest.raises(KitError, match=r"^no submissions left for digit-recognizer today \(5 made\)"):
        submit(path, "one too many", retry=FAST)
    assert kaggle.requests.count("StartSubmissionUpload") == 5


def test_submissions_lists_newest_first_with_the_allowance(kaggle, tmp_path, solution):
    path = _submission(tmp_path, solution, wrong=8)
    submit(path, "first", retry=FAST, poll=QUICK)
    submit(path, "second", wait=False, retry=FAST)
    listed = submissions(retry=FAST)
    assert [(item.ref, item.description, item.public_score) for item in listed.items] == [
        (1001, "second", "0.80000"),
        (1000, "first", "0.80000"),
    ]
    assert listed.left_today == 3


def test_a_sidecar_that_is_not_readable_is_a_note(kaggle, tmp_path, solution):
    path = _submission(tmp_path, solution)
    path.with_suffix(".json").write_text("{not json")
    result = submit(path, "noted", wait=False, retry=FAST)
    assert result.notes == (
        f"{path.with_suffix('.json')}: damaged (not valid JSON); delete it and rerun the command "
        "that wrote it; the submission is not noted there",
    )
    assert path.with_suffix(".json").read_text() == "{not json"


def test_an_empty_message_is_refused_before_any_request(kaggle, tmp_path, solution):
    with pytest.raises(
        KitError, match=r"^message: must be a non-empty text \(it labels the submission on Kaggle\), got "
    ):
        submit(_submission(tmp_path, solution), "  ", retry=FAST)
    assert kaggle.requests == []


# --- command line ------------------------------------------------------------------------------------------------


def test_cli_fetch_submit_and_submissions_print_tables(kaggle, tmp_path, solution):
    runner = CliRunner()
    fetched = runner.invoke(app, ["fetch"])
    assert fetched.exit_code == 0, fetched.output
    assert "train.csv" in fetched.output and "200" in fetched.output and "downloaded 3 files" in fetched.output
    again = runner.invoke(app, ["fetch"])
    assert "already present" in again.output and "nothing to download" in again.output
    elsewhere = runner.invoke(app, ["fetch", "--out", str(tmp_path / "mine")])  # --out: the folder itself
    assert elsewhere.exit_code == 0 and (tmp_path / "mine" / "train.csv").is_file(), elsewhere.output
    parent = runner.invoke(app, ["fetch", "--dest", str(tmp_path / "old")])  # the deprecated parent, with a warning
    assert (tmp_path / "old" / "digit-recognizer" / "train.csv").is_file() and "--dest is deprecated" in parent.output
    submitted = runner.invoke(app, ["submit", str(_submission(tmp_path, solution)), "-m", "from the cli"])
    assert submitted.exit_code == 0, submitted.output
    assert "public score 1.00000" in submitted.output and "4 submissions left today" in submitted.output
    listed = runner.invoke(app, ["submissions"])
    assert listed.exit_code == 0 and "from the cli" in listed.output and "1.00000" in listed.output
    assert KEY not in fetched.output + submitted.output + listed.output


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["fetch"], "error: Kaggle refused access to digit-recognizer (403 Forbidden): accept the competition rules"),
        (["submit", "submissions/cnn.csv", "-m", "x"], "error: no Kaggle credentials: put kaggle.json in"),
    ],
)
@pytest.mark.slow
def test_cli_errors_are_one_line_with_exit_code_1(kaggle, tmp_path, solution, args, expected):
    kaggle.rules_accepted = False
    _submission(tmp_path, solution)
    env = dict(os.environ)
    if args[0] == "submit":
        del env["KAGGLE_KEY"]
    done = subprocess.run([sys.executable, "-m", "kit", *args], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 1
    assert done.stderr.startswith(expected) and done.stderr.count("\n") == 1, done.stderr
    assert "Traceback" not in done.stderr and KEY not in done.stdout + done.stderr


@pytest.mark.slow
def test_the_library_never_imports_rich():
    code = "import sys, kit.kaggle; sys.exit('rich' in sys.modules or 'kaggle' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], timeout=60).returncode == 0


# --- hostile servers: silent, stalled, cut short, HTML; killed fetches ---------------------------------------------

PATIENT = Retry(attempts=5, delay=0.001, max_delay=0.002, jitter=0, connect_timeout=0.5, read_timeout=0.5)


def _one_line(error: pytest.ExceptionInfo) -> str:
    text = str(error.value)
    assert "\n" not in text and KEY not in text
    return text


def test_a_silent_server_times_out_instead_of_hanging(kaggle, tmp_path):
    kaggle.fault("*", "silent", times=100)
    started = time.monotonic()
    with pytest.raises(
        KitError, match=r"^Kaggle did not answer in time \(ReadTimeout, after 2 attempts in 1 s\): "
    ) as e:
        fetch(retry=PATIENT)
    assert time.monotonic() - started < 10 and kaggle.requests == ["ListDataFiles"] * 2  # a stall is retried once
    _one_line(e)
    assert not (tmp_path / "data" / "digit-recognizer").exists()


def test_fetch_ends_within_its_timeout(kaggle):
    kaggle.fault("*", "silent", times=100)
    started = time.monotonic()
    with pytest.raises(
        KitError, match=r"^Kaggle did not answer in time .* — the 1\.5 s allowed are spent; pass timeout"
    ):
        fetch(retry=Retry(read_timeout=60, attempts=10, delay=0.001, jitter=0), timeout=1.5)
    assert time.monotonic() - started < 6


@pytest.mark.parametrize("mode", ["stalled", "cut"])
def test_a_download_cut_short_is_aborted_and_retried(kaggle, tmp_path, tiny_dir, mode):
    kaggle.fault("blob", mode)  # half of the first file arrives, then silence (or a hang-up)
    started = time.monotonic()
    fetched = fetch(retry=PATIENT)
    assert time.monotonic() - started < 10 and fetched.downloaded == 3
    for name in FILES:
        assert (tmp_path / "data" / "digit-recognizer" / name).read_bytes() == (tiny_dir / name).read_bytes()
    assert kaggle.requests.count("blob") == 4 and _leftovers(tmp_path) == []


def test_downloads_that_keep_stalling_leave_the_good_files_in_place(kaggle, tmp_path):
    fetch(retry=FAST)
    train = tmp_path / "data" / "digit-recognizer" / "train.csv"
    good = train.read_bytes()
    kaggle.fault("blob", "stalled", times=100)
    with pytest.raises(KitError, match=r"^Kaggle did not answer in time \(ConnectionError, after 2 attempts") as e:
        fetch(force=True, retry=PATIENT)
    _one_line(e)
    assert train.read_bytes() == good and _leftovers(tmp_path) == []


@pytest.mark.parametrize(
    ("call", "expected"),
    [
        ("ListDataFiles", r"^Kaggle's reply to competition_list_files was an HTML page instead of JSON: a proxy, "),
        ("DownloadDataFile", r"^downloading sample_submission\.csv from Kaggle gave an HTML page instead of the file"),
        ("blob", r"^downloading sample_submission\.csv from Kaggle gave an HTML page instead of the file: a proxy, "),
    ],
)
def test_an_html_page_instead_of_json_is_one_line(kaggle, tmp_path, call, expected):
    kaggle.fault(call, "html")
    with pytest.raises(KitError, match=expected) as e:
        fetch(retry=FAST)
    _one_line(e)
    assert not (tmp_path / "data" / "digit-recognizer").exists() and _leftovers(tmp_path) == []


def test_submit_ends_within_its_timeout(kaggle, tmp_path, solution):
    kaggle.fault("GetSubmissionLimits", "silent", times=100)
    started = time.monotonic()
    with pytest.raises(
        KitError, match=r"^Kaggle did not answer in time .* — the 1\.5 s allowed are spent; pass timeout"
    ):
        submit(_submission(tmp_path, solution), "silent", retry=Retry(read_timeout=60, delay=0.001), timeout=1.5)
    assert time.monotonic() - started < 6 and kaggle.uploads == {}


def test_a_server_falling_silent_while_scoring_says_the_submission_is_made(kaggle, tmp_path, solution):
    class Silencer(Callback):  # once the submission is made, the server stops answering
        def on_phase(self, name: str, done: int = 0, total: int | None = None) -> None:
            if name.startswith("submitting") and done == 1:
                kaggle.fault("*", "silent", times=100)

    kaggle.pending_polls = 10**6
    started = time.monotonic()
    with pytest.raises(KitError, match=r"; submission 1000 is made — see `kit submissions` or ") as e:
        submit(_submission(tmp_path, solution), "made", retry=PATIENT, poll=QUICK, timeout=3, callbacks=[Silencer()])
    assert time.monotonic() - started < 8 and len(kaggle.submissions) == 1
    assert "rerun" not in _one_line(e)  # rerunning would spend a second submission


def test_a_killed_fetch_leaves_no_temporary_folder_after_the_next(kaggle, tmp_path, tiny_dir):
    kaggle.fault("blob", "stalled")  # the first download hangs half-way: kill the fetch there
    command = [sys.executable, "-m", "kit", "fetch", "--timeout", "60"]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while "blob" not in kaggle.requests and time.monotonic() < deadline and process.poll() is None:
            time.sleep(0.05)
        time.sleep(0.3)
        assert "blob" in kaggle.requests and process.poll() is None
    finally:
        process.kill()
        process.wait(timeout=30)
    left = [path for path in (tmp_path / "data").iterdir() if path.name.startswith(".digit-recognizer-download-")]
    assert len(left) == 1 and any(left[0].rglob("*.kaggle-partial"))  # what a killed fetch leaves
    running = tmp_path / "data" / f".digit-recognizer-download-{os.getppid()}-live"  # a fetch still under way
    running.mkdir()
    fetch(retry=FAST)
    assert not left[0].exists() and running.is_dir()
    assert (tmp_path / "data" / "digit-recognizer" / "train.csv").read_bytes() == (tiny_dir / "train.csv").read_bytes()


@pytest.mark.parametrize("command", ["fetch", "submit"])
@pytest.mark.slow
def test_cli_against_a_silent_server_ends_in_one_line_within_its_timeout(kaggle, tmp_path, solution, command):
    args = ["fetch"] if command == "fetch" else ["submit", str(_submission(tmp_path, solution)), "-m", "x"]
    kaggle.fault("*", "silent", times=100)
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "kit", *args, "--timeout", "3"], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 1 and time.monotonic() - started < 30
    assert done.stderr.startswith("error: Kaggle did not answer in time (ReadTimeout, "), done.stderr
    assert done.stderr.endswith(" — the 3 s allowed are spent; rerun with --timeout ...\n"), done.stderr
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr


@pytest.mark.slow
def test_cli_html_instead_of_json_is_one_line(kaggle):
    kaggle.fault("ListDataFiles", "html")
    done = subprocess.run([sys.executable, "-m", "kit", "fetch"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 1 and done.stderr.count("\n") == 1, done.stderr
    assert done.stderr.startswith("error: Kaggle's reply to competition_list_files was an HTML page instead of JSON")


def test_submit_and_score_take_the_data_folder_the_sidecar_records(kaggle, tmp_path, solution, tiny_dir):
    from kit.submission import score_submission

    def recorded(path: Path) -> Path:
        sidecar = json.loads(path.with_suffix(".json").read_text())
        path.with_suffix(".json").write_text(json.dumps({**sidecar, "data_dir": str(tiny_dir)}))
        return path

    short = recorded(_submission(tmp_path, solution, rows=10))  # 10 of the 40 test rows of the recorded folder
    with pytest.raises(KitError, match=r"10 rows|40"):
        submit(short, "checked against the recorded folder", retry=FAST)
    assert kaggle.requests == []  # refused before Kaggle was asked
    full = recorded(_submission(tmp_path, solution, wrong=4))
    scored = score_submission(full)  # no data folder given, none under the working folder: the recorded one
    assert scored.score == pytest.approx(36 / 40) and scored.solution == str(tiny_dir / "solution.csv")
