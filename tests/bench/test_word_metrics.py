"""Word-timestamp accuracy (bench.word_metrics), reference word times in datasets
(bench.reference_words: manifest lists, TextGrids, CTM), tokens grouped into words
(backends.word_timing), the suite's per-dataset decoding options and compare's gate on the
share of boundaries within 250 ms. No model is loaded here."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from whisperbench.backends import word_timing
from whisperbench.bench import datasets as ds
from whisperbench.bench import reference_words
from whisperbench.bench.compare import compare
from whisperbench.bench.word_metrics import pooled, word_timing as score
from whisperbench.errors import WhisperbenchError
from whisperbench.results import Word

REF = [Word(0.0, 0.3, "The"), Word(0.3, 0.7, "press"), Word(0.7, 1.2, "yard."), Word(1.5, 2.0, "Mister"),
       Word(2.0, 2.6, "Smith")]


def shifted(words, dt_start: float, dt_end: float | None = None) -> list[Word]:
    dt_end = dt_start if dt_end is None else dt_end
    return [Word(w.start + dt_start, w.end + dt_end, w.word) for w in words]


def test_exact_words_score_perfectly():
    t = score(REF, [Word(w.start, w.end, " " + w.word.lower()) for w in REF])
    assert t.matched_words == t.reference_words == 5 and t.matched_share == 1.0
    assert t.within_50ms == t.within_100ms == t.within_250ms == 1.0
    assert t.start_error_mean_s == t.end_error_median_s == 0.0


def test_only_matched_words_are_timed():
    # "Mr." normalizes as "Mister" does; "yard" is missing; an inserted word has no partner.
    hyp = [Word(0.0, 0.3, " The"), Word(0.3, 0.7, " press,"), Word(1.0, 1.4, " uh"), Word(1.6, 2.0, " Mr."),
           Word(2.0, 2.9, " Smith.")]
    t = score(REF, hyp)
    assert t.reference_words == 5 and t.matched_words == 4 and t.matched_share == pytest.approx(0.8)
    assert t.start_errors_s == [0.0, 0.0, 0.1, 0.0] and t.end_errors_s == [0.0, 0.0, 0.0, 0.3]
    assert t.within_100ms == pytest.approx(7 / 8) and t.within_250ms == pytest.approx(7 / 8)
    assert t.start_error_mean_s == pytest.approx(0.025) and t.end_error_median_s == 0.0


def test_no_hypothesis_words():
    t = score(REF, [])
    assert t.matched_words == 0 and t.matched_share == 0.0 and t.within_250ms is None


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(-0.6, 0.6, allow_nan=False), min_size=5, max_size=5))
def test_within_shares_count_the_shifts(shifts):
    """Each word moved by its own shift (start and end alike): the share within a tolerance is
    the share of shifts at most that large, and the mean error is their mean magnitude."""
    hyp = [Word(w.start + d, w.end + d, w.word) for w, d in zip(REF, shifts)]
    t = score(REF, hyp)
    mags = [abs(round(d, 3)) for d in shifts]
    for tol, share in ((0.05, t.within_50ms), (0.1, t.within_100ms), (0.25, t.within_250ms)):
        assert share == pytest.approx(sum(m <= tol + 1e-6 for m in mags) / 5)
    assert t.start_error_mean_s == pytest.approx(sum(mags) / 5, abs=1e-9)


def test_pooled_is_the_figure_over_all_words():
    a, b = score(REF, shifted(REF, 0.04)), score(REF[:3], shifted(REF[:3], 0.3, -0.2))
    p = pooled([a.to_row(), {"word_start_errors_s": None}, b.to_row()])
    both = score(REF + shifted(REF[:3], 10), shifted(REF, 0.04) + shifted(REF[:3], 10.3, 9.8))
    assert p.matched_words == both.matched_words == 8 and p.reference_words == 8
    assert p.within_100ms == pytest.approx(both.within_100ms) == pytest.approx(10 / 16)
    assert p.start_error_median_s == pytest.approx(both.start_error_median_s)
    assert pooled([{"word_start_errors_s": None}]) is None


# ----- tokens to words -------------------------------------------------------------------

PIECES = {1: " The", 2: " press", 3: "-", 4: "yard", 5: ".", 6: " It"}


def decode(tokens):
    return "".join(PIECES[t] for t in tokens)


def test_tokens_grouped_at_leading_spaces():
    words = word_timing.words_from_tokens([1, 2, 3, 4, 5, 6], [0, .2, .5, .6, .9, 1.0], [.2, .5, .6, .9, 1.0, 1.3],
                                          decode, probabilities=[1, .5, .5, .5, .5, 1])
    assert [(w.word, w.start, w.end) for w in words] == [(" The", 0, .2), (" press-yard.", .2, 1.0), (" It", 1.0, 1.3)]
    assert words[1].probability == pytest.approx(0.5)
    per_token = word_timing.words_from_tokens([1, 2, 3], [0, 1, 2], [1, 2, 3], decode, split_every_token=True)
    assert [w.word for w in per_token] == [" The", " press", "-"]
    with pytest.raises(ValueError):
        word_timing.words_from_tokens([1, 2], [0], [1, 2], decode)
    clamped = word_timing.monotonic([Word(0.5, 0.9, "a"), Word(0.4, 2.5, "b")], 0.0, 2.0)
    assert [(w.start, w.end) for w in clamped] == [(0.5, 0.9), (0.5, 2.0)]
    assert [len(g) for g in word_timing.sentences([Word(0, 1, " A."), Word(1, 2, " B"), Word(2, 3, " c?")])] == [1, 2]


_chunk = st.fixed_dictionaries({
    "timestamp": st.tuples(st.none() | st.floats(0, 40, allow_nan=False), st.none() | st.floats(0, 40, allow_nan=False)),
    "text": st.sampled_from([" A", " b.", " c,", " d?", " e!", " f"]),
    "tokens": st.lists(st.integers(0, 50000), min_size=1, max_size=3),
})


@settings(max_examples=60, deadline=None)
@given(st.lists(_chunk, max_size=12), st.floats(0, 60, allow_nan=False), st.floats(0, 30, allow_nan=False))
def test_word_chunks_become_sentences_in_the_window(chunks, offset, length):
    """A pipeline's word chunks (window-relative times, open ends) become segments inside the
    window [offset, offset + length]: every word kept once and in order, starts never going
    back, each segment one sentence made of its words, with its words' tokens."""
    hi = offset + length
    words = word_timing.chunk_words(chunks, offset, hi)
    segs = word_timing.word_segments(words, offset, hi, lambda idx: [t for i in idx for t in chunks[i]["tokens"]])
    kept = [w for s in segs for w in s.words]
    assert [w.word for w in kept] == [c["text"] for c in chunks]
    assert all(offset <= w.start <= w.end <= hi for w in kept)
    assert [w.start for w in kept] == sorted(w.start for w in kept)
    assert [t for s in segs for t in s.tokens] == [t for c in chunks for t in c["tokens"]]
    for s in segs:
        assert s.text == "".join(w.word for w in s.words) and (s.start, s.end) == (s.words[0].start, s.words[-1].end)
        assert not any(w.word.endswith((".", "?", "!")) for w in s.words[:-1])


