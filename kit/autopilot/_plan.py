"""The state of a ``kit auto`` folder (``auto.json``, one schema, written atomically after every change): which
members were trained, skipped or stopped, what each cost, every decision with its reason; and the frozen
:class:`AutoPlan` snapshot the callbacks see."""

from __future__ import annotations

import json
import os
import statistics
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from kit.autopilot._budget import format_duration
from kit.autopilot._portfolio import Candidate
from kit.errors import KitError

STATE_FILE = "auto.json"
Status = Literal["planned", "running", "done", "stopped", "skipped", "failed"]


class MemberState(BaseModel):
    """One member: its run folder name, recipe and overrides, status, training seconds spent (over every
    session), the estimate it was started or skipped on, and its OOF score in the metric."""

    model_config = ConfigDict(extra="forbid")

    name: str
    recipe: str
    overrides: dict[str, Any] = {}
    status: Status = "planned"
    seconds: float = 0.0
    estimate: float | None = None
    prior: float = 1.0
    score: float | None = None
    gain: float | None = None  # how much the submission's honest score rose when it joined (None: the first)
    voting: bool = True  # False: it would have dragged the equal vote down, so no way of combining uses it
    note: str = ""
    pseudo_sources: list[str] = []  # the run folders whose equal vote pseudo-labelled the test rows
    pseudo_threshold: float | None = None  # the vote confidence from which a test row was pseudo-labelled


class Decision(BaseModel):
    """One decision: when (seconds into the session), which session, what kind, and the sentence saying why."""

    model_config = ConfigDict(extra="forbid")

    session: int
    at: float
    kind: Literal["member", "skip", "stop", "combiner", "pseudo", "tta", "budget"]
    text: str


class AutoState(BaseModel):
    """``auto.json``: the competition, data folder and metric the members were trained for, the members in the
    order tried, the sessions' budgets, and every decision."""

    model_config = ConfigDict(extra="forbid")

    version: int = 1
    competition: str
    data: str
    metric: str
    members: list[MemberState] = []
    sessions: list[float] = []
    decisions: list[Decision] = []

    def member(self, candidate: Candidate) -> MemberState:
        """The state of ``candidate``, added as planned if new."""
        for state in self.members:
            if state.name == candidate.name:
                return state
        state = MemberState(
            name=candidate.name, recipe=candidate.recipe, overrides=dict(candidate.overrides), prior=candidate.prior
        )
        self.members.append(state)
        return state

    def seconds_per_prior(self) -> float | None:
        """The machine's measured seconds per unit of prior cost: the median over finished members, so one slow
        member does not scale every estimate (before the first, from the projections of stopped ones; else None)."""
        rates = [state.seconds / state.prior for state in self.members if state.status == "done" and state.seconds > 0]
        if not rates:  # before the first finished member: the full cost projected for a stopped one
            rates = [m.estimate / m.prior for m in self.members if m.status == "stopped" and m.estimate]
        return statistics.median(rates) if rates else None

    def done(self) -> list[MemberState]:
        return [state for state in self.members if state.status == "done"]


def read_state(folder: Path) -> AutoState | None:
    path = folder / STATE_FILE
    if not path.is_file():
        return None
    try:
        return AutoState.model_validate(json.loads(path.read_text()))
    except (ValueError, ValidationError) as error:
        first = str(error).splitlines()[0]
        raise KitError(f"{path}: not a kit auto state file ({first}); move it away or pass another out") from None


def write_state(folder: Path, state: AutoState) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / STATE_FILE
    partial = path.with_name(f".{path.name}.{os.getpid()}.partial")
    partial.write_text(json.dumps(state.model_dump(mode="json"), indent=2) + "\n")
    os.replace(partial, path)


@dataclass(frozen=True)
class MemberRow:
    """A member as the live plan shows it."""

    name: str
    recipe: str
    status: str
    seconds: float
    estimate: float | None
    score: float | None
    note: str
    gain: float | None = None


@dataclass(frozen=True)
class AutoPlan:
    """What ``kit auto`` has done, is doing and plans, with the time left: the snapshot ``on_plan`` receives."""

    members: tuple[MemberRow, ...]
    metric: str
    total: float
    elapsed: float
    left: float
    way: str | None
    score: float | None
    last: str

    def line(self) -> str:
        """One line: members done, the one running, the best score, the time left."""
        done = sum(row.status == "done" for row in self.members)
        running = next((row.name for row in self.members if row.status == "running"), None)
        now = f", training {running}" if running else ""
        best = "" if self.score is None else f", {self.way} {self.metric} {self.score:.4f}"
        return f"{done} members{now}{best}, {format_duration(self.left)} left"


def snapshot(state: AutoState, clock: Any, way: str | None, score: float | None, planned: list[Candidate]) -> AutoPlan:
    """The :class:`AutoPlan` of ``state`` now, with the ``planned`` candidates not yet in it."""
    rows = [
        MemberRow(
            m.name, m.recipe, m.status if m.voting else "left out", m.seconds, m.estimate, m.score, m.note, m.gain
        )
        for m in state.members
        if m.status != "planned"
    ]
    known = {row.name for row in rows}
    rate = state.seconds_per_prior()
    rows += [
        MemberRow(c.name, c.recipe, "planned", 0.0, None if rate is None else rate * c.prior, None, c.why)
        for c in planned
        if c.name not in known
    ]
    last = state.decisions[-1].text if state.decisions else ""
    return AutoPlan(tuple(rows), state.metric, clock.total, clock.elapsed(), max(0.0, clock.left()), way, score, last)


def now_stamp() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S")
