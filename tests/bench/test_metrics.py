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
