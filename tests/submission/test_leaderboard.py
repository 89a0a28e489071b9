"""`kit leaderboard` / `kit.leaderboard()`: submissions best first by honest OOF score, the one to upload marked by the
stated rule (a method chosen on OOF rows must beat the equal vote of its runs by more than the noise); `kit predict`'s
verdict per method; `kit score A B …`. Sidecars are written by kit's own writers (`kit.ensemble.predict`,
`note_sidecar`) on fabricated runs (arrays, no training)."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import typer
from layout_data import build
from typer.testing import CliRunner

import kit
from kit.cli import competition as competition_cli
from kit.cli import leaderboard as leaderboard_cli
from kit.cli.ensemble import notes
from kit.cli.leaderboard import verdict_text
from kit.crossval import RunFolder
from kit.ensemble import predict
from kit.errors import KitError
from kit.submission import UPLOAD_RULE, leaderboard, note_sidecar, read_sidecar, score_noise, verdict, write_sidecar
from kit.utils import save_array, write_json

ROWS, CLASSES = 1000, 3
LABELS = np.arange(ROWS) % CLASSES


def softmax_rows(rng: np.random.Generator, labels: np.ndarray, strength: float) -> np.ndarray:
    """Noisy class probabilities that favour the true class by ``strength`` (in logits)."""
    logits = rng.normal(size=(len(labels), CLASSES))
    logits[np.arange(len(labels)), labels] += strength
    return np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)


def make_run(folder: Path, seed: int, strength: float) -> Path:
    """A finished run folder from arrays: summary.json, oof/labels/test/test_ids .npy (as tests/ensemble make them)."""
    rng, run = np.random.default_rng(seed), RunFolder(folder)
    test = softmax_rows(rng, np.arange(5) % CLASSES, strength)
    save_array(run.oof_path, softmax_rows(rng, LABELS, strength).astype(np.float32))
    save_array(run.test_path, test.astype(np.float32))
    save_array(run.labels_path, LABELS)
    save_array(run.test_ids_path, np.arange(1, 6))
    for fold in (1, 2):  # the held-out rows of each fold, which stacking cross-fits on
        save_array(run.val_rows_path(fold), np.arange(fold - 1, ROWS, 2))
    folds = [{"fold": k, "epochs": 1, "val_accuracy": 0.5, "val_loss": 1.0, "seconds": 1.0} for k in (1, 2)]
    summary = {
        "recipe": folder.name,
        "recipe_hash": f"hash-{folder.name}",
        "train_fingerprint": "train-rows",
        "test_fingerprint": "test-rows",
        "folds_total": 2,
        "seed": seed,
        "competition": "digit-recognizer",
        "data_dir": str(folder / "no-data"),
        "data": {"train_rows": ROWS, "test_rows": 5, "image_shape": [28, 28, 1], "classes": CLASSES},
        "folds": folds,
        "oof_accuracy": 0.5,
        "oof_loss": 1.0,
        "fold_accuracy_mean": 0.5,
        "fold_accuracy_std": 0.0,
        "train_seconds": 2.0,
        "finished_at": "2026-01-01T00:00:00+00:00",
        "recipe_content": {"model": {"blocks": [{"filters": 4}]}},
    }
    write_json(run.summary_path, summary)
    return folder


@pytest.fixture
def runs(tmp_path):
    return make_run(tmp_path / "runs" / "a", 1, 1.6), make_run(tmp_path / "runs" / "b", 2, 1.5)


@pytest.fixture
def out(tmp_path):
    return tmp_path / "submissions"


def equal_vote_noise(runs) -> float:
    vote = np.mean([np.load(RunFolder(run).oof_path) for run in runs], axis=0)
    p = float(np.mean(vote.argmax(axis=1) == LABELS))
    return math.sqrt(p * (1 - p) / ROWS)


def with_honest(path: Path, key: str, gain: float) -> dict:
    """Set the honest score ``key`` of the sidecar at ``path`` to its equal vote's plus ``gain`` (note_sidecar)."""
    scores = dict(read_sidecar(path).to_json()["oof_metric_scores"])
    scores[key] = scores["equal"] + gain
    return note_sidecar(path, oof_metric_scores=scores).to_json()


