"""The figures of ``kit auto`` (``make auto-bench``), on a competition folder with answers: the local test score
``kit auto`` reaches within each budget (a fresh folder each, the command line as a user runs it, wall clock from
start-up to exit), against single ``kit cv`` runs and the seed notebook's pipeline — its final CNN, 5-fold soft
vote — trained as many epochs as fit the same time; and how often the honest OOF estimate ranks the ways of
combining the members as the held-out test rows rank them (:func:`rank_agreement`)."""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from kit.errors import KitError

AUTO_BENCH_FILE = "auto-bench.json"


@dataclass(frozen=True)
class Figure:
    """One entry: what ran, its budget (None: not a budgeted run), wall seconds, local test score, and details."""

    what: str
    budget: float | None
    wall: float
    score: float
    detail: str = ""


@dataclass(frozen=True)
class RankAgreement:
    """Over ``subsets`` of members: the share of pairs of ways whose honest-OOF order is their test order
    (``pair_agreement`` over ``pairs``), the share of subsets whose honest-best way is test-best (ties count),
    and the share where kit auto's rule (equal vote unless beaten beyond the margin) scores at least the equal
    vote on the test rows (``rule_not_worse``) and strictly better (``rule_better``)."""

    subsets: int
    pairs: int
    pair_agreement: float
    top_agreement: float
    rule_not_worse: float
    rule_better: float


def _kit(args: list[str], cwd: Path) -> float:
    """Run ``kit ARGS`` in ``cwd``; its wall seconds (one line when it fails)."""
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "kit", *args], cwd=cwd, capture_output=True, text=True)
    if done.returncode:
        tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["(no output)"]
        raise KitError(f"kit {' '.join(args)} failed in {cwd}: {tail[0]}")
    return time.monotonic() - started


def auto_figure(data: Path, budget: str, work: Path, again: bool = False) -> Figure:
    """``kit auto --time BUDGET`` in a fresh folder (``again``: in ``work`` as an earlier run left it): its wall and
    the local score its sidecar records."""
    from kit.autopilot import parse_duration

    work.mkdir(parents=True, exist_ok=again)
    wall = _kit(["auto", "--data", str(data), "--time", budget, "--out", "auto"], work)
    sidecar = json.loads((work / "submissions" / "auto.json").read_text())
    chosen = sidecar["auto"]["chosen"]
    members = [m["name"] for m in sidecar["auto"]["members"] if m["status"] == "done"]
    detail = f"{chosen['way']}" + (f", TTA ×{chosen['tta']}" if chosen["tta"] else "") + f" of {', '.join(members)}"
    what = f"kit auto --time {budget}" + (" (rerun)" if again else "")
    return Figure(what, parse_duration(budget), wall, sidecar["local_score"]["score"], detail)


def single_figure(data: Path, recipe: str, work: Path) -> Figure:
    """``kit cv RECIPE`` then ``kit predict`` of that one run: wall of both, and the local score."""
    import kit

    work.mkdir(parents=True, exist_ok=True)
    wall = _kit(["cv", recipe, "--data", str(data), "--out", f"runs/{recipe}"], work)
    wall += _kit(["predict", f"runs/{recipe}", "--name", recipe, "--data", str(data), "--force"], work)
    scored = kit.score(work / "submissions" / f"{recipe}.csv", data=data)
    return Figure(f"kit cv {recipe}", None, wall, float(scored.score), "one run, its 5 fold models voting")


def notebook_figure(data: Path, epochs: int, folds: int = 5, seed: int = 0) -> Figure:
    """The seed notebook's final CNN trained ``epochs`` epochs on each of ``kit cv``'s ``folds`` folds (as its own
    pipeline trains it), its fold models soft-voting on the test rows: wall (loading included) and local score."""
    from kit.benchmark._measure import BenchData
    from kit.benchmark._notebook import train_notebook_cnn
    from kit.competitions import as_competition, get_metric
    from kit.crossval._run import fold_splits
    from kit.data import load_test, load_train

    started = time.monotonic()
    spec = as_competition(None, data)
    train, test = load_train(data, spec), load_test(data, spec)
    votes = np.zeros((len(test.images), spec.classes))
    for fold, (fit, val) in enumerate(fold_splits(train.labels, folds, seed), start=1):
        part = BenchData(
            train.images[fit], train.labels[fit], train.images[val], train.labels[val], test.images[:1], "", False
        )
        model, _ = train_notebook_cnn(part, spec.classes, epochs, seed=seed * 1000 + fold)
        votes += model.predict(test.images.astype(np.float32) / 255.0, verbose=0) / folds
    wall = time.monotonic() - started
    truth = _test_truth(data, spec, test.ids)
    score = get_metric(spec.metric).score(truth, votes)
    return Figure(f"notebook CNN, {folds}-fold vote, {epochs} epochs", None, wall, float(score), "its own pipeline")


