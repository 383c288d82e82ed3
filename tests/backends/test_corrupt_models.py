"""Damaged model files are one clear ModelError before any runtime sees them (issue 14,
items 6 and 9): ggml files cut anywhere or with a corrupt header (whisper.cpp loaded a
file cut to 100-500 KB and transcribed nothing, crashed with `map::at` under 50 KB, and
aborted the process on a huge layer count), transformers folders with a garbage
config.json or a cut model.safetensors, CTranslate2 folders with a garbage config.json."""

from __future__ import annotations

import shutil
import struct
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from whisperbench import backends
from whisperbench.conversion import check, save_random
from whisperbench.conversion import ggml_format
from whisperbench.errors import ModelError

HEADER_FIELDS = ("n_vocab", "n_audio_ctx", "n_audio_state", "n_audio_head", "n_audio_layer",
                 "n_text_ctx", "n_text_state", "n_text_head", "n_text_layer", "n_mels", "ftype")


@pytest.fixture(scope="module")
def ggml_file(tmp_path_factory) -> Path:
    """A tiny random Whisper as a float16 ggml file (about 7 MB; loads in whisper.cpp)."""
    out = tmp_path_factory.mktemp("ggml") / "tiny.bin"
    return save_random(out, "ggml", quantization="float16", seed=3)


@pytest.fixture(scope="module")
def ggml_bytes(ggml_file) -> bytes:
    return ggml_file.read_bytes()


def _write(tmp: Path, data: bytes) -> Path:
    path = tmp / "model.bin"
    path.write_bytes(data)
    return path


def test_sound_file_validates(ggml_file):
    dims = ggml_format.validate(ggml_file)
    assert dims.n_audio_state == 64 and check(ggml_file) == "ggml"


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_ggml_cut_anywhere_is_a_model_error(ggml_bytes, tmp_path, data):
    size = len(ggml_bytes)
    # Cuts anywhere, with extra weight on the header/vocabulary region and the very end.
    cut = data.draw(st.one_of(st.integers(0, size - 1), st.integers(0, 600_000), st.integers(size - 64, size - 1)))
    path = _write(tmp_path, ggml_bytes[:cut])
    with pytest.raises(ModelError):
        check(path)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(field=st.sampled_from(HEADER_FIELDS[:10]), value=st.integers(-(2**31), 2**31 - 1))
def test_ggml_header_values_are_checked(ggml_bytes, tmp_path, field, value):
    """Any hyperparameter value: the file validates only when it still describes the
    tensors that follow (never a hang, an allocation the size of the value, or a crash)."""
    header = list(struct.unpack("<12i", ggml_bytes[:48]))
    original = header[1 + HEADER_FIELDS.index(field)]
    header[1 + HEADER_FIELDS.index(field)] = value
    path = _write(tmp_path, struct.pack("<12i", *header) + ggml_bytes[48:])
    if value == original:
        check(path)
        return
    try:
        ggml_format.validate(path)
    except ModelError:
        return
    # A changed value that still validates must leave every tensor the same size (a head
    # count that divides the width, a context length no tensor depends on, ...).
    assert field in ("n_audio_head", "n_text_head", "n_text_ctx", "n_audio_ctx") or value == original


def test_ggml_huge_layer_count_and_garbage_tail(ggml_bytes, tmp_path):
    header = list(struct.unpack("<12i", ggml_bytes[:48]))
    header[5] = 100_000_000  # n_audio_layer
    with pytest.raises(ModelError, match="n_audio_layer=100000000"):
        check(_write(tmp_path, struct.pack("<12i", *header) + ggml_bytes[48:]))
    with pytest.raises(ModelError, match="unexpected tensor|corrupt"):
        check(_write(tmp_path, ggml_bytes + b"\0" * 64))
    with pytest.raises(ModelError, match="not a ggml file|not a recognised model file"):
        check(_write(tmp_path, b"GGUF" + ggml_bytes[4:]))


@pytest.mark.parametrize("cut", [40_000, 300_000, "last tensor"])
def test_whispercpp_refuses_a_cut_file_before_loading(ggml_file, ggml_bytes, tmp_path, cut):
    pytest.importorskip("pywhispercpp")
    n = len(ggml_bytes) - 100 if cut == "last tensor" else cut
    path = _write(tmp_path, ggml_bytes[:n])
    with pytest.raises(ModelError, match="truncated or corrupt"):
        backends.get("whispercpp")(str(path))


# ----- transformers and CTranslate2 folders ---------------------------------------------
@pytest.fixture(scope="module")
def hf_folder(tmp_path_factory) -> Path:
    return save_random(tmp_path_factory.mktemp("hf") / "model", "transformers", seed=3)


def _damaged_copy(src: Path, tmp: Path, name: str, content: bytes | None = None, cut: int | None = None) -> Path:
    dst = tmp / "copy"
    shutil.copytree(src, dst, symlinks=True)
    target = dst / name
    data = (src / name).read_bytes()
    target.unlink()
    target.write_bytes(content if content is not None else data[:cut])
    return dst


@pytest.mark.parametrize("content,match", [
    (b"{garbage", "config.json is not valid JSON"),
    (b"\xff\xfe\x00garbage", "config.json is not valid JSON"),
    (b"[1, 2]", "config.json is not a JSON object"),
    (b'{"model_type": "whisper"}', "config.json lacks the Whisper setting"),
    (b'{"model_type": "bert"}', "not Whisper"),
])
def test_transformers_garbage_config_is_a_model_error(hf_folder, tmp_path, content, match):
    with pytest.raises(ModelError, match=match):
        check(_damaged_copy(hf_folder, tmp_path, "config.json", content=content))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(fraction=st.floats(0.0, 0.9999))
def test_transformers_cut_safetensors_is_a_model_error(hf_folder, tmp_path, fraction):
    size = (hf_folder / "model.safetensors").stat().st_size
    folder = _damaged_copy(hf_folder, tmp_path, "model.safetensors", cut=int(size * fraction))
    try:
        with pytest.raises(ModelError, match="model.safetensors"):
            check(folder)
    finally:
        shutil.rmtree(folder)


@pytest.mark.parametrize("name", ["openai", "whispercpp", "transformers"])
def test_converting_a_ctranslate2_folder_with_garbage_config_is_a_model_error(name, tiny_en_ct2, tmp_path):
    """The conversion reads config.json of a CTranslate2 folder (runtimes other than
    ctranslate2 need a conversion): a JSONDecodeError traceback before."""
    folder = tmp_path / "ct2"
    folder.mkdir()
    for f in tiny_en_ct2.iterdir():
        (folder / f.name).symlink_to(f)
    (folder / "config.json").unlink()
    (folder / "config.json").write_text("{garbage")
    if backends.missing_modules(name):
        pytest.skip(f"{name} not installed")
    with pytest.raises(ModelError, match="config.json is not valid JSON"):
        backends.get(name)(str(folder))
