"""Dataset loaders (LibriSpeech, NeMo manifest, Hugging Face), the long-form builder, and the
references a dataset refuses or counts apart (whisperbench.bench.datasets)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from whisperbench.audio import load_audio
from whisperbench.bench import datasets as bd
from whisperbench.bench import summarize
from whisperbench.bench.metrics import accuracy
from whisperbench.errors import WhisperbenchError


def spec(**kw) -> bd.DatasetSpec:
    kw.setdefault("name", "t")
    return bd.DatasetSpec(**kw)


def test_librispeech_layout(speech, short_sets):
    root = speech / "librispeech" / "LibriSpeech"
    d = bd.load(spec(kind="librispeech", path=str(root)))
    expected = {p.stem: ref for p, ref in short_sets["librispeech"]}
    assert dict(zip(d.ids, [u.reference for u in d])) == expected
    test_clean = bd.load(spec(kind="librispeech", path=str(root), split="test-clean"))
    assert len(test_clean) == 6 and all(not i.startswith(("1272-", "2412-")) for i in test_clean.ids)
    u = d.utterances[0]
    assert np.array_equal(u.load(), load_audio(root.rglob(f"{u.id}.flac").__next__()))


def test_manifest_paths_are_relative_to_the_manifest(speech, tmp_path):
    src = speech / "librivox"
    rows = [json.loads(line) for line in (src / "manifest.jsonl").read_text().splitlines()]
    sub = tmp_path / "m"
    sub.mkdir()
    with open(sub / "manifest.jsonl", "w") as fh:
        for r in rows:
            rel = os.path.relpath(src / r["audio_filepath"], sub)
            fh.write(json.dumps({**r, "audio_filepath": rel}) + "\n")
    d = bd.load(spec(kind="manifest", path=str(sub / "manifest.jsonl")))
    same = bd.load(spec(kind="manifest", path=str(src / "manifest.jsonl")))
    assert [u.reference for u in d] == [r["text"] for r in rows]
    assert d.content_hash != same.content_hash  # ids differ (they are the relative paths)
    assert len(d.utterances[0].load()) == len(same.utterances[0].load())


def test_limit_subset_and_content_hash(speech, tmp_path):
    path = str(speech / "librivox" / "manifest.jsonl")
    full = bd.load(spec(kind="manifest", path=path))
    assert len(full) == 5
    assert bd.load(spec(kind="manifest", path=path, limit=2)).ids == full.ids[:2]
    picked = bd.load(spec(kind="manifest", path=path, subset=(full.ids[3], full.ids[1])))
    assert picked.ids == [full.ids[1], full.ids[3]]  # dataset order
    assert bd.load(spec(kind="manifest", path=path)).content_hash == full.content_hash
    assert picked.content_hash != full.content_hash
    with pytest.raises(WhisperbenchError, match="unknown utterance id"):
        bd.load(spec(kind="manifest", path=path, subset=("nope",)))
    # A changed reference changes the hash.
    text = Path(path).read_text().replace("ill disposed young man", "ill-disposed young man")
    edited = tmp_path / "manifest.jsonl"
    edited.write_text(text.replace('"audio_filepath": "', f'"audio_filepath": "{speech}/librivox/'))
    assert bd.load(spec(kind="manifest", path=str(edited))).content_hash != full.content_hash


def test_bad_manifest_lines_and_missing_audio(tmp_path):
    m = tmp_path / "manifest.jsonl"
    m.write_text('{"audio_filepath": "a.wav"}\n')
    with pytest.raises(WhisperbenchError, match="manifest.jsonl:1"):
        bd.load(spec(kind="manifest", path=str(m)))
    m.write_text('{"audio_filepath": "missing.wav", "text": "x"}\n')
    with pytest.raises(WhisperbenchError, match="audio file not found"):
        bd.load(spec(kind="manifest", path=str(m)))


def test_huggingface_dataset_saved_locally(speech, tmp_path):
    datasets = pytest.importorskip("datasets")
    src = speech / "librivox"
    rows = [json.loads(line) for line in (src / "manifest.jsonl").read_text().splitlines()]
    ds = datasets.Dataset.from_dict({
        "audio": [str(src / r["audio_filepath"]) for r in rows],
        "text": [r["text"] for r in rows],
        "id": [Path(r["audio_filepath"]).stem for r in rows],
    }).cast_column("audio", datasets.Audio())
    datasets.DatasetDict({"test": ds}).save_to_disk(str(tmp_path / "dd"))
    d = bd.load(spec(kind="hf", path=str(tmp_path / "dd"), split="test", id_column="id"))
    manifest = bd.load(spec(kind="manifest", path=str(src / "manifest.jsonl")))
    assert [u.reference for u in d] == [u.reference for u in manifest]
    for a, b in zip(d, manifest):
        assert np.array_equal(a.load(), b.load())
    streamed = bd.load(spec(kind="hf", path=str(tmp_path / "dd"), split="test", id_column="id", streaming=True, limit=2))
    assert streamed.ids == d.ids[:2]
    # Raw arrays at 8 kHz (no Audio feature) are resampled to 16 kHz.
    tone = (0.1 * np.sin(np.arange(16000) / 8000 * 2 * np.pi * 440)).astype(np.float32)
    datasets.Dataset.from_dict({"audio": [{"array": tone, "sampling_rate": 8000}], "sentence": ["a tone"]}).save_to_disk(
        str(tmp_path / "arr")
    )
    arr = bd.load(spec(kind="hf", path=str(tmp_path / "arr")))
    assert arr.utterances[0].reference == "a tone" and abs(len(arr.utterances[0].load()) - 32000) < 64
    with pytest.raises(WhisperbenchError, match="no text column"):
        bd.load(spec(kind="hf", path=str(tmp_path / "dd"), split="test", text_column="nope", id_column="id"))


def test_longform_builder_concatenates_consecutive_utterances(speech):
    path = str(speech / "librivox" / "manifest.jsonl")
    base = bd.load(spec(kind="manifest", path=path))
    lengths = [len(u.load()) for u in base]
    long = bd.load(spec(kind="manifest", path=path, longform=bd.LongformSpec(target_seconds=10)))
    # Greedy consecutive grouping: each item reaches 10 s except possibly the last.
    groups, cur, acc = [], [], 0
    for u, n in zip(base, lengths):
        cur.append(u)
        acc += n
        if acc >= 10 * 16000:
            groups.append(cur)
            cur, acc = [], 0
    if cur:
        groups.append(cur)
    assert len(long) == len(groups)
    for item, g in zip(long, groups):
        assert item.reference == " ".join(u.reference for u in g)
        assert np.array_equal(item.load(), np.concatenate([u.load() for u in g]))
        assert item.id == (g[0].id if len(g) == 1 else f"{g[0].id}..{g[-1].id}")
    gapped = bd.load(spec(kind="manifest", path=path, longform=bd.LongformSpec(target_seconds=10, gap_seconds=0.5)))
    assert gapped.content_hash != long.content_hash
    assert len(bd.load(spec(kind="manifest", path=path, longform=bd.LongformSpec(target_seconds=10), limit=1))) == 1
    dropped = bd.load(spec(kind="manifest", path=path, longform=bd.LongformSpec(target_seconds=10, min_seconds=9.9)))
    assert len(dropped) <= len(long)


def _manifest_with(tmp_path, speech, texts) -> str:
    """A manifest of the jfk clip under several ids with the given reference values."""
    audio = str(speech / "jfk" / "jfk.flac")
    path = tmp_path / "m.jsonl"
    path.write_text("".join(json.dumps({"audio_filepath": audio, "text": t, "id": f"u{i}"}) + "\n"
                            for i, t in enumerate(texts)))
    return str(path)


@pytest.mark.parametrize("bad", [None, 42, ["a"]])
def test_null_or_non_text_reference_is_refused(speech, tmp_path, bad):
    """Issue 14 item 7: a null reference was scored as the word "None"."""
    path = _manifest_with(tmp_path, speech, ["ask not", bad])
    what = "null" if bad is None else "not text"
    with pytest.raises(WhisperbenchError, match=rf"utterance 'u1' in .*m.jsonl:2 has a reference that is {what}"):
        bd.load(spec(kind="manifest", path=path))


def test_empty_reference_is_counted_apart_with_a_warning(speech, tmp_path, capsys):
    """Issue 14 item 7: an empty reference moved corpus WER from 4.6 % to 22.2 % with no
    warning. Its words are hallucinated_words; corpus WER is that of the other rows."""
    import pandas as pd

    path = _manifest_with(tmp_path, speech, ["ask not what your country can do", "", "  ", "[inaudible]"])
    d = bd.load(spec(kind="manifest", path=path, name="withempty"))
    assert d.empty_reference_ids == ["u1", "u2", "u3"]
    err = capsys.readouterr().err
    assert "dataset 'withempty': 3 utterance(s) with an empty reference (u1, u2, u3)" in err
    hyps = ["ask not what your country can do for you", "thank you for watching", "", "you"]
    rows = []
    for u, hyp in zip(d.utterances, hyps):
        rows.append({"run_id": "r", "cell_id": "c", "status": "ok", "utterance_id": u.id, "repeat": 0,
                     "decode_seconds": 1.0, "audio_seconds": 11.0, "tokens": 5, "load_seconds": 0.1,
                     "peak_rss_mb": 1.0, "repeated_5gram_share": 0.0, **accuracy(u.reference, hyp).to_dict()})
    cell = summarize(pd.DataFrame(rows)).iloc[0]
    assert cell["wer"] == pytest.approx(2 / 7)  # "for you" inserted against 7 reference words, nothing else
    assert cell["ref_words"] == 7 and cell["empty_references"] == 3 and cell["hallucinated_words"] == 5
