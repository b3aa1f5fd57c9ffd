"""Exceptions and message helpers.

Every message gdcheck raises starts with ``gdcheck:`` and says where, what, and how to fix it.

What the API raises, and when:

- :class:`InputError` (a ``ValueError``): a value is wrong — a shape, NaN in the data, ``lr``
  not finite and > 0, ``steps`` negative or too many for the memory, a negative seed, a file
  that is not a report, a directory that cannot be written. :class:`BackendUnavailable` is one:
  a backend asked for by name is not installed.
- :class:`InputTypeError` (a ``TypeError``): an argument has the wrong type — ``lr=True``,
  ``steps=2.5``, a loss that is not callable.
- :class:`GradientMismatch` (an ``AssertionError``): not an error in the input but the verdict,
  raised on purpose by ``gdcheck.assert_gradient`` (and, in the pytest plugin, its
  ``CrossCheckFailed`` and ``BaselineMismatch``).

So ``except ValueError`` / ``except TypeError`` keep working, and ``except gdcheck.errors.
GdcheckError`` catches everything gdcheck raises on purpose. The command line prints
:attr:`GdcheckError.reason` on one line and exits 2.
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


class BackendUnavailable(InputError):
    """A backend was asked for by name but its library is not installed."""


class GradientMismatch(GdcheckError, AssertionError):
    """A handwritten gradient disagrees with autodiff (raised by ``assert_gradient``)."""