def _test_truth(data: Path, spec: Any, ids: Any) -> np.ndarray:
    """The answers of the test rows, in the order of ``ids``."""
    from kit.submission import answers, id_key

    keys, truth, _ = answers(spec, None, Path(data))
    where = {key: row for row, key in enumerate(keys)}
    return truth[[where[id_key(value)] for value in ids]]


def rank_agreement(
    runs: list[str | Path], data: Path, metric: str | None = None, max_size: int = 4, limit: int = 60
) -> RankAgreement:
    """Over up to ``limit`` subsets (2 to ``max_size`` members) of ``runs``: how often the honest OOF scores of
    the ways of combining rank them as the test rows of ``data`` do (see :class:`RankAgreement`)."""
    from kit.autopilot._choose import EQUAL, choose_from, fitted_ways
    from kit.competitions import get_metric
    from kit.ensemble import load_member

    members = [load_member(run) for run in runs]
    spec_metric = metric or members[0].summary.metric
    scorer = get_metric(spec_metric)
    truth = _test_truth(Path(data), _spec(members[0], data), members[0].test_ids)
    subsets = [c for size in range(2, max_size + 1) for c in itertools.combinations(range(len(members)), size)]
    rng = np.random.default_rng(0)
    picked = [subsets[i] for i in sorted(rng.choice(len(subsets), min(limit, len(subsets)), replace=False))]
    agree = pairs = top = not_worse = better = 0
    for subset in picked:
        chosen = [members[i] for i in subset]
        ways = fitted_ways(chosen, spec_metric)
        labels = chosen[0].labels
        honest = {w: scorer.score(labels, c.honest_oof if c.honest_oof is not None else c.oof) for w, c in ways.items()}
        tested = {w: scorer.score(truth, c.combine([m.test for m in chosen])) for w, c in ways.items()}
        sign = 1.0 if scorer.greater_is_better else -1.0
        for a, b in itertools.combinations(ways, 2):
            if honest[a] != honest[b] and tested[a] != tested[b]:
                pairs += 1
                agree += (honest[a] > honest[b]) == (tested[a] > tested[b])
        best = max(honest, key=lambda w: sign * honest[w])
        top += sign * tested[best] >= max(sign * value for value in tested.values())
        rule = choose_from(labels, {w: c.honest_oof if c.honest_oof is not None else c.oof for w, c in ways.items()},
                           spec_metric).way  # fmt: skip
        not_worse += sign * tested[rule] >= sign * tested[EQUAL]
        better += sign * tested[rule] > sign * tested[EQUAL]
    count = len(picked)
    return RankAgreement(count, pairs, agree / max(pairs, 1), top / count, not_worse / count, better / count)


def _spec(member: Any, data: Path) -> Any:
    from kit.competitions import as_competition

    return as_competition(member.summary.competition, data)


def auto_bench(
    data: str | Path,
    budgets: tuple[str, ...] = ("1m", "5m", "15m"),
    singles: tuple[str, ...] = ("turbo", "fast", "deotte"),
    notebook_epochs: tuple[int, ...] = (1, 3, 10, 30),
    out: str | Path = "auto-bench",
    rerun: tuple[str, str] | None = ("5m", "15m"),
) -> dict[str, Any]:
    """Every figure above into ``out`` (``auto-bench.json``, rewritten after each figure), ``rerun`` = (a budget
    run above, a larger one) reruns the first's folder with the second, and the rank check on the members of the
    longest budget's run. Returns what it wrote."""
    from kit.benchmark._measure import machine
    from kit.crossval import SUMMARY

    folder, data = Path(out).resolve(), Path(data).resolve()
    folder.mkdir(parents=True, exist_ok=True)
    written: dict[str, Any] = {"machine": machine(), "data": str(data), "figures": []}

    def add(figure: Figure) -> None:
        written["figures"].append(asdict(figure))
        (folder / AUTO_BENCH_FILE).write_text(json.dumps(written, indent=2) + "\n")

    for budget in budgets:
        add(auto_figure(data, budget, folder / f"auto-{budget}"))
    if rerun is not None:
        add(auto_figure(data, rerun[1], folder / f"auto-{rerun[0]}", again=True))
    for recipe in singles:
        add(single_figure(data, recipe, folder / "singles"))
    for epochs in notebook_epochs:
        add(notebook_figure(data, epochs))
    longest = folder / f"auto-{budgets[-1]}" / "auto"
    runs = sorted(str(path.parent) for path in longest.glob(f"*/{SUMMARY}"))
    if len(runs) >= 2:
        written["rank_agreement"] = asdict(rank_agreement(runs, data))
        (folder / AUTO_BENCH_FILE).write_text(json.dumps(written, indent=2) + "\n")
    return written
