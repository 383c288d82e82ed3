"""Issue 14, backend half: one row per case (items 4-9), each run as a newcomer types it
(`whisperbench transcribe ...` / `bench ...` in a subprocess) and checked for its exit
code and the first line it prints on stderr; never a traceback, never a crash dump.

Rows on a real runtime are slow (each starts Python and a runtime); the dummy rows are not."""

from __future__ import annotations

import json
import re
import shutil
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import pytest

from tests.conftest import JFK, CliResult, run_cli
from whisperbench.paths import speech_dir

SONNET = speech_dir() / "sonnets" / "p001.mp3"
TINY = ["-m", "fixture:tiny.en"]


def _converted(fmt: str) -> Path:
    from whisperbench.conversion import ensure_format

    return Path(ensure_format("fixture:tiny.en", fmt))


def _ct2_folder() -> Path:
    from whisperbench.models import resolve

    return resolve("fixture:tiny.en").path


def _copy_with(src: Path, dst: Path, name: str, data: bytes) -> Path:
    """A copy of model folder `src` (symlinks) with file `name` replaced by `data`."""
    dst.mkdir()
    for f in src.iterdir():
        (dst / f.name).symlink_to(f)
    (dst / name).unlink()
    (dst / name).write_bytes(data)
    return dst


def cut_ggml(n: int) -> Callable[[Path], None]:
    return lambda tmp: (tmp / "model.bin").write_bytes(_converted("ggml").read_bytes()[:n])


def huge_layers(tmp: Path) -> None:
    data = bytearray(_converted("ggml").read_bytes())
    header = list(struct.unpack("<12i", data[:48]))
    header[5] = 100_000_000  # n_audio_layer
    data[:48] = struct.pack("<12i", *header)
    (tmp / "model.bin").write_bytes(bytes(data))


def garbage_ct2_config(tmp: Path) -> None:
    _copy_with(_ct2_folder(), tmp / "model", "config.json", b"{garbage")


def garbage_hf_config(tmp: Path) -> None:
    _copy_with(_converted("transformers"), tmp / "model", "config.json", b"{garbage")


def cut_safetensors(tmp: Path) -> None:
    src = _converted("transformers")
    _copy_with(src, tmp / "model", "model.safetensors", (src / "model.safetensors").read_bytes()[:30_000_000])


