"""What ``kit auto`` may train, in the order it tries: shipped recipes, fast ones first, then stronger and more
diverse ones (other architectures, other weight seeds on the same folds), each with a prior cost relative to
``turbo`` (measured on the demo digits on a 2-core CPU; the machine's own rate replaces the scale once a member has
trained, see :meth:`kit.autopilot._plan.AutoState.seconds_per_prior`)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

PSEUDO = "pseudo"  # a candidate trained with the current ensemble's confident test rows as extra training rows
MAX_MEMBERS = 16


@dataclass(frozen=True)
class Candidate:
    """One member ``kit auto`` may train: a run folder ``name`` of ``recipe`` with ``overrides``; ``prior`` its cost
    relative to ``turbo``; ``pseudo``: trained with the current ensemble's pseudo-labels."""

    name: str
    recipe: str
    overrides: Mapping[str, Any] = field(default_factory=dict)
    prior: float = 1.0
    pseudo: bool = False
    why: str = ""


def _seeded(name: str, recipe: str, seed: int, prior: float, **overrides: Any) -> Candidate:
    extra = {"train.seed": seed} if seed else {}
    suffix = f"-s{seed}" if seed else ""
    why = f"another seed of {recipe} on the same folds" if seed else ""
    return Candidate(f"{name}{suffix}", recipe, {**overrides, **extra}, prior, why=why)


SHORT_BUDGET = 150.0  # seconds: below this the first member is a short one


def pixel_portfolio(budget: float | None = None) -> tuple[Candidate, ...]:
    """Small greyscale images (Digit Recognizer-like): kit's time-to-accuracy CNNs first, Deotte's and An et al.'s
    networks at epochs a CPU can pay, then more seeds; a pseudo-label round once three members vote. A short
    ``budget`` starts with ``turbo`` at 5 epochs; it is also the fallback when a full one cannot finish."""
    short = Candidate("turbo-e5", "turbo", {"train.epochs": 5}, 0.4, why="turbo at 5 of its 15 epochs")
    members = [short] if budget is not None and budget < SHORT_BUDGET else []
    members += [
        Candidate("turbo", "turbo", {}, 1.0, why="the fastest strong CNN"),
        Candidate("fast", "fast", {}, 2.8, why="a wider CNN: a second architecture"),
        _seeded("turbo", "turbo", 1, 1.0),
        Candidate("turbo-pseudo", "turbo", {"train.seed": 7}, 1.2, pseudo=True, why="turbo + pseudo-labels"),
        Candidate("deotte-e20", "deotte", {"train.epochs": 20}, 4.5, why="Deotte's CNN at 20 epochs: a third design"),
        _seeded("fast", "fast", 1, 2.8),
        _seeded("turbo", "turbo", 2, 1.0),
        Candidate("an3-e20", "an3", {"train.epochs": 20}, 9.0, why="An et al.'s M3 at 20 of its 150 epochs"),
        _seeded("deotte-e20", "deotte", 1, 4.5, **{"train.epochs": 20}),
    ]
    for seed in range(2, 5):
        members += [_seeded("fast", "fast", seed, 2.8), _seeded("turbo", "turbo", seed + 1, 1.0)]
    members = members[:MAX_MEMBERS]
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
