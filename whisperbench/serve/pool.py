"""Decoding off the event loop: a pool of worker threads, each with its own loaded backend
(no runtime is asked to decode two requests at once on one model), and a bounded queue in
front of it. A request that finds `workers + queue_size` requests already admitted is
refused at once (`QueueFull`, answered 503) instead of waiting without bound."""

from __future__ import annotations

import asyncio
import queue
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, TypeVar

from whisperbench.backends.base import Backend

T = TypeVar("T")


class QueueFull(Exception):
    """Every worker is busy and the queue is full."""


class WorkerPool:
    def __init__(self, load: Callable[[], Backend], workers: int, queue_size: int) -> None:
        if workers < 1 or queue_size < 0:
            raise ValueError("workers must be >= 1 and queue_size >= 0")
        self.workers = workers
        self.queue_size = queue_size
        self.backends: list[Backend] = [load() for _ in range(workers)]
        self._idle: queue.SimpleQueue[Backend] = queue.SimpleQueue()
        for b in self.backends:
            self._idle.put(b)
        self._executor = ThreadPoolExecutor(workers, thread_name_prefix="whisperbench-decode")
        self.admitted = 0  # requests decoding or waiting; touched on the event loop only

    @property
    def capacity(self) -> int:
        return self.workers + self.queue_size

    async def run(self, job: Callable[[Backend], T]) -> T:
        """`job(backend)` on a worker thread; raises QueueFull when the pool is full."""
        if self.admitted >= self.capacity:
            raise QueueFull
        self.admitted += 1
        future = asyncio.get_running_loop().run_in_executor(self._executor, self._call, job)
        # Released when the work ends, not when the awaiting request goes away.
        future.add_done_callback(self._release)
        return await future

    def _release(self, _future: object) -> None:
        self.admitted -= 1

    def _call(self, job: Callable[[Backend], T]) -> T:
        backend = self._idle.get()
        try:
            return job(backend)
        finally:
            self._idle.put(backend)

    def close(self) -> None:
        self._executor.shutdown(wait=True, cancel_futures=True)
        for b in self.backends:
            b.close()
