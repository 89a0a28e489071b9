"""What ``kit auto`` may train, in the order it tries: shipped recipes, fast ones first, then stronger and more
diverse ones (other architectures, other weight seeds on the same folds), each with a prior cost relative to
``turbo`` (measured on the demo digits on a 2-core CPU; the machine's own rate replaces the scale once a member has
trained, see :meth:`kit.autopilot._plan.AutoState.seconds_per_prior`)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

PSEUDO = "pseudo"  # a candidate trained with the current ensemble's confident test rows as extra training rows
MAX_MEMBERS = 40


@dataclass(frozen=True)
class Candidate:
    """One member ``kit auto`` may train: a run folder ``name`` of ``recipe`` with ``overrides``; ``prior`` its cost
    relative to ``turbo``; ``pseudo``: trained with the current ensemble's pseudo-labels; ``fallback``: only while no
    member has finished."""

    name: str
    recipe: str
    overrides: Mapping[str, Any] = field(default_factory=dict)
    prior: float = 1.0
    pseudo: bool = False
    why: str = ""
    fallback: bool = False  # trained only while no member has finished (a short one for a short budget)


def _seeded(name: str, recipe: str, seed: int, prior: float, **overrides: Any) -> Candidate:
    extra = {"train.seed": seed} if seed else {}
    suffix = f"-s{seed}" if seed else ""
    why = f"another seed of {recipe} on the same folds" if seed else ""
    return Candidate(f"{name}{suffix}", recipe, {**overrides, **extra}, prior, why=why)


SHORT_BUDGET = 150.0  # seconds: below this the first member is a short one


DEOTTE_E20 = {"train.epochs": 20, "model.batch_norm_momentum": 0.9}  # 20 epochs leave Keras' 0.99 statistics behind


def pixel_portfolio(budget: float | None = None) -> tuple[Candidate, ...]:
    """Small greyscale images (Digit Recognizer-like): kit's time-to-accuracy CNNs first, then their longer
    schedules, then other seeds of them; a pseudo-label round once three members vote; Deotte's network at epochs a
    CPU can pay; An et al.'s M3 last (a GPU's). A short ``budget`` starts with ``turbo`` at 5 epochs; it is also the
    fallback when a full one cannot finish.

    Order measured by ``make portfolio-bench`` (:func:`kit.benchmark.member_gains`, 2026-12-08, 2-core CPU): what
    each candidate adds to the OOF accuracy of the equal vote of ``turbo`` + ``fast``, per minute of its ``kit cv``,
    on the demo digits and on the generated shapes: ``turbo`` at 30 epochs +0.0046 / +0.036 (the most on both),
    ``fast`` at 16 epochs +0.0030 / +0.025, another seed of ``fast`` +0.0042 / +0.011, Deotte's CNN at 20 epochs
    (batch-norm momentum 0.9: at Keras' 0.99 its 380 steps leave the moving statistics behind) ±0 / +0.019; left
    out: another seed of ``turbo`` at 15 epochs (−0.0018 on the digits), ``turbo`` 1.5× wider (±0 on the digits) and
    Simard's elastic distortions (−0.0016 / −0.067: they bend the shapes' corners and the small digits out of
    their class).
    """
    short = Candidate("turbo-e5", "turbo", {"train.epochs": 5}, 0.4, why="turbo at 5 of its 15 epochs", fallback=True)
    longer, fast_longer = {"train.epochs": 30}, {"train.epochs": 16}
    members = [short] if budget is not None and budget < SHORT_BUDGET else []
    members += [
        Candidate("turbo", "turbo", {}, 1.0, why="the fastest strong CNN"),
        Candidate("turbo-e30", "turbo", longer, 1.8, why="turbo trained twice as long: the most per second"),
        Candidate("fast", "fast", {}, 2.4, why="a wider CNN: a second architecture"),
        Candidate("fast-e16", "fast", fast_longer, 4.8, why="fast trained twice as long"),
        _seeded("fast", "fast", 1, 2.4),
        _seeded("turbo-e30", "turbo", 1, 1.8, **longer),
        Candidate("turbo-pseudo", "turbo", {"train.seed": 7, **longer}, 2.0, pseudo=True, why="turbo + pseudo-labels"),
        Candidate("deotte-e20", "deotte", DEOTTE_E20, 4.3, why="Deotte's CNN at 20 epochs: a third design"),
    ]
    for seed in range(2, 13):
        members += [_seeded("turbo-e30", "turbo", seed, 1.8, **longer), _seeded("fast-e16", "fast", seed - 1, 4.8,
                    **fast_longer)]  # fmt: skip
        members += (
            [_seeded("fast", "fast", seed, 2.4)]
            if seed % 2
            else [_seeded("deotte-e20", "deotte", seed, 4.3, **DEOTTE_E20)]
        )
    members = members[: MAX_MEMBERS - 1]
    members.append(
        Candidate("an3-e20", "an3", {"train.epochs": 20}, 50.0, why="An et al.'s M3 at 20 of its 150 epochs")
    )
    return tuple(members if short in members else [*members, short])


def photo_portfolio() -> tuple[Candidate, ...]:
    """Image files (photos): the small scratch CNN first, the fine-tuned backbones where their weights are at hand
    (a member whose weights cannot be found offline is skipped with its one line), then more seeds."""
    members = [
        Candidate("photo", "photo", {}, 1.0, why="the scratch CNN for photos"),
        Candidate("photo-fast", "photo-fast", {}, 3.0, why="a fine-tuned EfficientNetV2B0"),
        _seeded("photo", "photo", 1, 1.0),
        Candidate("photo-pseudo", "photo", {"train.seed": 7}, 1.2, pseudo=True, why="photo + pseudo-labels"),
        _seeded("photo-fast", "photo-fast", 1, 3.0),
        Candidate("photo-strong", "photo-strong", {}, 30.0, why="a fine-tuned EfficientNetV2S at 224 px (GPU)"),
    ]
    members += [_seeded("photo", "photo", seed, 1.0) for seed in range(2, 6)]
    return tuple(members[:MAX_MEMBERS])


def portfolio_for(competition: Any, budget: float | None = None) -> tuple[Candidate, ...]:
    """The portfolio for ``competition`` (a :class:`kit.competitions.Competition`) and a ``budget`` in seconds:
    photos for image files, the pixel CNNs otherwise."""
    if getattr(competition, "images", None) is not None:
        return photo_portfolio()
    return pixel_portfolio(budget)
