"""Architecture timing with random weights (whisperbench.bench.synthetic), CPU only.

Sizes stay small: real tiny and base dimensions, 16 decoded tokens, batch 1 (and 2 for
tiny), one thread per runtime (this CI machine is a busy 2-core box), one repeat.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from whisperbench import backends
from whisperbench.backends.synthetic_base import make_inputs
from whisperbench.backends.synthetic_base import prompt as decoder_prompt
from whisperbench.backends.whispercpp.synthetic import DECODER_TIMINGS
from whisperbench.bench import architectures, roofline, synthetic
from whisperbench.bench.architectures import Architecture, ArchitectureError
from whisperbench.conversion.checkpoint import Dims

N = 16
INSTALLED = [b for b in synthetic.default_backends() if backends.is_installed(b)]
# A 64-wide, 2+2-layer Whisper: the cheapest shape every runtime loads.
MICRO = Architecture("micro", Dims(n_mels=80, n_audio_ctx=1500, n_audio_state=64, n_audio_head=2, n_audio_layer=2,
                                   n_vocab=51865, n_text_ctx=448, n_text_state=64, n_text_head=2, n_text_layer=2))

pytestmark = pytest.mark.skipif(not INSTALLED, reason="no Whisper runtime installed")


@pytest.fixture(scope="module")
def tiny_base(tmp_path_factory):
    out = tmp_path_factory.mktemp("synthetic") / "synthetic.jsonl"
    rows = synthetic.run(["tiny", "base"], INSTALLED, batch_sizes=(1,), decode_tokens=N, repeats=1, warmups=1,
                         threads=1, output=out)
    rows += synthetic.run(["tiny"], INSTALLED, batch_sizes=(2,), decode_tokens=N, repeats=1, warmups=1,
                          threads=1, output=out)
    return rows, out


def _row(rows, arch, backend, batch):
    (r,) = [r for r in rows if r["architecture"] == arch and r["backend"] == backend and r["batch_size"] == batch]
    return r


def test_real_dimensions():
    get = architectures.get
    assert get("large-v3").dims.n_mels == 128 and get("large-v3").dims.n_vocab == 51866
    assert get("large-v2").dims.n_mels == 80 and get("tiny.en").dims.n_vocab == 51864
    assert get("distil-large-v3").dims.n_text_layer == 2 and get("distil-large-v3").dims.n_audio_layer == 32
    assert get("large-v3-turbo").dims.n_text_layer == 4 and get("turbo") == get("large-v3-turbo")
    assert get("distil-large-v2").dims.n_mels == 80
    for name, millions in (("tiny", 39), ("base", 74), ("small", 244), ("medium", 769), ("large-v3", 1550),
                           ("distil-large-v3", 756), ("large-v3-turbo", 809)):
        assert abs(get(name).parameter_count() / 1e6 - millions) / millions < 0.05, name
    with pytest.raises(ArchitectureError, match="unknown architecture"):
        get("huge")


@pytest.mark.slow
def test_tiny_and_base_time_in_every_installed_backend(tiny_base):
    rows, _ = tiny_base
    for backend in INSTALLED:
        for arch in ("tiny", "base"):
            r = _row(rows, arch, backend, 1)
            assert r["status"] == "ok", r.get("error")
            # The runtime's own output says how many tokens it decoded.
            assert r["decoded_tokens"] == [N], (backend, arch, r["decoded_tokens"])
            # Encoder and total are separate timed runs (one repeat here): on a loaded CPU the
            # encoder run alone can take longer than the total run, so they are not compared.
            assert r["encoder_seconds"] > 0 and r["total_seconds"] > 0
            assert r["total_minus_encoder_seconds"] == pytest.approx(r["total_seconds"] - r["encoder_seconds"])
            assert r["per_token_seconds"] > 0 and r["peak_rss_mb"] > 0
            # The decoder is timed on its own (from the kept encoder output, or whisper.cpp's
            # own timings), once per repeat, and is part of the end-to-end total.
            assert len(r["decoder_seconds_all"]) == 1 and 0 < r["decoder_seconds"] < r["total_seconds"]
            assert r["per_token_seconds"] == pytest.approx(r["decoder_seconds"] / N)
            if backend == "whispercpp":
                assert set(DECODER_TIMINGS) <= set(r["whispercpp_timings"])
                assert r["whispercpp_timings"]["encode"] > 0 and "timings" in r["decoder_method"]
            else:
                assert r["decoder_method"] == "generate from the kept encoder output"
            assert r["bound_per_token_s"] > 0 and r["roofline_ratio"] > 0
            assert r["record"] == "synthetic" and r["dataset"] == "synthetic"
        r2 = _row(rows, "tiny", backend, 2)
        if backend == "whispercpp":
            assert r2["status"] == "skipped" and "batch" in r2["error"]
        else:
            assert r2["status"] == "ok", r2.get("error")
            assert r2["decoded_tokens"] == [N, N]


@pytest.mark.slow
def test_relative_latency_table_and_store(tiny_base):
    rows, out = tiny_base
    rel = synthetic.relative_latency(rows)
    ok_backends = [b for b in INSTALLED if _row(rows, "base", b, 1)["status"] == "ok"]
    assert sorted((r["backend"], r["batch_size"], r["reference"], r["architecture"]) for r in rel) == sorted(
        (b, 1, "tiny", "base") for b in ok_backends
    )
    for r in rel:
        assert r["relative_latency"] == pytest.approx(r["reference_total_s"] / r["total_s"])
    reverse = synthetic.relative_latency(rows, pairs=[("base", "tiny")])
    assert {r["reference"] for r in reverse} == {"base"} and len(reverse) == len(rel)
    md = synthetic.markdown(rows)
    assert "## Relative latency" in md and "| tiny | base |" not in md.split("## Relative latency")[0]
    for b in ok_backends:
        assert f"| {b} | cpu |" in md.split("## Relative latency")[1]
    stored = synthetic.read_rows(out)
    assert len(stored) == len(rows) and all(s["record"] == "synthetic" for s in stored)


@pytest.mark.parametrize("backend", INSTALLED)
def test_end_of_text_is_suppressed(backend):
    """Weights that pick EOT at every step still decode exactly N tokens in every runtime."""
    r = synthetic.measure(synthetic.CellSpec(MICRO, backend, decode_tokens=8, threads=1, eot_eager=True),
                          repeats=1, warmups=1)
    assert r["decoded_tokens"] == [8], r
    if backend == "whispercpp":
        assert "suppress_regex" in r["fixed_length_method"]


def test_eot_eager_weights_stop_without_suppression():
    """The fixture above proves something: without suppression the model stops at once."""
    ctranslate2 = pytest.importorskip("ctranslate2")
    from whisperbench.conversion.checkpoint import SpecialTokens

    path = synthetic.weights_path(MICRO, "ctranslate2", "float32", eot_eager=True)
    model = ctranslate2.models.Whisper(str(path), device="cpu", compute_type="float32", intra_threads=1)
    feats = ctranslate2.StorageView.from_array(make_inputs(MICRO.dims, 1).features)
    prompt = decoder_prompt(MICRO.dims, SpecialTokens.for_dims(MICRO.dims))
    res = model.generate(feats, [prompt], beam_size=1, max_length=16)
    assert len(res[0].sequences_ids[0]) < 8


def _dims_file(tmp_path: Path, **changes) -> Path:
    data = {**MICRO.dims.to_dict(), "name": "odd", **changes}
    p = tmp_path / "odd.json"
    p.write_text(json.dumps(data))
    return p


def test_ffn_not_4x_is_rejected_naming_the_runtime(tmp_path):
    arch = architectures.get(str(_dims_file(tmp_path, n_text_ffn=3 * 64)))
    assert arch.text_ffn == 192 and not arch.standard_ffn
    for backend, runtime in (("openai", "openai-whisper"), ("whispercpp", "whisper.cpp")):
        if backend not in INSTALLED:
            continue
        with pytest.raises(ArchitectureError, match=rf"{runtime} cannot run odd: it assumes FFN = 4 x d_model"):
            synthetic.measure(synthetic.CellSpec(arch, backend, decode_tokens=4, threads=1), repeats=1)
    rows = synthetic.run([arch], INSTALLED, decode_tokens=4, repeats=1, warmups=1, threads=1)
    for r in rows:
        if r["backend"] in ("openai", "whispercpp"):
            assert r["status"] == "skipped" and "4 x d_model" in r["error"]
        else:  # transformers and CTranslate2 take any FFN width
            assert r["status"] == "ok", r.get("error")
            assert r["decoded_tokens"] == [4]


def test_audio_ctx_mismatch_and_bad_files(tmp_path):
    arch = architectures.get(str(_dims_file(tmp_path, n_audio_ctx=1000)))
    for backend in INSTALLED:
        with pytest.raises(ArchitectureError, match=rf"{backends.runtime_name(backend)} cannot run odd: n_audio_ctx=1000"):
            synthetic.measure(synthetic.CellSpec(arch, backend, decode_tokens=4))
    bad = tmp_path / "bad.toml"
    bad.write_text('n_mels = 80\nname = "x"\n')
    with pytest.raises(ArchitectureError, match="missing dimension"):
        architectures.get(str(bad))
    with pytest.raises(ArchitectureError, match="n_audio_state .* != n_text_state"):
        architectures.get(str(_dims_file(tmp_path, n_text_state=128, n_text_head=2)))


def test_decode_length_limits():
    with pytest.raises(synthetic.SyntheticError, match="CTranslate2 cannot decode 300 tokens"):
        synthetic.check_decode_tokens(MICRO, "ctranslate2", 300)
    synthetic.check_decode_tokens(MICRO, "transformers", 300)


def test_roofline_numbers():
    big = architectures.get("large-v3")
    distil = architectures.get("distil-large-v3")
    # 32 layers x (6 d^2 + 2 d x 4d) + vocabulary projection, d = 1280
    d = 1280
    expect = 32 * 14 * d * d + 51866 * d
    assert abs(roofline.decoder_weights_per_step(big) - expect) / expect < 0.01
    assert roofline.decoder_bytes_per_step(big, "transformers", "float16") == 2 * roofline.decoder_weights_per_step(big)
    assert roofline.decoder_bytes_per_step(big, "openai", "float16") == 4 * roofline.decoder_weights_per_step(big)
    assert roofline.decoder_weights_per_step(big) / roofline.decoder_weights_per_step(distil) == pytest.approx(7.13, abs=0.01)
    bw = roofline.measure_bandwidth("cpu", size_mb=32, repeats=2)
    assert bw["bandwidth_gbs"] > 0.1
    cols = roofline.roofline(big, "ctranslate2", "float16", 1, 64, 0.01, 1000.0)
    assert cols["roofline_ratio"] == pytest.approx(0.01 / cols["bound_per_token_s"])


def test_cli_synthetic_and_bench_alias(tmp_path, capsys):
    from whisperbench.cli.main import main

    backend = "ctranslate2" if "ctranslate2" in INSTALLED else INSTALLED[0]
    dims = _dims_file(tmp_path)
    out = tmp_path / "r.jsonl"
    md = tmp_path / "r.md"
    rc = main(["synthetic", str(dims), str(dims), "--backend", backend, "--decode-tokens", "4", "--repeats", "1",
               "--threads", "1", "-o", str(out), "--markdown", str(md), "-q"])
    assert rc == 0
    assert "## Relative latency" in capsys.readouterr().out and md.exists()
    rc = main(["bench", "--synthetic", str(dims), "--backend", f"{backend},whispercpp", "--decode-tokens", "4",
               "--repeats", "1", "--batch-size", "2", "--threads", "1", "-o", str(out), "-q"])
    assert rc == 0  # whisper.cpp at batch 2 is a skipped row, not a failure
    rows = synthetic.read_rows(out)
    assert rows[-1]["backend"] == "whispercpp" and rows[-1]["status"] == "skipped"
    assert rows[-2]["batch_size"] == 2 and rows[-2]["decoded_tokens"] == [4, 4]
    assert main(["synthetic", "nope"]) == 2


def test_gpu_paths_fail_clearly_without_a_gpu(monkeypatch):
    from whisperbench.backends.ctranslate2 import load as ct2_load
    from whisperbench.backends.whispercpp.load import cuda_build
    from whisperbench.errors import UnsupportedOptionError

    if "whispercpp" in INSTALLED and not cuda_build():
        with pytest.raises(UnsupportedOptionError, match="CPU-only"):
            synthetic.resolve_cell("whispercpp", "cuda", "default")
    if "ctranslate2" in INSTALLED:
        import ctranslate2

        if ctranslate2.get_cuda_device_count() == 0:
            with pytest.raises(UnsupportedOptionError, match="sees no CUDA device"):
                synthetic.resolve_cell("ctranslate2", "cuda", "float16")
        # A GPU whose machine has no cuBLAS 12 (CUDA 13 only): the error says what to install.
        monkeypatch.setattr(ctranslate2, "get_cuda_device_count", lambda: 1)
        real = ct2_load.ctypes.CDLL

        def cdll(name, *a, **k):
            if "cublas" in str(name):
                raise OSError(f"{name}: cannot open shared object file")
            return real(name, *a, **k)

        monkeypatch.setattr(ct2_load.ctypes, "CDLL", cdll)
        monkeypatch.setattr(ct2_load, "_pip_cublas12", lambda: [])
        with pytest.raises(UnsupportedOptionError, match=r"libcublas\.so\.12.*pip install nvidia-cublas-cu12.*symlink"):
            ct2_load.check_cuda()


def test_each_cell_runs_in_its_own_process_and_failures_do_not_stop_the_run(tmp_path):
    """A cell that aborts, hangs or raises is a failed row naming the cause; the next cell
    is still timed and every row is on disk. (The dummy runner sleeps instead of computing.)"""
    out = tmp_path / "s.jsonl"
    bad = [({"crash": "abort"}, "Crash", "SIGABRT"), ({"hang": "true"}, "Timeout", "no progress for 5 s"),
           ({"crash": "raise"}, "RuntimeError", "asked to fail")]
    for options, error_type, message in bad:
        rows = synthetic.run(["tiny"], ["dummy"], decode_tokens=4, repeats=1, options=options, output=out,
                             timeout_s=5)
        assert rows[0]["status"] == "failed" and rows[0]["error_type"] == error_type, rows[0]
        assert message in rows[0]["error"]
    started = []
    rows = synthetic.run(["tiny", "base"], ["dummy"], decode_tokens=4, repeats=2, batch_sizes=(1, 3), output=out,
                         on_start=started.append)
    assert [r["status"] for r in rows] == ["ok"] * 4 and len(started) == 4
    assert [r["decoded_tokens"] for r in rows] == [[4], [4, 4, 4]] * 2
    stored = synthetic.read_rows(out)
    assert [r["status"] for r in stored] == ["failed"] * 3 + ["ok"] * 4
    # The child's RSS peak is its own: far below this pytest process's.
    from whisperbench.memory import peak_rss_mb

    assert rows[0]["peak_rss_mb"] < peak_rss_mb()


def test_gpu_memory_monitor():
    """Peak device memory over the start reading, sampled in a thread, from any reader;
    on a machine without an NVIDIA driver it says why it has no figure."""
    from whisperbench import gpu

    readings = iter([100, 300, 250] + [120] * 10_000)
    mon = gpu.GpuMemoryMonitor("cuda", interval=0.001, reader=lambda: next(readings) * 2**20).start()
    deadline = time.time() + 5
    while mon.peak_mb() != 200 and time.time() < deadline:
        pass
    out = mon.stop()
    assert out["gpu_peak_mb"] == 200 and out["gpu_used_before_mb"] == 100 and out["gpu_memory_method"] == "reader"

    real = gpu.GpuMemoryMonitor("cuda")
    if gpu.gpu_state():
        assert real.method in ("nvml", "nvidia-smi") and real.stop()["gpu_peak_mb"] >= 0
    else:
        result = real.stop()
        assert result["gpu_peak_mb"] is None and result["gpu_memory_method"] is None
        assert "nvml" in result["gpu_memory_note"] and "nvidia-smi" in result["gpu_memory_note"]


def test_gpu_memory_monitor_device_numbering(monkeypatch):
    """CUDA numbers the devices in CUDA_VISIBLE_DEVICES; NVML and nvidia-smi number all."""
    from whisperbench import gpu
    from whisperbench.errors import UnsupportedOptionError

    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    assert gpu._device_ident("cuda") == "0" and gpu._device_ident("cuda:2") == "2"
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "3,1")
    assert gpu._device_ident("cuda:0") == "3" and gpu._device_ident("cuda:1") == "1"
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "GPU-8a1e2b3c")
    assert gpu._device_ident("cuda") == "GPU-8a1e2b3c"
    with pytest.raises(UnsupportedOptionError, match="lists 1 device"):
        gpu._device_ident("cuda:1")


def test_an_option_a_runtime_does_not_take_is_refused_not_ignored():
    backend = "ctranslate2" if "ctranslate2" in INSTALLED else INSTALLED[0]
    rows = synthetic.run(["tiny"], [backend, "dummy"], decode_tokens=4, repeats=1, isolate=False,
                         options={"attn_implementation": "sdpa"})
    by = {r["backend"]: r for r in rows}
    if backend != "transformers":
        assert by[backend]["status"] == "skipped"
        assert "no option attn_implementation" in by[backend]["error"] and "its options: none" in by[backend]["error"]
    assert by["dummy"]["status"] == "skipped" and "seconds_per_token" in by["dummy"]["error"]
    (ok,) = synthetic.run(["tiny"], ["dummy"], decode_tokens=4, repeats=1, isolate=False,
                          options={"seconds_per_token": "0.001"})
    assert ok["status"] == "ok" and ok["decoder_seconds"] >= 0.004
