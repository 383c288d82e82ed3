"""The proof that a backend is one registry entry: a toy runtime defined in this file alone.

Nothing else in the tree names it. Registered through the public registry API (the `toy`
fixture), it keeps every contract check that runs over all registered backends, and runs
through `whisperbench transcribe`, the Python API, `bench` and `synthetic`. Suite cells and
synthetic cells run in child processes: the registry passes entries registered at run time
to them (`registry.ENV_VAR`), and they import this module by the entry's "module:Class"
targets. CONTRIBUTING.md ("Adding a backend") walks through the same steps for a real runtime.
"""

from __future__ import annotations

import inspect
import itertools
import json
import time

import numpy as np
import pytest

from whisperbench import backends
from whisperbench.audio import SAMPLE_RATE
from whisperbench.backends.base import Backend, Capabilities, RawResult
from whisperbench.backends.synthetic_base import Inputs, SyntheticPrimitives
from whisperbench.options import DecodeOptions, LoadOptions
from whisperbench.results import Segment

from tests.backends import test_contract as contract

# ----- the toy runtime: its registry entry, adapter and synthetic primitives ---------------

SPEC = backends.BackendSpec(
    name="toy",
    aliases=("toy-runtime",),
    target="tests.backends.test_toy_backend:ToyBackend",
    requires=("numpy",),
    extra=None,
    description="a word per second of sound (the toy backend of tests/backends/test_toy_backend.py)",
    runtime="Toy",
    packages=("numpy",),
    weight_format="none",
    synthetic="tests.backends.test_toy_backend:ToyPrimitives",
)

SILENCE_RMS = 0.01  # about -40 dBFS: a second below it is silence
LOUD_RMS = 0.1


def toy_words(samples: np.ndarray) -> list[tuple[float, float, str]]:
    """(start, end, word) for each second of the audio that is not silence: 'loud' or 'soft'."""
    words = []
    for start in range(0, len(samples), SAMPLE_RATE):
        second = samples[start:start + SAMPLE_RATE].astype(np.float64)
        rms = float(np.sqrt(np.mean(second**2)))
        if rms >= SILENCE_RMS:
            words.append((start / SAMPLE_RATE, (start + len(second)) / SAMPLE_RATE,
                          "loud" if rms >= LOUD_RMS else "soft"))
    return words


class ToyBackend(Backend):
    name = "toy"
    # What it can do, declared honestly: no search, no fallback, no thresholds, no language
    # detection or translation (it "speaks" English only), timestamps always.
    capabilities = Capabilities(
        model_format=SPEC.weight_format,
        algorithms={alg: "toy: one word per second of sound" for alg in ("short", "sequential", "chunked")},
        compute_types={"cpu": ("float32",)},
        beam_search=False,
        temperature_fallback=False,
        condition_on_previous_text=False,
        thresholds=False,
        timestamps_off=False,
        translate=False,
        language_detection=False,
        max_new_tokens=False,
    )
    runtime_packages = SPEC.packages

    def _load(self, model: str, load_options: LoadOptions) -> None:
        self.multilingual = False  # no model to read; English-only like a .en model

    def _transcribe(self, samples: np.ndarray, options: DecodeOptions) -> RawResult:
        segments = [Segment(start, end, " " + word, (1 if word == "loud" else 2,))
                    for start, end, word in toy_words(samples)]
        return RawResult(segments=segments, language="en")


class ToyPrimitives(SyntheticPrimitives):
    """Synthetic timing without weights: the 'encoder' averages the features over time,
    each 'decoder' step is one small matrix product."""

    backend = "toy"
    method = "a loop of exactly N steps"
    needs_weights = False
    compute_types = ("float32",)
    mel_bins = None

    def prepare(self, inputs: Inputs) -> None:
        self.features = inputs.features
        self.state = np.zeros((len(inputs.features), inputs.features.shape[1]), dtype=np.float32)

    def encode(self) -> float:
        t0 = time.perf_counter()
        self.memory = self.features.mean(axis=2)
        return time.perf_counter() - t0

    def decode(self, n: int) -> tuple[float, list[int]]:
        t0 = time.perf_counter()
        steps = 0
        for _ in range(n):
            self.state = np.tanh(self.state + self.memory)
            steps += 1
        return time.perf_counter() - t0, [steps] * len(self.features)

    def generate(self, n: int) -> tuple[float, list[int]]:
        t0 = time.perf_counter()
        self.encode()
        _, lengths = self.decode(n)
        return time.perf_counter() - t0, lengths


@pytest.fixture
def toy():
    with backends.registered(SPEC):
        yield SPEC.name


# ----- it keeps the backend contract ------------------------------------------------------

