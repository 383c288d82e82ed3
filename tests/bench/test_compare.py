"""whisperbench.bench.compare (exit codes 0/1/2) and the CI regression gate built on it
(examples/ci), on real runs (CTranslate2 tiny.en fixture, a reduced default suite) and on
the dummy backend for the cheap cases. The runs are recorded once per session
(tests/bench/conftest.py)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.bench.conftest import GATE_SCRIPT, WORKFLOW, cli, dummy_jfk_toml, jfk_reference
from whisperbench.bench import read_results


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
    # loaded-machine rule is tested in test_noise.py.)
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
    suite.write_text(dummy_jfk_toml(speech, f"{{text = {json.dumps(jfk_reference(speech))}, drop_words = 3}}"))
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
