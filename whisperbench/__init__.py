"""whisperbench: every major Whisper runtime behind one interface, measured honestly.

Importing this package imports no runtime (torch, ctranslate2, whisper.cpp, ...);
backends load their runtime only when a model is loaded.
"""

from whisperbench.errors import WhisperbenchError
from whisperbench.options import DecodeOptions, LoadOptions
from whisperbench.results import Segment, Timing, Transcription, Word

__version__ = "0.1.0"

__all__ = [
    "DecodeOptions",
    "LoadOptions",
    "Segment",
    "Timing",
    "Transcription",
    "WhisperbenchError",
    "Word",
    "__version__",
]