def test_the_sidecar_keys_are_kit_ensembles():
    from kit import ensemble
    from kit.submission import _leaderboard as board

    for name in ("EQUAL", "GIVEN", "AUTO", "CROSS_FITTED", "SELECTED", "SELECTED_HONEST", "STACKED"):
        assert getattr(board, name) == getattr(ensemble, name)


def test_noise_is_the_binomial_se_for_accuracy_and_a_bootstrap_otherwise(runs):
    vote = np.mean([np.load(RunFolder(run).oof_path) for run in runs], axis=0)
    assert score_noise("accuracy", LABELS, vote) == pytest.approx(equal_vote_noise(runs))
    losses = -np.log(vote[np.arange(ROWS), LABELS])
    bootstrap = score_noise("log_loss", LABELS, vote)
    assert bootstrap == score_noise("log_loss", LABELS, vote)  # seeded
    assert bootstrap == pytest.approx(losses.std() / math.sqrt(ROWS), rel=0.2)


def test_a_verdict_needs_a_gain_above_the_noise():
    assert verdict(0.91, 0.90, 0.005, "accuracy").beats
    assert not verdict(0.901, 0.90, 0.005, "accuracy").beats
    assert not verdict(0.95, 0.90, None, "accuracy").beats  # unknown noise never clears a chosen method
    assert verdict(0.20, 0.25, 0.01, "log_loss").beats and verdict(0.20, 0.25, 0.01, "log_loss").gain > 0


def test_a_selection_within_the_noise_is_passed_over_for_the_equal_vote(runs, out):
    predict(runs, name="vote", out=out)
    predict(runs, name="select", out=out, select=True)
    with_honest(out / "select.csv", "selected, cross-fitted", 0.001)
    board = kit.leaderboard(out)
    assert [row.name for row in board.rows] == ["select.csv", "vote.csv"]  # best first by the honest score
    [marked] = board.marked
    assert marked.name == "vote.csv" and marked.method == "equal vote" and marked.members == ("a", "b")
    select = board.rows[0]
    assert select.method == "selection" and select.chosen and not select.marked
    assert select.noise == pytest.approx(equal_vote_noise(runs)) and select.noise > 0.001
    assert select.honest == pytest.approx(select.equal + 0.001)  # the cross-fitted score, not the in-sample one
    assert select.note.startswith("within the noise of its equal vote (+0.0010, noise ±")
    assert board.boards[0].reason.startswith("vote.csv: the best honest OOF accuracy")
    assert board.boards[0].reason.endswith("not beating their equal vote by the noise: select.csv")
    assert board.rule == UPLOAD_RULE and "sqrt(p(1-p)/n)" in UPLOAD_RULE and "bootstrap" in UPLOAD_RULE


def test_a_clearly_better_selection_is_marked(runs, out):
    predict(runs, name="vote", out=out)
    predict(runs, name="select", out=out, select=True)
    with_honest(out / "select.csv", "selected, cross-fitted", 0.05)
    [marked] = leaderboard(out).marked
    assert marked.name == "select.csv"
    reason = leaderboard(out).boards[0].reason
    assert re.search(r"beats the equal vote of its runs by \+0\.0500, more than the noise \(±0\.0\d{3}\)", reason)


