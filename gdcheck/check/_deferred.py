"""Work that is cheaper done in the thread that needs its result than on a background one."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


class Deferred:
    """``fn(*args, **kwargs)``, run once, in the thread that first calls :meth:`result`
    (the interface of a ``Future``, for work that is cheaper done in the caller's thread)."""

    def __init__(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        self._call: Callable[[], Any] | None = lambda: fn(*args, **kwargs)
        self._value: Any = None
        self._error: BaseException | None = None

    def result(self) -> Any:
        if self._call is not None:
            call, self._call = self._call, None
            try:
                self._value = call()
            except Exception as exc:
                self._error = exc
        if self._error is not None:
            raise self._error
        return self._value
