"""Independent trainings side by side: one spawned process per thread, one torch thread each.

The default selection trains its candidates this way (``training/select.py``), and an ensemble's
members are refit this way (``training/ensemble.py``). The bags' sparse steps use a second
thread poorly, so two one-thread trainings get more done than one two-thread training after the
other. Each call runs in a worker as ``call(share)``: ``share`` is an ``on_epoch`` callback that,
while other workers wait with nothing to do, gives their threads to this training from its next
epoch on. A call's output is the call's own business (e.g. a train.log in its run folder);
this process shows one bar over the calls and a line as each one ends.

A call may return :class:`Then`: more calls its result needs (a candidate's cross-validation
fold runs, once its held-out run has chosen their epochs), which go to whichever worker is free,
the dearest first, after the calls not yet started; once they are all done, the caller's
``finish`` makes the call's result from theirs, in this process. So one long candidate's fold
runs are shared between the workers instead of queueing in the worker that trained it. The bar
counts parts (``steps``: how many each call has; its own run and each further call is one), so
that its rate and ETA follow the work rather than the calls. A worker keeps each document's character n-grams
counted for the process's life (``models/char_memo.py``), so the fold runs of a candidate that a
worker has trained before do not count them again.

On an error or a signal here, the workers get SIGTERM (a training stops after its step) and the
error is raised with the message given (e.g. that a selection cannot be resumed).
"""

from __future__ import annotations

import contextlib
import heapq
import io
import multiprocessing
import queue
import signal
import sys
import threading
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from textclf.errors import TextclfError, TrainingError, TrainingInterrupted
from textclf.files import write_text

__all__ = ["Then", "worker_count", "side_by_side", "logged"]

# Seconds a worker with nothing left to do gets to exit by itself before it is terminated.
_EXIT_WAIT = 10.0

@dataclass
class Then:
    """What a call of :func:`side_by_side` returns when its result needs ``calls`` first (each
    ``calls[j]`` run as a call of its own, named ``names[j]``, about ``cost`` seconds each):
    ``state`` and their results, in order, go to the caller's ``finish``."""

    calls: list[Callable]
    names: list[str]
    state: Any = None
    cost: float = 0.0


