"""Reports (whisperbench.bench.report and .aggregate): the Markdown table's numbers computed
again from the rows, the plots, the self-contained HTML page, the reference row and the
Pareto front."""

from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
import pytest

from tests.bench.conftest import cli
from whisperbench.bench import read_results


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
        # The quantization that ran, then the stored weights' when they differ: "int8 (float16 weights)".
        assert (cells["backend"], cells["model"], cells["quantization"].split(" (")[0]) == key[:3]
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
    for name in ("wer_vs_rtfx.png", "longform.png", "latency.png"):
        img = matplotlib.image.imread(out_dir / name)
        assert img.shape[:2] == (PIXELS[1], PIXELS[0]), name
        assert img[..., :3].std() > 0.05  # not blank
    # The HTML page is self-contained: its charts drawn by the plotly.js inlined in it, no
    # element that loads anything from elsewhere (test_report_html.py checks it in a browser).
    page = (out_dir / "report.html").read_text()
    assert page.count('<div class="chart">') == 3  # WER/RTFx per algorithm, long-form, latency
    assert not re.search(r'<(script|img|link|iframe)\b[^>]*\b(src|href)=', page)
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


