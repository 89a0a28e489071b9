"""The command line answers at once (no TensorFlow before it is needed), speaks in one line, exits 130 on Ctrl-C,
and the package installs from a wheel and runs from any folder."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest

from conftest import tiny_recipe_toml

pytestmark = pytest.mark.slow  # trains models or starts subprocesses

ROOT = Path(__file__).resolve().parents[2]
HEAVY = ("tensorflow", "keras", "keras_tuner", "sklearn")

PROBE = """
import sys
from kit.cli import app
try:
    app(sys.argv[1:], standalone_mode=False)
except BaseException as error:
    print("raised", type(error).__name__, file=sys.stderr)
heavy = [name for name in {heavy!r} if name in sys.modules]
print("HEAVY:" + ",".join(heavy))
"""


def heavy_modules_after(*args: str, cwd: Path | None = None) -> tuple[list[str], str]:
    code = PROBE.format(heavy=HEAVY)
    done = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, cwd=cwd)
    line = [line for line in done.stdout.splitlines() if line.startswith("HEAVY:")][-1]
    return [name for name in line[len("HEAVY:") :].split(",") if name], done.stdout + done.stderr


def test_import_kit_is_light():
    done = subprocess.run(
        [sys.executable, "-c", f"import kit, sys; dir(kit); print([m for m in {HEAVY!r} if m in sys.modules])"],
        capture_output=True,
        text=True,
    )
    assert done.stdout.strip() == "[]", done.stderr


@pytest.mark.parametrize(
    "args",
    [
        ["--help"],
        ["cv", "--help"],
        ["tune", "--help"],
        ["predict", "--help"],
        ["bench", "--help"],
        ["runs", "--help"],
        ["cv", "nosuch-recipe"],
        ["cv", "demo", "--jobs", "many"],
        ["cv", "demo", "--set", "train.epochs=ten"],
        ["cv", "demo", "--set", "nokey"],
    ],
)
def test_help_and_argument_errors_never_import_tensorflow(args, tmp_path):
    heavy, output = heavy_modules_after(*args, cwd=tmp_path)
    assert heavy == [], output


def test_version_and_usage_errors(tmp_path):
    version = subprocess.run([sys.executable, "-m", "kit", "--version"], capture_output=True, text=True)
    assert version.returncode == 0 and version.stdout.strip() == "kit 0.1.0"
    bad = subprocess.run([sys.executable, "-m", "kit", "cv", "demo", "--jobs", "many"], capture_output=True, text=True)
    assert bad.returncode == 2 and "Traceback" not in bad.stderr and "error: Invalid value for '--jobs'" in bad.stderr
    assert len(bad.stderr.strip().splitlines()) == 1


def test_unknown_recipe_is_one_line_and_fast(tmp_path):
    done = subprocess.run([sys.executable, "-m", "kit", "cv", "nosuch"], capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == 1
    assert done.stderr.strip().startswith("error: recipe 'nosuch' not found; known recipes:")
    assert "demo" in done.stderr and len(done.stderr.strip().splitlines()) == 1


def test_ctrl_c_says_how_to_resume_and_exits_130(tmp_path, tiny_dir):
    (tmp_path / "slow.toml").write_text(tiny_recipe_toml("slow", epochs=50))
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "kit",
            "cv",
            str(tmp_path / "slow.toml"),
            "--data",
            str(tiny_dir),
            "--out",
            str(tmp_path / "run"),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 120
    while not list((tmp_path / "run").glob(".kit.lock.json")) and time.monotonic() < deadline:
        time.sleep(0.2)
    time.sleep(2)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 130, stderr
    assert "interrupted — " in stderr and "rerun the same command to resume" in stderr and "Traceback" not in stderr


@pytest.mark.slow
def test_wheel_ships_the_recipes_and_runs_from_an_empty_folder(tmp_path, demo_dir):
    dist = tmp_path / "dist"
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", str(ROOT), "-w", str(dist), "-q"],
        capture_output=True,
        text=True,
    )
    assert built.returncode == 0, built.stderr
    [wheel] = dist.glob("kit-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "kit/recipes/shipped/fast.toml" in names and "kit/cli/app.py" in names
    assert not [name for name in names if name.startswith(("tests/", "recipes/"))]
    target = tmp_path / "site"
    installed = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "--no-index", "--target", str(target), str(wheel), "-q"],
        capture_output=True,
        text=True,
    )
    assert installed.returncode == 0, installed.stderr
    empty = tmp_path / "empty"
    empty.mkdir()
    env = {**os.environ, "PYTHONPATH": str(target), "KIT_RECIPES": ""}
    code = (
        "import kit, sys; assert kit.__file__.startswith(sys.argv[1]), kit.__file__; "
        "from kit.cli import main; sys.argv[1:] = sys.argv[2:]; main()"
    )
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            code,
            str(target),
            "cv",
            "fast",
            "--epochs",
            "1",
            "--folds",
            "2",
            "--data",
            str(demo_dir),
        ],
        capture_output=True,
        text=True,
        cwd=empty,
        env=env,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "OOF accuracy" in done.stdout and (empty / "runs" / "demo" / "fast" / "summary.json").is_file()


def test_tensorflow_start_up_lines_stay_out_of_a_notebook():
    code = "import kit, keras; from kit.engine._pipeline import steps; print(steps(10, 3))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env={**os.environ})
    assert done.returncode == 0 and done.stdout.strip() == "4", done.stderr
    assert "oneDNN" not in done.stderr and "cuda" not in done.stderr.lower() and "absl" not in done.stderr


def test_a_ctrl_c_inside_an_import_counts_as_an_interruption():
    from kit.cli.app import interrupted_during

    try:
        try:
            raise KeyboardInterrupt
        except KeyboardInterrupt as interrupt:
            raise ImportError("initialization failed") from interrupt  # as TensorFlow's import re-raises it
    except ImportError as error:
        assert interrupted_during(error)
    assert not interrupted_during(ValueError("a real error"))
