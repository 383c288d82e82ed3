"""openai-whisper, the reference PyTorch implementation: the adapter (`adapter.py`)."""

from whisperbench.backends.registry import BackendSpec

SPEC = BackendSpec(
    name="openai",
    target="whisperbench.backends.openai.adapter:OpenAIWhisperBackend",
    requires=("whisper", "torch"),
    extra="openai",
    description="openai-whisper, the reference PyTorch implementation",
    runtime="openai-whisper",
    aliases=("openai-whisper", "openai_whisper"),
    packages=("openai-whisper", "torch"),
    weight_format="openai",
)
