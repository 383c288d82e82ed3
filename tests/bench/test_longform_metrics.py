"""Long-form diagnostics: boundary errors and reference words the normalizer drops."""

from __future__ import annotations

import json

import pytest

from whisperbench.bench import datasets as ds
from whisperbench.bench.metrics import boundary_errors
from whisperbench.results import Segment
from whisperbench.text import reference_words_dropped

REF = "alpha bravo charlie delta echo foxtrot golf hotel india juliet"


def test_boundary_errors_count_deletions_and_insertions_near_a_cut_only():
    whole = [Segment(0, 5, "alpha bravo charlie delta echo"), Segment(5, 10, "foxtrot golf hotel india juliet")]
    assert boundary_errors(REF, whole, [5.0]) == 0
    lost = [Segment(0, 4, "alpha bravo charlie delta"), Segment(6, 10, "golf hotel india juliet")]
    assert boundary_errors(REF, lost, [5.0]) == 2  # echo, foxtrot deleted at the cut
    assert boundary_errors(REF, lost, [30.0]) == 0  # the same deletions far from any cut
    doubled = [whole[0], Segment(5, 10, "echo foxtrot golf hotel india juliet")]
    assert boundary_errors(REF, doubled, [5.0]) == 1  # "echo" twice
    substituted = [whole[0], Segment(5, 10, "foxtrot gulf hotel india juliet")]
    assert boundary_errors(REF, substituted, [5.0]) == 0  # substitutions are the model's
    assert boundary_errors(REF, whole, []) == 0


def test_reference_words_dropped_counts_bracketed_words_only():
    s = "The committee (which had met twice before in the spring of that same year) approved it."
    assert reference_words_dropped(s) == 12
    assert reference_words_dropped("Plain words, with punctuation; and CASE.") == 0
    assert reference_words_dropped("[noise] yes") == 1
    assert reference_words_dropped("uh yes") == 0  # fillers go from both sides alike


def test_dataset_warns_naming_references_that_lose_words(tmp_path, capsys, speech):
    jfk = speech / "jfk" / "jfk.flac"
    rows = [{"audio_filepath": str(jfk), "text": "and so my fellow americans (ask not) what", "id": "a"},
            {"audio_filepath": str(jfk), "text": "plain", "id": "b"}]
    manifest = tmp_path / "m.jsonl"
    manifest.write_text("\n".join(json.dumps(r) for r in rows))
    d = ds.load(ds.DatasetSpec(name="odd", kind="manifest", path=str(manifest)))
    assert d.reference_words_dropped == {d.ids[0]: 2}
    err = capsys.readouterr().err
    assert "normalizer deletes bracketed words from 1 reference(s)" in err and f"{d.ids[0]} (2" in err


def test_join_concatenates_datasets_in_order(speech):
    parts = (ds.DatasetSpec(name="j", kind="manifest", path=str(speech / "jfk" / "manifest.jsonl")),
             ds.DatasetSpec(name="l", kind="manifest", path=str(speech / "librivox" / "manifest.jsonl")))
    joined = ds.load(ds.DatasetSpec(name="both", kind="join", path="", parts=parts))
    assert joined.ids == ds.load(parts[0]).ids + ds.load(parts[1]).ids
    spec = ds.DatasetSpec(name="both", kind="join", path="", parts=parts,
                          longform=ds.LongformSpec(target_seconds=1e4, gap_seconds=0))
    assert ds.DatasetSpec.from_dict(json.loads(json.dumps(spec.to_dict()))) == spec  # crosses to the cell's child process
    (item,) = ds.load(spec).utterances
    n = sum(len(u.load()) for p in parts for u in ds.load(p).utterances)
    assert len(item.load()) == n  # no gaps
    with pytest.raises(Exception, match="needs parts"):
        ds.load(ds.DatasetSpec(name="none", kind="join", path=""))
