"""Exceptions and message helpers.

Every message gdcheck raises starts with ``gdcheck:`` and says where, what, and how to fix it.
Input errors subclass both :class:`GdcheckError` and the built-in the caller expects
(``ValueError`` or ``TypeError``), so ``except ValueError`` keeps working.
"""

from __future__ import annotations

PREFIX = "gdcheck: "


class GdcheckError(Exception):
    """Base class of every error gdcheck raises on purpose."""

    def __init__(self, message: str) -> None:
        super().__init__(message if message.startswith(PREFIX) else PREFIX + message)

    @property
    def reason(self) -> str:
        """The message without the ``gdcheck:`` prefix (for one-line CLI output)."""
        return str(self)[len(PREFIX) :]


class InputError(GdcheckError, ValueError):
    """A value the caller passed is wrong (shape, content, range)."""


class InputTypeError(GdcheckError, TypeError):
    """An argument has the wrong type."""


class BackendUnavailable(GdcheckError, ValueError):
    """A backend was asked for by name but its library is not installed."""


class GradientMismatch(GdcheckError, AssertionError):
    """A handwritten gradient disagrees with autodiff (raised by ``assert_gradient``)."""
