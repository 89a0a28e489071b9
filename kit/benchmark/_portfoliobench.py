"""Which members pay in ``kit auto``'s portfolio (``make portfolio-bench``): each candidate trained with ``kit cv`` on
the same folds as a user runs it (wall clock from start-up to exit), then what it adds to the equal vote of the base
members — the vote's honest (out-of-fold) score with and without it, per minute of its training — and, for
reference, the same on the held-out test rows. Run on the demo digits and on the generated shapes (``kit demo-data
--dataset shapes``), so a member is kept only where it pays on both."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from kit.benchmark._autobench import _kit, _test_truth

PORTFOLIO_BENCH_FILE = "portfolio-bench.json"
WIDE = """# turbo with 1.5× the channels at every resolution (24/48/96), measured by make portfolio-bench
extends = "turbo"
description = "turbo, 1.5x wider (24/48/96)"

[[model.blocks]]
filters = 24
batch_norm = "before_activation"

[[model.blocks]]
filters = 48
batch_norm = "before_activation"

[[model.blocks]]
filters = 96
padding = "valid"
batch_norm = "before_activation"
pool = "none"
"""
RECIPE_FILES = {"turbo-wide": WIDE}  # candidates measured before (or instead of) shipping them: name -> TOML
CANDIDATES: tuple[tuple[str, str, dict[str, Any]], ...] = (
    ("turbo-e30", "turbo", {"train.epochs": 30}),
    ("turbo-s1", "turbo", {"train.seed": 1}),
    ("turbo-elastic", "turbo", {"augment.elastic": 34.0}),  # Simard's α = 34, σ = 4, on top of turbo's affine set
    ("turbo-elastic-e30", "turbo", {"augment.elastic": 34.0, "train.epochs": 30}),
    ("turbo-wide", "turbo-wide", {}),
    ("fast-s1", "fast", {"train.seed": 1}),
    ("fast-e16", "fast", {"train.epochs": 16}),
    ("deotte-e20", "deotte", {"train.epochs": 20, "model.batch_norm_momentum": 0.9}),
)
BASE: tuple[tuple[str, str, dict[str, Any]], ...] = (("turbo", "turbo", {}), ("fast", "fast", {}))


@dataclass(frozen=True)
class MemberGain:
    """One candidate: its wall seconds, its own OOF and test scores, and the base vote's OOF and test scores with it
    added (``vote_oof``/``vote_test``) minus without (``gain_oof``/``gain_test``); ``oof_per_minute`` = gain_oof per
    minute of its wall."""

    name: str
    seconds: float
    oof: float
    test: float
    vote_oof: float
    vote_test: float
    gain_oof: float
    gain_test: float
    oof_per_minute: float


def _train(data: Path, work: Path, name: str, recipe: str, overrides: dict[str, Any]) -> float:
    """``kit cv`` of one candidate into ``work/runs/<name>`` (kept: a rerun reuses it, 0 seconds); its wall."""
    from kit.crossval import SUMMARY

    if (work / "runs" / name / SUMMARY).is_file():
        return json.loads((work / "times.json").read_text()).get(name, 0.0) if (work / "times.json").is_file() else 0.0
    if recipe in RECIPE_FILES:
        (work / f"{recipe}.toml").write_text(RECIPE_FILES[recipe])
        recipe = f"{recipe}.toml"
    sets = [part for key, value in overrides.items() for part in ("--set", f"{key}={value}")]
    wall = _kit(["cv", recipe, "--data", str(data), "--out", f"runs/{name}", *sets], work)
    times = json.loads((work / "times.json").read_text()) if (work / "times.json").is_file() else {}
    (work / "times.json").write_text(json.dumps({**times, name: wall}, indent=2) + "\n")
    return wall


def member_gains(
    data: str | Path,
    out: str | Path,
    candidates: tuple[tuple[str, str, dict[str, Any]], ...] = CANDIDATES,
    base: tuple[tuple[str, str, dict[str, Any]], ...] = BASE,
) -> dict[str, Any]:
    """Train ``base`` and ``candidates`` on ``data`` into ``out`` (runs kept: a rerun reuses them) and measure what
    each candidate adds to the base's equal vote (:class:`MemberGain`); writes and returns ``portfolio-bench.json``."""
    from kit.benchmark._measure import machine
    from kit.competitions import as_competition, get_metric
    from kit.crossval import load_run
    from kit.ensemble import soft_vote

    work, data = Path(out).resolve(), Path(data).resolve()
    work.mkdir(parents=True, exist_ok=True)
    seconds = {name: _train(data, work, name, recipe, sets) for name, recipe, sets in (*base, *candidates)}
    runs = {name: load_run(work / "runs" / name) for name in seconds}
    first = runs[base[0][0]]
    spec = as_competition(first.competition, data)
    scorer = get_metric(spec.metric)
    truth = _test_truth(data, spec, first.test_ids)

    def scores(names: list[str]) -> tuple[float, float]:
        oof, test = soft_vote([runs[name].oof for name in names]), soft_vote([runs[name].test for name in names])
        return float(scorer.score(first.labels, oof)), float(scorer.score(truth, test))

    base_names = [name for name, _, _ in base]
    base_oof, base_test = scores(base_names)
    rows = []
    for name, _, _ in candidates:
        own_oof, own_test = scores([name])
        vote_oof, vote_test = scores([*base_names, name])
        gain = vote_oof - base_oof
        per_minute = gain / max(seconds[name], 1e-9) * 60
        rows.append(MemberGain(name, seconds[name], own_oof, own_test, vote_oof, vote_test, gain, vote_test - base_test,
                               per_minute))  # fmt: skip
    written = {
        "machine": machine(),
        "data": str(data),
        "metric": spec.metric,
        "base": {"members": base_names, "oof": base_oof, "test": base_test},
        "singles": {
            name: dict(zip(("seconds", "oof", "test"), (seconds[name], *scores([name])))) for name in base_names
        },
        "candidates": [asdict(row) for row in rows],
    }
    (work / PORTFOLIO_BENCH_FILE).write_text(json.dumps(written, indent=2) + "\n")
    return written
