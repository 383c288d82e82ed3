"""The report's WER-against-SNR table and plot (aggregate.wer_by_snr, plots/charts.wer_vs_snr),
on dummy-backend runs over jfk mixed with pink noise at two SNRs."""

from __future__ import annotations

import json

import pytest
from PIL import Image

from tests.bench.conftest import dummy_suite_toml, jfk_reference, run_toml
from whisperbench.bench import read_results
from whisperbench.bench.plots import PIXELS
from whisperbench.bench.report import write_report

SNRS = (10, 0)


def snr_datasets(speech) -> str:
    return "".join(f"""
[[datasets]]
name = "jfk-snr{snr}"
kind = "perturb"
perturb = {{ kind = "snr", snr_db = {snr}, noise = "pink", seed = 3 }}
source = {{ kind = "manifest", path = "{speech}/jfk/manifest.jsonl" }}
""" for snr in SNRS)


@pytest.fixture(scope="module")
def snr_run(tmp_path_factory, speech):
    text = json.dumps(jfk_reference(speech))
    engines = "".join(f"""
[[engines]]
backend = "dummy"
model = "dummy"
extra = {extra}
""" for extra in (f"{{text = {text}}}", f"{{text = {text}, drop_words = 3}}"))
    out = tmp_path_factory.mktemp("snr") / "snr.jsonl"
    return run_toml(out, dummy_suite_toml(speech, repeats=1, warmups=0, engines=engines,
                                          datasets=snr_datasets(speech)))


def test_rows_record_the_perturbation(snr_run):
    df = read_results(snr_run)
    assert (df["status"] == "ok").all() and len(df) == 2 * len(SNRS)
    for _, r in df.iterrows():
        assert r["perturbation"]["kind"] == "snr" and r["perturbation"]["noise"] == "pink"
        assert r["dataset"] == f"jfk-snr{r['perturbation']['snr_db']}"


def test_report_draws_and_tabulates_wer_against_snr(snr_run, tmp_path):
    report, written = write_report(snr_run, tmp_path / "report")
    points = report.snr
    assert sorted(points["snr_db"]) == sorted(2 * [float(s) for s in SNRS])
    # Each point is its cell's WER (one cell per configuration and SNR here), on the table's row.
    cells = report.cells
    for _, p in points.iterrows():
        key = report.table["config_key"].iloc[p["_row"] - 1]
        cell = cells[cells["config_key"].map(lambda k: k == key) & (cells["dataset"] == f"jfk-snr{p['snr_db']:g}")]
        assert len(cell) == 1 and abs(p["wer"] - 100 * cell["wer"].iloc[0]) < 1e-9
        rows = read_results(snr_run).set_index("cell_id").loc[cell["cell_id"]]
        assert cell["wer"].iloc[0] == rows["wer"].iloc[0]  # one utterance: the cell's WER is its row's
    wers = points.groupby("_row")["wer"].max()
    assert sorted(wers > 0) == [False, True]  # the scripted right transcript scores 0, the one dropping words not
    png = written["wer_vs_snr"]
    assert png.name == "wer_vs_snr.png" and Image.open(png).size == PIXELS
    md = written["markdown"].read_text()
    assert "![WER against SNR per configuration](wer_vs_snr.png)" in md
    assert "### WER against SNR" in md and "| SNR 10 dB | SNR 0 dB |" in md
    assert 'id="chart-wer-snr"' in written["html"].read_text()


def test_no_snr_cells_no_snr_plot(snr_run, tmp_path):
    # The same rows without their perturbation (as a file written before rows recorded it).
    plain = tmp_path / "plain.jsonl"
    records = [json.loads(line) for line in snr_run.read_text().splitlines()]
    plain.write_text("".join(json.dumps({k: v for k, v in r.items() if k != "perturbation"}) + "\n" for r in records))
    report, written = write_report(plain, tmp_path / "report")
    assert report.snr.empty and "wer_vs_snr" not in written
    assert "WER against SNR" not in written["markdown"].read_text()
