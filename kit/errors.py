"""The one error type kit raises for anything a user can fix.

Most errors are about a file and carry only their message. An error about an argument of a library function names
it (``argument``) and may name the argument that fixes it (``fix``), so that each front end can word it with its own
names: ``holdout: must be a share from 0 to 0.5 of the training rows, got 0.7`` in Python reads ``--holdout: …`` on
the command line, and ``…; pass force=True`` reads ``…; rerun with --force``. A bad value always reads
``NAME: must be EXPECTED, got VALUE`` (:meth:`KitError.invalid`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

Fix = tuple[str, Any]
FlagOf = Mapping[str, str] | Callable[[str], str | None]
ANOTHER = ...  # a fix's value meaning "another value of that argument": ``pass out=...``, ``rerun with --out ...``


class KitError(Exception):
    """A problem with the user's input or environment, with a message fit to print as one line.

    ``argument``: the library argument the message is about (the line then starts ``argument: ``). ``fix``: an
    ``(argument, value)`` pair the user can pass to fix it, or a tuple of such alternatives; a value of ``...``
    (:data:`ANOTHER`) stands for "another value". ``str(error)`` words both with the library's names, and
    :meth:`render` with another front end's (the command line's flags).
    """

    def __init__(self, message: str, *, argument: str | None = None, fix: Fix | tuple[Fix, ...] | None = None):
        super().__init__(message)
        self.message = message
        self.argument = argument
        self.fixes: tuple[Fix, ...] = () if fix is None else (fix,) if isinstance(fix[0], str) else tuple(fix)

    @property
    def fix(self) -> Fix | None:
        """The first (usually the only) ``(argument, value)`` that fixes the error, or None."""
        return self.fixes[0] if self.fixes else None

    @classmethod
    def invalid(cls, argument: str, expected: str, value: Any, *, fix: Fix | tuple[Fix, ...] | None = None) -> KitError:
        """The one wording of a bad value: ``argument: must be {expected}, got {value!r}``."""
        return cls(f"must be {expected}, got {value!r}", argument=argument, fix=fix)

    def __str__(self) -> str:
        return self.render()

    def __reduce__(self) -> tuple[Any, ...]:  # keeps argument and fix across processes (joblib, Dask)
        return _rebuild, (self.message, self.argument, self.fixes)

    def _render_traceback_(self) -> list[str]:
        """What IPython shows for this error instead of a traceback: its one line, as the terminal shows it (the
        traceback stays on the error: ``traceback.print_exception(sys.last_value)`` prints it)."""
        return [f"{type(self).__name__}: {self}"]

    def render(self, flag_of: FlagOf | None = None) -> str:
        """The error worded with a front end's names: ``flag_of`` maps a library argument to its name there (a
        mapping or a function returning None for arguments it lacks). Arguments it does not map keep the library's
        wording (``name: …``, ``pass name=value``); mapped ones read ``--flag: …`` and ``rerun with --flag``."""
        if flag_of is None:
            lookup: Callable[[str], str | None] = lambda name: None  # noqa: E731
        elif isinstance(flag_of, Mapping):
            lookup = flag_of.get
        else:
            lookup = flag_of
        text = self.message
        if self.argument is not None:
            text = f"{lookup(self.argument) or self.argument}: {text}"
        if self.fixes:
            flags = [lookup(name) for name, _ in self.fixes]
            if all(flags):
                text += "; rerun with " + " or ".join(
                    _flag_fix(flag, value) for flag, (_, value) in zip(flags, self.fixes)
                )
            else:
                text += "; pass " + " or ".join(_python_fix(name, value) for name, value in self.fixes)
        return text


def _rebuild(message: str, argument: str | None, fixes: tuple[Fix, ...]) -> KitError:
    return KitError(message, argument=argument, fix=fixes or None)


def _python_fix(name: str, value: Any) -> str:
    return f"{name}=..." if value is ANOTHER else f"{name}={value!r}"


def _flag_fix(flag: str, value: Any) -> str:
    if value is True:
        return flag
    return f"{flag} ..." if value is ANOTHER else f"{flag} {value}"
