"""The `kit` command line: parses arguments, calls one library function each, renders with rich.

Nothing outside this package imports rich; library errors (:class:`kit.KitError`) become one line and exit 1.
"""

from kit.cli.app import app, main

__all__ = ["app", "main"]
