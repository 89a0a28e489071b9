"""The TTA round of ``kit auto``: taken when its estimated cost fits the time left and its gain over the plain equal
vote, both scored on the OOF rows (each fold model on its own validation rows), clears the noise margin."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from kit.autopilot._budget import Watchdog, format_duration
from kit.autopilot._choose import paired_margin
from kit.errors import KitError

SHARE_OF_TRAINING = 0.03  # one TTA view costs about this share of the members' training seconds
SECONDS_PER_MEMBER = 2.0  # loading its fold models


def tta_cost(session: Any, views: int) -> float:
    """Seconds to score ``views`` views with every member and write the submission with them (twice: the check
    and the submission)."""
    done = session.state.done()
    return 2 * sum(SHARE_OF_TRAINING * views * member.seconds + SECONDS_PER_MEMBER for member in done)


def tta_decision(session: Any, views: int, rewrite: Callable[[Any], None]) -> None:
    """Score ``views`` TTA views of the equal vote against the plain one (the same members' own OOF softmaxes, so
    nothing is loaded or fitted again); keep them when they pay (``rewrite(session)`` writes the submission again
    with ``session.tta`` views, keeping the choice of the same runs)."""
    from kit.ensemble import EqualWeights, build_ensemble

    clock, runs = session.clock, session.runs()
    cost = tta_cost(session, views)
    if cost > clock.left():
        session.decide("tta", f"TTA skipped: ~{format_duration(cost)} needed, {format_duration(clock.left())} left")
        return
    watchdog = Watchdog(clock.deadline())
    try:
        with watchdog:
            augmented = build_ensemble(runs, tta=views, data_dir=session.data)
    except (KeyboardInterrupt, KitError) as error:
        if isinstance(error, KeyboardInterrupt) and watchdog.reason is None:
            raise
        session.decide("tta", f"TTA skipped: {watchdog.reason or error}")
        return
    plain = [member.oof if member.plain_oof is None else member.plain_oof for member in augmented.members]
    labels = augmented.labels  # the equal vote is honest as it is: nothing chosen on the OOF rows
    gain, margin = paired_margin(session.metric, labels, EqualWeights().fit(plain, labels).oof, augmented.oof)
    if gain <= margin:
        session.decide(
            "tta",
            f"TTA ×{views} not taken: {gain:+.4f} {session.metric} on the OOF rows, needs more than +{margin:.4f}",
        )
        return
    session.tta = views
    try:
        with Watchdog(clock.deadline()) as second:
            rewrite(session)
    except KeyboardInterrupt:
        if second.reason is None:
            raise
        session.tta = 0
        session.decide("tta", "TTA gained but the budget ran out writing it; the plain submission stands")
        rewrite(session)
        return
    session.decide("tta", f"TTA ×{views} taken: {gain:+.4f} {session.metric} (OOF), beyond the margin {margin:.4f}")
