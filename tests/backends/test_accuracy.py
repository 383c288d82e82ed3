"""tiny.en converted to each runtime's format transcribes real speech about as well
everywhere: short-form WER within 2 points (absolute) of the CTranslate2 backend, the
~53 s sonnets with `sequential` and `chunked`, identical greedy `jfk` transcripts after
normalization across all four runtimes."""

from __future__ import annotations

import pytest

from tests.conftest import corpus_wer
from whisperbench.audio import load_audio
from whisperbench.options import DecodeOptions
from whisperbench.text import normalize

FOUR = ["ctranslate2", "transformers", "openai", "whispercpp"]
GREEDY = DecodeOptions(language="en")  # short-form, greedy, timestamps on: the defaults


@pytest.fixture(scope="module")
def short_audio(short_sets):
    return {name: [(load_audio(p), ref) for p, ref in items] for name, items in short_sets.items()}


@pytest.fixture(scope="module")
def short_results(load_backend, short_audio):
    """backend -> {set: [hypothesis, ...]}, computed once per backend."""
    cache: dict = {}

    def get(name):
        if name not in cache:
            backend = load_backend(name)
            cache[name] = {s: [backend.transcribe(a, GREEDY).text for a, _ in items] for s, items in short_audio.items()}
        return cache[name]

    return get


def _pooled(short_audio, hyps):
    refs = [ref for s in short_audio for _, ref in short_audio[s]]
    return corpus_wer(refs, [h for s in short_audio for h in hyps[s]])


@pytest.mark.slow
@pytest.mark.parametrize("name", [n for n in FOUR if n != "ctranslate2"])
def test_short_form_wer_within_2_points_of_ctranslate2(name, short_results, short_audio):
    pytest.importorskip("jiwer")
    ref_hyps, hyps = short_results("ctranslate2"), short_results(name)
    base, got = _pooled(short_audio, ref_hyps), _pooled(short_audio, hyps)
    per_set = {
        s: (round(100 * corpus_wer([r for _, r in short_audio[s]], ref_hyps[s]), 2),
            round(100 * corpus_wer([r for _, r in short_audio[s]], hyps[s]), 2))
        for s in short_audio
    }
    print(f"\nshort-form WER %: ctranslate2 {100 * base:.2f}, {name} {100 * got:.2f}; per set (ct2, {name}): {per_set}")
    assert base < 0.15, f"the CTranslate2 baseline itself is off: {base:.3f}"
    assert abs(got - base) <= 0.02, f"{name} WER {got:.4f} vs ctranslate2 {base:.4f}"


@pytest.mark.slow
def test_jfk_greedy_transcripts_agree_across_runtimes(short_results):
    texts = {name: normalize(short_results(name)["jfk"][0]) for name in FOUR}
    print("\n" + "\n".join(f"{k}: {v}" for k, v in texts.items()))
    assert len(set(texts.values())) == 1, texts
    assert "ask not what your country can do for you" in texts["ctranslate2"]


@pytest.mark.slow
@pytest.mark.parametrize("algorithm", ["sequential", "chunked"])
@pytest.mark.parametrize("name", FOUR)
def test_sonnet_long_form(name, algorithm, load_backend, sonnet, sonnets):
    pytest.importorskip("jiwer")
    samples, ref = sonnet, sonnets[0][1]
    duration = len(samples) / 16000
    assert duration > 45
    backend = load_backend(name)
    res = backend.transcribe(samples, DecodeOptions(algorithm=algorithm, language="en"))
    score = corpus_wer([ref], [res.text])
    print(f"\n{name} {algorithm} ({res.implementation}): WER {100 * score:.1f} %, "
          f"{len(res.segments)} segments, RTFx {res.timing.rtfx:.1f}")
    assert res.segments[-1].end > duration - 10, "the transcript reaches the end of the audio"
    assert res.segments[0].start < 10
    assert all(0 <= s.start <= s.end <= duration + 1e-6 for s in res.segments)
    bound = 0.25 if algorithm == "sequential" else 0.35  # chunk borders cost words (ct2: VAD chunks)
    assert score < bound, f"{name} {algorithm}: WER {score:.3f}\n{res.text}"
