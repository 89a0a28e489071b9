"""kit auto: the budget is kept (a member that would overrun it is stopped from its first epochs), every decision is
recorded in auto.json, the live plan and the sidecar, a rerun with a larger budget reuses the members, and bad
arguments are one line."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import numpy as np
import pytest

from conftest import tiny_recipe_toml
from kit.autopilot import Candidate, format_duration, paired_margin, parse_duration
from kit.autopilot._choose import EQUAL, choose_way
from kit.errors import KitError
from kit.utils import Callback


@pytest.mark.parametrize(
    ("text", "seconds"), [("5m", 300.0), ("1h30m", 5400.0), ("90s", 90.0), ("90", 90.0), (45, 45.0), ("2m30s", 150.0)]
)
def test_durations(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("bad", ["", "5 minutes", "m5", "10s", True, None, "-5m", "8d"])
def test_bad_durations_are_one_line(bad):
    with pytest.raises(KitError) as raised:
        parse_duration(bad)
    assert str(raised.value).startswith("time: must be a duration such as") and "\n" not in str(raised.value)


def test_format_duration():
    assert [format_duration(s) for s in (38, 245, 3720)] == ["38s", "4m05s", "1h02m"]


def test_margin_keeps_the_equal_vote_within_noise_and_not_beyond():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 10, 600)
    base = rng.dirichlet(np.ones(10), 600)
    base[np.arange(600), labels] += 0.5  # about 70 % right
    base /= base.sum(axis=1, keepdims=True)
    same_gain, same_margin = paired_margin("accuracy", labels, base, base)
    assert same_gain == 0.0 and not same_gain > same_margin
    better = base.copy()
    better[np.arange(600), labels] += 2.0
    better /= better.sum(axis=1, keepdims=True)
    gain, margin = paired_margin("accuracy", labels, base, better)
    assert gain > margin > 0
    worse_gain, _ = paired_margin("log_loss", labels, better, base)
    assert worse_gain < 0  # a loss: lower is better, so the gain of the worse softmax is negative


class Plans(Callback):
    def __init__(self):
        self.plans = []

    def on_plan(self, plan):
        self.plans.append(plan)


def tiny(tmp_path, name, epochs, seed=3):
    path = tmp_path / f"{name}.toml"
    path.write_text(tiny_recipe_toml(name, epochs=epochs, seed=seed))
    return str(path)


@pytest.mark.slow
def test_budget_kept_when_a_member_would_overrun_and_rerun_reuses(tmp_path, tiny_dir):
    import kit

    small, big = tiny(tmp_path, "small", 2), tiny(tmp_path, "big", 5000)
    portfolio = [
        Candidate("small", small, {}, 1.0),
        Candidate("small-s1", small, {"train.seed": 1}, 1.0),
        Candidate("pseudo", small, {"train.seed": 7}, 1.0, pseudo=True),
        Candidate("big", big, {}, 1.0),
    ]
    out, subs, plans = tmp_path / "auto", tmp_path / "subs", Plans()
    budget = 90.0  # room for two small members and the start of the big one on a loaded machine
    started = time.monotonic()
    result = kit.auto(tiny_dir, budget, out=out, submissions=subs, portfolio=portfolio, callbacks=[plans])
    took = time.monotonic() - started
    assert took <= budget + 3  # the budget covers everything, the submission included
    statuses = {row.name: row.status for row in result.members}
    assert statuses["small"] == "done" and statuses["small-s1"] in ("done", "left out")
    assert statuses["pseudo"] == "skipped"  # needs three members voting
    assert statuses["big"] == "stopped"
    state = json.loads((out / "auto.json").read_text())
    kinds = [decision["kind"] for decision in state["decisions"]]
    assert {"budget", "member", "combiner", "pseudo", "stop"} <= set(kinds)
    stop = next(d["text"] for d in state["decisions"] if d["kind"] == "stop")
    assert stop.startswith("big stopped: projected to need") or "budget ran out" in stop
    assert result.path == subs / "auto.csv" and result.path.is_file()
    sidecar = json.loads((subs / "auto.json").read_text())
    assert sidecar["auto"]["chosen"]["way"] == result.way and sidecar["auto"]["decisions"]
    assert result.local_score is not None and sidecar["local_score"]["score"] == pytest.approx(result.local_score)
    assert any(row.status == "running" for plan in plans.plans for row in plan.members)  # the live plan saw it
    assert "members" in plans.plans[-1].line() and "left" in plans.plans[-1].line()
    assert (
        "AutoResult(path=" in repr(result) and "kit auto" in result._repr_html_() and "stopped" in result._repr_html_()
    )
    gains = {row.name: row.gain for row in result.members}
    assert gains["small"] is None and gains["small-s1"] is not None  # what joining the submission changed

    model = next((out / "small").glob("fold-1/*.keras"))
    stamp = model.stat().st_mtime_ns
    again = kit.auto(tiny_dir, budget, out=out, submissions=subs, portfolio=portfolio[:2])
    assert model.stat().st_mtime_ns == stamp  # reused, not retrained
    assert any("reusing 2 members" in decision for decision in again.decisions)
    assert again.honest_score == pytest.approx(result.honest_score)


@pytest.mark.slow
def test_choice_is_equal_vote_for_near_identical_members(tmp_path, tiny_dir):
    import kit

    small = tiny(tmp_path, "small", 1)
    runs = [
        str(kit.cv(small, tiny_dir, out=tmp_path / f"r{seed}", overrides={"train.seed": seed}).path) for seed in (1, 2)
    ]
    choice = choose_way(runs, "accuracy")
    assert choice.way == EQUAL or choice.scores[[s.way for s in choice.scores].index(choice.way)].beats_equal
    assert "margin" in choice.reason


@pytest.mark.slow  # starts subprocesses
@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--time", "5 minutes"], "error: --time: must be a duration such as"),
        (["--time", "1m", "--metric", "nonsense"], "error: --metric: must be one of"),
    ],
)
def test_cli_bad_arguments_are_one_line(tiny_dir, tmp_path, args, expected):
    done = subprocess.run(
        [sys.executable, "-m", "kit", "auto", "--data", str(tiny_dir), *args],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    lines = [line for line in (done.stdout + done.stderr).splitlines() if line.strip()]
    assert done.returncode != 0 and len(lines) == 1 and lines[0].lower().startswith(expected.lower()), lines
    assert not (tmp_path / "runs").exists() and not (tmp_path / "submissions").exists()


def test_the_plan_table_shows_every_member_and_what_it_cost():
    from rich.console import Console

    from kit.autopilot import MemberRow
    from kit.cli.auto import plan_table

    rows = [
        MemberRow("turbo", "turbo", "done", 33.0, None, 0.9907, "the fastest strong CNN", None),
        MemberRow("fast", "fast", "running", 12.0, 70.0, None, "a second architecture"),
        MemberRow("deotte-e20", "deotte", "planned", 0.0, 120.0, None, ""),
        MemberRow("turbo-s1", "turbo", "done", 30.0, None, 0.9900, "", 0.0013),
    ]
    console = Console(record=True, width=120)
    console.print(plan_table(rows, "accuracy"))
    text = console.export_text()
    for expected in ("turbo", "running", "planned", "~2m00s", "33s", "0.9907", "+0.0013", "OOF accuracy", "gain"):
        assert expected in text, expected


def test_the_watchdog_wakes_a_main_thread_blocked_in_a_wait():
    """A main thread waiting on parallel folds sits in a lock wait: the deadline must interrupt it there too."""
    import threading

    from kit.autopilot._budget import Watchdog

    lock = threading.Lock()
    lock.acquire()
    started = time.monotonic()
    watchdog = Watchdog(started + 0.5)
    with pytest.raises(KeyboardInterrupt):
        with watchdog:
            lock.acquire(timeout=20)
    assert time.monotonic() - started < 5 and watchdog.reason == "the budget ran out"
