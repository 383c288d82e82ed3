"""Decoding off the event loop: a pool of workers, each with its own loaded model (no runtime
is asked to decode two requests at once on one model), and a bounded queue in front of it.
A request that finds `workers + queue_size` requests already admitted is refused at once
(`QueueFull`, answered 503) instead of waiting without bound.

Two isolations (`ISOLATIONS`):
- `process` (the default): each worker is a child process (`serve.worker.WorkerProcess`). A
  runtime that crashes it (segfault, abort, out-of-memory kill) fails the request it held;
  the worker is started again, model and all, while the others go on serving.
- `thread`: each worker is a backend loaded in the server's own process: no per-request
  hand-over, but a crash in native code takes the whole server down.
Either way the requests wait on threads of this process, so the event loop never blocks."""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable, TypeVar, Union

from whisperbench.backends.base import Backend
from whisperbench.serve.worker import WorkerProcess

T = TypeVar("T")
Worker = Union[Backend, WorkerProcess]  # both have transcribe(samples, options), describe() and close()
ISOLATIONS = ("process", "thread")
MAX_RESTART_DELAY_S = 30.0

log = logging.getLogger("whisperbench.serve")


class QueueFull(Exception):
    """Every worker is busy and the queue is full."""


class PoolClosed(Exception):
    """The server is shutting down: a request still waiting for a worker is not decoded."""


CLOSED = -1  # in the idle queue after close(): wakes the requests still waiting for a worker


def _alive(worker: Worker) -> bool:
    return not isinstance(worker, WorkerProcess) or worker.alive


class WorkerPool:
    def __init__(self, start: Callable[[], Worker], workers: int, queue_size: int, *,
                 isolation: str = "thread") -> None:
        """`start()` gives one loaded worker: a Backend (isolation thread) or a WorkerProcess."""
        if workers < 1 or queue_size < 0:
            raise ValueError("workers must be >= 1 and queue_size >= 0")
        if isolation not in ISOLATIONS:
            raise ValueError(f"isolation must be one of {ISOLATIONS}, got {isolation!r}")
        self.workers = workers
        self.queue_size = queue_size
        self.isolation = isolation
        self._start = start
        self.slots: list[Worker] = []
        try:
            for _ in range(workers):
                self.slots.append(start())
        except BaseException:
            for w in self.slots:
                w.close()
            raise
        self._idle: queue.SimpleQueue[int] = queue.SimpleQueue()  # indices into slots, first in first out
        for i in range(workers):
            self._idle.put(i)
        self._executor = ThreadPoolExecutor(workers, thread_name_prefix="whisperbench-decode")
        self.admitted = 0  # requests decoding or waiting; touched on the event loop only
        self.restarts = 0
        self.last_crash: str | None = None
        self._closing = threading.Event()
        self._lock = threading.Lock()
        # Restarts happen on one long-lived thread: a worker dies with the thread that started
        # it (child_process.start_child), so that thread must outlive it.
        self._restart_queue: queue.SimpleQueue[int | None] = queue.SimpleQueue()
        self._restarter = threading.Thread(target=self._restart_loop, name="whisperbench-restart", daemon=True)
        self._restarter.start()

    @property
    def capacity(self) -> int:
        return self.workers + self.queue_size

    def describe(self) -> dict[str, Any]:
        """The loaded backend's identity (every worker loads the same)."""
        return self.slots[0].describe()

    def health(self) -> dict[str, Any]:
        return {"isolation": self.isolation, "workers": self.workers,
                "workers_alive": sum(_alive(w) for w in self.slots), "restarts": self.restarts,
                "last_crash": self.last_crash, "queue_size": self.queue_size, "admitted": self.admitted}

    async def run(self, job: Callable[[Worker], T]) -> T:
        """`job(worker)` on a pool thread, with an idle worker; raises QueueFull when the pool
        is full."""
        if self.admitted >= self.capacity:
            raise QueueFull
        self.admitted += 1
        future = asyncio.get_running_loop().run_in_executor(self._executor, self._call, job)
        # Released when the work ends, not when the awaiting request goes away.
        future.add_done_callback(self._release)
        return await future

    def _release(self, _future: object) -> None:
        self.admitted -= 1

    def _call(self, job: Callable[[Worker], T]) -> T:
        while True:
            i = self._idle.get()
            if i == CLOSED:
                self._idle.put(CLOSED)  # for the next one waiting
                raise PoolClosed("the server is shutting down")
            if _alive(self.slots[i]):
                break
            self._crashed(i)  # it died while idle: start it again, take the next one
        try:
            return job(self.slots[i])
        finally:
            if _alive(self.slots[i]):
                self._idle.put(i)
            else:
                self._crashed(i)

    def _crashed(self, i: int) -> None:
        worker = self.slots[i]
        assert isinstance(worker, WorkerProcess)
        self.last_crash = worker.crash or worker.ended()
        log.warning("whisperbench serve: worker %d (pid %d) %s; starting it again", i, worker.pid, self.last_crash)
        self._restart_queue.put(i)

    def _restart_loop(self) -> None:
        while (i := self._restart_queue.get()) is not None:
            self.slots[i].close()
            delay = 1.0
            while not self._closing.is_set():
                try:
                    worker = self._start()
                    break
                except Exception as exc:  # e.g. the model no longer fits: try again, more slowly
                    log.warning("whisperbench serve: worker %d did not start again (%s); retrying in %g s",
                                i, exc, delay)
                    self._closing.wait(delay)
                    delay = min(2 * delay, MAX_RESTART_DELAY_S)
            else:
                return
            self.slots[i] = worker
            with self._lock:
                self.restarts += 1
            self._idle.put(i)

    def close(self) -> None:
        self._closing.set()
        self._idle.put(CLOSED)  # a worker that will not restart now must not keep a request waiting
        self._executor.shutdown(wait=True, cancel_futures=True)
        self._restart_queue.put(None)
        self._restarter.join(timeout=60)
        for w in self.slots:
            w.close()
