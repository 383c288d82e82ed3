"""Deployment scenarios through MLPerf LoadGen, validated on the dummy backend with a known
service time (-O service_time_s): at low load latency is the service time, Server
throughput saturates at instances / service time, queue wait grows towards saturation,
batching multiplies Offline throughput; plus the rate search, the knee, suite validation,
energy counters, and the CLI (rows stored, report section, compare gate, recommend)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import example, given, settings, strategies as st

from tests.conftest import run_cli
from whisperbench.bench.scenarios import summary
from whisperbench.bench.scenarios.energy import EnergyMeter
from whisperbench.bench.scenarios.offline import knee
from whisperbench.bench.scenarios.records import SCENARIO_KIND, read_scenario_rows
from whisperbench.bench.scenarios.run import measured, run_scenarios
from whisperbench.bench.scenarios.server import GROWTH, search_rate
from whisperbench.bench.scenarios.spec import parse_all
from whisperbench.bench.suite import build_suite, load_suite, quick_dataset
from whisperbench.errors import WhisperbenchError

pytest.importorskip("mlperf_loadgen")

SERVICE = 0.02  # seconds per runtime call
INSTANCES = 2
CAPACITY = INSTANCES / SERVICE  # 100 queries/s


def dummy_suite(backend_extra: dict | None = None):
    d = quick_dataset("jfk")
    d["algorithms"] = ["short"]
    return build_suite({"name": "scen", "decode": {"language": "en"},
                        "engines": [{"backend": "dummy", "model": "x",
                                     "extra": {"service_time_s": SERVICE, **(backend_extra or {})}}],
                        "datasets": [d]}, base_dir=Path.cwd())


@pytest.fixture(scope="module")
def dummy_rows(tmp_path_factory) -> list[dict]:
    """One run: Offline batch 1 and 4, Server at 0.3x, 0.8x and 2x capacity on 2 instances."""
    out = tmp_path_factory.mktemp("scen") / "rows.jsonl"
    specs = parse_all([
        {"kind": "offline", "batch_sizes": [1, 4], "queries": 60},
        {"kind": "server", "instances": INSTANCES, "rates": [0.3 * CAPACITY], "find_max_rate": False, "queries": 60,
         "target_latency_s": 0.1},
        {"kind": "server", "instances": INSTANCES, "rates": [0.8 * CAPACITY, 2 * CAPACITY],
         "find_max_rate": False, "queries": 150, "target_latency_s": 0.1},
    ])
    run_scenarios(dummy_suite(), specs, out, quiet=True, price_per_hour=3.0)
    return read_scenario_rows(out)


def _server(rows, factor):
    return next(r for r in rows if r["point"] == "rate" and abs(r["target_qps"] - factor * CAPACITY) < 1e-6)


def test_low_load_latency_is_the_service_time(dummy_rows):
    low = _server(dummy_rows, 0.3)
    assert low["status"] == "ok" and low["completed"] == low["queries"] == 60
    assert SERVICE <= low["latency_p50_s"] < SERVICE * 1.5
    assert low["queue_wait_p50_s"] < SERVICE / 2
    assert low["samples_per_second"] == pytest.approx(0.3 * CAPACITY, rel=0.25)  # it keeps up with the arrivals


def test_server_saturates_at_instances_over_service_time(dummy_rows):
    over = _server(dummy_rows, 2)
    # Offered twice what it can serve: it completes about instances / service time.
    assert 0.7 * CAPACITY <= over["samples_per_second"] <= 1.1 * CAPACITY
    assert {r["instances"] for r in dummy_rows if r["scenario"] == "server"} == {INSTANCES}


def test_queue_wait_grows_towards_saturation(dummy_rows):
    waits = [_server(dummy_rows, f)["queue_wait_p90_s"] for f in (0.3, 0.8, 2)]
    assert waits[0] < waits[1] < waits[2]
    assert waits[2] > 10 * SERVICE  # past saturation the queue keeps growing
    lat = [_server(dummy_rows, f)["latency_p90_s"] for f in (0.3, 0.8, 2)]
    assert lat == sorted(lat)


def test_offline_batching_multiplies_throughput(dummy_rows):
    b1, b4 = (next(r for r in dummy_rows if r["point"] == "batch" and r["batch_size"] == b) for b in (1, 4))
    # One call per SERVICE seconds at most; a batch of 4 per call (scheduling noise on a loaded machine aside).
    assert 0.5 / SERVICE <= b1["samples_per_second"] <= 1.05 / SERVICE
    assert 2.5 * b1["samples_per_second"] <= b4["samples_per_second"] <= 4.2 / SERVICE
    assert b4["mean_batch"] == pytest.approx(4, rel=0.1) and b1["mean_batch"] == 1
    # (the row's seconds are rounded)
    assert b4["throughput_rtfx"] == pytest.approx(b4["audio_seconds"] / b4["wall_seconds"], rel=1e-4)


def test_rows_carry_identity_cost_and_honest_energy(dummy_rows):
    for r in dummy_rows:
        assert r["record"] == SCENARIO_KIND and r["backend"] == "dummy" and r["dataset"] == "jfk"
        assert r["options_hash"] and r["packages"] and r["cpu_model"] is not None
        assert r["loadgen_result"] in ("VALID", "INVALID")
        # $ per audio hour = price / throughput (audio s per wall s).
        assert r["dollars_per_audio_hour"] == pytest.approx(3.0 / r["throughput_rtfx"], rel=1e-6)
        if r["energy_joules"] is None:
            assert r["energy_note"] and r["joules_per_audio_hour"] is None
        else:
            assert r["joules_per_audio_hour"] == pytest.approx(r["energy_joules"] / (r["audio_seconds"] / 3600))


def test_rate_search_finds_the_saturation_edge(tmp_path):
    specs = parse_all([{"kind": "server", "instances": INSTANCES, "queries": 80, "target_latency_s": 3 * SERVICE,
                        "search_steps": 5}])
    run_scenarios(dummy_suite(), specs, tmp_path / "s.jsonl", quiet=True)
    rows = read_scenario_rows(tmp_path / "s.jsonl")
    best = next(r for r in rows if r["point"] == "max_rate")
    tried = [r for r in rows if r["point"] == "rate"]
    assert len(tried) == 5 and len(best["search"]) == 5
    assert 0.4 * CAPACITY <= best["max_rate_qps"] <= 1.1 * CAPACITY
    assert best["slo_met"] and best["latency_at_percentile_s"] <= 3 * SERVICE
    assert all(t["met"] == (t["latency_s"] <= 3 * SERVICE) for t in best["search"])


@settings(max_examples=60, deadline=None)
@given(edge=st.floats(0.5, 500), start=st.floats(0.1, 1000), steps=st.integers(1, 12))
@example(edge=6.0, start=0.5, steps=10)  # bracketed late: only 2 bisections left
def test_search_rate_brackets_a_monotone_edge(edge, start, steps):
    best, trials = search_rate(lambda r: r <= edge, start, steps)
    assert len(trials) <= steps
    assert all(ok == (r <= edge) for r, ok in trials)
    passed = [r for r, ok in trials if ok]
    assert best == (max(passed) if passed else None)
    bracketed = next((i for i in range(len(trials)) if {ok for _, ok in trials[: i + 1]} == {True, False}), None)
    if bracketed is not None:  # each bisection halves the bracket's log-width, which starts at one GROWTH step
        bisections = len(trials) - 1 - bracketed
        assert edge / best <= GROWTH ** (0.5 ** bisections) * (1 + 1e-9)


def test_knee():
    assert knee([(1, 10.0), (2, 19.0), (4, 30.0), (8, 30.5)]) == 4
    assert knee([(1, 10.0), (2, 10.2)]) == 1
    assert knee([(1, 10.0), (2, 20.0), (4, 40.0)]) == 4
    assert knee([]) is None


def test_spec_validation_lists_every_problem():
    with pytest.raises(WhisperbenchError) as e:
        parse_all([{"kind": "online"}, {"kind": "server", "batch_sizes": [1, 2], "percentile": 42,
                                        "find_max_rate": False}, {"kind": "offline", "instances": 2, "rates": [1]}])
    text = str(e.value)
    for part in ("kind must be one of", "one batch_size", "percentile must be one of", "needs rates",
                 "offline scenario runs one instance", "belong to server"):
        assert part in text


def test_energy_from_rapl_counters_with_wrap(tmp_path):
    pkg = tmp_path / "intel-rapl:0"
    pkg.mkdir()
    (pkg / "name").write_text("package-0\n")
    (pkg / "max_energy_range_uj").write_text("1000000000\n")
    (pkg / "energy_uj").write_text("999000000\n")
    (tmp_path / "intel-rapl:0:0").mkdir()  # a subdomain: inside the package, not added again
    meter = EnergyMeter("cpu", rapl_root=tmp_path).start()
    (pkg / "energy_uj").write_text("4000000\n")  # wrapped: 1 J to the top, then 4 J
    reading = meter.stop()
    assert reading.joules == pytest.approx(5.0) and reading.sources == ["rapl:package-0"]
    none = EnergyMeter("cpu", rapl_root=tmp_path / "absent").start().stop()
    assert none.joules is None and none.note.startswith("not readable here: RAPL:") and "does not exist" in none.note


def test_summary_compare_and_recommend(dummy_rows):
    md = summary.markdown(dummy_rows)
    assert "batch 4" in md and "throughput stops rising at batch 4" in md
    for note in {r["energy_note"] for r in dummy_rows if r["energy_joules"] is None}:  # e.g. no RAPL on a VM
        assert note.startswith("not readable here: ") and f"energy {note}" in md
    same = summary.compare_scenarios(dummy_rows, dummy_rows, max_slowdown=1.2, gate_loaded=True)
    assert same.exit_code == 0 and same.cells
    slower = [dict(r, throughput_rtfx=r["throughput_rtfx"] / 3) if r["point"] == "batch" else r for r in dummy_rows]
    worse = summary.compare_scenarios(dummy_rows, slower, max_slowdown=1.2, gate_loaded=True)
    assert worse.exit_code == 1 and "REGRESSION" in worse.markdown()
    missing = summary.compare_scenarios(dummy_rows, [r for r in dummy_rows if r["point"] != "batch"], max_slowdown=1.2)
    assert missing.exit_code == 2
    choice, found, text = summary.recommend_scenario(dummy_rows, rate=20, max_latency_s=0.1)
    assert choice is not None and choice.rate_qps >= 20 and choice.latency_s <= 0.1 and "$ per audio hour" in text
    none, _, text = summary.recommend_scenario(dummy_rows, rate=10_000, max_latency_s=0.1)
    assert none is None and "no measured configuration" in text


def test_cli_quick_form_and_bad_input(tmp_path):
    r = run_cli("scenarios", "-b", "dummy", "-m", "x", "-O", f"service_time_s={SERVICE}", "-d", "jfk",
                "--scenario", "offline", "--batch-sizes", "1,2", "--queries", "8", "-o", tmp_path / "q.jsonl",
                cwd=tmp_path)
    assert r.rc == 0, r.stderr
    rows = [json.loads(line) for line in (tmp_path / "q.jsonl").read_text().splitlines()]
    assert [x["batch_size"] for x in rows if x["record"] == SCENARIO_KIND] == [1, 2]
    bad = run_cli("scenarios", "-b", "dummy", "-m", "x", "-d", "jfk", cwd=tmp_path)
    assert bad.rc == 2 and "no scenarios" in bad.stderr and "Traceback" not in bad.stderr
    bad = run_cli("scenarios", "-b", "whispercpp", "-m", "fixture:tiny.en", "-d", "jfk", "--scenario", "offline",
                  "--batch-sizes", "1,2", cwd=tmp_path)
    assert bad.rc == 2 and "decodes one input per call" in bad.stderr


def _suite_toml(path: Path, engines: str, scenarios: str, top: str = "") -> Path:
    d = quick_dataset("jfk")
    path.write_text(f'name = "scen-bench"\nrepeats = 1\nwarmups = 0\n{top}[decode]\nlanguage = "en"\n{engines}\n'
                    f'[[datasets]]\nname = "{d["name"]}"\nkind = "{d["kind"]}"\npath = "{d["path"]}"\n'
                    f'algorithms = ["short"]\n{scenarios}\n')
    return path


def test_bench_runs_the_suites_scenarios_into_its_file_and_resumes(tmp_path):
    suite = _suite_toml(tmp_path / "s.toml", '[[engines]]\nbackend = "dummy"\nmodel = "x"\n'
                        'extra = { service_time_s = 0.002 }',
                        '[[scenarios]]\nkind = "offline"\nbatch_sizes = [1, 2]\nqueries = 4')
    out = tmp_path / "r.jsonl"
    r = run_cli("bench", suite, "-o", out, "-q", "--no-scenarios", cwd=tmp_path)
    assert r.rc == 0 and "scenario rows" not in r.stdout and not read_scenario_rows(out), r.stderr
    # --resume: the cells are measured already; the scenarios run into the same file and run.
    r = run_cli("bench", suite, "-o", out, "--resume", "-q", cwd=tmp_path)
    assert r.rc == 0, r.stderr
    records = [json.loads(line) for line in out.read_text().splitlines()]
    (run,) = [x for x in records if x["record"] == "run"]
    rows = [x for x in records if x["record"] == SCENARIO_KIND]
    assert {x["run_id"] for x in records if x["record"] in ("measurement", SCENARIO_KIND)} == {run["run_id"]}
    assert [(x["point"], x["batch_size"], x["status"]) for x in rows] == [("batch", 1, "ok"), ("batch", 2, "ok")]
    assert all(x["peak_rss_mb"] > 0 and x["backend"] == "dummy" for x in rows)
    assert "0 rows" in r.stdout and "2 scenario rows, 0 failed" in r.stdout
    # What a further --resume would skip: every point; a missing one is run again.
    spec = parse_all([{"kind": "offline", "batch_sizes": [1, 2], "queries": 4}])[0]
    assert measured(rows, spec)["complete"]
    assert measured(rows[:1], spec) == {"complete": False, "batches": [[1, 0]], "rates": [], "searched": False}
    failed = [dict(rows[0], status="failed", point=None)]  # the scenario failed as a whole (crash, load error)
    assert measured(failed, spec)["complete"] and not measured(failed, spec, retry_failed=True)["complete"]


def test_a_crashing_child_leaves_failed_rows_and_the_run_goes_on(tmp_path):
    # timeout_s = 4: a child silent for 4 s is killed. The good cell's Offline run takes about
    # 4.5 s (90 calls of 50 ms) and goes on: its child says every second that it decoded something.
    suite = load_suite(str(_suite_toml(
        tmp_path / "s.toml",
        '[[engines]]\nbackend = "dummy"\nmodel = "crashes"\nextra = { crash = "abort" }\n'
        '[[engines]]\nbackend = "dummy"\nmodel = "x"\nextra = { service_time_s = 0.05 }', "", top="timeout_s = 4\n")))
    specs = parse_all([{"kind": "offline", "batch_sizes": [1], "queries": 90},
                       {"kind": "server", "rates": [50.0], "find_max_rate": False, "queries": 8}])
    report = run_scenarios(suite, specs, tmp_path / "r.jsonl", quiet=True)
    rows = read_scenario_rows(tmp_path / "r.jsonl")
    crashed = [r for r in rows if r["model"] == "crashes"]
    # Each scenario of the crashing cell failed in its own child (the second ran in a fresh one).
    assert [(r["scenario"], r["status"], r["error_type"]) for r in crashed] == [
        ("offline", "failed", "Crash"), ("server", "failed", "Crash")]
    assert all("SIGABRT" in r["error"] and r["returncode"] == -6 for r in crashed)
    fine = [r for r in rows if r["model"] == "x"]
    assert [(r["scenario"], r["status"]) for r in fine] == [("offline", "ok"), ("server", "ok")], fine
    assert fine[0]["completed"] == 90 and fine[0]["wall_seconds"] > 4
    assert report.failures == 2 and report.rows == 4


def test_progress_is_reported_only_while_the_instances_decode():
    import threading
    import time
    from types import SimpleNamespace

    from whisperbench.bench.scenarios.cell_process import _report_progress

    work, sent, stop = SimpleNamespace(calls=0), [], threading.Event()
    reporter = threading.Thread(target=_report_progress, args=(work, lambda e, **d: sent.append(d["calls"]), stop, 0.01))
    reporter.start()
    for _ in range(3):
        work.calls += 1
        time.sleep(0.05)
    time.sleep(0.1)  # stuck: nothing decoded, nothing said (the spawner's timeout then ends it)
    stop.set()
    reporter.join()
    assert sent == [1, 2, 3]
