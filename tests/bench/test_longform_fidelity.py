"""Long-form fidelity end to end: the sonnets read back to back (158 s, no pauses between
them), sequential vs chunked with a newcomer's options (no language: the English-only
model means English), through the suite runner so the rows' diagnostics are checked too."""

from __future__ import annotations

import pytest

from tests.conftest import require
from whisperbench.bench import read_results, summarize
from whisperbench.bench.runner import run_suite
from whisperbench.bench.suite import build_suite

BOUND_POINTS = 1.5  # issue 12: chunked WER <= sequential WER + 1.5 points


@pytest.fixture(scope="module")
def sonnets_join_run(tmp_path_factory):
    require("faster_whisper")
    require("whisper")
    require("pywhispercpp")
    suite = build_suite({
        "name": "longform-test", "repeats": 1, "warmups": 0, "timeout_s": 900,
        "engines": [{"backend": "ctranslate2", "model": "fixture:tiny.en"},
                    {"backend": "openai", "model": "fixture:tiny.en"},
                    {"backend": "whispercpp", "model": "fixture:tiny.en"}],
        "datasets": [{"name": "sonnets-join", "kind": "manifest", "path": "${speech}/sonnets/manifest.jsonl",
                      "longform": {"target_seconds": 10000, "gap_seconds": 0},
                      "algorithms": ["sequential", "chunked"]}],
    })
    out = tmp_path_factory.mktemp("longform") / "longform.jsonl"
    report = run_suite(suite, out, quiet=True)
    assert report.failures == 0
    return read_results(out)


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["ctranslate2", "openai", "whispercpp"])
def test_chunked_wer_within_bound_of_sequential(sonnets_join_run, backend):
    cells = summarize(sonnets_join_run).set_index(["backend", "algorithm"])
    seq, chunked = cells.loc[(backend, "sequential")], cells.loc[(backend, "chunked")]
    assert seq["n_utterances"] == chunked["n_utterances"] == 1
    assert 150 < sonnets_join_run["audio_seconds"].iloc[0] < 170  # one continuous item
    assert 100 * chunked["wer"] <= 100 * seq["wer"] + BOUND_POINTS, (
        f"{backend}: chunked {100 * chunked['wer']:.2f} % vs sequential {100 * seq['wer']:.2f} %")


@pytest.mark.slow
def test_chunked_rows_record_merge_and_boundary_diagnostics(sonnets_join_run):
    df = sonnets_join_run
    row = df[(df["backend"] == "openai") & (df["algorithm"] == "chunked")].iloc[0]
    assert "overlap word alignment" in row["implementation"]
    assert len(row["window_boundaries"]) >= 5  # 158 s in 30 s windows, 20 s apart
    assert 0 <= row["boundary_errors"] <= row["deletions"] + row["insertions"]
    assert row["reference_words_dropped"] == 0
    seq = df[(df["backend"] == "openai") & (df["algorithm"] == "sequential")].iloc[0]
    assert seq["implementation"] == "whisper.transcribe"


@pytest.mark.slow
def test_whispercpp_chunked_cuts_in_pauses(sonnets_join_run):
    df = sonnets_join_run
    row = df[(df["backend"] == "whispercpp") & (df["algorithm"] == "chunked")].iloc[0]
    assert "windows cut in pauses found by Silero VAD" in row["implementation"]
    assert len(row["window_boundaries"]) >= 5  # 158 s in windows of at most 30 s
    assert 0 <= row["boundary_errors"] <= row["deletions"] + row["insertions"]
