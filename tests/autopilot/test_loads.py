"""kit auto reads each member's arrays once per step: the vote's check, the choice of the way and the TTA round share
what was loaded (kit.predict still loads the runs it writes the submission of), and a rerun's check of the members
it reuses serves its first choice too. Members are fake run folders of arrays on the tiny data, so nothing trains."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from conftest import minimal_summary
from kit.autopilot import Candidate
from kit.crossval import RunFolder
from kit.utils import save_array, write_json

CLASSES = 10
QUALITY = {"a": 0.3, "b": 0.3, "worse": -9.0, "c": 0.3}  # how far each softmax leans to the right (or a wrong) class


def fake_run(folder: Path, labels: np.ndarray, test_rows: int, data: Path, quality: float, seed: int) -> None:
    """A finished two-fold run of arrays (no models) on ``data``: a softmax leaning ``quality`` to the label (a
    negative one: to the next class)."""
    rng = np.random.default_rng(seed)
    oof = rng.dirichlet(np.ones(CLASSES), len(labels))
    oof[np.arange(len(labels)), labels if quality > 0 else (labels + 1) % CLASSES] += abs(quality)
    test = rng.dirichlet(np.ones(CLASSES), test_rows)
    run = RunFolder(folder)
    folder.mkdir(parents=True)
    save_array(run.oof_path, (oof / oof.sum(axis=1, keepdims=True)).astype(np.float32))
    save_array(run.labels_path, labels)
    save_array(run.test_path, test.astype(np.float32))
    save_array(run.test_ids_path, np.arange(1, test_rows + 1))
    for fold in (1, 2):
        save_array(run.val_rows_path(fold), np.arange(fold - 1, len(labels), 2))
    shape = {"train_rows": len(labels), "test_rows": test_rows, "image_shape": [28, 28, 1], "classes": CLASSES}
    write_json(
        run.summary_path,
        minimal_summary(
            data=shape,
            test_fingerprint="test-rows",
            data_dir=str(data),
            seed=seed,
            recipe=folder.name,
            recipe_content={"model": {"blocks": [{"filters": 4}]}},  # no augmentation: TTA keeps the softmaxes
        ),
    )


@pytest.fixture
def loads(monkeypatch, tiny_dir):
    """The reads of run folders in order, between marks: a member's step starts where it trains, the TTA round where
    it combines the augmented members, and ``predict`` (the submission's writes) starts and ends; ``kit.cv`` faked."""
    import kit.ensemble
    from kit.ensemble import _members

    labels = pd.read_csv(tiny_dir / "train.csv")["label"].to_numpy()
    test_rows = len(pd.read_csv(tiny_dir / "test.csv"))
    events: list[tuple[str, str]] = []
    read, predict, combine = _members.load_run, kit.ensemble.predict, kit.ensemble.build_ensemble

    def counted(reference):
        events.append(("load", Path(reference).name))
        return read(reference)

    def predicting(*args, **kwargs):
        events.append(("predict", "start"))
        try:
            return predict(*args, **kwargs)
        finally:
            events.append(("predict", "end"))

    def tta(*args, **kwargs):  # kit auto's TTA check: predict's own combining is not this name
        events.append(("step", "tta"))
        return combine(*args, **kwargs)

    def cv(recipe, data, out, competition=None, callbacks=(), overrides=None, **extra):
        events.append(("step", Path(out).name))
        fake_run(Path(out), labels, test_rows, Path(data), QUALITY[Path(out).name], len(events))
        return SimpleNamespace(oof_score=0.5, metric="accuracy")

    monkeypatch.setattr(_members, "load_run", counted)
    monkeypatch.setattr(kit.ensemble, "predict", predicting)
    monkeypatch.setattr(kit.ensemble, "build_ensemble", tta)
    monkeypatch.setattr("kit.api.cv", cv)
    monkeypatch.setattr("kit.autopilot._tta.paired_margin", lambda *args, **kwargs: (1.0, 0.0))  # TTA taken
    return events


def steps(events: list[tuple[str, str]]) -> list[tuple[str, Counter, list[Counter]]]:
    """Per step (``start``: before the first member trains): kit auto's own reads and each ``predict``'s."""
    found: list[tuple[str, Counter, list[Counter]]] = [("start", Counter(), [])]
    within = False
    for kind, name in events:
        if kind == "step":
            found.append((name, Counter(), []))
        elif kind == "predict":
            within = name == "start"
            if within:
                found[-1][2].append(Counter())
        else:
            (found[-1][2][-1] if within else found[-1][1])[name] += 1
    return found


def test_each_step_reads_each_member_once(tmp_path, tiny_dir, loads):
    import kit

    portfolio = [Candidate(name, "tiny") for name in QUALITY]
    out, subs = tmp_path / "auto", tmp_path / "subs"
    result = kit.auto(tiny_dir, "10m", out=out, submissions=subs, portfolio=portfolio, pseudo=False)
    assert {row.name: row.status for row in result.members} == {
        "a": "done",
        "b": "done",
        "worse": "left out",
        "c": "done",
    }
    assert result.tta == 4 and result.path.is_file()
    voters = Counter("abc")
    assert steps(loads) == [
        ("start", Counter(), []),
        ("a", Counter("a"), [Counter("a")]),
        ("b", Counter("ab"), [Counter("ab")]),  # the vote's check and the choice share one read
        ("worse", Counter(["a", "b", "worse"]), []),  # left out: no new submission
        ("c", voters, [voters]),
        ("tta", voters, [voters]),  # the check's read; the choice of the same runs stands, predict writes it
    ]

    loads.clear()
    again = kit.auto(tiny_dir, "10m", out=out, submissions=subs, portfolio=portfolio, tta=False)
    assert again.honest_score == pytest.approx(result.honest_score)
    assert steps(loads) == [("start", Counter(["a", "b", "worse", "c"]), [voters])]  # the reuse check serves the choice