def worker_count(threads: int, calls: int) -> tuple[int, int]:
    """How many processes for ``calls`` trainings on ``threads`` threads, and each one's threads:
    one process per thread, up to one per call."""
    workers = max(1, min(threads, calls))
    return workers, max(1, threads // workers)


def side_by_side(calls: list[Callable[[Callable[[dict], None]], Any]], names: list[str], workers: int, threads: int,
                 progress: bool, desc: str, line: Callable[[int, Any], str], interrupted: str,
                 order: list[int] | None = None, steps: list[int] | None = None,
                 finish: Callable[[int, Any, list], Any] | None = None) -> list[Any]:
    """Each call's result, in the order of ``calls``, run in ``workers`` processes of ``threads``
    torch threads each, started in ``order`` (indices; all in turn by default). ``names`` name the
    calls in errors; ``line(i, result)`` is printed as call ``i`` ends; ``interrupted`` is what a
    SIGTERM here says. A call that raises stops the rest (its error is raised here). ``steps``:
    the parts of each call, which the bar counts (one each by default). A call that returns
    :class:`Then` ends once its further calls have: its result is ``finish(i, then.state,
    their results)``."""
    from tqdm import tqdm

    order = list(range(len(calls))) if order is None else order
    steps = [1] * len(calls) if steps is None else steps
    context = multiprocessing.get_context("spawn")
    todo, done = context.Queue(), context.Queue()
    # Calls not yet given to a worker, as (rank, task): the calls first, in ``order``, then the
    # further ones, dearest first. A task is (id, call, name); ``owner[id]``: (its call, its place
    # among that call's further calls, or None for the call itself).
    pending: list[tuple[tuple, int, Callable, str]] = [((0, rank), i, calls[i], names[i]) for rank, i in enumerate(order)]
    heapq.heapify(pending)
    owner: dict[int, tuple[int, int | None]] = {i: (i, None) for i in range(len(calls))}
    waiting: dict[int, list] = {}  # call -> [state, results of its further calls, how many are still out]
    idle = context.Value("i", 0)  # workers waiting for a call: their threads go to the others
    processes = [context.Process(target=_worker, args=(todo, done, threads, idle, workers), daemon=True)
                 for _ in range(workers)]
    for process in processes:
        process.start()
    results: list = [None] * len(calls)
    finished = False
    try:
        with _sigterm_raises(interrupted), tqdm(total=sum(steps), desc=desc, unit="run", disable=not progress,
                                                leave=False) as bar:
            counted = [0] * len(calls)  # (the parts of each call the bar has moved for)

            def part_done(i: int) -> None:  # (the last part moves the bar with the call's end)
                if counted[i] < steps[i] - 1:
                    counted[i] += 1
                    bar.update()

            def call_done(i: int, result: Any) -> None:
                results[i] = result
                bar.write(f"{desc}: {line(i, result)}", file=sys.stderr)
                bar.update(steps[i] - counted[i])
                left.discard(i)

            left, free = set(range(len(calls))), workers
            while left:
                while free and pending:
                    _, task, call, name = heapq.heappop(pending)
                    todo.put((task, call, name))
                    free -= 1
                task, result, error = _next_done(done, processes, desc)
                i, place = owner[task]
                free += 1
                if error is not None:
                    raise error
                if place is not None:  # (one of call i's further calls)
                    waiting[i][1][place] = result
                    waiting[i][2] -= 1
                    part_done(i)
                    if waiting[i][2] == 0:
                        state, theirs, _ = waiting.pop(i)
                        call_done(i, finish(i, state, theirs))
                elif isinstance(result, Then):
                    part_done(i)
                    if not result.calls:
                        call_done(i, finish(i, result.state, []))
                        continue
                    waiting[i] = [result.state, [None] * len(result.calls), len(result.calls)]
                    for j, (call, name) in enumerate(zip(result.calls, result.names)):
                        task = len(owner)
                        owner[task] = (i, j)
                        heapq.heappush(pending, ((1, -result.cost, task), task, call, name))
                else:
                    call_done(i, result)
        finished = True
    finally:
        # Done: each worker gets its stop mark and exits by itself, so that its exit unregisters
        # the semaphores it made (killed, it left them to the resource tracker's "leaked
        # semaphore" warning). Interrupted or failed: stop it now.
        if finished:
            for process in processes:
                todo.put(None)
        for process in processes:
            if finished:
                process.join(timeout=_EXIT_WAIT)
            if process.is_alive():
                process.terminate()
        for process in processes:
            process.join(timeout=30)
            if process.is_alive():
                process.kill()
                process.join()
        for channel in (todo, done):  # (calls never taken stay unsent: do not wait for them at exit)
            channel.cancel_join_thread()
            channel.close()
    return results


def logged(call: Callable[[Callable[[dict], None] | None], Any], folder: Path, on_epoch) -> Any:
    """``call(on_epoch)`` in a worker process, its output (stdout and stderr) written to
    ``folder``/train.log once it ends, when ``folder`` exists then (a training that did not
    start, or failed and removed its folder, leaves none)."""
    output = io.StringIO()
    try:
        with contextlib.redirect_stdout(output), contextlib.redirect_stderr(output):
            return call(on_epoch)
    finally:
        if Path(folder).is_dir():
            write_text(Path(folder) / "train.log", output.getvalue())


def _next_done(done, processes, desc: str) -> tuple:
    while True:
        try:
            return done.get(timeout=0.5)
        except queue.Empty:
            if not any(p.is_alive() for p in processes):
                raise TrainingError(f"{desc}: its worker processes ended before every run was done (out of "
                                    "memory? or, from a script, training that is not under "
                                    "`if __name__ == \"__main__\":`: the workers' error is above)") from None


def _worker(todo, done, threads: int, idle, workers: int) -> None:
    """A worker process: run the calls it takes from ``todo`` until a stop mark; put (id, result,
    None) or (id, None, error) on ``done``. After an interruption it stops. Each document's
    character n-grams are counted once in its life (``models/char_memo.py``)."""
    import torch

    from textclf.models.char_memo import remembering

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the parent, which stops the workers
    torch.set_num_threads(threads)

    def share(record: dict) -> None:  # (after each epoch: the busy workers split the waiting ones' threads)
        busy = max(1, workers - idle.value)
        torch.set_num_threads(threads * workers // busy)

    with remembering():
        while True:
            with idle.get_lock():
                idle.value += 1
            item = todo.get()
            if item is None:
                break
            with idle.get_lock():
                idle.value -= 1
            i, call, name = item
            torch.set_num_threads(threads)
            try:
                done.put((i, call(share), None))
            except TrainingInterrupted as exc:
                done.put((i, None, exc))
                return
            except BaseException as exc:  # (to the parent, picklable)
                error = exc if isinstance(exc, TextclfError) else TrainingError(
                    f"{name} failed: {type(exc).__name__}: {exc}\n{traceback.format_exc()}")
                done.put((i, None, error))


@contextlib.contextmanager
def _sigterm_raises(message: str):
    """While the trainings run in other processes, SIGTERM stops this one as SIGINT does."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def stop(signum, frame):
        raise TrainingInterrupted(f"interrupted ({signal.Signals(signum).name}) {message}")

    old = signal.signal(signal.SIGTERM, stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, old)