def test_rows_of_other_runs_are_compared_by_their_honest_scores(runs, out, tmp_path):
    strong = make_run(tmp_path / "runs" / "c", 3, 3.0)
    predict(runs, name="vote", out=out)
    predict([runs[0], strong], name="stack", out=out, stack=True)
    predict([strong], name="c", out=out)
    rows = leaderboard(out).rows
    assert rows[-1].name == "vote.csv"  # the weak pair's equal vote, whatever the stack of the strong one scores
    honest = [row.honest for row in rows]
    assert honest == sorted(honest, reverse=True)
    marked = leaderboard(out).marked[0]
    assert marked.name in ("c.csv", "stack.csv") and (not marked.chosen or marked.verdict.beats)


def test_a_lower_is_better_metric_sorts_up(runs, out):
    predict(runs, name="vote", out=out)
    predict(runs, name="auto", out=out, auto_weights=True)
    for path, loss in ((out / "vote.csv", 0.50), (out / "auto.csv", 0.40)):
        scores = {"equal": 0.50, "auto, in-sample": 0.30, "auto, cross-fitted": loss}
        note_sidecar(path, metric="log_loss", oof_metric_scores=scores)
    board = leaderboard(out)
    assert board.boards[0].metric == "log_loss" and [row.name for row in board.rows] == ["auto.csv", "vote.csv"]
    assert board.marked[0].name == "auto.csv"  # 0.10 lower, far above the bootstrap noise of 1,000 rows


def test_an_old_sidecar_falls_back_to_the_accuracy_of_oof_scores(runs, out):
    predict(runs, name="vote", out=out)
    prediction = predict(runs, name="auto", out=out, auto_weights=True)
    old = {key: value for key, value in read_sidecar(prediction.path).to_json().items()}
    del old["metric"], old["oof_metric_scores"]
    old["oof_scores"]["auto, cross-fitted"]["accuracy"] = 0.25
    write_sidecar(prediction.path, old)
    auto = next(row for row in leaderboard(out).rows if row.name == "auto.csv")
    assert auto.metric == "accuracy" and auto.honest == 0.25 and auto.method == "auto weights"
    assert auto.equal == pytest.approx(old["oof_scores"]["equal"]["accuracy"])
    assert leaderboard(out).marked[0].name == "vote.csv"


def test_local_and_public_scores_other_competitions_and_unknown_files(runs, out):
    predict(runs, name="vote", out=out)
    local = {"metric": "accuracy", "score": 0.97, "accuracy": 0.97, "rows": 5, "solution": "s.csv", "scored_at": "t"}
    entry = {"competition": "digit-recognizer", "ref": 1, "message": "m", "submitted_at": "2026-01-01T00:00:00"}
    note_sidecar(out / "vote.csv", local_score=local, kaggle=[{**entry, "status": "complete", "public_score": "0.96"}])
    other = predict(runs, name="other", out=out).path
    note_sidecar(other, competition="fashion-mnist")
    (out / "hand.csv").write_text("ImageId,Label\n1,0\n")
    (out / "foreign.csv").write_text("ImageId,Label\n1,0\n")
    (out / "foreign.json").write_text(json.dumps({"submission": "someone-else.csv"}))
    board = leaderboard(out)
    assert [b.competition for b in board.boards] == ["digit-recognizer", "fashion-mnist"]
    vote = board.boards[0].rows[0]
    assert vote.local == 0.97 and vote.local_metric == "accuracy" and vote.public == 0.96
    assert board.unknown[0].startswith("foreign.csv: ") and "not the sidecar kit wrote" in board.unknown[0]
    assert board.unknown[1] == "hand.csv: no kit sidecar"
    only = leaderboard(out, competition="fashion-mnist")
    assert [row.name for row in only.rows] == ["other.csv"] and only.marked[0].name == "other.csv"
    assert "upload other.csv" in repr(only)
    with pytest.raises(KitError, match="no such folder"):
        leaderboard(out / "missing")


