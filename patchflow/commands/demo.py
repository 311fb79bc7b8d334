"""`patchflow demo` (under construction: filled in by its issue)."""

from patchflow.commands.common import fail


def command() -> None:
    """Not built yet."""
    fail("'patchflow demo' is not built yet")
