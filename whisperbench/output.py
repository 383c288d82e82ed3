"""Writing transcriptions as text, JSON, SRT or WebVTT."""

from __future__ import annotations

import json
from typing import Sequence

from whisperbench.results import Transcription

FORMATS = ("text", "json", "srt", "vtt")


def _stamp(seconds: float, sep: str) -> str:
    ms = int(round(seconds * 1000))
    h, ms = divmod(ms, 3_600_000)
    m, ms = divmod(ms, 60_000)
    s, ms = divmod(ms, 1000)
    return f"{h:02d}:{m:02d}:{s:02d}{sep}{ms:03d}"


def render(results: Sequence[tuple[str, Transcription]], fmt: str) -> str:
    """Render (source name, transcription) pairs in one of FORMATS."""
    if fmt == "text":
        if len(results) == 1:
            return results[0][1].text + "\n"
        return "".join(f"{name}\t{r.text}\n" for name, r in results)
    if fmt == "json":
        payload = [dict(source=name, **r.to_dict()) for name, r in results]
        return json.dumps(payload if len(payload) > 1 else payload[0], indent=2, ensure_ascii=False) + "\n"
    if fmt in ("srt", "vtt"):
        blocks = ["WEBVTT\n"] if fmt == "vtt" else []
        sep = "," if fmt == "srt" else "."
        n = 0
        for name, r in results:
            if len(results) > 1:
                blocks.append(f"NOTE {name}\n" if fmt == "vtt" else "")
            for seg in r.segments:
                n += 1
                cue = f"{_stamp(seg.start, sep)} --> {_stamp(seg.end, sep)}\n{seg.text.strip()}\n"
                blocks.append(f"{n}\n{cue}" if fmt == "srt" else cue)
        return "\n".join(b for b in blocks if b)
    raise ValueError(f"unknown output format {fmt!r}")
