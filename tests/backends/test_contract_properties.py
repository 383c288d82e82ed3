"""Property-based contract (issue 14): over random DecodeOptions and LoadOptions, every
registered backend either returns a Transcription or raises UnsupportedOptionError /
WhisperbenchError -- never another exception -- and never returns empty text on the jfk
clip for a combination it accepted.

Real runtimes run on tiny.en with the models cached per (backend, load options) for the
session (conftest's load_backend); 15 examples each, marked slow. The dummy
backend, which loads nothing, takes many more examples for breadth over the options."""

from __future__ import annotations

import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from whisperbench import backends
from whisperbench.errors import UnsupportedOptionError, WhisperbenchError
from whisperbench.options import DecodeOptions, LoadOptions
from whisperbench.results import Transcription

REAL = [n for n in backends.names() if n != "dummy"]
# Increasing fallback schedules that start greedy (a first pass at T > 0 may legitimately
# sample end-of-text at once), evenly spaced or not.
TEMPERATURES = [(0.0,), (0.0, 0.2, 0.4, 0.6, 0.8, 1.0), (0.0, 0.5, 1.0), (0.0, 0.4), (0.0, 0.3, 0.9)]


def rarely():
    """True about one time in eight."""
    return st.integers(0, 7).map(lambda i: i == 7)


def decoders():
    """beam_size / best_of: 1 half the time, else 2-5, now and then 6-12 (slow, and past
    whisper.cpp's pool of 8)."""
    return st.integers(0, 7).flatmap(
        lambda i: st.just(1) if i < 4 else st.integers(6, 12) if i == 7 else st.integers(2, 5))


# Invalid on purpose (DecodeOptions itself refuses these, for every backend).
BROKEN = [dict(batch_size=2, algorithm="short"), dict(word_timestamps=True, timestamps=False),
          dict(max_new_tokens=300), dict(chunk_length_s=45.0), dict(temperatures=(0.6, 0.2)),
          dict(initial_prompt=" "), dict(initial_prompt="<|fr|>")]
# Prompts that set a context without the clip's own words (a prompt holding the words can
# lead the model to think they were said already).
PROMPTS = ["President Kennedy's inaugural address, 1961.", "A speech, transcribed with punctuation."]


@st.composite
def decode_options(draw) -> dict:
    """Keyword arguments for DecodeOptions. Each setting a backend may refuse is off its
    default about one time in eight, so that many combinations pass; one in eight is
    invalid on purpose."""
    algorithm = draw(st.sampled_from(["short", "sequential", "chunked"]))
    timestamps = not draw(rarely())
    kw = dict(
        algorithm=algorithm,
        language=draw(st.sampled_from([None, "en", "fr"])) if draw(rarely()) else None,
        task="translate" if draw(rarely()) else "transcribe",
        beam_size=draw(decoders()),
        best_of=draw(decoders()),
        temperatures=draw(st.sampled_from(TEMPERATURES)) if draw(rarely()) else (0.0,),
        condition_on_previous_text=draw(rarely()),
        # (stricter thresholds would mostly buy slow fallback passes on this clean clip)
        compression_ratio_threshold=draw(st.sampled_from([None, 2.4])),
        logprob_threshold=draw(st.sampled_from([None, -1.0])),
        no_speech_threshold=draw(st.sampled_from([None, 0.6, 0.9])),
        timestamps=timestamps,
        word_timestamps=timestamps and draw(rarely()),
        max_new_tokens=draw(st.sampled_from([5, 100, 224])) if draw(rarely()) else None,
        chunk_length_s=draw(st.sampled_from([30.0, 15.0, 8.0])),
        batch_size=draw(st.integers(2, 4)) if algorithm == "chunked" and draw(rarely()) else 1,
        initial_prompt=draw(st.sampled_from(PROMPTS)) if draw(rarely()) else None,
    )
    if draw(rarely()):
        kw.update(draw(st.sampled_from(BROKEN)))
    return kw


def load_options(name: str):
    """LoadOptions over the backend's CPU compute types (two at most, to bound the model
    loads; threads fixed for the same reason), plus, now and then, values it must refuse
    (an unknown compute type or extra option)."""
    types = list(backends.adapter_class(name).capabilities.compute_types["cpu"])[:2]
    return st.builds(
        dict,
        compute_type=rarely().flatmap(lambda bad: st.just("int3") if bad else st.sampled_from(["default", *types])),
        threads=st.just(0),
        extra=rarely().map(lambda bad: {"no_such_option": 1} if bad else {}),
    )


def check_contract(name: str, load_kwargs: dict, decode_kwargs: dict, get_backend, samples, stats: dict) -> None:
    try:
        options = DecodeOptions(**decode_kwargs)
    except WhisperbenchError:
        stats["invalid options"] += 1  # rejected by DecodeOptions itself, for every backend alike
        return
    cls = backends.adapter_class(name)
    try:
        resolved = cls.resolve_load_options(LoadOptions(**load_kwargs))
        backend = get_backend(name, compute_type=resolved.compute_type, threads=resolved.threads,
                              extra=dict(resolved.extra))
        result = backend.transcribe(samples, options)
    except (UnsupportedOptionError, WhisperbenchError) as exc:
        assert str(exc).strip() and "\n" not in str(exc).strip(), f"not one clear line: {exc!r}"
        stats["refused"] += 1
        return
    except Exception as exc:  # the property: nothing else escapes
        pytest.fail(f"{name} raised {type(exc).__name__}: {exc}\n  load {load_kwargs}\n  options {options}")
    assert isinstance(result, Transcription)
    assert result.text.strip(), f"{name} accepted {options} (load {load_kwargs}) and returned empty text"
    stats["transcribed"] += 1


def _run_property(name, get_backend, jfk, examples: int) -> dict:
    stats = {"invalid options": 0, "refused": 0, "transcribed": 0}

    @settings(max_examples=examples, deadline=None, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
    @given(load_kwargs=load_options(name), decode_kwargs=decode_options())
    def prop(load_kwargs, decode_kwargs):
        check_contract(name, load_kwargs, decode_kwargs, get_backend, jfk, stats)

    t0 = time.perf_counter()
    prop()
    print(f"{name}: {sum(stats.values())} examples in {time.perf_counter() - t0:.0f} s: {stats}")
    return stats


@pytest.mark.slow
@pytest.mark.parametrize("name", REAL)
def test_real_backends_keep_the_contract(name, load_backend, jfk):
    stats = _run_property(name, lambda n, **lo: load_backend(n, **lo), jfk, examples=15)
    assert stats["transcribed"] > 0, "no example reached a transcription"


def test_dummy_keeps_the_contract_over_many_combinations(jfk):
    cache: dict = {}

    def get(name, **lo):
        key = repr(sorted(lo.items()))
        if key not in cache:
            cache[key] = backends.get(name)("none", LoadOptions(**lo))
        return cache[key]

    stats = _run_property("dummy", get, jfk, examples=400)
    assert stats["transcribed"] > 100 and stats["refused"] > 50
