"""``kit auto``: the best submission within a time budget. Members of a portfolio are trained on the same folds,
each only when its estimated cost fits the time left (and stopped as soon as its first epochs say it will not);
after each, the combination is re-chosen by its honest score and the submission rewritten, so there is always one
to upload; a pseudo-label round and TTA are taken when they fit and pay. Rerun with a larger budget to go on: the
members trained are reused, a stopped one resumes from its checkpoints."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kit.autopilot._budget import Clock, Watchdog, format_duration, parse_duration
from kit.autopilot._choose import Choice, as_members, choose_way, joins_vote
from kit.autopilot._guard import MemberGuard
from kit.autopilot._plan import AutoState, Decision, MemberState, read_state, snapshot, write_state
from kit.autopilot._portfolio import Candidate, portfolio_for
from kit.errors import KitError
from kit.utils import Callback, CallbackList, as_callback_list

MIN_MEMBER_SECONDS = 15.0  # below this no member starts
PSEUDO_AFTER = 3  # members voting before a pseudo-label round
TTA_VIEWS = 4


@dataclass
class Session:
    """One call's working set: where, what for, the clock, the state and the listeners."""

    data: Path
    competition: Any
    metric: str
    selection_metric: str | None
    out: Path
    submissions: Path
    name: str
    clock: Clock
    state: AutoState
    listeners: CallbackList
    choice: Choice | None = None
    chosen_for: tuple[str, ...] = ()  # the runs ``choice`` was chosen for: the same runs need no new choice
    tta: int = 0
    written: Any = None
    number: int = 0
    planned: list[Candidate] = field(default_factory=list)
    too_long: list[str] = field(default_factory=list)  # candidates skipped for time, not yet reported

    def decide(self, kind: str, text: str) -> None:
        self.state.decisions.append(
            Decision(session=self.number, at=round(self.clock.elapsed(), 1), kind=kind, text=text)
        )
        write_state(self.out, self.state)
        self.show()

    def show(self) -> None:
        way = None if self.choice is None else self.choice.way
        score = None if self.choice is None else self.choice.score
        self.listeners.on_plan(snapshot(self.state, self.clock, way, score, self.planned))

    def runs(self) -> list[str]:
        """The run folders of the members in the vote."""
        return [str(self.out / member.name) for member in self.state.done() if member.voting]


def _open(data: Any, competition: Any, metric: str | None, out: Any, budget: float) -> tuple[Any, Path, str, Path]:
    """The competition, data folder, metric and auto folder, checked before any work."""
    from kit.competitions import as_competition, get_metric
    from kit.crossval import default_run_dir, run_label
    from kit.data import has_test, resolve_data_dir

    spec = as_competition(competition, data)
    folder = resolve_data_dir(data, spec).resolve()
    spec = as_competition(competition, folder)
    if not has_test(folder, spec):
        raise KitError(
            f"{folder}: no test file, so no submission to make; kit auto needs the test images", argument="data"
        )
    chosen = metric or spec.metric
    get_metric(chosen, argument="metric").check(spec.task)
    return spec, folder, chosen, Path(out) if out is not None else default_run_dir(run_label(spec.name, folder), "auto")


def _state(out: Path, spec: Any, folder: Path, metric: str) -> AutoState:
    """The folder's state, or a new one; one line when it belongs to other data."""
    state = read_state(out)
    if state is None:
        return AutoState(competition=spec.name, data=str(folder), metric=metric)
    if state.competition != spec.name or Path(state.data) != folder:
        raise KitError(
            f"{out} holds kit auto members of {state.competition} on {state.data}; pass another out for {folder}",
            argument="out",
        )
    state.metric = metric
    return state


def auto(
    data: str | Path | None = None,
    time: str | float = "30m",
    *,
    metric: str | None = None,
    out: str | Path | None = None,
    submissions: str | Path = "submissions",
    name: str = "auto",
    competition: Any = None,
    callbacks: Iterable[Callback] | Callback | None = (),
    portfolio: Sequence[Candidate] | None = None,
    tta: bool = True,
    pseudo: bool = True,
) -> Any:
    """Train, choose and write the best submission that fits ``time`` (``"30m"``, ``"1h30m"``, seconds) on the
    competition folder ``data``; return a :class:`kit.autopilot.AutoResult`. ``metric`` (default the competition's) is
    what every choice optimises; ``out`` (default ``runs/<competition>/auto``, ``runs/demo/auto`` on kit's demo
    digits) keeps the members and ``auto.json``
    (rerun with a larger budget to go on); the submission is ``submissions/<name>.csv`` with its sidecar.
    ``portfolio`` replaces the shipped candidates; ``tta``/``pseudo`` allow those rounds."""
    clock = Clock(parse_duration(time))
    spec, folder, chosen, out_dir = _open(data, competition, metric, out, clock.total)
    state = _state(out_dir, spec, folder, chosen)
    state.sessions.append(clock.total)
    session = Session(
        folder, spec, chosen, metric, out_dir, Path(submissions), name, clock, state, as_callback_list(callbacks)
    )
    session.number = len(state.sessions)
    session.planned = list(portfolio if portfolio is not None else portfolio_for(spec, clock.total))
    session.listeners.on_run_begin("auto", len(session.planned))
    session.decide("budget", f"session {session.number}: {format_duration(clock.total)} budget, {chosen} to optimise")
    _reuse(session)
    for candidate in list(session.planned):
        if clock.left() < MIN_MEMBER_SECONDS:
            break
        if not pseudo and candidate.pseudo:
            continue
        if _train(session, candidate) == "out of time":
            break
    _report_too_long(session)
    if tta:
        _try_tta(session)
    from kit.autopilot._result import finish

    result = finish(session)
    session.listeners.on_run_end()
    return result