def _contract_cases() -> list:
    """Every check in test_contract.py that runs over all registered backends (parametrized
    on `contract.NAMES`), with its other parameters expanded: (check, kwargs)."""
    cases = []
    for fname, check in inspect.getmembers(contract, inspect.isfunction):
        marks = [m for m in getattr(check, "pytestmark", []) if m.name == "parametrize"]
        if not fname.startswith("test_") or not any(m.args[0] == "name" and m.args[1] is contract.NAMES
                                                    for m in marks):
            continue
        axes = []
        for m in marks:
            if m.args[0] == "name":
                continue
            argnames = [a.strip() for a in m.args[0].split(",")]
            axes.append([dict(zip(argnames, v if len(argnames) > 1 else (v,))) for v in m.args[1]])
        for combo in itertools.product(*axes):
            kwargs = {k: v for part in combo for k, v in part.items()}
            cases.append(pytest.param(check, kwargs, id=f"{fname}-{'-'.join(map(str, kwargs.values()))}"))
    return cases


CONTRACT = _contract_cases()


def test_the_contract_checks_are_found():
    found = {c.values[0].__name__ for c in CONTRACT}
    assert {"test_transcribe_contract", "test_capabilities_are_complete", "test_bad_input_is_a_clear_error",
            "test_options_accepted_iff_capability"} <= found


@pytest.mark.parametrize("check,kwargs", CONTRACT)
def test_toy_keeps_the_contract(toy, check, kwargs, request):
    fixtures = {p: request.getfixturevalue(p) for p in inspect.signature(check).parameters
                if p not in kwargs and p != "name"}
    check(name=toy, **kwargs, **fixtures)


def test_registering_and_unregistering(toy):
    assert toy in backends.names() and backends.spec("toy-runtime") is SPEC
    assert backends.adapter_class(toy) is ToyBackend and backends.synthetic_class(toy) is ToyPrimitives
    other = backends.BackendSpec(name="toy2", target=SPEC.target, requires=(), extra=None, description="x")
    with backends.registered(other):
        assert "toy2" in backends.names()
    assert "toy2" not in backends.names()
    assert [s.name for s in backends.registry.added_specs()] == [toy]


# ----- transcribe: CLI and Python API -----------------------------------------------------

def test_python_api(toy, jfk):
    with backends.load("toy", "none") as b:
        res = b.transcribe(jfk, DecodeOptions(language="en"))
    assert res.backend == "toy" and res.text.split() == [w for _, _, w in toy_words(jfk)]
    assert 8 <= len(res.text.split()) <= 11, "jfk: 11 s, most of it speech"


def test_transcribe_cli(toy, short_sets, capsys):
    from whisperbench.cli.main import main

    path = short_sets["jfk"][0][0]
    assert main(["transcribe", "-b", "toy", "-m", "none", "--language", "en", "-f", "json", str(path)]) == 0
    out = json.loads(capsys.readouterr().out)
    doc = out[0] if isinstance(out, list) else out
    assert doc["backend"] == "toy" and set(doc["text"].split()) <= {"loud", "soft"} and doc["text"].strip()


def test_an_unregistered_toy_is_unknown(short_sets, capsys):
    from whisperbench.cli.main import main

    assert main(["transcribe", "-b", "toy", "-m", "none", str(short_sets["jfk"][0][0])]) == 2
    assert "unknown backend 'toy'" in capsys.readouterr().err


# ----- bench and synthetic: their cells run in child processes ----------------------------

def test_bench_runs_a_suite_on_it(toy, tmp_path, jfk):
    from whisperbench.bench.store import read_records
    from whisperbench.cli.main import main

    out = tmp_path / "toy.jsonl"
    assert main(["bench", "-b", "toy", "-m", "none", "-d", "jfk", "--language", "en", "-q", "--repeats", "1",
                 "-o", str(out)]) == 0
    rows = read_records(out, kinds=["measurement", "failure"])
    assert rows and all(r["status"] == "ok" for r in rows), rows
    assert rows[0]["hypothesis"].split() == [w for _, _, w in toy_words(jfk)]
    assert rows[0]["backend"] == "toy" and rows[0]["wer"] is not None


def test_synthetic_times_it(toy, tmp_path):
    from whisperbench.bench.synthetic import read_rows
    from whisperbench.cli.main import main

    out = tmp_path / "toy-synthetic.jsonl"
    assert main(["synthetic", "tiny", "-b", "toy", "--decode-tokens", "4", "--batch-size", "1", "2",
                 "--repeats", "1", "--warmups", "0", "-q", "-o", str(out)]) == 0
    rows = read_rows(out)
    assert [(r["backend"], r["status"], r["batch_size"]) for r in rows] == [("toy", "ok", 1), ("toy", "ok", 2)], rows
    assert [r["decoded_tokens"] for r in rows] == [[4], [4, 4]]
    assert all(r["encoder_seconds"] > 0 and r["decoder_seconds"] > 0 for r in rows)