# ----- reference word times in datasets -----------------------------------------------------

TEXTGRID = """File type = "ooTextFile"
Object class = "TextGrid"

xmin = 0
xmax = 1.6
tiers? <exists>
size = 1
item []:
    item [1]:
        class = "IntervalTier"
        name = "words"
        xmin = 0
        xmax = 1.6
        intervals: size = 4
        intervals [1]:
            xmin = 0
            xmax = 0.36
            text = "eight"
        intervals [2]:
            xmin = 0.36
            xmax = 0.57
            text = ""
        intervals [3]:
            xmin = 0.57
            xmax = 0.69
            text = "the"
        intervals [4]:
            xmin = 0.69
            xmax = 1.6
            text = "sil"
"""


def test_wordtimes_manifest_words_match_its_textgrids(speech):
    """The shared set gives each sentence's MFA words twice, in the manifest and as a TextGrid:
    read with praatio, the TextGrid's words tier is the manifest's list."""
    pytest.importorskip("praatio")
    dataset = ds.load(ds.DatasetSpec("wordtimes", "manifest", str(speech / "wordtimes" / "manifest.jsonl")))
    assert len(dataset) == 11 and sum(len(u.words) for u in dataset) == 167
    for u in dataset:
        grid = speech / "wordtimes" / "ljspeech" / "textgrids" / f"{u.id}.TextGrid"
        grid_words = reference_words.read_textgrid(grid)
        assert [w.word for w in grid_words] == [w.word for w in u.words], u.id
        # (the manifest rounds the times to 0.1 ms)
        assert [(w.start, w.end) for w in grid_words] == [(pytest.approx(w.start, abs=1e-4),
                                                          pytest.approx(w.end, abs=1e-4)) for w in u.words], u.id


