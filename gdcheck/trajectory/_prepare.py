"""The user's data before the model's own ``prepare``: layout and standardisation (issue 12).

:func:`user_data` returns the data the engine passes on and what it did to them (None: nothing).
"""

from __future__ import annotations

from typing import Any


def user_data(
    model: Any, data: tuple, *, standardize: bool = False, layout: str | None = None
) -> tuple[tuple, Any]:
    """The data as given (a placeholder: standardisation and layouts are filled in next)."""
    return data, None
