"""Transformers.js on Node.js: the adapter (`adapter.py`), the worker process manager
(`worker.py`) and the Node worker itself (`node/`). No synthetic-timing primitives (see the
adapter's notes).

Its version is read from the Node packages (`TransformersJsBackend.runtime_version`), so
no Python distribution identifies it."""

from whisperbench.backends.registry import BackendSpec

SPEC = BackendSpec(
    name="transformersjs",
    target="whisperbench.backends.transformersjs.adapter:TransformersJsBackend",
    requires=(),
    extra="transformersjs",
    description="Transformers.js (Node.js + ONNX Runtime) in a long-lived worker process",
    runtime="Transformers.js",
    aliases=("transformers.js", "transformers-js", "tjs"),
    packages=(),
    weight_format="onnx",
    check="whisperbench.backends.transformersjs.worker:missing_runtime",
)
