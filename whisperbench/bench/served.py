"""Suite engines with `serve = true`: the engine's backend runs behind `whisperbench serve`
in a child process on a free loopback port for the cell's duration, and the cell measures it
through the openai-api client, so one suite holds the same backend in-process and served.

The rows keep the engine's identity (backend, model, quantization, ...) plus `served`; the
latency is the client's (upload, the server's audio decoding, queueing and decoding), the
server's own decode time, its process's peak RSS and the CPU time it spent on each request
are recorded beside it."""

from __future__ import annotations

import atexit
import time
from typing import Any

from whisperbench import backends
from whisperbench.backends.base import Backend
from whisperbench.options import LoadOptions
from whisperbench.serve.process import ServerProcess


def start(backend: str, model: str, load_options: LoadOptions, workers: int = 1) -> tuple[ServerProcess, Backend]:
    """The server (`workers` models decoding at once), started and ready, and an openai-api
    client of it. The client's `load_seconds` is the whole start: the server process, its
    model load, the first request. No retries: a request the server cannot answer is a
    failed row, not a hidden wait."""
    t0 = time.perf_counter()
    server = ServerProcess(backend, model, load_options, workers=workers)
    atexit.register(server.stop)  # whichever way the cell ends
    try:
        first = client(server)
    except BaseException:
        server.stop()
        raise
    first.load_seconds = time.perf_counter() - t0
    return server, first


def client(server: ServerProcess) -> Backend:
    """Another openai-api client of a started server (one per scenario instance)."""
    return backends.get("openai-api")(server.url, LoadOptions(extra={"retries": 0}))


def describe(client: Any) -> dict[str, Any]:
    """The served backend's own description (from the server's /v1/models), with the endpoint."""
    served = client._served() or {}
    return {**served, "endpoint": client.url, "server": client.server, "client": client.name}


def row_fields(server: ServerProcess, before: dict[str, float | None], result: Any, load: dict[str, Any]) -> dict[str, Any]:
    """A served row's server fields; the server's CPU time is taken out of the CPU time
    'other processes' used during the request (the server is part of what is measured)."""
    after = server.sample()
    cpu = (after["server_cpu_seconds"] - before["server_cpu_seconds"]
           if after["server_cpu_seconds"] is not None and before["server_cpu_seconds"] is not None else None)
    fields: dict[str, Any] = {"server_decode_seconds": result.extra.get("server_decode_seconds"),
                              "server_peak_rss_mb": after["server_peak_rss_mb"], "server_cpu_seconds": cpu}
    others = load.get("others_cpu_seconds")
    if others is not None and cpu is not None:
        fields["others_cpu_seconds"] = round(max(0.0, others - cpu), 4)
    return fields


# ----- the report's serving-overhead table ------------------------------------------------

OVERHEAD_HEADERS = ["engine", "dataset", "utterances", "p50 in-process (s)", "p50 served (s)", "served / in-process",
                    "same, utterances >= 5 s", "server decode p50 (s)", "client - server p50 (ms)",
                    "(client - server) / client p50", "server peak RSS (MB)"]
OVERHEAD_NOTE = ("Each served cell beside the same engine in-process (same backend, model, options, dataset): p50 of "
                 "each utterance's median latency over repeats, over the utterances both measured. Served latency is "
                 "the client's (upload, the server's audio decoding, queueing, decoding, answer); server decode is "
                 "the backend's own time inside the server. Client - server is the serving overhead within each "
                 "request (both clocks read during the same request, so a load that changes between the two cells "
                 "does not enter it).")
LONG_ENOUGH_S = 5.0


def overhead_rows(df) -> tuple[list[str], list[list[str]]]:
    """The serving-overhead table: one row per served cell that has an in-process twin."""
    import numpy as np

    from whisperbench.bench.records import CELL_IDENTITY, identity_key

    rows: list[list[str]] = []
    if df.empty or "served" not in df:
        return OVERHEAD_HEADERS, rows
    ok = df[df["status"] == "ok"]
    is_served = ok["served"].map(lambda v: v is True or v == "True" or v == 1)
    if not is_served.any():
        return OVERHEAD_HEADERS, rows
    twin_fields = [f for f in CELL_IDENTITY if f != "served"]
    pair = [identity_key(r, twin_fields) for r in ok[[f for f in twin_fields if f in ok]].to_dict("records")]
    by_pair: dict[tuple, dict[bool, Any]] = {}
    for key, side, idx in zip(pair, is_served, ok.index):
        by_pair.setdefault(key, {}).setdefault(bool(side), []).append(idx)
    for key, sides in by_pair.items():
        if True not in sides or False not in sides:
            continue
        served, local = ok.loc[sides[True]], ok.loc[sides[False]]
        s_lat = served.groupby("utterance_id")["decode_seconds"].median()
        l_lat = local.groupby("utterance_id")["decode_seconds"].median()
        common = s_lat.index.intersection(l_lat.index)
        if not len(common):
            continue
        audio = served.groupby("utterance_id")["audio_seconds"].first()
        long_ones = [u for u in common if audio.get(u, 0) >= LONG_ENOUGH_S]

        def p50(lat, utts) -> float:
            return float(np.percentile(lat.loc[utts].to_numpy(), 50))

        ratio_long = f"{p50(s_lat, long_ones) / p50(l_lat, long_ones):.3f} ({len(long_ones)})" if long_ones else "–"
        decode = served.groupby("utterance_id")["server_decode_seconds"].median().dropna() \
            if "server_decode_seconds" in served else None
        rss = served["server_peak_rss_mb"].max() if "server_peak_rss_mb" in served else None
        gap = (served["decode_seconds"] - served["server_decode_seconds"]).dropna() \
            if "server_decode_seconds" in served else served["decode_seconds"].iloc[0:0]
        share = (gap / served.loc[gap.index, "decode_seconds"]) if len(gap) else gap
        first = served.iloc[0]
        rows.append([
            f"{first['backend']} {first['model']} {first.get('quantization')} {first.get('device')}",
            str(first["dataset"]), str(len(common)), f"{p50(l_lat, common):.3f}", f"{p50(s_lat, common):.3f}",
            f"{p50(s_lat, common) / p50(l_lat, common):.3f}", ratio_long,
            f"{float(np.percentile(decode.to_numpy(), 50)):.3f}" if decode is not None and len(decode) else "–",
            f"{float(np.percentile(gap.to_numpy(), 50)) * 1000:.1f}" if len(gap) else "–",
            f"{float(np.percentile(share.to_numpy(), 50)):.3f}" if len(share) else "–",
            f"{rss:.0f}" if rss is not None and rss == rss else "–",
        ])
    return OVERHEAD_HEADERS, rows