def test_the_cli_marks_one_and_says_why_in_80_columns(runs, out):
    predict(runs, name="vote", out=out)
    predict(runs, name="select", out=out, select=True)
    with_honest(out / "select.csv", "selected, cross-fitted", 0.001)
    (out / "hand.csv").write_text("ImageId,Label\n1,0\n")
    app = typer.Typer()
    leaderboard_cli.register(app)
    app.command("noop")(lambda: None)  # two commands: the name is a subcommand
    result = CliRunner().invoke(app, ["leaderboard", "--out", str(out)], terminal_width=80)
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert max(len(line) for line in lines) <= 80
    assert any(re.match(r"▶\s+vote\s+equal vote\s+a, b\s+0\.\d{4}", line) for line in lines)
    assert any(line.startswith("upload vote.csv: the best honest OOF accuracy") for line in lines)
    assert "select.csv: within the noise of its equal vote" in result.output
    assert "rule: the best honest OOF score" in result.output and "not ranked: hand.csv: no kit sidecar" in lines
    missing = CliRunner().invoke(app, ["leaderboard", "--out", str(out / "nope")])
    assert missing.exit_code != 0 and "--out" in str(missing.exception)


def test_predict_notes_say_whether_each_method_beats_the_equal_vote(runs, tmp_path):
    selected = predict(runs, out=tmp_path, select=True)
    said = [line for line in notes(selected) if line.startswith("--select")]
    assert len(said) == 1 and "the equal vote on rows it was not chosen on" in said[0]
    if not selected.sidecar["oof_metric_scores"]["selected, cross-fitted"] > selected.sidecar["oof_metric_scores"][
        "equal"
    ] + equal_vote_noise(runs):
        assert said[0].startswith("--select did not beat")
        assert said[0].endswith(f"upload the equal vote instead (kit predict {runs[0]} {runs[1]})")
    stacked = predict(runs, out=tmp_path, stack=True)
    assert any(line.startswith("--stack ") and "the equal vote out of fold" in line for line in notes(stacked))
    weighted = predict(runs, out=tmp_path, auto_weights=True)
    [line] = notes(weighted)
    assert "; --auto-weights " in line and "on rows they were not fit on" in line


def test_predict_notes_for_tta_and_thresholds(runs, tmp_path):
    from dataclasses import replace

    from kit.ensemble import Prediction

    plain = predict(runs, out=tmp_path)
    ensemble = plain.ensemble
    worse = [replace(member, tta=2, plain_oof=np.eye(CLASSES)[LABELS]) for member in ensemble.members]  # perfect
    cuts = {"cuts": [0.5, 1.5], "oof_qwk_argmax": 0.70, "oof_qwk_cross_fitted": 0.69}
    faked = Prediction(
        replace(ensemble, tta=2, members=tuple(worse)), plain.path, {**plain.sidecar, "qwk_thresholds": cuts}
    )
    said = notes(faked)
    assert any(line.startswith("--tta 2 did not beat the equal vote without TTA: ") for line in said)
    assert any(line.endswith("leave out --tta (as good, and faster)") for line in said)
    rows = "on rows the cut points were not fit on"
    assert (
        f"--thresholds did not beat the most probable grade {rows}: 0.6900 against 0.7000 (-0.0100): leave it out"
        in said
    )


def test_verdict_words():
    worse = verdict_text("--select", verdict(0.9788, 0.98, 0.004, "accuracy"), "the equal vote", "on X", "do Y")
    assert worse == "--select did not beat the equal vote on X: 0.9788 against 0.9800 (-0.0012): do Y"
    near = verdict_text("--stack", verdict(0.981, 0.98, 0.004, "accuracy"), "the equal vote", "", "do Y")
    assert near == (
        "--stack did not beat the equal vote by more than the noise: 0.9810 against 0.9800 (+0.0010, noise ±0.0040): "
        "do Y"
    )
    better = verdict_text("--tta 2", verdict(0.99, 0.98, 0.004, "accuracy"), "the vote without TTA", "", "do Y")
    assert (
        better
        == "--tta 2 beats the vote without TTA: 0.9900 against 0.9800 (+0.0100, more than the noise ±0.0040): upload it"
    )


