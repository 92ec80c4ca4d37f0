"""Dynamic micro-batching: texts of requests that arrive together go through the model at once.

Requests put their texts on a bounded queue and wait. One worker task takes the oldest request
and, when requests are arriving concurrently, waits at most ``max_wait_ms`` for more (until
``max_batch_texts`` texts are collected; requests that queued while the model was busy join at
once),
runs the model on all of them in a worker thread (never on the event loop), and hands each request
its own rows. A request that would take the queue past ``max_queue_texts`` waiting texts is
refused at once (:class:`Overloaded`: the server answers 503 with Retry-After; texts count from
queueing until answered, so the limit bounds the backlog in front of a new request) instead of waiting
without bound. With ``enabled=False`` each request goes through the model alone, in arrival
order (for comparison in ``benchmarks/serve_load.py``).
"""

from __future__ import annotations

import asyncio
import collections
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Callable

import numpy as np

__all__ = ["MicroBatcher", "Overloaded", "BatcherStats"]


class Overloaded(Exception):
    """The queue is full; try again after ``retry_after`` seconds."""

    def __init__(self, waiting: int, limit: int, retry_after: int):
        super().__init__(f"{waiting} texts are waiting (limit {limit}); try again in {retry_after} s")
        self.retry_after = retry_after


@dataclass
class BatcherStats:
    batches: int = 0
    texts: int = 0
    requests: int = 0
    refused: int = 0


class MicroBatcher:
    def __init__(
        self,
        predict: Callable[[list[str]], np.ndarray],
        max_batch_texts: int = 256,
        max_wait_ms: float = 5.0,
        max_queue_texts: int = 8192,
        enabled: bool = True,
    ):
        self.predict = predict
        self.max_batch_texts = max_batch_texts
        self.max_wait = max_wait_ms / 1000
        self.max_queue_texts = max_queue_texts
        self.enabled = enabled
        self.stats = BatcherStats()
        self._queue: collections.deque[tuple[list[str], asyncio.Future]] = collections.deque()
        self._waiting = 0  # texts queued or in the model
        self._seconds_per_text = 1e-3  # running estimate, for Retry-After
        self._last_requests = 0  # requests served by the last batch
        self._wakeup: asyncio.Event | None = None
        self._worker: asyncio.Task | None = None
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="textclf-model")

    async def start(self) -> None:
        self._wakeup = asyncio.Event()
        self._worker = asyncio.create_task(self._run())

    async def stop(self) -> None:
        """Finish what is queued, then stop the worker."""
        while self._queue:
            await asyncio.sleep(0.01)
        if self._worker is not None:
            self._worker.cancel()
            try:
                await self._worker
            except asyncio.CancelledError:
                pass
        self._executor.shutdown(wait=True)

    async def submit(self, texts: list[str]) -> np.ndarray:
        """The model's (len(texts), num_classes) probabilities for ``texts``."""
        if self._waiting + len(texts) > self.max_queue_texts:
            self.stats.refused += 1
            retry = max(1, round((self._waiting + len(texts)) * self._seconds_per_text))
            raise Overloaded(self._waiting, self.max_queue_texts, retry)
        future = asyncio.get_running_loop().create_future()
        self._queue.append((texts, future))
        self._waiting += len(texts)
        self._wakeup.set()
        return await future

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            if not self._queue:
                self._wakeup.clear()
                await self._wakeup.wait()
                continue
            # Wait for a batch to fill only when requests come concurrently (several queued, or
            # the last batch served several): a lone client never pays the wait.
            if self.enabled and (len(self._queue) > 1 or self._last_requests > 1):
                deadline = loop.time() + self.max_wait
                while self._waiting < self.max_batch_texts and loop.time() < deadline:
                    self._wakeup.clear()
                    try:
                        await asyncio.wait_for(self._wakeup.wait(), deadline - loop.time())
                    except asyncio.TimeoutError:
                        break
            taken = [self._queue.popleft()]
            while self.enabled and self._queue and sum(len(t) for t, _ in taken) + len(self._queue[0][0]) <= self.max_batch_texts:
                taken.append(self._queue.popleft())
            texts = [t for request, _ in taken for t in request]
            started = loop.time()
            try:
                probs = await loop.run_in_executor(self._executor, self.predict, texts)
            except Exception as exc:  # the model failed: every waiting request learns it
                for _, future in taken:
                    if not future.done():
                        future.set_exception(exc)
                continue
            finally:
                self._waiting -= len(texts)  # counted until answered: the queue bounds the backlog
            if texts:
                per_text = (loop.time() - started) / len(texts)
                self._seconds_per_text = 0.8 * self._seconds_per_text + 0.2 * per_text
            self._last_requests = len(taken)
            self.stats.batches += 1
            self.stats.texts += len(texts)
            self.stats.requests += len(taken)
            start = 0
            for request, future in taken:
                if not future.done():  # the client may have gone away
                    future.set_result(probs[start : start + len(request)])
                start += len(request)
