"""Reference word times for a dataset's utterances, from three sources:

- a `words` list in a manifest row: `[{"word": ..., "start": s, "end": s}, ...]`;
- a Praat TextGrid (as the Montreal Forced Aligner writes it), read with `praatio`: the
  tier named `words` (or ending in `words`, as MFA names a speaker's tier), empty and
  silence intervals left out;
- a CTM file (`utterance channel start duration word [confidence]`, NIST's format, as
  Kaldi and NeMo's aligner write it): the lines of one utterance.

A manifest row may name a file (`textgrid_filepath`, `ctm_filepath`); otherwise a
`<audio stem>.TextGrid` or `<audio stem>.ctm` beside the audio is read when present.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

from whisperbench.errors import WhisperbenchError
from whisperbench.results import Word

# Labels forced aligners give silence and noise (MFA, Kaldi), not words.
SILENCE_LABELS = frozenset({"", "sil", "sp", "spn", "<eps>", "<sil>", "<unk>"})


def _checked(words: list[Word], where: str) -> tuple[Word, ...]:
    for w in words:
        if not (0.0 <= w.start <= w.end):
            raise WhisperbenchError(f"{where}: word {w.word!r} has times {w.start}-{w.end} (need 0 <= start <= end)")
    return tuple(sorted(words, key=lambda w: w.start))


def from_list(items: Any, where: str) -> tuple[Word, ...]:
    """A manifest's `words` value."""
    if not isinstance(items, list):
        raise WhisperbenchError(f"{where}: words must be a list of {{word, start, end}}")
    out = []
    for k, it in enumerate(items):
        try:
            out.append(Word(start=float(it["start"]), end=float(it["end"]), word=str(it["word"])))
        except (KeyError, TypeError, ValueError):
            raise WhisperbenchError(f"{where}: words[{k}] must be {{word, start, end}} (seconds), got {it!r:.80}") from None
    return _checked(out, where)


def read_textgrid(path: str | Path) -> tuple[Word, ...]:
    """The words tier of a TextGrid."""
    try:
        from praatio import textgrid
    except ImportError:
        raise WhisperbenchError(
            f"reading {path} needs praatio; install it with: pip install 'whisperbench[bench]'") from None
    try:
        tg = textgrid.openTextgrid(str(path), includeEmptyIntervals=False)
    except Exception as exc:  # praatio raises several types for a malformed file
        raise WhisperbenchError(f"{path}: not a readable TextGrid: {exc}") from None
    names = list(tg.tierNames)
    name = next((n for n in names if n.lower() == "words"), None) or next(
        (n for n in names if n.lower().endswith("words")), None)
    if name is None:
        raise WhisperbenchError(f"{path}: no words tier (tiers: {', '.join(names) or 'none'})")
    entries = tg.getTier(name).entries
    words = [Word(start=float(e.start), end=float(e.end), word=e.label.strip()) for e in entries
             if e.label.strip().lower() not in SILENCE_LABELS]
    return _checked(words, str(path))


def read_ctm(path: str | Path, utterance_ids: Sequence[str]) -> tuple[Word, ...]:
    """The words of the first of `utterance_ids` found in a CTM file."""
    rows: dict[str, list[Word]] = {}
    for n, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip() or line.startswith(";;"):
            continue
        f = line.split()
        try:
            uid, start, dur, word = f[0], float(f[2]), float(f[3]), f[4]
        except (IndexError, ValueError):
            raise WhisperbenchError(f"{path}:{n}: expected 'utterance channel start duration word [confidence]'") from None
        if word.lower() not in SILENCE_LABELS:
            rows.setdefault(uid, []).append(Word(start=start, end=start + dur, word=word))
    for uid in utterance_ids:
        if uid in rows:
            return _checked(rows[uid], f"{path} ({uid})")
    raise WhisperbenchError(f"{path}: no lines for utterance {utterance_ids[0]!r}")


def for_audio(audio: Path, uid: str, row: dict[str, Any] | None = None, base: Path | None = None) -> tuple[Word, ...] | None:
    """An utterance's reference words: from its manifest row (`words`, `textgrid_filepath`,
    `ctm_filepath`, relative to `base`), else a TextGrid or CTM beside the audio; None when
    there is none."""
    row = row or {}
    where = f"utterance {uid!r}"
    if row.get("words") is not None:
        return from_list(row["words"], where)

    def path_of(key: str) -> Path | None:
        if not row.get(key):
            return None
        p = Path(row[key])
        return p if p.is_absolute() or base is None else base / p

    textgrid, ctm = path_of("textgrid_filepath"), path_of("ctm_filepath")
    for p in (textgrid, ctm):
        if p is not None and not p.is_file():
            raise WhisperbenchError(f"{where}: reference word file not found: {p}")
    textgrid = textgrid or next((p for p in (audio.with_suffix(".TextGrid"), audio.with_suffix(".textgrid"))
                                 if p.is_file()), None)
    if textgrid is not None:
        return read_textgrid(textgrid)
    ctm = ctm or (audio.with_suffix(".ctm") if audio.with_suffix(".ctm").is_file() else None)
    if ctm is not None:
        return read_ctm(ctm, [uid, audio.stem])
    return None
