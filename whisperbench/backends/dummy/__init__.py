"""A backend without a model (tests and harness checks): the adapter (`adapter.py`) and its
synthetic-timing primitives (`synthetic.py`)."""

from whisperbench.backends.registry import BackendSpec

SPEC = BackendSpec(
    name="dummy",
    target="whisperbench.backends.dummy.adapter:DummyBackend",
    requires=(),
    extra=None,
    description="no model: returns a scripted transcript (tests and harness checks)",
    weight_format="none",
    synthetic="whisperbench.backends.dummy.synthetic:DummyPrimitives",
)
