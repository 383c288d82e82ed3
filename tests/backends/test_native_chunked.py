"""Chunked long-form in the runtimes' own implementations and their named variants
(issue 12): faster-whisper's batched pipeline loses nothing at chunk ends, the variants
run and name themselves, batching over chunks changes no text, and runtimes that cannot
batch refuse it."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from whisperbench import backends
from whisperbench.audio import load_audio
from whisperbench.bench.datasets import DatasetSpec, LongformSpec, load
from whisperbench.bench.metrics import accuracy
from whisperbench.errors import UnsupportedOptionError
from whisperbench.options import DecodeOptions, LoadOptions

TARGET_POINTS = 1.5  # issue 12: chunked WER <= sequential WER + 1.5 points

TB = 50364  # tiny.en's first timestamp token
EOT = 50256


@pytest.fixture(scope="module")
def sonnets_join(speech):
    """The three sonnets as one continuous 158 s item (no gaps), as `--longform-seconds 170` builds it."""
    spec = DatasetSpec("sonnets", "manifest", str(speech / "sonnets" / "manifest.jsonl"),
                       longform=LongformSpec(target_seconds=170, gap_seconds=0))
    (item,) = load(spec).utterances
    return item.load(), item.reference


@pytest.fixture(scope="module")
def decoded_join(load_backend, sonnets_join):
    """decoded_join(options) -> CTranslate2 (int8) on the joined sonnets; each options decoded
    once per module (several tests read the same 158 s decode)."""
    audio, _ = sonnets_join
    b = load_backend("ctranslate2", compute_type="int8")
    cache: dict[DecodeOptions, object] = {}

    def get(options: DecodeOptions):
        if options not in cache:
            cache[options] = b.transcribe(audio, options)
        return cache[options]

    return get


# ----- the faster-whisper resume rule, against faster-whisper's own splitter -----------

tokens_strategy = st.lists(
    st.one_of(st.integers(0, 1000), st.integers(TB, TB + 1500)), min_size=0, max_size=30
)


@given(tokens_strategy)
@settings(max_examples=300, deadline=None)
def test_resume_time_is_faster_whispers_seek(tokens):
    """`resume_time` is where WhisperModel._split_segments_by_timestamps (the sequential
    splitter the batched pipeline reuses) would seek to; None when it would finish the window."""
    pytest.importorskip("faster_whisper")
    from faster_whisper.transcribe import WhisperModel

    from whisperbench.backends.ctranslate2.adapter import resume_time

    model = SimpleNamespace(time_precision=0.02, input_stride=2)
    tok = SimpleNamespace(timestamp_begin=TB)
    segment_size = 3000
    _, seek, _ = WhisperModel._split_segments_by_timestamps(
        model, tok, tokens, time_offset=0.0, segment_size=segment_size, segment_duration=30.0, seek=0
    )
    t = resume_time(tokens, TB)
    if t is None:
        assert seek == segment_size
    else:
        assert seek == round(t / 0.02) * 2  # faster-whisper counts mel frames (10 ms)


# ----- ctranslate2: the default call on continuous speech ---------------------------

@pytest.mark.slow
@pytest.mark.parametrize("timestamps", [True, False])
def test_ctranslate2_chunked_default_within_target_of_sequential(decoded_join, sonnets_join, timestamps):
    audio, reference = sonnets_join
    seq = accuracy(reference, decoded_join(DecodeOptions(algorithm="sequential", language="en")).text)
    res = decoded_join(DecodeOptions(algorithm="chunked", language="en", timestamps=timestamps))
    chunked = accuracy(reference, res.text)
    assert res.implementation.startswith("faster_whisper.BatchedInferencePipeline (Silero VAD")
    assert chunked.wer <= seq.wer + TARGET_POINTS / 100, (
        f"chunked WER {chunked.wer:.3f} (D {chunked.deletions}) vs sequential {seq.wer:.3f}"
    )
    assert res.extra["window_boundaries"], "a 158 s input is cut into several chunks"
    if timestamps:
        # The chunks whose model output said "continue from here" were decoded to their end.
        assert res.extra["chunk_ends_redecoded"] >= 1
        starts = [s.start for s in res.segments]
        assert starts == sorted(starts) and res.segments[-1].end <= len(audio) / 16000 + 1e-6


@pytest.mark.slow
def test_ctranslate2_word_timestamps_cover_redecoded_chunk_ends(decoded_join):
    plain = decoded_join(DecodeOptions(algorithm="chunked", language="en"))
    res = decoded_join(DecodeOptions(algorithm="chunked", language="en", word_timestamps=True))
    assert res.text == plain.text
    assert all(s.words for s in res.segments if s.text.strip())


# ----- variants: each runs and names itself ---------------------------------------

VARIANTS = [
    ("ctranslate2", "vad", "faster_whisper.BatchedInferencePipeline (Silero VAD"),
    ("ctranslate2", "fixed", "faster_whisper.BatchedInferencePipeline (contiguous"),
    ("ctranslate2", "whisperbench", "whisperbench.chunking"),
    ("transformers", "pipeline", "transformers.AutomaticSpeechRecognitionPipeline"),
    ("transformers", "whisperbench", "whisperbench.chunking"),
]


@pytest.mark.slow
@pytest.mark.parametrize("name,variant,prefix", VARIANTS, ids=[f"{n}-{v}" for n, v, _ in VARIANTS])
def test_chunked_variants_run_and_name_themselves(load_backend, sonnets, name, variant, prefix):
    path, reference = sonnets[0]  # 53 s: two or three chunks
    b = load_backend(name, compute_type="int8" if name == "ctranslate2" else "default", extra={"chunking": variant})
    res = b.transcribe(load_audio(path), DecodeOptions(algorithm="chunked", language="en"))
    assert res.implementation.startswith(prefix)
    assert b.capabilities.algorithms["chunked"] == res.implementation  # what a suite row records
    assert accuracy(reference, res.text).wer < 0.3
    assert res.extra["window_boundaries"]


@pytest.mark.parametrize("name", ["ctranslate2", "transformers"])
def test_unknown_chunking_variant_is_refused(name):
    with pytest.raises(UnsupportedOptionError, match="chunking"):
        backends.get(name)("fixture:tiny.en", LoadOptions(extra={"chunking": "nope"}))


# ----- batching over chunks ---------------------------------------------------------

BATCHED = [("ctranslate2", "vad"), ("ctranslate2", "whisperbench"), ("transformers", "pipeline"),
           ("transformers", "whisperbench")]


@pytest.mark.slow
@pytest.mark.parametrize("name,variant", BATCHED, ids=[f"{n}-{v}" for n, v in BATCHED])
def test_batch_size_changes_no_text(load_backend, sonnets, name, variant):
    path, _ = sonnets[1]
    audio = load_audio(path)
    b = load_backend(name, compute_type="int8" if name == "ctranslate2" else "default", extra={"chunking": variant})
    one = b.transcribe(audio, DecodeOptions(algorithm="chunked", language="en", batch_size=1))
    four = b.transcribe(audio, DecodeOptions(algorithm="chunked", language="en", batch_size=4))
    assert four.text == one.text
    assert four.options.batch_size == 4


@pytest.mark.parametrize("name", ["whispercpp", "transformersjs"])
def test_batch_size_refused_where_the_runtime_cannot_batch(name):
    cls = backends.adapter_class(name)
    with pytest.raises(UnsupportedOptionError, match="batch_size=4"):
        cls.check_options(DecodeOptions(algorithm="chunked", language="en", batch_size=4))
