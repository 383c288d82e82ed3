"""whisperbench.bench.recommend: the fastest configuration meeting the constraints, checked
against a hand computation over the rows, and the command line that rebuilds it."""

from __future__ import annotations

import json
import shlex

import numpy as np
import pandas as pd
import pytest

from tests.bench.conftest import cli
from whisperbench.bench import read_results


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