def _reuse(session: Session) -> None:
    """Members finished by earlier sessions: checked (loaded once, for the first choice too), kept, and voted before
    anything trains."""
    from kit.ensemble import load_member

    loaded = {}
    for member in session.state.members:
        if member.status == "done":
            try:
                loaded[str(session.out / member.name)] = load_member(session.out / member.name)
            except KitError as error:
                member.status, member.note = "failed", str(error)
                session.decide("member", f"{member.name} no longer loads ({error}); dropped")
    if session.state.done():
        session.decide("member", f"reusing {len(session.state.done())} members of earlier sessions")
        _rechoose(session, loaded)


def _estimate(session: Session, candidate: Candidate, member: MemberState) -> float | None:
    rate = session.state.seconds_per_prior()
    if rate is None:
        return None
    full = rate * candidate.prior
    return max(0.2 * full, full - member.seconds) if member.status == "stopped" else full


def _train(session: Session, candidate: Candidate) -> str:
    """Train ``candidate`` if it fits; ``"out of time"`` when the budget ran out during it."""
    state, clock = session.state, session.clock
    member = state.member(candidate)
    if member.status == "done":
        return "done"
    if candidate.fallback and state.done():
        member.status, member.note = "skipped", "a fallback: other members finished"
        return "skipped"
    if candidate.pseudo and member.pseudo_threshold is None:  # a resumed round keeps its sources and threshold
        reason = _plan_pseudo(session, candidate, member)
        if reason:
            member.status, member.note = "skipped", reason
            session.decide("pseudo", f"pseudo-label round skipped: {reason}")
            return "skipped"
    estimate = _estimate(session, candidate, member)
    member.estimate = estimate
    if estimate is not None and estimate > clock.left():
        member.status, member.note = "skipped", f"needs ~{format_duration(estimate)}"
        session.too_long.append(f"{candidate.name} ~{format_duration(estimate)}")
        write_state(session.out, session.state)
        return "skipped"
    _report_too_long(session)
    return _run_member(session, candidate, member)


def _report_too_long(session: Session) -> None:
    """One decision for the candidates skipped since the last one: each needed more than the time left."""
    if session.too_long:
        left = format_duration(session.clock.left())
        session.decide("skip", f"skipped, each needing more than the {left} left: {', '.join(session.too_long)}")
        session.too_long.clear()


def _plan_pseudo(session: Session, candidate: Candidate, member: MemberState) -> str | None:
    """Why the pseudo-label round cannot be taken now, or None with its sources and threshold set on ``member``
    (calibrated on the vote's OOF rows: :func:`kit.autopilot._pseudo.plan_pseudo`)."""
    from kit.autopilot._pseudo import plan_pseudo
    from kit.recipes import load_recipe

    done = len(session.state.done())
    if done < PSEUDO_AFTER:
        return f"needs {PSEUDO_AFTER} members voting, {done} so far"
    recipe = load_recipe(candidate.recipe).with_overrides(dict(candidate.overrides))
    sources = session.runs()
    plan = plan_pseudo(as_members(sources), recipe.train.batch_size, recipe.cv.folds)
    if plan.threshold is None:
        return plan.why
    member.pseudo_sources, member.pseudo_threshold = sources, plan.threshold
    session.decide("pseudo", f"pseudo-label round: {plan.why}")
    return None


