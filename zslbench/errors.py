"""Errors meant for users: each carries a one-line message and, where useful, a hint.

The CLI turns them into click errors (exit 1, or 2 for usage errors); library
users can catch :class:`ZSLBenchError`.
"""

from __future__ import annotations


class ZSLBenchError(Exception):
    """A problem the user can fix; ``hint`` says how."""

    exit_code = 1

    def __init__(self, message: str, hint: str | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message if not self.hint else f"{self.message} (hint: {self.hint})"


class UsageError(ZSLBenchError):
    """A bad command line or configuration (exit code 2)."""

    exit_code = 2


class UnknownNameError(UsageError, KeyError):
    """An unknown method, dataset, backbone or text encoder name."""

    def __init__(self, kind: str, name: str, close: list[str], known: list[str]):
        if close:
            hint = "did you mean " + " or ".join(repr(c) for c in close) + "?"
        else:
            hint = "registered: " + (", ".join(known) if known else "none")
        super().__init__(f"unknown {kind} {name!r}", hint + f" (see `zslbench list {kind.replace(' ', '-')}s`)")
        self.name = name
        self.close = close

    def __str__(self) -> str:  # KeyError would repr() the message otherwise
        return ZSLBenchError.__str__(self)


class DataError(ZSLBenchError):
    """A dataset that is missing, incomplete or inconsistent."""