def test_textgrid_and_ctm_beside_the_audio(tmp_path, speech):
    pytest.importorskip("praatio")
    src = next((speech / "wordtimes" / "ljspeech" / "wavs").glob("LJ002-0035.wav"))
    manifest = tmp_path / "manifest.jsonl"
    rows = []
    for name, extra in (("a", {}), ("b", {}), ("c", {"words": [{"word": "x", "start": 0.1, "end": 0.2}]}), ("d", {})):
        shutil.copy(src, tmp_path / f"{name}.wav")
        rows.append(json.dumps({"audio_filepath": f"{name}.wav", "text": "eight the", "id": name, **extra}))
    manifest.write_text("\n".join(rows) + "\n")
    (tmp_path / "a.TextGrid").write_text(TEXTGRID)
    (tmp_path / "b.ctm").write_text(";; comment\nb 1 0.00 0.36 eight 0.9\nb 1 0.57 0.12 the\nother 1 0 1 no\n")
    spec = ds.DatasetSpec("mine", "manifest", str(manifest))
    words = {u.id: u.words for u in ds.load(spec)}
    expected = [("eight", 0.0, 0.36), ("the", 0.57, 0.69)]
    assert [(w.word, w.start, w.end) for w in words["a"]] == expected
    assert [(w.word, w.start, pytest.approx(w.end)) for w in words["b"]] == expected
    assert [w.word for w in words["c"]] == ["x"] and words["d"] is None
    # Word times are part of the dataset's identity; a dataset without them keeps its hash.
    h = ds.load(spec).content_hash
    (tmp_path / "b.ctm").write_text("b 1 0.00 0.30 eight\nb 1 0.57 0.12 the\n")
    assert ds.load(spec).content_hash != h
    bare = ds.Utterance("u", "ref", lambda: None, "digest")
    assert ds.content_hash([bare]) == ds.content_hash([ds.Utterance("u", "ref", lambda: None, "digest", words=None)])
    assert ds.content_hash([bare]) != ds.content_hash([ds.Utterance("u", "ref", lambda: None, "digest", words=())])


def test_bad_reference_words_are_clear_errors(tmp_path):
    with pytest.raises(WhisperbenchError, match=r"words\[1\]"):
        reference_words.from_list([{"word": "a", "start": 0, "end": 1}, {"word": "b"}], "row")
    with pytest.raises(WhisperbenchError, match="0 <= start <= end"):
        reference_words.from_list([{"word": "a", "start": 2, "end": 1}], "row")
    ctm = tmp_path / "x.ctm"
    ctm.write_text("u 1 zero 1 word\n")
    with pytest.raises(WhisperbenchError, match="x.ctm:1"):
        reference_words.read_ctm(ctm, ["u"])
    ctm.write_text("u 1 0 1 word\n")
    with pytest.raises(WhisperbenchError, match="no lines for utterance 'v'"):
        reference_words.read_ctm(ctm, ["v"])
    with pytest.raises(WhisperbenchError, match="not found"):
        reference_words.for_audio(tmp_path / "a.wav", "a", {"textgrid_filepath": "missing.TextGrid"}, tmp_path)


def test_longform_join_moves_each_part_s_words():
    parts = [(ds.Utterance("a", "x", lambda: None, "d", words=(Word(0.1, 0.4, "x"),)), 16000),
             (ds.Utterance("b", "y", lambda: None, "d", words=(Word(0.2, 0.5, "y"),)), 8000)]
    joined = ds._joined_words(parts, gap=1600)
    assert [(w.word, w.start, w.end) for w in joined] == [("x", 0.1, 0.4), ("y", 1.3, 1.6)]
    assert ds._joined_words(parts + [(ds.Utterance("c", "z", lambda: None, "d"), 10)], 0) is None


