"""What process isolation costs `whisperbench serve` per request: ctranslate2 tiny.en int8 on
jfk (11 s), in-process against `serve --isolation thread` and `serve --isolation process`
(the default), one request at a time.

Both servers stay up together and the three ways take turns request by request, so a load
that drifts during the run falls on all three alike. Per request: the client's latency (an
HTTP POST of the audio as float32 WAV, as the openai-api backend sends it) and the server's
own decode time (`X-Whisperbench-Decode-Seconds`); their difference is what serving adds.

    .venv/bin/python benchmarks/bench_serve_isolation.py [--requests 20] [--clip PATH]

Timings on a machine other processes load are noise: the load average is printed.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import numpy as np

from whisperbench.audio import read_audio
from whisperbench.backends import get
from whisperbench.backends.openai_api.protocol import DECODE_SECONDS_HEADER, wav_bytes
from whisperbench.options import DecodeOptions, LoadOptions
from whisperbench.paths import speech_dir
from whisperbench.serve.process import ServerProcess

LOAD = LoadOptions(compute_type="int8")
OPTIONS = DecodeOptions(language="en")


def summary(values: list[float]) -> str:
    q1, q2, q3 = np.percentile(values, [25, 50, 75])
    return f"{q2 * 1000:8.1f} ms (IQR {q1 * 1000:.1f}-{q3 * 1000:.1f})"


def main() -> int:
    import httpx

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--requests", type=int, default=20, help="timed requests per way (default 20)")
    ap.add_argument("--warmups", type=int, default=2)
    ap.add_argument("--clip", default=str(speech_dir() / "jfk" / "jfk.flac"))
    args = ap.parse_args()

    samples = read_audio(args.clip).samples
    upload = wav_bytes(samples)
    print(f"clip {args.clip}: {len(samples) / 16000:.2f} s; load average before {os.getloadavg()}")
    backend = get("ctranslate2")("fixture:tiny.en", LOAD)
    servers = {iso: ServerProcess("ctranslate2", "fixture:tiny.en", LOAD, isolation=iso) for iso in ("thread", "process")}
    client = httpx.Client(timeout=120)
    latency: dict[str, list[float]] = {"in-process": [], "thread": [], "process": []}
    overhead: dict[str, list[float]] = {"thread": [], "process": []}
    texts: dict[str, set[str]] = {k: set() for k in latency}
    try:
        for i in range(args.warmups + args.requests):
            timed = i >= args.warmups
            t0 = time.perf_counter()
            result = backend.transcribe(samples, OPTIONS)
            elapsed = time.perf_counter() - t0
            if timed:
                latency["in-process"].append(elapsed)
                texts["in-process"].add(result.text)
            for iso, server in servers.items():
                t0 = time.perf_counter()
                answer = client.post(server.url + "/audio/transcriptions", files={"file": ("jfk.wav", upload)},
                                     data={"language": "en", "response_format": "json"})
                elapsed = time.perf_counter() - t0
                answer.raise_for_status()
                if timed:
                    latency[iso].append(elapsed)
                    overhead[iso].append(elapsed - float(answer.headers[DECODE_SECONDS_HEADER]))
                    texts[iso].add(answer.json()["text"])
    finally:
        client.close()
        for server in servers.values():
            server.stop()
        backend.close()
    print(f"load average after {os.getloadavg()}; {args.requests} timed requests per way, {args.warmups} warm-ups\n")
    base = statistics.median(latency["in-process"])
    print("| way | p50 latency | / in-process | serving overhead (latency - server decode) |")
    print("|---|---|---|---|")
    for way, values in latency.items():
        extra = summary(overhead[way]) if way in overhead else "-"
        print(f"| {way} | {summary(values)} | {statistics.median(values) / base:.3f} | {extra} |")
    same = len(set().union(*texts.values())) == 1
    print(f"\nsame text every time, all three ways: {same}")
    return 0 if same else 1


if __name__ == "__main__":
    raise SystemExit(main())
