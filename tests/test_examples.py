"""The scripts in examples/ run as a user runs them: a subprocess each, writing only under the folder given."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # trains models in subprocesses

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
NUMBER = r"0\.\d{4}"


def run_example(name: str, tmp_path: Path, *, by: str = "argument") -> tuple[subprocess.CompletedProcess, Path]:
    """Run ``examples/<name>`` from an empty folder, its output folder given by argument or by ``KIT_EXAMPLE_OUT``."""
    out, cwd = tmp_path / "out", tmp_path / "cwd"
    cwd.mkdir()
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    args = [sys.executable, str(EXAMPLES / name)]
    if by == "argument":
        args.append(str(out))
    else:
        env["KIT_EXAMPLE_OUT"] = str(out)
    done = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "Traceback" not in done.stderr + done.stdout
    assert not any(cwd.iterdir()), f"the example wrote into the current folder: {list(cwd.iterdir())}"
    return done, out


def test_every_example_has_a_test_and_a_docstring_header():
    tested = set(re.findall(r'"(\w+\.py)"', Path(__file__).read_text()))
    for path in EXAMPLES.glob("*.py"):
        assert path.name in tested, f"{path.name} has no test here"
        text = path.read_text()
        assert text.startswith('"""') and " s on a 2-core CPU" in text.split('"""')[1], path.name


def test_digit_recognizer_submission(tmp_path):
    done, out = run_example("digit_recognizer_submission.py", tmp_path)
    assert re.search(rf"OOF accuracy {NUMBER} on 1500 training rows", done.stdout), done.stdout
    assert len(re.findall(rf"fold \d: val accuracy {NUMBER} after 2 epochs", done.stdout)) == 2, done.stdout
    assert re.search(rf"test accuracy {NUMBER} on 297 rows", done.stdout), done.stdout
    assert (out / "runs" / "demo" / "summary.json").is_file()
    submission = out / "submissions" / "demo.csv"
    assert submission.read_text().splitlines()[0] == "ImageId,Label"
    assert len(submission.read_text().splitlines()) == 298
    assert '"local_score"' in (out / "submissions" / "demo.json").read_text()


def test_ensemble(tmp_path):
    done, out = run_example("ensemble.py", tmp_path, by="environment")
    table = {line.split()[0]: line for line in done.stdout.splitlines() if re.search(rf"{NUMBER}\s+\d+\.\d{{4}}", line)}
    for method, scored_as in (
        ("demo", "its OOF rows"),
        ("turbo", "its OOF rows"),
        ("soft", "equal"),
        ("auto", "auto, cross-fitted"),
        ("selection", "selected, cross-fitted"),
        ("stack", "stack, out of fold"),
    ):
        assert method in table, done.stdout
        assert scored_as in table[method], table[method]
        assert re.search(rf"{NUMBER}\s+\d+\.\d{{4}}\s+{NUMBER}$", table[method]), table[method]
    assert re.search(rf"fit on: {NUMBER}, cross-fitted: {NUMBER}", done.stdout), done.stdout
    for name in ("demo", "turbo", "soft-vote", "auto-weights", "selection", "stack"):
        assert (out / "submissions" / f"{name}.csv").is_file(), name
    assert (out / "runs" / "turbo" / "summary.json").is_file()


def test_tune(tmp_path):
    done, out = run_example("tune.py", tmp_path)
    assert len(re.findall(rf"trial \w+: hold-out accuracy {NUMBER} with ", done.stdout)) == 2, done.stdout
    assert re.search(rf"best: hold-out accuracy {NUMBER}", done.stdout), done.stdout
    assert re.search(rf"demo-tuned: OOF accuracy {NUMBER} over 2 folds", done.stdout), done.stdout
    tuned = out / "recipes" / "demo-tuned.toml"
    assert 'extends = "demo"' in tuned.read_text()
    assert (out / "tune" / "demo").is_dir()
    assert (out / "runs" / "demo-tuned" / "summary.json").is_file()


def test_an_example_fails_in_one_line_without_a_traceback(tmp_path):
    blocked = tmp_path / "a-file"
    blocked.write_text("not a folder")
    done = subprocess.run(
        [sys.executable, str(EXAMPLES / "digit_recognizer_submission.py"), str(blocked)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), done.stderr
