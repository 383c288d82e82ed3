"""VAD time in the report: a cell decoded with vad='silero' reports the detection's own time
per pass (`vad_seconds`, also inside its decode time) in the cell summary and in the report's
table; a report with no VAD cell has no such column. Dummy backend, real Silero, jfk."""

from __future__ import annotations

import pytest

from tests.bench.conftest import dummy_jfk_toml, run_toml
from whisperbench.bench import read_results, summarize
from whisperbench.bench.report import table_columns, write_report

pytest.importorskip("silero_vad")

VARIANTS = """
[[variants]]
name = "vad-none"
vad = "none"

[[variants]]
name = "vad-silero"
vad = "silero"
"""


@pytest.fixture(scope="module")
def vad_run(tmp_path_factory, speech):
    out = tmp_path_factory.mktemp("vad") / "vad.jsonl"
    return run_toml(out, dummy_jfk_toml(speech, "{}", repeats=2) + VARIANTS)


def test_vad_seconds_per_pass_in_cells_and_report(vad_run, tmp_path):
    df = read_results(vad_run)
    assert (df["status"] == "ok").all()
    silero = df[df["variant"] == "vad-silero"]
    assert len(silero) == 2 and (silero["vad_seconds"] > 0).all()
    assert (silero["vad_seconds"] <= silero["decode_seconds"]).all()  # counted inside the decode time
    assert df[df["variant"] == "vad-none"]["vad_seconds"].isna().all()
    cells = summarize(df).set_index("variant")
    assert cells.loc["vad-silero", "vad_seconds"] == pytest.approx(silero["vad_seconds"].sum() / 2)  # per pass
    assert cells["vad_seconds"].isna()["vad-none"]
    report, written = write_report(vad_run, tmp_path / "report")
    table = report.table.set_index("variant")
    assert table.loc["vad-silero", "vad_seconds"] == pytest.approx(cells.loc["vad-silero", "vad_seconds"])
    assert "VAD time (s)" in written["markdown"].read_text()


def test_no_vad_no_vad_column(vad_run, tmp_path):
    report, _ = write_report(vad_run, tmp_path / "report")
    assert "vad_seconds" in [c for c, _ in table_columns(report.table)]
    no_vad = report.table[report.table["variant"] == "vad-none"]
    assert "vad_seconds" not in [c for c, _ in table_columns(no_vad)]
