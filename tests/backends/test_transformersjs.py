"""Transformers.js backend (issue 7): tiny.en exported to ONNX (optimum-onnx), run by the
Node.js worker; WER against the CTranslate2 backend, chunked long-form, worker crash and
timeout handling, the export itself (layout, precisions, cross-attention outputs, token
agreement), word timestamps refused with the reason on graphs that cannot time words (their
accuracy: test_word_timestamps.py; language detection: test_languages.py).

Nothing here skips in CI: scripts/setup.sh installs the Node packages and the exporter."""

from __future__ import annotations

import json
import os
import threading
import time

import pytest

from whisperbench import backends
from whisperbench.errors import ModelError, UnsupportedOptionError
from whisperbench.options import DecodeOptions

pytestmark = pytest.mark.slow


def _errors(backend, items, options) -> tuple[int, int]:
    from whisperbench.bench.metrics import accuracy

    errors = words = 0
    for path, ref in items:
        acc = accuracy(ref, backend.transcribe(path, options).text)
        errors += acc.substitutions + acc.deletions + acc.insertions
        words += acc.ref_words
    return errors, words


@pytest.fixture(scope="module")
def tjs(load_backend):
    return load_backend("transformersjs")  # float32: the fp32 graphs


@pytest.fixture(scope="module")
def onnx_dir():
    from whisperbench.conversion import ensure_format

    return ensure_format("fixture:tiny.en", "onnx", "int8")


def test_registered_with_node_check():
    s = backends.spec("transformers.js")
    assert s.name == "transformersjs" and s.check
    assert backends.missing_modules("transformersjs") == [], "setup.sh installs node_modules"
    assert backends.adapter_class("transformersjs").capabilities.model_format == "onnx"


def test_export_layout_and_metadata(onnx_dir):
    from whisperbench.conversion import onnx_format
    from whisperbench.conversion.formats import detect_format

    assert detect_format(onnx_dir) == "onnx"
    for f in onnx_format.REQUIRED_FILES:
        assert (onnx_dir / f).exists(), f
    assert onnx_format.precisions(onnx_dir) == ["fp32", "int8"]
    for g in onnx_format.GRAPHS:
        assert (onnx_dir / "onnx" / f"{g}.onnx").exists() and (onnx_dir / "onnx" / f"{g}_quantized.onnx").exists()
    meta = onnx_format.read_metadata(onnx_dir)
    assert meta["exporter"]["versions"]["optimum-onnx"] and meta["exporter"]["task"] == onnx_format.EXPORT_TASK
    assert meta["precisions"]["fp32"]["transformersjs_dtype"] == "fp32"
    assert meta["precisions"]["int8"]["transformersjs_dtype"] == "q8"
    assert meta["precisions"]["int8"]["method"] == "onnxruntime.quantization.quantize_dynamic"
    # Word timestamps: every decoder layer's cross-attentions are outputs of both decoders, and
    # the alignment heads are in the generation config Transformers.js reads.
    import onnx

    layers = json.loads((onnx_dir / "config.json").read_text())["decoder_layers"]
    for p in ("fp32", "int8"):
        graph = onnx.load(onnx_format.graph_path(onnx_dir, "decoder_model_merged", p), load_external_data=False).graph
        assert [o.name for o in graph.output if o.name.startswith("cross_attentions")] == \
            [f"cross_attentions.{i}" for i in range(layers)], p
    heads = json.loads((onnx_dir / "generation_config.json").read_text())["alignment_heads"]
    assert heads and meta["alignment_heads"] == heads and meta["decoder_outputs"] == {"cross_attentions": True}
    # Quantized graphs are smaller.
    assert onnx_format.graph_path(onnx_dir, "encoder_model", "int8").stat().st_size < \
        onnx_format.graph_path(onnx_dir, "encoder_model", "fp32").stat().st_size / 2


def test_export_matches_transformers_tokens(onnx_dir, short_sets):
    from whisperbench.conversion import ensure_format, onnx_format

    ref = ensure_format("fixture:tiny.en", "transformers")
    jfk = short_sets["jfk"][0][0]
    reports = onnx_format.verify(onnx_dir, ref, jfk, ["fp32", "int8"], max_new_tokens=40)
    fp32, int8 = reports["fp32"], reports["int8"]
    assert fp32["identical"], (fp32["reference_text"], fp32["onnx_text"])
    assert int8["agreement"] >= 0.9, (int8["reference_text"], int8["onnx_text"])


