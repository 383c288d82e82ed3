"""`whisperbench serve`: any backend behind an OpenAI-compatible HTTP API
(`POST /v1/audio/transcriptions`, `GET /v1/models`, `GET /health`), on Starlette and
uvicorn. `app` builds the ASGI application, `pool` decodes off the event loop in a bounded
worker pool, `worker` is a pool worker in its own process (so a runtime crash fails one
request, not the server), `errors` shapes error answers as OpenAI does, `main` loads and
runs it, `process` runs `whisperbench serve` as a child process (the suite, the tests).

Layer: above backends, below bench (it imports only core, conversion and backends)."""

from __future__ import annotations

import importlib.util

INSTALL_HINT = "pip install 'whisperbench[serve]'"


def missing_modules() -> list[str]:
    """The packages `whisperbench serve` (and a `serve = true` suite engine) needs but does
    not find, by their pip names."""
    found = importlib.util.find_spec
    need = {"starlette": "starlette", "uvicorn": "uvicorn", "httpx": "httpx"}
    missing = [pip for module, pip in need.items() if found(module) is None]
    if found("python_multipart") is None and found("multipart") is None:
        missing.append("python-multipart")
    return missing
