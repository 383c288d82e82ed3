"""Load a backend into a worker pool and serve it with uvicorn (`whisperbench serve`)."""

from __future__ import annotations

import sys
from dataclasses import dataclass

from whisperbench import backends
from whisperbench.errors import WhisperbenchError
from whisperbench.options import LoadOptions
from whisperbench.serve.pool import ISOLATIONS


@dataclass(frozen=True)
class ServeSettings:
    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = 1  # workers, each with its own loaded model
    isolation: str = "process"  # a worker is a child process, or a thread of the server (serve.pool)
    queue_size: int = 8  # requests that may wait for a worker; more are answered 503
    max_upload_mb: float = 25.0  # OpenAI's own limit
    request_timeout_s: float | None = None  # a worker that holds one request longer is killed (504), then restarted

    def check(self) -> None:
        if self.workers < 1:
            raise WhisperbenchError(f"--workers must be >= 1, got {self.workers}")
        if self.isolation not in ISOLATIONS:
            raise WhisperbenchError(f"--isolation must be one of {', '.join(ISOLATIONS)}, got {self.isolation!r}")
        if self.queue_size < 0:
            raise WhisperbenchError(f"--queue-size must be >= 0, got {self.queue_size}")
        if not self.max_upload_mb > 0:
            raise WhisperbenchError(f"--max-upload-mb must be > 0, got {self.max_upload_mb:g}")
        if self.request_timeout_s is not None:
            if not self.request_timeout_s > 0:
                raise WhisperbenchError(f"--request-timeout must be > 0, got {self.request_timeout_s:g}")
            if self.isolation != "process":
                raise WhisperbenchError("--request-timeout needs --isolation process: a decode running on a thread "
                                        "of the server cannot be stopped")
        if not 0 <= self.port <= 65535:
            raise WhisperbenchError(f"--port must be in 0..65535, got {self.port}")


def serve(backend: str, model: str, load_options: LoadOptions, settings: ServeSettings, *,
          model_id: str | None = None, quiet: bool = False) -> None:
    """Load `settings.workers` copies of the model, then serve until interrupted."""
    import uvicorn

    from whisperbench.serve.app import ServedModel, create_app
    from whisperbench.serve.pool import WorkerPool
    from whisperbench.serve.worker import WorkerProcess

    settings.check()
    cls = backends.get(backend)
    lo = cls.resolve_load_options(load_options)  # refuse bad options before any load
    if settings.isolation == "process":
        pool = WorkerPool(lambda: WorkerProcess(backend, model, lo, request_timeout_s=settings.request_timeout_s),
                          settings.workers, settings.queue_size, isolation="process")
    else:
        pool = WorkerPool(lambda: cls(model, lo), settings.workers, settings.queue_size, isolation="thread")
    try:
        served = ServedModel(model_id or model, {**pool.describe(), "algorithms": dict(cls.capabilities.algorithms),
                                                  "isolation": settings.isolation})
        app = create_app(pool, served, max_upload_bytes=int(settings.max_upload_mb * 2**20))
        if not quiet:
            print(f"whisperbench: serving {cls.name} {model} ({settings.workers} {settings.isolation} worker(s), "
                  f"queue {settings.queue_size}) "
                  f"on http://{settings.host}:{settings.port}/v1", file=sys.stderr, flush=True)
        uvicorn.run(app, host=settings.host, port=settings.port, log_level="warning" if quiet else "info",
                    access_log=not quiet, timeout_graceful_shutdown=5)
    finally:
        pool.close()
