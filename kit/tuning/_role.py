"""This process's part in a distributed KerasTuner search (:class:`TuneRole`) and the environment variables through
which KerasTuner learns it (:func:`kerastuner_environment`, the one place kit sets them)."""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass

from kit.errors import KitError

CHIEF = "chief"
WORKER_ID_PATTERN = r"[A-Za-z0-9_.-]+"
ENVIRONMENT = ("KERASTUNER_TUNER_ID", "KERASTUNER_ORACLE_IP", "KERASTUNER_ORACLE_PORT")


@dataclass(frozen=True)
class TuneRole:
    """The chief (``tuner_id="chief"``) serves trials at ``host:port``; each worker (a distinct ``tuner_id``) asks it
    for trials and runs them. A search without a role runs locally."""

    host: str
    port: int
    tuner_id: str = CHIEF

    def __post_init__(self) -> None:
        if not self.host:
            raise KitError("host must not be empty (the chief's address, e.g. 10.0.0.5)", argument="role")
        if isinstance(self.port, bool) or not isinstance(self.port, int) or not 0 < self.port < 65536:
            raise KitError(f"port must be an integer from 1 to 65535, got {self.port!r}", argument="role")
        if self.tuner_id != CHIEF and (not re.fullmatch(WORKER_ID_PATTERN, self.tuner_id) or CHIEF in self.tuner_id):
            raise KitError(
                f"worker id {self.tuner_id!r}: give each worker a distinct id of letters, digits, '.', '_' or '-' "
                f"(not containing {CHIEF!r}), e.g. 'gpu1'",
                argument="role",
            )

    @property
    def is_chief(self) -> bool:
        return self.tuner_id == CHIEF

    @property
    def name(self) -> str:
        """``"chief"`` or the worker's id."""
        return self.tuner_id

    def environment(self) -> dict[str, str]:
        """The KerasTuner environment variables of this role."""
        return dict(zip(ENVIRONMENT, (self.tuner_id, self.host, str(self.port)), strict=True))

    def describe(self) -> str:
        """What this process does, in words."""
        if self.is_chief:
            return f"chief: serving trials at {self.host}:{self.port}"
        return f"worker {self.tuner_id}: asking the chief at {self.host}:{self.port} for trials"

    @classmethod
    def from_environment(cls) -> TuneRole | None:
        """The role KerasTuner's own variables set, if any (``KERASTUNER_ORACLE_IP`` and friends), else None."""
        if "KERASTUNER_ORACLE_IP" not in os.environ:
            return None
        port = os.environ.get("KERASTUNER_ORACLE_PORT", "")
        if not port.isdigit():
            raise KitError(f"KERASTUNER_ORACLE_PORT={port!r}: expected a port number, e.g. 8000")
        tuner_id = os.environ.get("KERASTUNER_TUNER_ID", "")
        if not tuner_id:
            raise KitError("KERASTUNER_TUNER_ID is not set: set it to 'chief' or to this worker's distinct id")
        return cls(os.environ["KERASTUNER_ORACLE_IP"], int(port), tuner_id)


@contextlib.contextmanager
def kerastuner_environment(role: TuneRole | None) -> Iterator[None]:
    """Set KerasTuner's variables for ``role`` (none for a local search) for the duration, then restore them."""
    variables = role.environment() if role else {}
    saved = {name: os.environ.get(name) for name in variables}
    os.environ.update(variables)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
