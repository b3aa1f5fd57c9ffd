"""Wall time of repeated calls, shared by the benchmarks (each takes its median or minimum)."""

from __future__ import annotations

import time
from collections.abc import Callable


def timings(fn: Callable[[], object], repeat: int, warm: bool = True) -> list[float]:
    """Seconds of each of ``repeat`` calls of ``fn``, after one untimed call when ``warm``."""
    if warm:
        fn()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return times
