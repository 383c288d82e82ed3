"""`whisperbench transcribe`: output formats, and user errors as one line with exit code 2."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import require
from whisperbench.cli.main import main as cli
from whisperbench.text import normalize


def test_cli_transcribe_formats(tmp_path: Path, speech: Path, capsys):
    require("faster_whisper")
    jfk = str(speech / "jfk" / "jfk.flac")
    out = tmp_path / "out.json"
    assert cli(["transcribe", jfk, "-b", "ctranslate2", "-m", "fixture:tiny.en", "--language", "en",
                "--format", "json", "--output", str(out)]) == 0
    data = json.loads(out.read_text())
    assert data["options"]["beam_size"] == 1 and data["timing"]["audio_seconds"] == pytest.approx(11.0, abs=0.05)
    assert "ask not what your country" in normalize(data["text"])
    assert cli(["transcribe", jfk, "-b", "ctranslate2", "-m", "fixture:tiny.en", "--format", "srt"]) == 0
    srt = capsys.readouterr().out
    assert srt.startswith("1\n00:00:00,000 --> ") and "-->" in srt.splitlines()[1]
    assert cli(["transcribe", jfk, "-b", "ctranslate2", "-m", "fixture:tiny.en", "--format", "vtt"]) == 0
    assert capsys.readouterr().out.startswith("WEBVTT")


@pytest.mark.parametrize(
    "argv, message",
    [
        (["transcribe", "missing.wav", "-b", "ctranslate2", "-m", "fixture:tiny.en"], "audio file not found"),
        (["transcribe", "x.wav", "-b", "nope", "-m", "fixture:tiny.en"], "unknown backend 'nope'"),
        (["transcribe", "{jfk}", "-b", "ctranslate2", "-m", "fixture:nope"], "unknown fixture"),
        (["transcribe", "x.wav", "-b", "ctranslate2", "-m", "m", "--beam-size", "0"], "beam_size"),
    ],
)
def test_cli_user_errors_are_one_line(tmp_path, speech, argv, message):
    argv = [a.format(jfk=speech / "jfk" / "jfk.flac") for a in argv]
    proc = subprocess.run([sys.executable, "-m", "whisperbench.cli.main", *argv], capture_output=True, text=True, cwd=tmp_path)
    assert proc.returncode == 2
    assert message in proc.stderr
    assert "Traceback" not in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
