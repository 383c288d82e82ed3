"""openai-whisper, the reference PyTorch implementation: the adapter (`adapter.py`), its
synthetic-timing primitives (`synthetic.py`) and the load helpers both share
(`load.py`)."""

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
    synthetic="whisperbench.backends.openai.synthetic:OpenAIPrimitives",
)
