"""What the command says went wrong with its input."""

from __future__ import annotations

__all__ = ["UsageError"]


class UsageError(Exception):
    """A problem with the command's input: printed, exit status 2."""