def test_short_form_wer_within_2_points_of_ctranslate2(tjs, load_backend, short_sets):
    """Over the short-form sets together (WER within 2 points), and per set within 2 points
    or 2 word errors (librivox has 71 words: one word is 1.4 points)."""
    ct2 = load_backend("ctranslate2")
    options = DecodeOptions(language="en")
    totals = {"tjs": [0, 0], "ct2": [0, 0]}
    for name, items in short_sets.items():
        e_tjs, words = _errors(tjs, items, options)
        e_ct2, _ = _errors(ct2, items, options)
        totals["tjs"][0] += e_tjs
        totals["ct2"][0] += e_ct2
        totals["tjs"][1] += words
        totals["ct2"][1] += words
        w_tjs, w_ct2 = 100 * e_tjs / words, 100 * e_ct2 / words
        print(f"{name}: transformersjs {w_tjs:.2f} % vs ctranslate2 {w_ct2:.2f} % WER ({words} words)")
        assert abs(w_tjs - w_ct2) <= 2.0 or abs(e_tjs - e_ct2) <= 2, f"{name}: {w_tjs:.2f} vs {w_ct2:.2f}"
    w_tjs, w_ct2 = (100 * e / n for e, n in (totals["tjs"], totals["ct2"]))
    print(f"all short-form: transformersjs {w_tjs:.2f} % vs ctranslate2 {w_ct2:.2f} % WER")
    assert abs(w_tjs - w_ct2) <= 2.0


def test_result_facts_and_timestamps(tjs, short_sets):
    res = tjs.transcribe(short_sets["jfk"][0][0], DecodeOptions(language="en"))
    assert "ask not what your country can do for you" in res.text.lower()
    assert len(res.segments) >= 2 and res.segments[0].start == 0.0
    assert all(s.end > s.start for s in res.segments)
    assert 0 < res.extra["worker_seconds"] <= res.timing.decode_seconds
    assert res.extra["worker_peak_rss_mb"] > 50
    assert res.timing.tokens_generated > 15
    no_ts = tjs.transcribe(short_sets["jfk"][0][0], DecodeOptions(language="en", timestamps=False))
    assert len(no_ts.segments) == 1 and "your country" in no_ts.text


def test_chunked_on_a_sonnet(tjs, sonnets):
    from whisperbench.bench.metrics import accuracy

    path, ref = sonnets[0]
    options = DecodeOptions(algorithm="chunked", language="en", chunk_length_s=30.0)
    res = tjs.transcribe(path, options)
    assert res.extra["chunk_length_s"] == 30.0 and res.extra["stride_length_s"] == 5.0
    assert res.implementation.startswith("transformers.js AutomaticSpeechRecognitionPipeline (chunk_length_s")
    wer = accuracy(ref, res.text).wer
    assert wer < 0.25, (wer, res.text)
    starts = [s.start for s in res.segments]
    assert starts == sorted(starts) and res.segments[-1].end > 45.0, "covers the whole ~53 s"


def test_sequential_on_a_sonnet_covers_it(tjs, sonnets):
    from whisperbench.bench.metrics import accuracy

    path, ref = sonnets[1]
    res = tjs.transcribe(path, DecodeOptions(algorithm="sequential", language="en"))
    assert res.extra["worker_calls"] >= 2
    assert accuracy(ref, res.text).wer < 0.25, res.text


def test_unsupported_options_are_clear(tjs, short_sets):
    jfk = short_sets["jfk"][0][0]
    for opts, word in [
        (dict(beam_size=5), "beam_size"),
        (dict(algorithm="sequential", temperatures=(0.0, 0.2)), "temperatures"),
        (dict(algorithm="sequential", condition_on_previous_text=True), "condition_on_previous_text"),
        (dict(algorithm="chunked", batch_size=4), "batch_size"),
    ]:
        with pytest.raises(UnsupportedOptionError, match=word):
            tjs.transcribe(jfk, DecodeOptions(**{"language": "en", **opts}))


def test_missing_precision_and_model_are_model_errors(tmp_path, onnx_dir):
    with pytest.raises(ModelError, match="not found"):
        backends.get("transformersjs")("/nonexistent/model.bin")
    # An exported folder with fp32 graphs only cannot run int8.
    partial = tmp_path / "m"
    partial.mkdir()
    for f in onnx_dir.iterdir():
        if f.is_file():
            os.symlink(f, partial / f.name)
    (partial / "onnx").mkdir()
    for g in ("encoder_model", "decoder_model_merged"):
        os.symlink(onnx_dir / "onnx" / f"{g}.onnx", partial / "onnx" / f"{g}.onnx")
    with pytest.raises(ModelError, match="no int8 ONNX graphs"):
        backends.load("transformersjs", str(partial), compute_type="int8")


