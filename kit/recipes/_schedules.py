"""The learning-rate schedule tables of the recipe format: one pydantic class per ``kind`` (constant, exponential,
cosine, one_cycle), told apart by a discriminator, each accepting only the settings its kind reads."""

from __future__ import annotations

import typing
from typing import Annotated, Any, ClassVar, Literal, Union

from pydantic import Discriminator, Field, Tag, model_validator

from kit.recipes._types import Float, Spec, spec

SCHEDULE_KINDS = ("constant", "exponential", "cosine", "one_cycle")
# The settings each schedule kind reads, with their defaults (None: the recipe must give it).
SCHEDULE_SETTINGS: dict[str, dict[str, float | None]] = {
    "constant": {},
    "exponential": {"decay": None},
    "cosine": {"warmup": 0.0, "start_factor": 0.04, "final_factor": 0.0},
    "one_cycle": {"warmup": 0.3, "start_factor": 0.04, "final_factor": 0.0},
}
SETTING_NAMES = ("decay", "warmup", "start_factor", "final_factor")


@spec
class ScheduleSpec(Spec):
    """The learning-rate schedule over training; ``kind`` picks one of the classes below (default ``constant``).

    A setting another kind reads is ``None`` here; ``false`` for one is dropped, so a child recipe can switch kind and
    clear its parent's settings.
    """

    kind: str

    @model_validator(mode="before")
    @classmethod
    def _false_clears(cls, data: Any) -> Any:
        if isinstance(data, dict):
            data = {key: value for key, value in data.items() if value is not False or key == "kind"}
        return data

    @classmethod
    def missing_hint(cls, name: str) -> str:
        return f"kind = {cls.kind_name()!r} needs it"

    @classmethod
    def unknown_hint(cls, name: str) -> str:
        users = " or ".join(repr(kind) for kind, names in SCHEDULE_SETTINGS.items() if name in names)
        if not users:
            return super().unknown_hint(name)
        return f"only used when kind is {users}, not {cls.kind_name()!r}; remove it or set it to false"

    @classmethod
    def kind_name(cls) -> str:
        return typing.get_args(typing.get_type_hints(cls)["kind"])[0]

    def setting(self, name: str) -> float:
        """The value of one of this kind's settings, the kind's default where the recipe gives none."""
        value = getattr(self, name)
        return SCHEDULE_SETTINGS[self.kind][name] if value is None else value


@spec
class ConstantSchedule(ScheduleSpec):
    """``learning_rate`` throughout (ReduceLROnPlateau may still lower it)."""

    kind: Literal["constant"] = "constant"
    decay: ClassVar[None] = None
    warmup: ClassVar[None] = None
    start_factor: ClassVar[None] = None
    final_factor: ClassVar[None] = None


@spec
class ExponentialSchedule(ScheduleSpec):
    """``learning_rate`` multiplied by ``decay`` after every epoch."""

    kind: Literal["exponential"]
    decay: Float = Field(gt=0.0, le=1.0)
    warmup: ClassVar[None] = None
    start_factor: ClassVar[None] = None
    final_factor: ClassVar[None] = None


@spec
class CosineSchedule(ScheduleSpec):
    """Cosine-annealed to ``learning_rate × final_factor`` over all steps, after an optional linear warm-up over a
    ``warmup`` fraction of the steps starting at ``learning_rate × start_factor``."""

    kind: Literal["cosine"]
    decay: ClassVar[None] = None
    warmup: Float | None = Field(None, ge=0.0, le=0.9)
    start_factor: Float | None = Field(None, gt=0.0, le=1.0)
    final_factor: Float | None = Field(None, ge=0.0, le=1.0)


@spec
class OneCycleSchedule(ScheduleSpec):
    """The cosine schedule with a 30 % warm-up by default (Smith's 1cycle without momentum cycling)."""

    kind: Literal["one_cycle"]
    decay: ClassVar[None] = None
    warmup: Float | None = Field(None, ge=0.0, le=0.9)
    start_factor: Float | None = Field(None, gt=0.0, le=1.0)
    final_factor: Float | None = Field(None, ge=0.0, le=1.0)


def schedule_kind(value: Any) -> str | None:
    """The ``kind`` of a schedule table (``constant`` when it names none), or None when it cannot name one."""
    if isinstance(value, dict):
        kind = value.get("kind", "constant")
        return kind if isinstance(kind, str) else None
    return getattr(value, "kind", None)


SCHEDULES = (ConstantSchedule, ExponentialSchedule, CosineSchedule, OneCycleSchedule)
TAGGED_SCHEDULES = tuple(Annotated[cls, Tag(kind)] for kind, cls in zip(SCHEDULE_KINDS, SCHEDULES))
Schedule = Annotated[Union[TAGGED_SCHEDULES], Discriminator(schedule_kind)]
