"""`whisperbench.bench.history`: metrics over commits, regressions marked where compare's
gate would first have fired, latest against best. Inputs: copies of one real baseline run
at several commits, made slower or worse where a test needs it (tests/bench/results_data.py)."""

from __future__ import annotations

import json
import math

import pytest

from tests.bench.results_data import commit_files
from whisperbench.bench.history import build_history, render_history, timing_value

CELLS = {"jfk/short", "librispeech/short", "librivox/short", "sonnets/sequential", "sonnets/chunked"}


@pytest.fixture(scope="module")
def steps(tmp_path_factory):
    """c1; c2 = c1; c3 2.5x slower everywhere; c4 = c3 with librivox a quarter of its words
    dropped; c5 = c4; c6 back to c1's speed and words (an improvement: the reference moves)."""
    out = tmp_path_factory.mktemp("history")
    drop = {"librivox": 6}
    files = commit_files(out / "results", [
        {"commit": "c1"}, {"commit": "c2"}, {"commit": "c3", "slower": 2.5},
        {"commit": "c4", "slower": 2.5, "drop": drop}, {"commit": "c5", "slower": 2.5, "drop": drop},
        {"commit": "c6"}])
    return out, files


@pytest.fixture(scope="module")
def hist(steps):
    return build_history(steps[1], bootstrap=200)


def _series(hist, workload):
    return next(s for s in hist.series if s.workload == workload)


def test_points_in_commit_order_one_series_per_cell(hist):
    assert hist.commits == ["c1", "c2", "c3", "c4", "c5", "c6"]
    assert {s.workload for s in hist.series} == CELLS and len(hist.series) == len(CELLS)
    for s in hist.series:
        assert [p.commit for p in s.points] == hist.commits
        for p in s.points:
            for metric, v in p.values.items():
                assert v.value is not None and v.low <= v.value <= v.high, (s.label, p.commit, metric)


def test_regressions_marked_where_the_gate_first_fired(hist):
    marked = {(s.workload, p.commit): p for s, p in hist.regressions}
    # The slowdown at c3 in every cell; the dropped words at c4 in librivox only; nothing else
    # (c4's slowness was already marked at c3, c5 repeats c4, c6 is faster and better).
    assert set(marked) == {(w, "c3") for w in CELLS} | {("librivox/short", "c4")}
    for w in CELLS:
        p = marked[(w, "c3")]
        assert p.reference == "c2" or p.reference == "c1"
        assert any("slower" in r for r in p.regressions) and not any("WER" in r for r in p.regressions)
    c4 = marked[("librivox/short", "c4")]
    assert c4.reference == "c3" and any(r.startswith("WER +") for r in c4.regressions)
    # The reference moved to each significant change: c6 is compared with c4 (librivox) or c3.
    assert _series(hist, "librivox/short").points[5].reference == "c4"
    assert _series(hist, "jfk/short").points[5].reference == "c3"


def test_values_follow_the_rows(hist):
    s = _series(hist, "librivox/short")
    wer = [p.values["wer"].value for p in s.points]
    assert wer[0] == wer[1] == wer[2] == wer[5] < wer[3] == wer[4]
    rtfx = [p.values["rtfx"].value for p in s.points]
    assert rtfx[2] == pytest.approx(rtfx[0] / 2.5) and rtfx[5] == pytest.approx(rtfx[0])


def test_latest_against_best(hist):
    headers, rows, classes = hist.summary_rows()
    row = {(r[1], r[2]): dict(zip(headers, r)) for r in rows}
    wer = row[("librivox/short", "WER (%)")]
    assert wer["latest commit"] == "c6" and wer["latest vs best"] == "best"  # c6 returned to c1's WER
    assert row[("librivox/short", "RTFx")]["regressions marked"] == "c3, c4"
    assert all(c == "" for c in classes)  # the latest point (c6) regressed nowhere


def test_latest_regressed_row_is_marked(steps):
    hist = build_history(steps[1][:4], bootstrap=200)
    headers, rows, classes = hist.summary_rows()
    flagged = {r[1] for r, c in zip(rows, classes) if c == "regression"}
    assert flagged == {"librivox/short"}


def test_intervals():
    # One run: the assumed run-to-run noise; several: Student's t on the logs.
    one = timing_value([10.0], 0.0, 0.10)
    assert one.value == pytest.approx(10) and one.high / one.value == pytest.approx(math.exp(1.959964 * 0.10))
    three = timing_value([9.0, 10.0, 11.0], 0.0, 0.10)
    assert three.low < 9.0 and three.high > 11.0
    assert timing_value([9.0, 10.0, 11.0], 0.5, 0.10).high > three.high  # never narrower than the repeat spread


def test_render_history_files(steps, hist):
    written = render_history(hist, steps[0] / "site")
    page = written["html"].read_text()
    assert page.count('<div class="chart">') == len(CELLS)
    assert "Plotly.newPlot" in page and '<script src="http' not in page
    data = json.loads(written["json"].read_text())
    assert {s["label"].split(" · ")[-1] for s in data["series"]} == CELLS
    md = written["markdown"].read_text()
    assert "### Regressions (6)" in md and "**c4**" in md
