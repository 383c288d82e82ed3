"""Per-utterance accuracy (whisperbench.bench.metrics): WER parts after normalization, empty
references kept out of WER, repeated n-grams."""

from __future__ import annotations

import pytest

from whisperbench.bench.metrics import accuracy, repeated_ngram_share


def test_metrics():
    a = accuracy("Hello World, this is it.", "hello word this is")
    assert (a.substitutions, a.deletions, a.insertions, a.ref_words) == (1, 1, 0, 5) and a.wer == pytest.approx(0.4)
    assert accuracy("Mr. Smith", "mister smith").wer == 0  # the English normalizer is applied
    empty = accuracy("", "thank you for watching")
    assert empty.wer is None and empty.cer is None and empty.empty_reference
    assert empty.hallucinated_words == 4  # the words transcribed where nothing was said...
    assert (empty.insertions, empty.char_edits, empty.ref_words) == (0, 0, 0)  # ...kept out of WER and CER
    assert accuracy("a b", "a b").hallucinated_words is None and not accuracy("a b", "a b").empty_reference
    assert accuracy("a b", "").wer == 1.0
    assert repeated_ngram_share("one two three four five six") == 0
    loop = " ".join(["the cat sat on the mat"] * 5)
    assert repeated_ngram_share(loop) > 0.7


# ----- hallucination metrics and the catastrophic flag -------------------------------------

def test_catastrophic_fires_on_a_repetition_loop_and_not_on_clean_speech(short_sets):
    from whisperbench.bench.metrics import catastrophic, compression_ratio

    reference = short_sets["jfk"][0][1]
    clean = accuracy(reference, reference)
    assert catastrophic(clean, 11.0) == []
    assert compression_ratio(clean.hypothesis_normalized) < 2.4
    loop = accuracy(reference, reference + " and so my fellow americans" * 20)
    reasons = catastrophic(loop, 11.0)
    assert any("repetition loop" in r for r in reasons) and any(r.startswith("wer") for r in reasons)
    # A decoder stuck after two words: WER under 100 %, caught by repetition alone.
    short_loop = accuracy(reference, "and so" + " ask not" * 10)
    assert short_loop.wer < 1 and [r for r in catastrophic(short_loop, 11.0) if "repetition" in r]
    assert catastrophic(accuracy(reference, ""), 11.0) == ["no words on speech"]


def test_catastrophic_on_non_speech_counts_words_per_minute():
    from whisperbench.bench.metrics import SILENCE_WORDS_PER_MINUTE, catastrophic, hallucinations_per_minute

    one = accuracy("", "you")
    assert one.empty_reference and catastrophic(one, 30.0) == []  # 2 words/min
    many = accuracy("", "thank you for watching please subscribe to the channel")
    assert hallucinations_per_minute(many.hallucinated_words, 30.0) > SILENCE_WORDS_PER_MINUTE
    assert catastrophic(many, 30.0) == [f"{60 * 9 / 30:.0f} words/min on non-speech"]
    assert catastrophic(accuracy("", ""), 30.0) == []


def test_report_shows_the_catastrophic_count_first_where_a_row_is_flagged():
    import pandas as pd

    from whisperbench.bench.report import table_columns

    table = pd.DataFrame({"gpu_peak_mb": [None, None], "threads": ["0", "0"], "load_extra": ["", ""],
                          "variant": ["default"] * 2, "configuration": ["a", "b"], "empty_references": [1, 0],
                          "ins_rate": [0.01, 0.02], "catastrophic": [0, None]})
    cols = [c for c, _ in table_columns(table)]
    # None flagged: after the hallucination figures where non-speech was measured (its 0 is news), else absent.
    assert cols.index("catastrophic") == cols.index("hallucinations_per_minute") + 1
    assert cols.index("ins_rate") == cols.index("chunked_wer") + 1
    speech_only = table.assign(empty_references=[0, 0])
    assert "catastrophic" not in [c for c, _ in table_columns(speech_only)]
    table.loc[1, "catastrophic"] = 2
    assert table_columns(table)[0] == ("catastrophic", "catastrophic")
