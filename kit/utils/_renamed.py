"""Renamed keyword arguments: the old name keeps working for one release and warns (a ``DeprecationWarning``)."""

from __future__ import annotations

import functools
import warnings
from collections.abc import Callable
from typing import Any, TypeVar

from kit.errors import KitError

F = TypeVar("F", bound=Callable[..., Any])


def renamed(**old_to_new: str) -> Callable[[F], F]:
    """Accept each old keyword of ``old_to_new`` as its new name, with a DeprecationWarning; both at once fail."""

    def wrap(function: F) -> F:
        @functools.wraps(function)
        def call(*args: Any, **kwargs: Any) -> Any:
            for old, new in old_to_new.items():
                if old not in kwargs:
                    continue
                if new in kwargs:
                    raise KitError(f"given twice, as {new} and as {old} (its old name); give {new} only", argument=new)
                warnings.warn(
                    f"{function.__name__}({old}=...) is deprecated and goes in the next release; use {new}=...",
                    DeprecationWarning,
                    stacklevel=2,
                )
                kwargs[new] = kwargs.pop(old)
            return function(*args, **kwargs)

        return call  # type: ignore[return-value]

    return wrap
