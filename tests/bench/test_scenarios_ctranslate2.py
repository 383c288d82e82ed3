"""Real CTranslate2 (tiny.en, int8, CPU) through LoadGen: Offline at batch 1 and 4 (one
`generate` call per batch) and Server at a low rate. Short: jfk issued 4 times."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import require
from whisperbench.bench.scenarios.records import read_scenario_rows
from whisperbench.bench.scenarios.run import run_scenarios
from whisperbench.bench.scenarios.spec import parse_all
from whisperbench.bench.suite import build_suite, quick_dataset

pytestmark = pytest.mark.slow


def test_ctranslate2_offline_batches_and_server_low_rate(tmp_path):
    require("ctranslate2")
    pytest.importorskip("mlperf_loadgen")
    d = quick_dataset("jfk")
    d["algorithms"] = ["short"]
    suite = build_suite({"name": "ct2-scen", "decode": {"language": "en"},
                         "engines": [{"backend": "ctranslate2", "model": "fixture:tiny.en", "compute_type": "int8"}],
                         "datasets": [d]}, base_dir=Path.cwd())
    specs = parse_all([{"kind": "offline", "batch_sizes": [1, 4], "queries": 4},
                       {"kind": "server", "rates": [0.5], "find_max_rate": False, "queries": 3, "target_latency_s": 5}])
    run_scenarios(suite, specs, tmp_path / "r.jsonl", quiet=True)
    rows = read_scenario_rows(tmp_path / "r.jsonl")
    assert all(r["status"] == "ok" and r["completed"] == r["queries"] for r in rows), rows
    b1, b4 = (next(r for r in rows if r.get("batch_size") == b and r["point"] == "batch") for b in (1, 4))
    assert b1["mean_batch"] == 1 and b4["mean_batch"] == 4
    assert "generate" in b4["implementation"] and b4["wer"] == b1["wer"] and b1["wer"] <= 0.05
    assert b4["throughput_rtfx"] > 0 and b1["throughput_rtfx"] > 0
    server = next(r for r in rows if r["point"] == "rate")
    # At 0.5 q/s one instance is mostly idle: latency is about one decode, little queueing.
    assert server["latency_p50_s"] < 3 and server["queue_wait_p50_s"] < server["latency_p50_s"]
    assert server["quantization"] == "int8" and server["wer"] <= 0.05
