"""A client of any OpenAI-compatible transcription endpoint (`POST /v1/audio/transcriptions`):
`whisperbench serve`, vLLM, speaches, whisper.cpp's server, hosted APIs. The adapter
(`adapter.py`) talks HTTP with httpx; `protocol.py` holds what our server and this client
share (header names, the audio sent)."""

from whisperbench.backends.registry import BackendSpec

SPEC = BackendSpec(
    name="openai-api",
    target="whisperbench.backends.openai_api.adapter:OpenAIApiBackend",
    requires=("httpx",),
    extra="serve",
    description="an OpenAI-compatible HTTP endpoint (model: its URL, e.g. http://127.0.0.1:8000/v1)",
    runtime="OpenAI-compatible endpoint",
    aliases=("openai-compatible",),
    packages=("httpx",),
    weight_format="none",
)
