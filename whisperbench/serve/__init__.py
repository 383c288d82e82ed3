"""`whisperbench serve`: any backend behind an OpenAI-compatible HTTP API
(`POST /v1/audio/transcriptions`, `GET /v1/models`, `GET /health`), on Starlette and
uvicorn. `app` builds the ASGI application, `pool` decodes off the event loop in a bounded
worker pool, `errors` shapes error answers as OpenAI does, `main` loads and runs it.

Layer: above backends, below bench (it imports only core, conversion and backends)."""