def _run_member(session: Session, candidate: Candidate, member: MemberState) -> str:
    import time

    from kit.api import cv

    member.status, member.note = "running", candidate.why
    expected = "" if member.estimate is None else f" (~{format_duration(member.estimate)})"
    session.decide("member", f"training {candidate.name}{expected}: {candidate.why or candidate.recipe}")
    started = time.monotonic()
    watchdog = Watchdog(session.clock.deadline())
    guard = MemberGuard(watchdog)
    extra: dict[str, Any] = {}
    if candidate.pseudo:
        extra = {"pseudo": member.pseudo_sources, "threshold": member.pseudo_threshold}
    try:
        with watchdog:
            result = cv(
                candidate.recipe,
                session.data,
                out=session.out / candidate.name,
                competition=session.competition,
                callbacks=[guard, *session.listeners.callbacks],
                overrides=dict(candidate.overrides),
                **extra,
            )
    except KitError as error:
        member.seconds += time.monotonic() - started
        if watchdog.reason is None:
            member.status, member.note = "failed", str(error)
            session.decide("skip", f"{candidate.name} failed: {error}")
            return "failed"
        return _stopped(session, candidate, member, watchdog, guard)
    except KeyboardInterrupt:
        member.seconds += time.monotonic() - started
        if watchdog.reason is None:
            member.status = "stopped"
            write_state(session.out, session.state)
            raise
        return _stopped(session, candidate, member, watchdog, guard)
    member.seconds += time.monotonic() - started
    member.status, member.score = "done", float(result.oof_score)
    session.decide(
        "member",
        f"{candidate.name} done in {format_duration(member.seconds)}: OOF {result.metric} {result.oof_score:.4f}",
    )
    pool = [run for run in session.runs() if Path(run).name != candidate.name]
    loaded = None
    if pool:  # the step's members, loaded once for the vote's check and the choice
        new = str(session.out / candidate.name)
        loaded = dict(zip([*pool, new], as_members([*pool, new])))
        joins, without, with_it = joins_vote([loaded[run] for run in pool], loaded[new], session.metric)
        if not joins:
            member.voting, member.gain = False, 0.0
            change = f"{without:.4f} → {with_it:.4f}"
            session.decide(
                "member", f"{candidate.name} left out of the vote: it takes its OOF {session.metric} {change}"
            )
            return "done"
    member.gain = _rechoose(session, loaded)
    write_state(session.out, session.state)
    return "done"


def _stopped(
    session: Session, candidate: Candidate, member: MemberState, watchdog: Watchdog, guard: MemberGuard
) -> str:
    import time

    member.status, member.note = "stopped", watchdog.reason or ""
    if guard.projected is not None:  # what the whole member would have cost: the machine's rate until one finishes
        member.estimate = member.seconds + max(0.0, guard.projected - time.monotonic())
    session.decide("stop", f"{candidate.name} stopped: {watchdog.reason}; its finished folds are kept for a rerun")
    return "out of time" if watchdog.reason == "the budget ran out" else "stopped"


def _rechoose(session: Session, loaded: dict[str, Any] | None = None) -> float | None:
    """Re-choose the combination of the finished members and rewrite the submission with it (when the budget runs
    out while choosing, the last submission stands); the change of its honest score, better positive (None: the
    first). ``loaded``: members already loaded, by run folder; the runs of the last choice keep it (TTA's rewrite)."""
    from kit.competitions import get_metric
    from kit.ensemble import predict

    runs = session.runs()
    before = None if session.choice is None else session.choice.way
    old = None if session.choice is None else session.choice.score
    watchdog = Watchdog(session.clock.deadline() + session.clock.reserve / 2)
    try:
        with watchdog:
            if tuple(runs) != session.chosen_for:  # the same runs choose the same way: nothing to load or fit
                members = [loaded.get(run, run) for run in runs] if loaded else runs
                session.choice = choose_way(members, session.metric, selection_metric=session.selection_metric)
                session.chosen_for = tuple(runs)
    except KeyboardInterrupt:
        if watchdog.reason is None or session.choice is None:
            raise
        session.decide("combiner", f"no time left to re-choose with {len(runs)} members; the last submission stands")
        return None
    new, sign = session.choice.score, 1.0 if get_metric(session.metric).greater_is_better else -1.0
    gain = None if old is None else sign * (new - old)
    change = "" if old is None else f"honest {session.metric} {old:.4f} → {new:.4f}; "
    way = session.choice.way if session.choice.way == before else f"now {session.choice.way}"
    session.decide("combiner", f"{way} of {len(runs)} members: {change}{session.choice.reason}")
    session.written = predict(
        runs,
        name=session.name,
        out=session.submissions,
        data=session.data,
        force=True,
        metric=session.selection_metric,
        tta=session.tta,
        **session.choice.flags,
    )
    session.show()
    return gain


def _try_tta(session: Session) -> None:
    """Take TTA when its estimated cost fits and its honest gain over the plain vote clears the noise margin."""
    from kit.autopilot._tta import tta_decision

    if session.choice is None:
        return
    tta_decision(session, TTA_VIEWS, _rechoose)
