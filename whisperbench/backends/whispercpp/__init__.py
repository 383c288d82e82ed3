"""whisper.cpp through pywhispercpp: the adapter (`adapter.py`), its synthetic-timing
primitives (`synthetic.py`) and the load helpers both share (`load.py`)."""

from whisperbench.backends.registry import BackendSpec

SPEC = BackendSpec(
    name="whispercpp",
    target="whisperbench.backends.whispercpp.adapter:WhisperCppBackend",
    requires=("pywhispercpp",),
    extra="whispercpp",
    description="whisper.cpp via pywhispercpp (ggml weights)",
    runtime="whisper.cpp",
    aliases=("whisper.cpp", "whisper-cpp", "pywhispercpp"),
    packages=("pywhispercpp",),
    weight_format="ggml",
    synthetic="whisperbench.backends.whispercpp.synthetic:WhisperCppPrimitives",
)
