"""A bad argument on the command line is one line naming the command's flag (``--holdout: must be …, got …``), worded
from the error's data, and a fix reads ``rerun with --force``; none of these imports TensorFlow."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # starts subprocesses

HEAVY = ("tensorflow", "keras")
PROBE = """
import sys
from kit.cli.app import main
sys.argv[1:] = sys.argv[2:]
try:
    main()
finally:
    print("HEAVY:" + ",".join(name for name in {heavy!r} if name in sys.modules), file=sys.stderr)
"""


def kit(*args: str, cwd: Path) -> tuple[int, str, list[str]]:
    """Exit code, the error lines and the heavy modules imported by ``kit ARGS``."""
    done = subprocess.run(
        [sys.executable, "-c", PROBE.format(heavy=HEAVY), "kit", *args], capture_output=True, text=True, cwd=cwd
    )
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    heavy = [name for name in lines[-1].removeprefix("HEAVY:").split(",") if name]
    return done.returncode, "\n".join(lines[:-1]), heavy


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (
            ["cv", "demo", "--holdout", "0.7"],
            "error: --holdout: must be a share from 0 to 0.5 of the training rows, got 0.7",
        ),
        (
            ["cv", "demo", "--holdout", "-0.1"],
            "error: --holdout: must be a share from 0 to 0.5 of the training rows, got -0.1",
        ),
        (
            ["cv", "demo", "--pseudo", "sub.json", "--threshold", "1.5"],
            "error: --threshold: must be a probability in (0, 1], e.g. 0.99, got 1.5",
        ),
        (["predict", "RUN", "--tta", "-1"], "error: --tta: must be 0 (off) or a number of augmented copies, got -1"),
        (
            ["predict", "RUN", "--metric", "auc"],
            "error: --metric: must be one of accuracy, log_loss, macro_f1, micro_f1, roc_auc, mean_roc_auc, qwk, "
            "map_at_K (K from 1 to 20), got 'auc'",
        ),
        (
            ["predict", "RUN", "--tta", "2", "--precision", "fp16"],
            "error: --precision: must be one of float32, int8, got 'fp16'",
        ),
        (["bench", "--seeds", "0"], "error: --seeds: must be at least 1, got 0"),
        (["bench", "--folds", "1"], "error: --folds: must be at least 2, got 1"),
        (["tune", "demo", "--chief", "nohost"], "error: --chief: must be HOST:PORT, e.g. 10.0.0.5:8000, got 'nohost'"),
    ],
)
def test_a_bad_argument_is_one_line_naming_the_flag(args, expected, tmp_path):
    code, error, heavy = kit(*args, cwd=tmp_path)
    assert code == 1 and error == expected
    assert heavy == [], error


def test_a_refusal_to_overwrite_says_rerun_with_force(tmp_path):
    assert subprocess.run([sys.executable, "-m", "kit", "demo-data", "--dest", "d"], cwd=tmp_path).returncode == 0
    assert subprocess.run([sys.executable, "-m", "kit", "init", "--data", "d"], cwd=tmp_path).returncode == 0
    code, error, _ = kit("init", "--data", "d", "--name", "other", cwd=tmp_path)
    assert code == 1 and len(error.splitlines()) == 1
    assert error.startswith("error: d/competition.toml exists with other settings") and error.endswith(
        "; rerun with --force"
    )
    code, _, _ = kit("init", "--data", "d", "--name", "other", "--force", cwd=tmp_path)
    assert code == 0