def manifest(texts: list) -> Callable[[Path], None]:
    def setup(tmp: Path) -> None:
        rows = [{"audio_filepath": str(JFK), "text": t, "id": f"u{i}"} for i, t in enumerate(texts)]
        (tmp / "m.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return setup


def half_mp3(tmp: Path) -> None:
    (tmp / "half.mp3").write_bytes(SONNET.read_bytes()[:200_000])


def half_mp3_manifest(tmp: Path) -> None:
    half_mp3(tmp)
    (tmp / "m.jsonl").write_text(json.dumps({"audio_filepath": "half.mp3", "text": "From fairest", "id": "half"}) + "\n")


def audio_warning_row(tmp: Path, r: CliResult) -> None:
    (row,) = [json.loads(line) for line in (tmp / "out.jsonl").read_text().splitlines()
              if json.loads(line).get("record") == "measurement"]
    assert "decoded 25.0 s of the 53.3 s" in row["audio_warning"]


def empty_reference_rows(tmp: Path, r: CliResult) -> None:
    rows = [json.loads(line) for line in (tmp / "out.jsonl").read_text().splitlines()]
    rows = {row["utterance_id"]: row for row in rows if row.get("record") == "measurement"}
    assert rows["u1"]["empty_reference"] and rows["u1"]["hallucinated_words"] == 2 and rows["u1"]["wer"] is None
    assert rows["u1"]["insertions"] == 0 and rows["u0"]["ref_words"] == 22 and not rows["u0"]["empty_reference"]


def transcript_on_stdout(tmp: Path, r: CliResult) -> None:
    assert "ask not what your country can do for you" in r.stdout.lower()


@dataclass
class Case:
    id: str
    argv: list[str]
    rc: int
    first: str  # regex matched against the start of stderr's first line
    setup: Callable[[Path], None] = lambda tmp: None
    check: Callable[[Path, CliResult], None] = lambda tmp, r: None
    slow: bool = True
    extra: dict = field(default_factory=dict)


E = r"whisperbench: error: "
W = r"whisperbench: warning: "
CASES = [
    # 4. no --language on an English-only model: English, in every backend
    Case("4-openai-no-language", ["transcribe", JFK, "-b", "openai", *TINY], 0, r"$", check=transcript_on_stdout),
    Case("4-transformersjs-no-language", ["transcribe", JFK, "-b", "transformersjs", *TINY], 0, r"$",
         check=transcript_on_stdout),
    # 5. whisper.cpp's fixed decoder pool
    Case("5-whispercpp-beam-9", ["transcribe", JFK, "-b", "whispercpp", *TINY, "--beam-size", "9"], 2,
         E + r"backend 'whispercpp' cannot honour beam_size=9: whisper.cpp runs at most 8 decoders"),
    Case("5-whispercpp-best-of-9", ["transcribe", JFK, "-b", "whispercpp", *TINY, "--best-of", "9"], 2,
         E + r"backend 'whispercpp' cannot honour best_of=9: whisper.cpp runs at most 8 decoders"),
    # 6. and 9. damaged ggml files
    Case("6-ggml-cut-300KB", ["transcribe", JFK, "-b", "whispercpp", "-m", "model.bin"], 2,
         E + r"\S*model.bin is truncated or corrupt \(cut inside the vocabulary, file has 300000 bytes\)", setup=cut_ggml(300_000)),
    Case("9-ggml-cut-40KB", ["transcribe", JFK, "-b", "whispercpp", "-m", "model.bin"], 2,
         E + r"\S*model.bin is truncated or corrupt", setup=cut_ggml(40_000)),
    Case("9-ggml-huge-layer-count", ["transcribe", JFK, "-b", "whispercpp", "-m", "model.bin"], 2,
         E + r"\S*model.bin is corrupt: header n_audio_layer=100000000 \(expected 1\.\.1024\)", setup=huge_layers),
    # 9. garbage config.json (a CTranslate2 folder, converted for the other runtimes)
    *[Case(f"9-{b}-garbage-config", ["transcribe", JFK, "-b", b, "-m", "model"], 2,
           E + r"\S*model/config.json is not valid JSON", setup=garbage_ct2_config)
      for b in ("openai", "transformers", "whispercpp", "transformersjs")],
    Case("9-transformers-folder-garbage-config", ["transcribe", JFK, "-b", "transformers", "-m", "model"], 2,
         E + r"\S*model/config.json is not valid JSON", setup=garbage_hf_config),
    Case("9-transformers-cut-safetensors", ["transcribe", JFK, "-b", "transformers", "-m", "model"], 2,
         E + r"\S*model/model.safetensors is truncated", setup=cut_safetensors),
    # 7. references
    Case("7-null-reference", ["bench", "-b", "dummy", "-m", "none", "-d", "m.jsonl", "--language", "en", "-q",
                              "-o", "out.jsonl"], 2,
         E + r"invalid suite .*: utterance 'u1' in \S*m.jsonl:2 has a reference that is null", setup=manifest(["ask not", None]),
         slow=False),
    Case("7-empty-reference", ["bench", "-b", "dummy", "-m", "none", "-d", "m.jsonl", "--language", "en", "-q",
                               "--repeats", "1", "--warmups", "0", "-O", "text=thank you", "-o", "out.jsonl"], 0,
         W + r"dataset '\S+': 1 utterance\(s\) with an empty reference \(u1\)",
         setup=manifest(["And so my fellow Americans, ask not what your country can do for you, "
                         "ask what you can do for your country.", ""]), check=empty_reference_rows, slow=False),
    # 8. a half MP3
    Case("8-half-mp3", ["transcribe", "half.mp3", "-b", "dummy", "-m", "none"], 0,
         W + r"\S*half.mp3: incomplete audio, decoded 25\.0 s of the 53\.3 s the file declares", setup=half_mp3,
         slow=False),
    Case("8-half-mp3-bench", ["bench", "-b", "dummy", "-m", "none", "-d", "m.jsonl", "--language", "en", "-q",
                              "--repeats", "1", "--warmups", "0", "-o", "out.jsonl"], 0,
         W + r"\S*half.mp3: incomplete audio, decoded 25\.0 s of the 53\.3 s", setup=half_mp3_manifest,
         check=audio_warning_row, slow=False),
]


@pytest.mark.parametrize("case", [pytest.param(c, id=c.id, marks=[pytest.mark.slow] if c.slow else [])
                                  for c in CASES])
def test_error_table(case: Case, tmp_path: Path):
    case.setup(tmp_path)
    r = run_cli(*case.argv, cwd=tmp_path)
    assert r.rc == case.rc, f"exit {r.rc}, expected {case.rc}\nstderr: {r.stderr[-2000:]}"
    assert re.match(case.first, r.first_line), f"first line: {r.first_line!r}\nexpected: {case.first}"
    assert "Traceback" not in r.stderr + r.stdout and "gdb" not in r.stdout
    if case.rc:
        assert not r.stdout.strip(), f"nothing on stdout on an error: {r.stdout[:500]!r}"
    case.check(tmp_path, r)
