"""A function of each item in processes forked from this one.

Forked workers read the caller's memory as it was when they started (a corpus to tokenize, a
training matrix to fit) without a copy; only the items and the results travel between processes.
Preprocessing tokenizes large corpora this way (``text/token_table.py``), and the linear solver
fits its SVMs this way rather than in threads (``training/solver.py``: liblinear's one random
generator a process made threaded fits differ from run to run).
"""

from __future__ import annotations

import sys
import threading
from typing import Any, Callable

__all__ = ["can_fork", "fork_map", "refuse_while_starting_up"]

# What the workers run: set before they are forked (they inherit it), under a lock, so that two
# threads mapping at once do not share it.
_TASK: Callable[[Any], Any] | None = None
_TASK_LOCK = threading.Lock()


def refuse_while_starting_up() -> None:
    """Raise a UsageError when this process is a spawned worker still importing its parent's main
    script. The default selection's and a search's workers are spawned, and a spawned process
    first runs the parent's script as a module: a script that trains at its top level, not under
    ``if __name__ == "__main__":``, would start the same training again in every worker (which
    then failed on the run folder its parent had made, and the parent saw only its workers end)."""
    import multiprocessing

    if getattr(multiprocessing.current_process(), "_inheriting", False):
        from textclf.errors import UsageError

        raise UsageError("training was started again while a worker process of textclf was importing your "
                         "script: a default selection and a search start worker processes, which import the main "
                         "script first; put the script's training under `if __name__ == \"__main__\":`")


def can_fork() -> bool:
    """Whether this process may fork workers: on Linux (macOS forks a threaded process unsafely)
    and not from a daemonic process, which may not have children (the default selection's
    workers are daemons)."""
    import multiprocessing

    return sys.platform.startswith("linux") and not multiprocessing.current_process().daemon


def fork_map(function: Callable[[Any], Any], items, workers: int,
             forked: Callable[[], None] | None = None) -> list:
    """``function`` of each item, in order, in ``workers`` forked processes; one after the other
    in this process when ``workers`` is 1 or :func:`can_fork` is false. ``forked()`` is called once
    every worker exists (what only the workers read may then be freed here)."""
    global _TASK
    items = list(items)
    if workers <= 1 or not can_fork():
        return [function(item) for item in items]
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    with _TASK_LOCK:
        _TASK = function
        try:  # (a fork context starts every worker on the first submission, after _TASK is set)
            with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork")) as pool:
                results = pool.map(_run_task, items)  # (every worker is forked by now)
                if forked is not None:
                    forked()
                return list(results)  # (a call's exception is raised here)
        finally:
            _TASK = None


def _run_task(item: Any) -> Any:
    return _TASK(item)
