"""The report's configuration table: one row per configuration (runs pooled unless they
measured the same cell, then kept apart and said so), a format column that says what the
runtime read, the quantization that ran, and the per-algorithm numbers the plots draw.
Inputs: the stored default baseline's real rows, re-labelled into runs
(tests/bench/results_data.py)."""

from __future__ import annotations

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.bench.results_data import BASELINE, baseline_records, run_ids, split_run, write
from whisperbench.bench import aggregate, records
from whisperbench.bench.aggregate import configuration_table, run_groups
from whisperbench.bench.report import build_report, table_rows, write_report
from whisperbench.bench.store import read_results


@given(st.dictionaries(st.text("abcdef", min_size=1, max_size=3),
                       st.sets(st.integers(0, 6), min_size=1, max_size=4), min_size=1, max_size=7))
@settings(max_examples=200, deadline=None)
def test_run_groups_properties(cells_by_run):
    groups = run_groups(cells_by_run)
    placed = [r for g in groups for r in g]
    assert sorted(placed) == sorted(cells_by_run)  # every run in exactly one group
    for g in groups:  # no cell measured twice within a group
        cells = [c for r in g for c in cells_by_run[r]]
        assert len(cells) == len(set(cells))
    for k, g in enumerate(groups):  # first fit: a run is in group k only if every earlier group clashed
        for r in g:
            for earlier in groups[:k]:
                assert any(cells_by_run[r] & cells_by_run[e] for e in earlier if list(cells_by_run).index(e)
                           < list(cells_by_run).index(r))
    most = max(sum(c in cs for cs in cells_by_run.values()) for cs in cells_by_run.values() for c in cs)
    assert len(groups) >= most
    if all(not (a & b) for i, a in enumerate(cells_by_run.values()) for b in list(cells_by_run.values())[i + 1:]):
        assert len(groups) == 1  # runs of different cells: one row


@pytest.fixture(scope="module")
def recs():
    return baseline_records()


def _table(tmp_path, rows):
    df = read_results(write(tmp_path / "r.jsonl", rows))
    table, _ = configuration_table(df)
    return table, aggregate.cell_summary(df)


def test_quick_form_runs_of_one_configuration_make_one_row(tmp_path, recs):
    """A short-form run, a sequential run and a chunked run (as quick-form runs are): one row
    with all three WERs, nothing kept apart."""
    first = run_ids(recs)[0]
    rows = split_run(recs, first, lambda r: f"quick-{r['algorithm']}")
    table, cells = _table(tmp_path, rows)
    assert len(table) == 1
    row = table.iloc[0]
    assert row["runs"] == 3 and "(run" not in row["configuration"]
    for col in ("short_wer", "sequential_wer", "chunked_wer", "short_rtfx", "sequential_rtfx", "chunked_rtfx"):
        assert not pd.isna(row[col]), col
    assert row["chunked_boundary_errors"] is not None  # the baseline's chunked rows report boundaries
    assert aggregate.repeated_runs_notes(cells) == []


def test_runs_that_measured_the_same_cell_are_kept_apart_and_said(tmp_path, recs):
    """The baseline: 3 runs of the same suite -> 3 rows, each naming its run, and a note."""
    table, cells = _table(tmp_path, recs)
    assert len(table) == 3
    assert sorted(table["run_id"]) == sorted(run_ids(recs))
    notes = aggregate.repeated_runs_notes(cells)
    assert len(notes) == 1 and "3 runs (" in notes[0] and "as 3 rows" in notes[0]
    headers, rows = table_rows(table)
    assert "runs" in headers


def test_mixed_runs_group_first_fit(tmp_path, recs):
    """Runs A (short), B (long-form), C (short again): A and B pooled, C apart -> 2 rows."""
    first, second = run_ids(recs)[:2]
    a = split_run(recs, first, lambda r: "A-short" if r["algorithm"] == "short" else "B-long")
    c = split_run(recs, second, lambda r: "C-short" if r["algorithm"] == "short" else None)
    table, cells = _table(tmp_path, a + c)
    assert len(table) == 2
    by_runs = {r: row for r, row in zip(table["run_id"], table.to_dict("records"))}
    assert set(by_runs) == {"A-short,B-long", "C-short"}
    assert by_runs["A-short,B-long"]["sequential_wer"] > 0
    assert pd.isna(by_runs["C-short"]["sequential_wer"])
    (note,) = aggregate.repeated_runs_notes(cells)
    assert "2 runs (A-short, C-short) measured the same cells (jfk/short, librispeech/short, librivox/short)" in note
    assert "as 2 rows" in note


def test_format_column_tells_what_the_runtime_read(tmp_path, recs):
    """A version-2 row of the openai backend recorded the fixture's format (ctranslate2) as
    its model_format; read now it says openai, converted from ctranslate2, and the
    quantization that ran beside the weights'."""
    first = run_ids(recs)[0]
    rows = []
    for r in split_run(recs, first, lambda r: "openai-run" if r["algorithm"] == "short" else None):
        r = {**r, "schema_version": 2}
        if r.get("record") == "measurement":
            r.update(backend="openai", compute_type="float32", quantization="float32")
        rows.append(r)
    df = read_results(write(tmp_path / "v2.jsonl", rows))
    assert set(df["model_format"]) == {"openai"} and set(df["source_format"]) == {"ctranslate2"}
    table, _ = configuration_table(df)
    headers, cells = table_rows(table)
    row = dict(zip(headers, cells[0]))
    assert row["format"] == "openai (from ctranslate2)"
    assert row["quantization"] == "float32 (float16 weights)"


def test_migration_table_matches_the_backends():
    """update_to_3 knows each backend's format as the registry declares it."""
    from whisperbench import backends

    for name, fmt in records.FORMAT_READ_AT_VERSION_3.items():
        assert backends.adapter_class(name).capabilities.model_format == fmt, name
    unconverted = {"record": "measurement", "backend": "ctranslate2", "model_format": "ctranslate2", "schema_version": 2}
    assert "source_format" not in records.migrate(unconverted)


def test_report_files_with_longform_only(tmp_path, recs):
    """Long-form results and no short-form: the WER/RTFx plot has its two long-form panels,
    the long-form comparison is drawn, and the HTML page carries both charts."""
    import matplotlib.image

    from whisperbench.bench import plots

    first = run_ids(recs)[0]
    path = write(tmp_path / "long.jsonl", split_run(recs, first, lambda r: None if r["algorithm"] == "short" else "L"))
    report, written = write_report(path, tmp_path / "out")
    assert [a for a, _ in plots.algorithm_points(report.table)] == ["sequential", "chunked"]
    for kind in ("wer_vs_rtfx", "longform", "latency"):
        img = matplotlib.image.imread(written[kind])
        assert img.shape[:2] == (plots.PIXELS[1], plots.PIXELS[0]) and img[..., :3].std() > 0.05, kind
    page = written["html"].read_text()
    assert 'id="chart-wer-rtfx"' in page and 'id="chart-longform"' in page
    md = written["markdown"].read_text()
    assert "![Sequential against chunked long-form](longform.png)" in md


def test_report_of_the_default_baseline_says_runs_were_kept_apart():
    report = build_report(BASELINE)
    assert len(report.table) == 3 and len(report.notes) == 1
    assert "**Runs kept apart:**" in report.markdown()
