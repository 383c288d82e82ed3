"""Scoring per language (issue 21 items 6-7): the normalizer chosen by the utterance's
language, CER first (and without spaces) for languages written without them, datasets that
carry each utterance's language, and the per-language / identification tables of reports."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from whisperbench.bench import datasets as ds
from whisperbench.bench.languages import ALL, confusion_table, language_rows, language_table
from whisperbench.bench.metrics import accuracy, catastrophic
from whisperbench.bench.records import Measurement
from whisperbench.text import NO_SPACE_LANGUAGES, normalize, normalizer_version, primary_metric


def test_english_normalizer_for_english_and_unstated_basic_for_the_rest():
    assert normalize("Mr. Smith") == normalize("Mr. Smith", "en") == "mister smith"
    assert normalize("Mr. Smith", "fr") == "mr smith"  # no English spelling rules
    assert normalize("Ça, c'est ÉTÉ!", "fr") == "ça c est été"
    assert normalizer_version().endswith(":EnglishTextNormalizer")
    assert normalizer_version("de").endswith(":BasicTextNormalizer")
    assert normalizer_version("en-US").endswith(":EnglishTextNormalizer")


@pytest.mark.parametrize("language, metric", [("ja", "cer"), ("zh-CN", "cer"), ("th", "cer"), ("de", "wer"),
                                              ("en", "wer"), (None, "wer")])
def test_primary_metric(language, metric):
    assert primary_metric(language) == metric


CJK = st.text(alphabet=st.sampled_from("新しい靴をはいて出かけます对于更高阶的导数我们可以继续同样过程"), min_size=2, max_size=30)


@settings(max_examples=40, deadline=None)
@given(text=CJK, cuts=st.lists(st.integers(min_value=1, max_value=29), max_size=5),
       language=st.sampled_from(sorted(NO_SPACE_LANGUAGES)))
def test_spaces_are_no_characters_where_words_are_not_spaced(text, cuts, language):
    """A hypothesis that differs from the reference only by spaces has CER 0 in a language
    written without spaces, and not in one written with them."""
    spaced = text
    for k in sorted({c for c in cuts if c < len(text)}, reverse=True):
        spaced = spaced[:k] + " " + spaced[k:]
    acc = accuracy(text, spaced, language)
    assert acc.cer == 0 and acc.ref_chars == len(text)
    if spaced != text:
        assert accuracy(text, spaced, "de").cer > 0


def test_catastrophic_judges_unspaced_languages_by_cer():
    ref, hyp = "新しい靴をはいて出かけます。", "新しい 靴を はいて 出かけます"  # 1 reference "word", 4 hypothesis words
    acc = accuracy(ref, hyp, "ja")
    assert acc.wer == 4.0 and acc.cer == 0
    assert catastrophic(acc, 3.0, "ja") == []
    assert catastrophic(accuracy(ref, hyp, "de"), 3.0, "de") == ["wer 400%"]


def _manifest(tmp_path, speech, rows) -> str:
    jfk = speech / "jfk" / "jfk.flac"
    path = tmp_path / "m.jsonl"
    path.write_text("".join(json.dumps({"audio_filepath": str(jfk), "text": "hello", **r}) + "\n" for r in rows))
    return str(path)


def test_manifest_language_is_carried_and_hashed_only_when_stated(tmp_path, speech):
    spec = lambda p: ds.DatasetSpec(name="m", kind="manifest", path=p)  # noqa: E731
    plain = ds.load(spec(_manifest(tmp_path, speech, [{"id": "a"}])))
    assert plain.utterances[0].language is None
    # Datasets that state no language keep the content hash they had before languages were read.
    import hashlib

    u = plain.utterances[0]
    old = hashlib.sha256(json.dumps([u.id, u.reference, u.audio_digest]).encode() + b"\n").hexdigest()[:16]
    assert plain.content_hash == old
    french = ds.load(spec(_manifest(tmp_path, speech, [{"id": "a", "language": "fr"}])))
    assert french.utterances[0].language == "fr" and french.content_hash != plain.content_hash
    joined = ds.build_longform(french.utterances * 2, ds.LongformSpec(target_seconds=1000))
    assert joined[0].language == "fr"


def _row(config: str, utt: str, spoken: str, heard: str, prob: float | None, forced: str | None = None,
         **acc) -> dict:
    numbers = dict(ref_words=4, ref_chars=20, substitutions=1, deletions=0, insertions=0, char_edits=2)
    numbers.update(acc)
    return Measurement(run_id="r", cell_id=config, utterance_id=utt, reference_language=spoken, language=heard,
                       language_probability=prob, options={"language": forced}, **numbers).to_dict()


def test_language_table_pools_per_language_and_counts_identification():
    df = pd.DataFrame([
        _row("c1", "d1", "de", "de", 0.9), _row("c1", "d2", "de", "nl", 0.6),
        _row("c1", "j1", "ja", "ja", 0.99, ref_words=1, substitutions=1, ref_chars=10, char_edits=1),
        _row("c1", "f1", "fr", "fr", None, forced="fr"),  # language given: not an identification
        _row("c2", "d1", "de", "de", 0.8),
    ])
    cells = pd.DataFrame({"run_id": ["r", "r"], "cell_id": ["c1", "c2"], "configuration": ["A", "B"]})
    t = language_table(df, cells).set_index(["configuration", "language"])
    de = t.loc[("A", "de")]
    assert de["n_utterances"] == 2 and de["wer"] == pytest.approx(2 / 8) and de["cer"] == pytest.approx(4 / 40)
    assert de["lid_rows"] == 2 and de["lid_accuracy"] == 0.5 and de["lid_probability"] == pytest.approx(0.75)
    assert t.loc[("A", "ja"), "primary"] == "cer" and de["primary"] == "wer"
    assert t.loc[("A", "fr"), "lid_rows"] == 0 and t.loc[("A", "fr"), "lid_accuracy"] != t.loc[("A", "fr"), "lid_accuracy"]
    every = t.loc[("A", ALL)]
    assert every["n_utterances"] == 4 and every["lid_rows"] == 3 and every["lid_accuracy"] == pytest.approx(2 / 3)
    assert t.loc[("B", "de"), "lid_accuracy"] == 1.0
    headers, rows = language_rows(language_table(df, cells))
    ja = next(r for r in rows if r[1] == "ja")
    assert ja[headers.index("CER")].endswith("*") and not ja[headers.index("WER")].endswith("*")
    conf = confusion_table(df, cells)
    assert conf.to_dict("records") == [{"configuration": "A", "language": "de", "detected": "nl", "rows": 1}]


def test_rows_without_a_stated_language_make_no_language_table():
    df = pd.DataFrame([_row("c1", "d1", None, "en", 0.9)])
    cells = pd.DataFrame({"run_id": ["r"], "cell_id": ["c1"], "configuration": ["A"]})
    assert language_table(df, cells).empty and confusion_table(df, cells).empty
