"""The weight-format registry (whisperbench.conversion.formats) and the one cache of
converted weights (whisperbench.conversion.cache)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import runtimes_imported
from whisperbench import backends
from whisperbench import conversion as C
from whisperbench.conversion import cache, formats
from whisperbench.conversion.api import normalize_quantization
from whisperbench.conversion.checkpoint import Checkpoint, Dims
from whisperbench.errors import ConversionError, ModelError



def test_every_format_a_backend_reads_is_registered():
    for name in backends.names():
        fmt = backends.adapter_class(name).capabilities.model_format
        assert fmt == "none" or fmt in formats.names(), (name, fmt)


def test_onnx_is_registered_like_the_others():
    from whisperbench.bench.verify import backend_for_format

    assert "onnx" in C.FORMATS and C.QUANTIZATIONS["onnx"] == ("float32", "int8")
    assert backend_for_format()["onnx"] == "transformersjs"
    assert set(backend_for_format()) == set(formats.names())
    assert normalize_quantization("onnx", "fp32") == "float32"
    with pytest.raises(ConversionError, match="valid: float32, int8"):
        normalize_quantization("onnx", "q4_0")


def test_entry_points_resolve_without_importing_a_runtime():
    """Importing the registry and every reader/writer/validator/builder module loads no
    runtime: those are imported inside the functions that use them."""
    assert runtimes_imported(
        "from whisperbench.conversion import formats\n"
        "for f in formats.all_formats():\n"
        "    for kind in ('reader', 'writer', 'validator', 'builder'):\n"
        "        if getattr(f, kind):\n"
        "            assert callable(f.entry(kind)), (f.name, kind)\n"
    ) == []


def test_every_format_has_a_way_in_and_a_name_on_disk():
    for f in formats.all_formats():
        assert f.writer or (f.builder and f.built_from in formats.names()), f.name
        assert f.layout in ("folder", "file") and f.output_name and f.files and f.quantizations


def test_onnx_layout_is_detected_and_is_not_read_as_weights(tmp_path):
    folder = tmp_path / "export"
    (folder / "onnx").mkdir(parents=True)
    (folder / "onnx" / "encoder_model.onnx").write_bytes(b"")
    (folder / "config.json").write_text("{}")
    assert C.detect_format(folder) == "onnx"
    with pytest.raises(ConversionError, match="onnx format has no reader"):
        C.read(folder)
    with pytest.raises(ConversionError, match="built from a transformers model"):
        C.write(C.tiny_random(n_vocab=64), "onnx", tmp_path / "out")


def test_unrecognised_paths_name_what_each_layout_expects(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelError, match="not a recognised model folder.*ctranslate2: model.bin"):
        C.detect_format(tmp_path / "empty")
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(ModelError, match="not a recognised model file.*ggml"):
        C.detect_format(tmp_path / "notes.txt")


# ----- a new format is one module and one registry entry ----------------------------------
# The "module" is this test file: a folder of weights.npz + toy.json.

def toy_write(ckpt: Checkpoint, target: Path, quantization: str | None, progress=None) -> str:
    q = quantization or "float32"
    target.mkdir(parents=True, exist_ok=True)
    np.savez(target / "weights.npz", **{k: np.asarray(v, dtype=q) for k, v in ckpt.weights.items()})
    (target / "toy.json").write_text(json.dumps(ckpt.dims.to_dict()))
    return q


def toy_read(path: Path, progress=None) -> Checkpoint:
    with np.load(path / "weights.npz") as z:
        weights = {k: z[k] for k in z.files}
    dims = Dims(**json.loads((path / "toy.json").read_text()))
    precision = str(next(iter(weights.values())).dtype)
    return Checkpoint(dims=dims, weights=weights, source_quantization=precision, source_format="toy")


TOY = formats.WeightFormat(
    "toy", "folder", "model", ("toy.json", "weights.npz"), ("float32", "float16"),
    lambda p: p.is_dir() and (p / "toy.json").exists(), "test format",
    reader=f"{__name__}:toy_read", writer=f"{__name__}:toy_write",
)


@pytest.fixture
def toy_registered(monkeypatch, tmp_path):
    monkeypatch.setattr(formats, "_REGISTRY", dict(formats._REGISTRY))
    monkeypatch.setenv("WHISPERBENCH_CACHE", str(tmp_path / "cache"))
    formats.register(TOY)
    yield TOY


def test_a_new_format_is_one_registry_entry(toy_registered, tmp_path, capsys):
    from whisperbench.cli.main import main

    ckpt = C.tiny_random(n_vocab=64)
    out = C.write(ckpt, "toy", tmp_path / "m")
    assert C.detect_format(out) == "toy" and "toy" in C.FORMATS and C.QUANTIZATIONS["toy"] == ("float32", "float16")
    back = C.read(out)
    assert back.dims == ckpt.dims and all(np.array_equal(back.weights[k], w) for k, w in ckpt.weights.items())
    assert C.describe(out)["format"] == "toy" and C.describe(out)["quantization"] == "float32"
    # Cached conversion: built once, keyed on the quantization.
    half = C.ensure_format(str(out), "toy", "float16")
    assert half.is_relative_to(tmp_path / "cache" / cache.SUBDIR) and C.read(half).weights["encoder.conv1.weight"].dtype == np.float16
    assert C.ensure_format(str(out), "toy", "float16") == half
    assert C.ensure_format(str(out), "toy") == out  # already in the format: used as is
    # The CLI's choices and help come from the registry.
    assert main(["convert", str(out), "--to", "toy", "-q", "f16", "-o", str(tmp_path / "cli")]) == 0
    assert "wrote toy (float16)" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        main(["convert", "--help"])
    assert "toy float32|float16" in capsys.readouterr().out.replace("\n", " ").replace("  ", " ")


def test_cache_key_follows_source_format_quantization_and_code(toy_registered, tmp_path, monkeypatch):
    src = C.write(C.tiny_random(n_vocab=64), "toy", tmp_path / "m")
    first = cache.entry_path(src, "toy", "float16")
    assert cache.entry_path(src, "toy", "float16") == first
    assert cache.entry_path(src, "toy", None) != first
    assert cache.entry_path(src, "ggml", "float16") != first
    assert cache.entry_path(str(src), "toy", "float16") != first  # a generated source named by a string
    os.utime(src / "weights.npz", ns=(1, 1))  # the model on disk changed
    touched = cache.entry_path(src, "toy", "float16")
    assert touched != first
    monkeypatch.setattr(cache, "code_digest", lambda: "another writer")
    assert cache.entry_path(src, "toy", "float16") != touched


def test_cache_builds_once_and_refuses_a_builder_that_writes_nothing(toy_registered):
    calls = []

    def build(out: Path) -> None:
        calls.append(out)
        out.mkdir(parents=True)

    a = cache.converted("generated:x", "toy", None, build)
    assert cache.converted("generated:x", "toy", None, build) == a and calls == [a]
    with pytest.raises(ConversionError, match="left nothing"):
        cache.converted("generated:y", "toy", None, lambda out: None)
