"""Hugging Face Transformers (PyTorch): the adapter (`adapter.py`), its synthetic-timing
primitives (`synthetic.py`) and the load helpers both share (`load.py`)."""

from whisperbench.backends.registry import BackendSpec

SPEC = BackendSpec(
    name="transformers",
    target="whisperbench.backends.transformers.adapter:TransformersBackend",
    requires=("transformers", "torch"),
    extra="transformers",
    description="Hugging Face Transformers (PyTorch): generate, long-form generate, ASR pipeline",
    runtime="transformers",
    aliases=("hf", "huggingface"),
    packages=("transformers", "torch"),
    weight_format="transformers",
    synthetic="whisperbench.backends.transformers.synthetic:TransformersPrimitives",
)
