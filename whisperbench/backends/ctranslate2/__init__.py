"""CTranslate2 through faster-whisper: the adapter (`adapter.py`), its synthetic-timing
primitives (`synthetic.py`) and the load helpers both share (`load.py`)."""

from whisperbench.backends.registry import BackendSpec

SPEC = BackendSpec(
    name="ctranslate2",
    target="whisperbench.backends.ctranslate2.adapter:CTranslate2Backend",
    requires=("faster_whisper", "ctranslate2"),
    extra="ctranslate2",
    description="CTranslate2 via faster-whisper",
    runtime="CTranslate2",
    aliases=("faster-whisper", "faster_whisper", "ct2"),
    packages=("faster-whisper", "ctranslate2"),
    weight_format="ctranslate2",
    synthetic="whisperbench.backends.ctranslate2.synthetic:CTranslate2Primitives",
)
