"""What ``kit auto`` returns (:class:`AutoResult`) and its last step: the submission scored where answers exist and
its sidecar given an ``auto`` section saying what was trained, what was chosen and why."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kit.autopilot._budget import format_duration
from kit.autopilot._plan import MemberRow, snapshot, write_state
from kit.errors import KitError
from kit.utils._display import card, facts, number, short_repr, table


@dataclass(frozen=True)
class AutoResult:
    """The submission ``kit auto`` wrote (``path``), how it combines which members (``way``, ``members``), its
    honest OOF score and local test score in ``metric`` (None without answers), TTA views, every decision, the
    seconds it took of the budget, and the folder (``out``) a rerun continues from."""

    path: Path
    way: str
    reason: str
    metric: str
    honest_score: float
    local_score: float | None
    tta: int
    members: tuple[MemberRow, ...]
    decisions: tuple[str, ...]
    elapsed: float
    budget: float
    out: Path

    @property
    def used(self) -> tuple[MemberRow, ...]:
        """The members voting in the submission."""
        return tuple(row for row in self.members if row.status == "done")

    def __repr__(self) -> str:
        fields = {"path": self.path, "way": self.way, "members": len(self.used), "metric": self.metric}
        fields |= {"honest_oof_score": self.honest_score, "local_score": self.local_score, "elapsed": self.elapsed}
        return short_repr("AutoResult", fields)

    def _repr_html_(self) -> str:
        about = facts(
            [
                ("submission", str(self.path)),
                ("combination", self.way + (f", TTA ×{self.tta}" if self.tta else "")),
                ("why", self.reason),
                (f"honest OOF {self.metric}", number(self.honest_score)),
                (f"local {self.metric}", None if self.local_score is None else number(self.local_score)),
                ("time", f"{format_duration(self.elapsed)} of {format_duration(self.budget)}"),
            ]
        )
        rows = [
            (
                row.name,
                row.recipe,
                row.status,
                format_duration(row.seconds),
                number(row.score),
                number(row.gain),
                row.note,
            )
            for row in self.members
        ]
        headers = ("member", "recipe", "status", "time", f"OOF {self.metric}", "gain of the submission", "note")
        members = table(headers, rows)
        return card(f"kit auto · {self.path}", about, members)


def finish(session: Any) -> AutoResult:
    """Score the written submission where answers exist, note the ``auto`` section in its sidecar, and return the
    result; one line when no member finished in the budget."""
    from kit.submission import has_answers, note_sidecar, score_submission

    if session.written is None or session.choice is None:
        raise KitError(
            f"no member finished within {format_duration(session.clock.total)}; pass a larger time "
            f"(finished folds in {session.out} are kept and resumed)",
            argument="time",
        )
    path = Path(session.written.path)
    local = None
    if has_answers(session.data, session.competition):
        local = score_submission(path, data=session.data, competition=session.competition, metric=session.metric)
        local = float(local.score)
    plan = snapshot(session.state, session.clock, session.choice.way, session.choice.score, [])
    decisions = tuple(f"[{d.session}·{format_duration(d.at)}] {d.kind}: {d.text}" for d in session.state.decisions)
    note_sidecar(path, auto=_section(session, plan))
    write_state(session.out, session.state)
    return AutoResult(
        path=path,
        way=session.choice.way,
        reason=session.choice.reason,
        metric=session.metric,
        honest_score=session.choice.score,
        local_score=local,
        tta=session.tta,
        members=plan.members,
        decisions=decisions,
        elapsed=session.clock.elapsed(),
        budget=session.clock.total,
        out=session.out,
    )


def _section(session: Any, plan: Any) -> dict[str, Any]:
    """The sidecar's ``auto`` section."""
    choice = session.choice
    return {
        "budget_seconds": session.clock.total,
        "elapsed_seconds": round(session.clock.elapsed(), 1),
        "sessions": list(session.state.sessions),
        "folder": str(Path(session.out).resolve()),
        "metric": session.metric,
        "chosen": {"way": choice.way, "reason": choice.reason, "tta": session.tta},
        "ways": [
            {"way": entry.way, "honest_score": entry.score, "gain": entry.gain, "margin": entry.margin}
            for entry in choice.scores
        ],
        "members": [
            {
                "name": row.name,
                "recipe": row.recipe,
                "status": row.status,
                "seconds": round(row.seconds, 1),
                "oof_score": row.score,
                "gain": row.gain,
                "note": row.note,
            }
            for row in plan.members
        ],
        "decisions": [decision.model_dump() for decision in session.state.decisions],
    }