# ----- suite and compare --------------------------------------------------------------------

def test_dataset_decode_options_apply_to_its_cells_only(speech):
    from whisperbench.bench.suite import build_suite, load_suite

    data = {"engines": [{"backend": "ctranslate2", "model": "fixture:tiny.en"}], "decode": {"language": "en"},
            "datasets": [{"name": "jfk", "kind": "manifest", "path": str(speech / "jfk" / "manifest.jsonl")},
                         {"name": "wordtimes", "kind": "manifest", "path": str(speech / "wordtimes" / "manifest.jsonl"),
                          "algorithms": ["sequential"], "decode": {"word_timestamps": True}}]}
    cells = {c.dataset.name: c.options for c in build_suite(data).cells}
    assert cells["wordtimes"].word_timestamps and not cells["jfk"].word_timestamps
    assert cells["wordtimes"].language == "en"
    with pytest.raises(WhisperbenchError, match="decode must be a table"):
        build_suite({**data, "datasets": [{**data["datasets"][1], "decode": {"algorithm": "short"}}]})
    default = [c for c in load_suite("default").cells if c.dataset.name == "wordtimes"]
    assert len(default) == 1 and default[0].options.word_timestamps and default[0].engine.backend == "ctranslate2"


def rows(shift: float, name: str) -> pd.DataFrame:
    """Measurement rows of one cell on eight utterances whose words are off by `shift`, but
    for the last one's."""
    out = []
    for u in [f"u{i}" for i in range(8)]:
        t = score(REF, shifted(REF, shift if u != "u7" else 0.0))
        out.append({"record": "measurement", "status": "ok", "run_id": name, "cell_id": "c", "backend": "dummy",
                    "model": "none", "dataset": "wordtimes", "dataset_hash": "h", "algorithm": "sequential",
                    "options_hash": "o", "utterance_id": u, "repeat": 0, "ref_words": 5, "hits": 5,
                    "substitutions": 0, "deletions": 0, "insertions": 0, "audio_seconds": 3.0,
                    "decode_seconds": 0.1, **t.to_row()})
    return pd.DataFrame(out)


def test_compare_gates_the_share_within_250ms():
    same = compare(rows(0.1, "a"), rows(0.1, "b"), bootstrap=200, hardware="different")
    (cell,) = same.cells
    assert same.exit_code == 0 and cell.word_within_baseline == cell.word_within_candidate == 1.0
    assert "words within 250 ms 100.0% → 100.0%" in same.markdown()
    worse = compare(rows(0.1, "a"), rows(0.4, "b"), bootstrap=200, hardware="different")
    (cell,) = worse.cells
    assert cell.word_within_candidate == pytest.approx(1 / 8)
    assert worse.exit_code == 1 and "word boundaries within 250 ms" in cell.regressions[0]
    lenient = compare(rows(0.1, "a"), rows(0.4, "b"), bootstrap=200, hardware="different", max_word_timing_drop=90)
    assert lenient.exit_code == 0


def test_cell_fields_and_report_rows():
    from whisperbench.bench.word_metrics import cell_fields, word_timing_rows

    df = rows(0.1, "a").assign(word_timing="dtw-cross-attention")
    fields = cell_fields(df)
    assert fields["word_timing"] == "dtw-cross-attention" and fields["word_within_250ms"] == 1.0
    assert fields["word_within_50ms"] == pytest.approx(1 / 8) and fields["word_start_error_mean_s"] == pytest.approx(0.0875)
    assert cell_fields(df.drop(columns=[c for c in df if c.startswith("word_")])) == {}
    cells = pd.DataFrame([{"configuration": "1. ct2", "dataset": "wordtimes", "algorithm": "sequential", **fields},
                          {"configuration": "1. ct2", "dataset": "jfk", "algorithm": "short"}])
    headers, table = word_timing_rows(cells)
    assert len(table) == 1 and table[0][:5] == ["1. ct2", "wordtimes", "sequential", "dtw-cross-attention", "100.0%"]
    assert table[0][headers.index("≤ 50 ms")] == "12.5%"
