"""Timing a call the way the benchmark tables report it: the best of several runs."""

from __future__ import annotations

import time
from typing import Any, Callable

__all__ = ["best_of"]


def best_of(call: Callable[[], Any], repeats: int) -> tuple[float, Any]:
    """The fewest seconds ``call()`` took in ``repeats`` runs (the least disturbed by other work
    on the machine), and what its last run returned."""
    best, result = float("inf"), None
    for _ in range(repeats):
        started = time.perf_counter()
        result = call()
        best = min(best, time.perf_counter() - started)
    return best, result
