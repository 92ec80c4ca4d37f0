"""Timing a call the way the benchmark tables report it: the best of several runs."""

from __future__ import annotations

import compileall
import time
from pathlib import Path
from typing import Any, Callable

__all__ = ["best_of", "installed_bytecode"]


def best_of(call: Callable[[], Any], repeats: int) -> tuple[float, Any]:
    """The fewest seconds ``call()`` took in ``repeats`` runs (the least disturbed by other work
    on the machine), and what its last run returned."""
    best, result = float("inf"), None
    for _ in range(repeats):
        started = time.perf_counter()
        result = call()
        best = min(best, time.perf_counter() - started)
    return best, result


def installed_bytecode(src: str | Path | None = None) -> None:
    """Compile textclf's modules (``src``'s ``textclf`` package, or the imported one) to bytecode
    before a whole process is timed, as ``pip install`` compiles a package's and the peers'
    libraries'. An editable install writes its own on first use, unless PYTHONDONTWRITEBYTECODE is
    set (as on our benchmark machine): then every process compiled them again, about 0.09 s of a
    prediction's imports there."""
    if src is None:
        import textclf

        package = Path(textclf.__file__).parent
    else:
        package = Path(src) / "textclf"
    compileall.compile_dir(package, quiet=1)