@pytest.fixture
def digits(tmp_path):
    folder = tmp_path / "data"
    build("digit-recognizer", folder)
    return folder


def test_kit_score_takes_several_files_one_row_each(tmp_path, digits, monkeypatch):
    monkeypatch.chdir(tmp_path)  # short relative paths in the table
    app = typer.Typer()
    competition_cli.register(app)
    solution = pd.read_csv(digits / "solution.csv")
    right, half = Path("right.csv"), Path("half.csv")
    solution.to_csv(right, index=False)
    solution.assign(
        Label=np.where(np.arange(len(solution)) % 2, solution["Label"], (solution["Label"] + 1) % 10)
    ).to_csv(half, index=False)
    result = CliRunner().invoke(app, ["score", str(right), str(half), "--data", str(digits)], terminal_width=80)
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert "2 submissions" in lines[0] and re.split(r"\s+", lines[1].strip()) == ["file", "metric", "score", "rows"]
    assert any(re.fullmatch(r".*right\.csv\s+accuracy\s+1\.0000\s+30", line) for line in lines)
    assert any(re.fullmatch(r".*half\.csv\s+accuracy\s+0\.5000\s+30", line) for line in lines)
    assert json.loads(half.with_suffix(".json").read_text())["local_score"]["score"] == 0.5  # noted in each
    single = CliRunner().invoke(app, ["score", str(right), "--data", str(digits)], terminal_width=80)
    assert any(line.startswith("accuracy 1.0000 on 30 rows") for line in single.output.splitlines())  # as before
    bad = Path("bad.csv")
    bad.write_text("ImageId,Label\n1,0\n")
    failed = CliRunner().invoke(app, ["score", str(right), str(bad), "--data", str(digits)], terminal_width=80)
    assert failed.exit_code == 1 and re.search(r"bad\.csv\s+—\s+—\s+—", failed.output)


@pytest.mark.slow
def test_after_the_readme_ensembling_loop_one_is_marked_and_why(tmp_path, tiny_dir, monkeypatch):
    from conftest import tiny_recipe_toml
    from kit.cli import cv as cv_cli
    from kit.cli import ensemble as ensemble_cli

    monkeypatch.chdir(tmp_path)
    app = typer.Typer()
    for module in (cv_cli, ensemble_cli, leaderboard_cli, competition_cli):
        module.register(app)

    def run(*args: object) -> str:
        result = CliRunner().invoke(app, [str(arg) for arg in args], terminal_width=100)
        assert result.exit_code == 0 and result.exception is None, f"{args}: {result.output}{result.exception!r}"
        return result.output

    for seed in (3, 4):
        Path(f"tiny{seed}.toml").write_text(tiny_recipe_toml("tiny CNN", seed=seed))
        run("cv", f"tiny{seed}.toml", "--data", tiny_dir, "--epochs", "1", "--out", f"runs/tiny{seed}")
    run("predict", "runs/tiny3", "runs/tiny4", "--name", "vote")
    for flag in ("--select", "--stack"):
        said = run("predict", "runs/tiny3", "runs/tiny4", flag)
        assert re.search(rf"{flag} (beats|did not beat) the equal vote", " ".join(said.split()))
    output = run("leaderboard")
    table = [line for line in output.splitlines() if re.match(r"[▶ ]  (vote|tiny3\+tiny4-s)", line)]
    assert len(table) == 3 and sum(line.startswith("▶") for line in table) == 1
    assert re.search(r"^upload \S+\.csv: the best honest OOF accuracy \(0\.\d{4}\)", output, re.M)
    board = kit.leaderboard()
    assert len(board.marked) == 1 and all(row.local is not None for row in board.rows)  # kit predict scored each
    scores = run("score", *sorted(str(path) for path in Path("submissions").glob("*.csv")))
    assert "3 submissions" in scores
