"""The one error type kit raises for anything a user can fix."""


class KitError(Exception):
    """A problem with the user's input or environment, with a message fit to print as one line."""
