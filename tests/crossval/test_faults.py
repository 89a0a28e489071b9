"""Fault injection: `kit cv` killed with SIGKILL at seeded random moments — during start-up and fold training, and
exactly at (before or after the atomic rename of) checkpoint, fold-model, array and summary writes — then rerun in the
same folder, ends with oof.npy and test.npy byte-identical to an uninterrupted run's, and no temporary files left."""

from __future__ import annotations

import os
import random
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import tiny_recipe_toml

pytestmark = pytest.mark.slow

KILLS = 11
RUN_TIMEOUT = 600
# Runs the kit command line with os.replace watched: every atomic write of kit ends in one. With a target, the process
# SIGKILLs itself just before or just after the rename onto the first destination ending with that target.
WATCHED_KIT = """
import os, signal, sys
target, moment, log = sys.argv[1], sys.argv[2], os.environ.get("KIT_FAULT_LOG")
rename = os.replace

def replace(source, destination, *args, **kwargs):
    name = os.fspath(destination)
    if log:
        with open(log, "a") as stream:
            stream.write(name + "\\n")
    hit = bool(target) and name.endswith(target)
    if hit and moment == "before":
        os.kill(os.getpid(), signal.SIGKILL)
    rename(source, destination, *args, **kwargs)
    if hit and moment == "after":
        os.kill(os.getpid(), signal.SIGKILL)

os.replace = replace
sys.argv = ["kit", *sys.argv[3:]]
from kit.cli import main
main()
"""


def kit_cv(recipe: Path, data: Path, out: Path, target: str = "", moment: str = "", log: Path | None = None):
    """Start `kit cv` into ``out``, watched (see WATCHED_KIT); returns the process."""
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    if log is not None:
        env["KIT_FAULT_LOG"] = str(log)
    command = [sys.executable, "-c", WATCHED_KIT, target, moment, "cv", str(recipe), "--data", str(data)]
    command += ["--out", str(out), "--set", 'train.optimizer="adamw"']  # AdamW: decay kept off biases on resume too
    with open(out.parent / f"{out.name}.output", "wb") as output:  # a file, not a pipe that could fill up
        return subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT, env=env, cwd=out.parent)


def finished(process: subprocess.Popen, out: Path) -> None:
    process.wait(timeout=RUN_TIMEOUT)
    output = (out.parent / f"{out.name}.output").read_text(errors="replace")
    assert process.returncode == 0, output[-3000:]


def leftovers(folder: Path) -> list[str]:
    """Temporary files and checkpoint folders under ``folder`` (the lock file is the run's own)."""
    return sorted(
        str(path.relative_to(folder))
        for path in folder.rglob("*")
        if ".tmp" in path.name or path.name == "checkpoint" or (path.name.startswith(".") and path.name != ".kit.lock")
    )


def phase(folder: Path) -> str:
    """What the folder held when the process died: the furthest step it had reached."""
    if (folder / "summary.json").is_file():
        return "summary"
    if (folder / "oof.npy").is_file():
        return "arrays"
    done = sorted(path.parent.name for path in folder.glob("fold-*/fold.json"))
    training = sorted(path.parent.parent.name for path in folder.glob("fold-*/checkpoint/state.json"))
    return f"folds done {done}, checkpoints {training}" if done or training else "start-up"


def test_kill_9_at_random_moments_then_rerun_gives_the_same_arrays(tmp_path, tiny_dir):
    recipe = tmp_path / "tiny.toml"
    augment = "rotation = 10.0\nzoom = 0.1\nwidth_shift = 0.1"
    recipe.write_text(tiny_recipe_toml("fault injection", epochs=2, dropout=0.25, augment=augment))
    reference, writes = tmp_path / "reference", tmp_path / "writes.log"
    started = time.perf_counter()
    finished(kit_cv(recipe, tiny_dir, reference, log=writes), reference)
    duration = time.perf_counter() - started
    expected = {name: (reference / name).read_bytes() for name in ("oof.npy", "test.npy")}
    assert leftovers(reference) == []
    lines = writes.read_text().split()
    events = [str(Path(line).relative_to(reference)) for line in lines if line.startswith(str(reference))]
    kinds = {
        "checkpoint": [event for event in events if "/checkpoint/" in event],
        "fold model": [event for event in events if event.endswith("/model.keras")],
        "arrays": [event for event in events if event in ("oof.npy", "test.npy")],
        "summary": [event for event in events if event == "summary.json"],
    }
    assert all(kinds.values()), f"kit cv wrote none of some kinds of file: {events}"

    rng = random.Random(0)
    plan: list[tuple[str, str, float]] = []  # (target, moment, seconds): a write to die at, or a delay to die after
    for candidates in kinds.values():
        plan.append((rng.choice(candidates), rng.choice(["before", "after"]), 0.0))
    plan += [(rng.choice(events), rng.choice(["before", "after"]), 0.0) for _ in range(2)]
    plan += [("", "", rng.uniform(0.2, 1.0) * duration) for _ in range(KILLS - len(plan))]
    rng.shuffle(plan)

    folder, kills, rounds, story = tmp_path / "killed", 0, 0, []

    def completed(process: subprocess.Popen) -> None:
        """A run that ended by itself: check it, then start a fresh folder."""
        nonlocal rounds
        finished(process, folder)
        for name, content in expected.items():
            assert (folder / name).read_bytes() == content, f"{name} differs after: {story}"
        assert leftovers(folder) == [], story
        shutil.rmtree(folder)
        rounds += 1
        story.append("completed: arrays identical, no leftovers; next kills in a fresh folder")

    for target, moment, delay in plan:
        for _attempt in range(2):  # a planned moment the resumed run never reaches is tried again in a fresh folder
            folder.mkdir(exist_ok=True)
            process = kit_cv(recipe, tiny_dir, folder, target, moment)
            try:
                process.wait(timeout=delay or RUN_TIMEOUT)
            except subprocess.TimeoutExpired:
                process.send_signal(signal.SIGKILL)
                process.wait()
            if process.returncode == -signal.SIGKILL:
                kills += 1
                story.append(f"{target or f'{delay:.1f} s'} {moment}: {phase(folder)}".strip())
                break
            completed(process)
    process = kit_cv(recipe, tiny_dir, folder)
    completed(process)
    print("\n".join([f"{kills} kills, {rounds} completed runs", *story]))
    assert kills >= 10, story
    assert any("checkpoints ['fold" in line for line in story), story  # some kill fell inside a fold: resumed mid-fold