def test_word_timestamps_refused_with_the_reason_when_the_graphs_cannot_time_words(tmp_path, onnx_dir, short_sets):
    """An ONNX folder whose decoder outputs no cross-attentions (an export without
    output_attentions), or whose generation config has no alignment heads, refuses
    word_timestamps in one line saying which; it still transcribes."""
    import onnx

    def folder(name, decoder_outputs_attentions: bool, heads: bool):
        d = tmp_path / name
        (d / "onnx").mkdir(parents=True)
        for f in onnx_dir.iterdir():
            if f.is_file() and f.name != "generation_config.json":
                os.symlink(f, d / f.name)
        gen = json.loads((onnx_dir / "generation_config.json").read_text())
        if not heads:
            del gen["alignment_heads"]
        (d / "generation_config.json").write_text(json.dumps(gen))
        os.symlink(onnx_dir / "onnx" / "encoder_model.onnx", d / "onnx" / "encoder_model.onnx")
        decoder = onnx_dir / "onnx" / "decoder_model_merged.onnx"
        if decoder_outputs_attentions:
            os.symlink(decoder, d / "onnx" / decoder.name)
        else:
            model = onnx.load(decoder)
            kept = [o for o in model.graph.output if not o.name.startswith("cross_attentions")]
            del model.graph.output[:]
            model.graph.output.extend(kept)
            onnx.save(model, d / "onnx" / decoder.name)
        return d

    jfk = short_sets["jfk"][0][0]
    for d, why in [(folder("no-attentions", False, True), "outputs no cross-attentions"),
                   (folder("no-heads", True, False), "no alignment_heads")]:
        b = backends.load("transformersjs", str(d))
        try:
            with pytest.raises(UnsupportedOptionError, match=f"word_timestamps=True .*{why}"):
                b.transcribe(jfk, DecodeOptions(language="en", word_timestamps=True))
            assert "your country" in b.transcribe(jfk, DecodeOptions(language="en")).text
        finally:
            b.close()


# ----- the worker process: crash, timeout, restart -------------------------------------------
@pytest.fixture(scope="module")
def fragile(onnx_dir):
    """A backend of its own (tests kill its worker), short timeout."""
    b = backends.load("transformersjs", str(onnx_dir), compute_type="int8", extra={"timeout_s": 20})
    yield b
    b.close()


def test_int8_precision(fragile, short_sets):
    assert fragile.describe()["transformersjs_dtype"] == "q8"
    assert "your country" in fragile.transcribe(short_sets["jfk"][0][0], DecodeOptions(language="en")).text


def test_worker_exit_mid_request_is_a_clear_error_then_restarts(fragile, short_sets):
    from whisperbench.backends.transformersjs.worker import TransformersJsWorkerError

    pid = fragile.worker.pid
    t0 = time.monotonic()
    with pytest.raises(TransformersJsWorkerError, match=r"died during the crash \(exit status 70\)"):
        fragile._request({"op": "crash", "code": 70})
    assert time.monotonic() - t0 < 10, "a dead worker is noticed at once, not at the timeout"
    res = fragile.transcribe(short_sets["jfk"][0][0], DecodeOptions(language="en"))
    assert "your country" in res.text
    assert fragile.worker.pid != pid and res.extra["worker_restarts"] == 1


def test_worker_killed_during_transcription(fragile, sonnets):
    """SIGKILL from outside while a long request runs: the call fails fast with the signal."""
    from whisperbench.backends.transformersjs.worker import TransformersJsWorkerError

    fragile._request({"op": "ping"})
    pid = fragile.worker.pid

    def kill_soon():
        time.sleep(1.0)
        os.kill(pid, 9)

    threading.Thread(target=kill_soon, daemon=True).start()
    t0 = time.monotonic()
    with pytest.raises(TransformersJsWorkerError, match="killed by signal 9"):
        fragile.transcribe(sonnets[0][0], DecodeOptions(algorithm="chunked", language="en"))
    assert time.monotonic() - t0 < 15
    assert fragile.worker is None, "the dead worker is dropped; the next request starts one"


def test_worker_that_hangs_times_out_and_is_killed(fragile):
    from whisperbench.backends.transformersjs.worker import TransformersJsWorkerError

    fragile._request({"op": "ping"})
    proc = fragile.worker.proc
    t0 = time.monotonic()
    with pytest.raises(TransformersJsWorkerError, match=r"did not answer the hang within 1\.5 s; it was killed"):
        fragile._request({"op": "hang"}, timeout_s=1.5)
    assert 1.4 < time.monotonic() - t0 < 8
    assert proc.poll() is not None, "the hung worker was killed"
    assert fragile._request({"op": "ping"})["ok"], "a fresh worker answers"


def test_worker_protocol_errors_are_reported(fragile):
    from whisperbench.backends.transformersjs.worker import TransformersJsWorkerError

    with pytest.raises(TransformersJsWorkerError, match="unknown op"):
        fragile._request({"op": "nonsense"})
    with pytest.raises(TransformersJsWorkerError, match="no such file|ENOENT"):
        fragile._request({"op": "transcribe", "audio_path": "/nonexistent.f32", "options": {}})
    assert fragile.worker.alive, "a failed request leaves the worker serving"


def test_close_ends_the_worker(onnx_dir):
    b = backends.load("transformersjs", str(onnx_dir), compute_type="int8")
    proc = b.worker.proc
    b.close()
    assert proc.poll() is not None


def test_setup_lockfile_pins_transformers_js_v3():
    from whisperbench.backends.transformersjs.worker import NODE_DIR

    lock = json.loads((NODE_DIR / "package-lock.json").read_text())
    assert lock["packages"]["node_modules/@huggingface/transformers"]["version"].startswith("3.")
    assert "node_modules/onnxruntime-node" in lock["packages"]