# Loaded by every Python process of a run (the `kit cv` process and its joblib workers) through PYTHONPATH: once in
# the run (the first process to create KIT_FAULT_ONCE), the atomic rename onto a destination ending with
# KIT_FAULT_TARGET SIGKILLs its process just after renaming ("kill"), or fails as a full disk would ("enospc").
SITECUSTOMIZE = """
import errno, os, signal
target, moment, once = (os.environ.get(name) for name in ("KIT_FAULT_TARGET", "KIT_FAULT_MOMENT", "KIT_FAULT_ONCE"))
if target and once:
    rename = os.replace

    def first():
        try:
            os.close(os.open(once, os.O_CREAT | os.O_EXCL))
        except FileExistsError:
            return False
        return True

    def replace(source, destination, *args, **kwargs):
        hit = os.fspath(destination).endswith(target) and first()
        if hit and moment == "enospc":
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), os.fspath(destination))
        rename(source, destination, *args, **kwargs)
        if hit and moment == "kill":
            os.kill(os.getpid(), signal.SIGKILL)

    os.replace = replace
"""


def kit_cv_jobs(
    recipe: Path, data: Path, out: Path, fault: tuple[str, str] | None = None
) -> subprocess.CompletedProcess:
    """`kit cv --jobs 2` into ``out``, run to its end; ``fault`` = (target, "kill" or "enospc"), see SITECUSTOMIZE."""
    hook = out.parent / "hook"
    hook.mkdir(exist_ok=True)
    (hook / "sitecustomize.py").write_text(SITECUSTOMIZE)
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONPATH": os.pathsep.join([str(hook), *sys.path])}
    if fault is not None:
        env |= {"KIT_FAULT_TARGET": fault[0], "KIT_FAULT_MOMENT": fault[1], "KIT_FAULT_ONCE": str(out) + ".fault"}
    command = [sys.executable, "-m", "kit", "cv", str(recipe), "--data", str(data), "--out", str(out), "--jobs", "2"]
    command += ["--set", 'train.optimizer="adamw"']
    return subprocess.run(command, capture_output=True, text=True, env=env, cwd=out.parent, timeout=RUN_TIMEOUT)


@pytest.fixture(scope="module")
def two_jobs(tmp_path_factory, tiny_dir) -> tuple[Path, dict[str, bytes]]:
    """A 2-epoch recipe and the arrays of its uninterrupted `kit cv --jobs 2` run."""
    folder = tmp_path_factory.mktemp("jobs")
    recipe = folder / "tiny.toml"
    recipe.write_text(tiny_recipe_toml("faults in workers", epochs=2, dropout=0.25))
    done = kit_cv_jobs(recipe, tiny_dir, folder / "reference")
    assert done.returncode == 0, done.stderr[-3000:]
    return recipe, {name: (folder / "reference" / name).read_bytes() for name in ("oof.npy", "test.npy")}


@pytest.mark.parametrize(
    ("fault", "expected"),
    [
        (  # a worker killed (kill -9, the OOM killer) just after fold 2's first checkpoint: mid-fold
            ("fold-2/checkpoint/state.json", "kill"),
            r"error: fold 2's worker died \(killed, or out of memory\?\) — rerun to resume; finished folds are kept",
        ),
        (  # the disk full when fold 1's worker writes its first checkpoint
            ("fold-1/checkpoint/state.json", "enospc"),
            r"error: .*fold-1/checkpoint/state\.json: cannot write \(No space left on device\); earlier results .*",
        ),
    ],
    ids=["worker killed", "disk full"],
)
def test_a_worker_fault_mid_fold_is_one_line_and_a_rerun_resumes_to_the_same_arrays(
    tmp_path, tiny_dir, two_jobs, fault, expected
):
    recipe, arrays = two_jobs
    out = tmp_path / "run"
    failed = kit_cv_jobs(recipe, tiny_dir, out, fault)
    assert (tmp_path / "run.fault").exists(), failed.stderr[-3000:]  # the fault fired
    assert failed.returncode == 1, failed.stderr[-3000:]
    assert "Traceback" not in failed.stderr, failed.stderr[-3000:]
    last = failed.stderr.strip().splitlines()[-1]
    assert re.fullmatch(expected, last), failed.stderr[-3000:]
    assert not (out / "summary.json").exists()
    resumed = kit_cv_jobs(recipe, tiny_dir, out)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    for name, content in arrays.items():
        assert (out / name).read_bytes() == content, name
    assert leftovers(out) == []
