"""Evaluation datasets: LibriSpeech layout, NeMo JSONL manifests, Hugging Face `datasets`,
and a long-form builder that concatenates consecutive utterances.

A `Dataset` is an ordered list of `Utterance`s plus a content hash. Loading a dataset
reads only its index (ids, references, where the audio is); audio is decoded by
`Utterance.load()`, which the cell's child process calls before any timer starts.

Every dataset is described by a plain, JSON-serialisable `DatasetSpec`, so the suite
runner can hand it to a cell's child process, which rebuilds the identical dataset and
checks the content hash.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import asdict, dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, Callable, Iterable

import numpy as np

from whisperbench.audio import SAMPLE_RATE, DecodedAudio, load_audio, read_audio
from whisperbench.bench import perturb, reference_words
from whisperbench.bench.perturb import PerturbSpec
from whisperbench.errors import WhisperbenchError, warn
from whisperbench.files import input_file
from whisperbench.results import Word
from whisperbench.text import normalize, reference_words_dropped

DATASET_KINDS = ("librispeech", "manifest", "hf", "join", "perturb")


@dataclass
class Utterance:
    id: str
    reference: str
    # Returns mono float32 samples at 16 kHz (or DecodedAudio, which can carry a warning).
    # Not called while a timer runs.
    loader: Callable[[], np.ndarray | DecodedAudio] = field(repr=False)
    # A fingerprint of the audio content (file bytes, encoded bytes or array bytes).
    audio_digest: str = field(repr=False, default="")
    source: str = ""  # a file path or a description, for error messages
    # Set by load() when the audio decoded incompletely (truncated or damaged file).
    audio_warning: str | None = field(repr=False, default=None)
    # The language spoken, as the dataset states it (a manifest's `language`, an HF
    # `language`/`locale` column): scoring normalizes in it, rows carry it (None: not stated).
    language: str | None = None
    # Reference word times (forced alignment; bench.reference_words), when the dataset has them.
    words: tuple[Word, ...] | None = field(repr=False, default=None)

    def load(self) -> np.ndarray:
        out = self.loader()
        if isinstance(out, DecodedAudio):
            self.audio_warning = out.warning
            return out.samples
        return out


@dataclass(frozen=True)
class LongformSpec:
    """Concatenate consecutive utterances until each item reaches `target_seconds`."""

    target_seconds: float
    # A trailing group shorter than this is dropped (0: keep whatever is left).
    min_seconds: float = 0.0
    # Silence inserted between concatenated utterances.
    gap_seconds: float = 0.0


@dataclass(frozen=True)
class DatasetSpec:
    name: str
    kind: str  # one of DATASET_KINDS
    # librispeech: the LibriSpeech folder (or one split inside it); manifest: the .jsonl
    # file; hf: a hub name or a local path (a folder saved by `save_to_disk`, or a
    # folder/files `datasets.load_dataset` understands).
    path: str
    config: str | None = None  # hf: configuration name
    split: str | None = None  # hf: split (default "test"); librispeech: subfolder(s) to read
    streaming: bool = False  # hf: stream instead of downloading everything
    audio_column: str = "audio"  # hf
    text_column: str = "text"  # hf (also tries "sentence", "transcription")
    id_column: str | None = None  # hf: the column holding utterance ids (default: "id" if present, else the row index)
    limit: int | None = None  # keep the first `limit` utterances (after `subset`)
    subset: tuple[str, ...] | None = None  # keep only these utterance ids, in dataset order
    longform: LongformSpec | None = None
    # join: the datasets whose utterances, in this order, make this one (path is unused);
    # with `longform` and gap_seconds = 0 they become one continuous recording.
    parts: tuple["DatasetSpec", ...] | None = None
    # perturb: what is done to the source dataset (parts[0]) or, for non-speech
    # perturbations, what is generated (no source needed); see bench.perturb.
    perturb: PerturbSpec | None = None

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["subset"] = list(self.subset) if self.subset is not None else None
        d["parts"] = [p.to_dict() for p in self.parts] if self.parts is not None else None
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "DatasetSpec":
        d = dict(d)
        if d.get("longform") is not None and not isinstance(d["longform"], LongformSpec):
            d["longform"] = LongformSpec(**d["longform"])
        if d.get("perturb") is not None and not isinstance(d["perturb"], PerturbSpec):
            d["perturb"] = PerturbSpec(**d["perturb"])
        if d.get("subset") is not None:
            d["subset"] = tuple(d["subset"])
        if d.get("parts") is not None:
            d["parts"] = tuple(p if isinstance(p, DatasetSpec) else cls.from_dict(p) for p in d["parts"])
        return cls(**d)


@dataclass
class Dataset:
    spec: DatasetSpec
    utterances: list[Utterance]
    content_hash: str

    @property
    def name(self) -> str:
        return self.spec.name

    def __len__(self) -> int:
        return len(self.utterances)

    def __iter__(self):
        return iter(self.utterances)

    @property
    def ids(self) -> list[str]:
        return [u.id for u in self.utterances]

    @property
    def empty_reference_ids(self) -> list[str]:
        """Utterances whose normalized reference is empty: scored apart (no WER; what is
        transcribed there counts as hallucinated words, see bench.metrics)."""
        return [u.id for u in self.utterances if not normalize(u.reference, u.language)]

    @cached_property
    def reference_words_dropped(self) -> dict[str, int]:
        """Utterance id -> reference words the normalizer deletes beyond punctuation and
        case (bracketed spans; see whisperbench.text.reference_words_dropped), where any."""
        counts = {u.id: reference_words_dropped(u.reference, u.language) for u in self.utterances}
        return {uid: n for uid, n in counts.items() if n}


# ----- loading --------------------------------------------------------------------------


def load(spec: DatasetSpec) -> Dataset:
    """Read a dataset's index (not its audio), apply subset/limit, build long-form items."""
    if spec.kind == "librispeech":
        items = _librispeech(spec)
    elif spec.kind == "manifest":
        items = _manifest(spec)
    elif spec.kind == "hf":
        items = _huggingface(spec)
    elif spec.kind == "join":
        if not spec.parts:
            raise WhisperbenchError(f"dataset {spec.name!r}: kind 'join' needs parts (a list of datasets)")
        items = [u for part in spec.parts for u in load(part).utterances]
    elif spec.kind == "perturb":
        items = _perturbed(spec)
    else:
        raise WhisperbenchError(f"dataset {spec.name!r}: unknown kind {spec.kind!r}; valid: {', '.join(DATASET_KINDS)}")
    items = select(items, spec, limit_first=spec.longform is None)
    if spec.longform is not None:
        items = build_longform(items, spec.longform)
        if spec.limit is not None:
            items = items[: spec.limit]
    if not items:
        raise WhisperbenchError(f"dataset {spec.name!r} has no utterances ({spec.path})")
    ids = [u.id for u in items]
    if len(set(ids)) != len(ids):
        dup = sorted({i for i in ids if ids.count(i) > 1})[:3]
        raise WhisperbenchError(f"dataset {spec.name!r} has duplicate utterance ids: {', '.join(dup)}")
    dataset = Dataset(spec, items, content_hash(items))
    empty = dataset.empty_reference_ids
    # Generated non-speech has an empty reference by design; anywhere else it is worth a warning.
    if empty and not (spec.perturb is not None and spec.perturb.non_speech):
        shown = ", ".join(empty[:5]) + (f" and {len(empty) - 5} more" if len(empty) > 5 else "")
        warn(f"dataset {spec.name!r}: {len(empty)} utterance(s) with an empty reference ({shown}): "
             "they get no WER and stay out of corpus WER; words transcribed there are counted as hallucinated_words")
    dropped = dataset.reference_words_dropped
    if dropped:
        shown = ", ".join(f"{uid} ({n})" for uid, n in list(dropped.items())[:5])
        more = f" and {len(dropped) - 5} more" if len(dropped) > 5 else ""
        warn(f"dataset {spec.name!r}: the normalizer deletes bracketed words from {len(dropped)} reference(s) "
             f"({shown}{more} words): a transcript of those words scores as insertions; "
             "rows record reference_words_dropped")
    return dataset


def _reference(value: Any, uid: str, where: str) -> str:
    """A reference transcript as given: a string (possibly empty). A null or non-text value
    is refused (str(None) would be scored as the word "None")."""
    if isinstance(value, str):
        return value
    what = "null" if value is None else f"not text ({type(value).__name__} {value!r:.40})"
    raise WhisperbenchError(
        f"utterance {uid!r} in {where} has a reference that is {what}; give its transcript "
        '(use "" for audio with no speech) or remove the utterance'
    )


def select(items: list[Utterance], spec: DatasetSpec, *, limit_first: bool = True) -> list[Utterance]:
    if spec.subset is not None:
        wanted = set(spec.subset)
        missing = wanted - {u.id for u in items}
        if missing:
            raise WhisperbenchError(
                f"dataset {spec.name!r}: subset names unknown utterance id(s): {', '.join(sorted(missing)[:5])}"
            )
        items = [u for u in items if u.id in wanted]
    if limit_first and spec.limit is not None:
        items = items[: spec.limit]
    return items


def content_hash(items: Iterable[Utterance]) -> str:
    """sha256 over (id, reference, audio digest, and the language where one is stated) of
    every utterance, in order, and its reference word times where it has them (datasets
    without languages or word times keep the hashes they had)."""
    h = hashlib.sha256()
    for u in items:
        key = [u.id, u.reference, u.audio_digest] + ([u.language] if u.language else [])
        if u.words is not None:
            key.append([[w.word, w.start, w.end] for w in u.words])
        h.update(json.dumps(key).encode())
        h.update(b"\n")
    return h.hexdigest()[:16]


def _file_digest(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _file_utterance(uid: str, reference: str, path: Path, language: str | None = None,
                    row: dict | None = None, base: Path | None = None) -> Utterance:
    """An utterance read from a file, with its reference word times when its manifest row
    or a TextGrid / CTM beside the audio gives them (bench.reference_words)."""
    input_file(path, "audio file")
    words = reference_words.for_audio(path, uid, row, base)
    return Utterance(uid, reference, lambda p=path: read_audio(p), _file_digest(path), str(path), language=language,
                     words=words)


def _language(value: Any) -> str | None:
    """A stated language code, or None (absent or empty)."""
    return str(value).strip() or None if value is not None else None


def _librispeech(spec: DatasetSpec) -> list[Utterance]:
    root = Path(spec.path)
    if not root.is_dir():
        raise WhisperbenchError(f"dataset {spec.name!r}: LibriSpeech folder not found: {root}")
    roots = [root / s for s in spec.split.split(",")] if spec.split else [root]
    for r in roots:
        if not r.is_dir():
            raise WhisperbenchError(f"dataset {spec.name!r}: split folder not found: {r}")
    items: list[Utterance] = []
    for r in roots:
        for trans in sorted(r.rglob("*.trans.txt")):
            for line in trans.read_text(encoding="utf-8").splitlines():
                if not line.strip():
                    continue
                uid, _, text = line.strip().partition(" ")
                audio = trans.parent / f"{uid}.flac"
                items.append(_file_utterance(uid, text.strip(), audio))
    if not items:
        raise WhisperbenchError(f"dataset {spec.name!r}: no *.trans.txt transcripts under {root}")
    return items


def _manifest(spec: DatasetSpec) -> list[Utterance]:
    path = input_file(spec.path, f"dataset {spec.name!r}: manifest")
    items: list[Utterance] = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            audio = Path(row["audio_filepath"])
            text = row["text"]
        except (json.JSONDecodeError, KeyError, TypeError) as exc:
            raise WhisperbenchError(
                f"dataset {spec.name!r}: {path}:{n}: expected a JSON object with audio_filepath and text ({exc})"
            ) from None
        if not audio.is_absolute():
            audio = path.parent / audio
        uid = str(row.get("id") or row.get("utterance_id") or Path(row["audio_filepath"]).with_suffix("").as_posix())
        items.append(_file_utterance(uid, _reference(text, uid, f"{path}:{n}"), audio, _language(row.get("language")),
                                     row, path.parent))
    return items


# ----- Hugging Face datasets -------------------------------------------------------------


def _huggingface(spec: DatasetSpec) -> list[Utterance]:
    try:
        import datasets as hf
    except ImportError:
        raise WhisperbenchError(
            "Hugging Face datasets need the `datasets` package; install it with: pip install 'whisperbench[bench]'"
        ) from None
    split = spec.split or "test"
    local = Path(spec.path).expanduser()
    try:
        if local.is_dir() and ((local / "dataset_info.json").exists() or (local / "dataset_dict.json").exists()):
            ds = hf.load_from_disk(str(local))
            if isinstance(ds, hf.DatasetDict):
                if split not in ds:
                    raise WhisperbenchError(f"dataset {spec.name!r}: split {split!r} not in {sorted(ds)}")
                ds = ds[split]
            if spec.streaming:
                ds = ds.to_iterable_dataset()
        else:
            ds = hf.load_dataset(spec.path, spec.config, split=split, streaming=spec.streaming)
    except WhisperbenchError:
        raise
    except Exception as exc:  # hub, network and format errors come in many types
        raise WhisperbenchError(f"dataset {spec.name!r}: cannot load Hugging Face dataset {spec.path!r}: {exc}") from None

    features = getattr(ds, "features", None) or {}
    if spec.audio_column in features and type(features[spec.audio_column]).__name__ == "Audio":
        # Decode with our own PyAV decoder (identical to file inputs), not the datasets backend.
        ds = ds.cast_column(spec.audio_column, hf.Audio(decode=False))
    want = None
    if spec.longform is None and spec.subset is None and spec.limit is not None:
        want = spec.limit  # only read what will be used (matters when streaming)
    items: list[Utterance] = []
    for i, row in enumerate(ds):
        if want is not None and i >= want:
            break
        if spec.audio_column not in row:
            raise WhisperbenchError(
                f"dataset {spec.name!r}: no audio column {spec.audio_column!r}; columns: {', '.join(row)}"
            )
        text_col = next((c for c in (spec.text_column, "sentence", "transcription") if c in row), None)
        if text_col is None:
            raise WhisperbenchError(
                f"dataset {spec.name!r}: no text column {spec.text_column!r}; columns: {', '.join(row)}"
            )
        id_col = spec.id_column or ("id" if "id" in row else None)
        if spec.id_column and spec.id_column not in row:
            raise WhisperbenchError(f"dataset {spec.name!r}: no id column {spec.id_column!r}; columns: {', '.join(row)}")
        uid = str(row[id_col]) if id_col else f"{i:06d}"
        samples = _hf_audio(row[spec.audio_column], f"{spec.name}[{uid}]")
        digest = hashlib.sha256(samples.tobytes()).hexdigest()
        reference = _reference(row[text_col], uid, f"dataset {spec.name!r} ({spec.path}, column {text_col!r})")
        language = _language(row.get("language", row.get("locale")))
        items.append(Utterance(uid, reference, lambda s=samples: s, digest, f"{spec.path}[{uid}]", language=language))
    return items


def _hf_audio(value: Any, what: str) -> np.ndarray:
    """An audio cell as stored by `datasets`: {bytes, path}, {array, sampling_rate}, or a decoder."""
    if isinstance(value, dict):
        if value.get("bytes"):
            return _decode_bytes(value["bytes"], what)
        if value.get("array") is not None:
            arr = np.asarray(value["array"], dtype=np.float32)
            rate = int(value.get("sampling_rate") or SAMPLE_RATE)
            if arr.ndim == 2:  # (channels, samples)
                arr = arr.mean(axis=0)
            return _resample(arr, rate)
        if value.get("path"):
            return load_audio(value["path"])
    if hasattr(value, "get_all_samples"):  # torchcodec AudioDecoder
        s = value.get_all_samples()
        arr = s.data.numpy().astype(np.float32)
        return _resample(arr.mean(axis=0) if arr.ndim == 2 else arr, int(s.sample_rate))
    raise WhisperbenchError(f"{what}: unrecognised audio value of type {type(value).__name__}")


def _decode_bytes(data: bytes, what: str) -> np.ndarray:
    import tempfile

    # PyAV reads file-like objects too, but a temp file keeps one decode path for all inputs.
    with tempfile.NamedTemporaryFile(suffix=".audio") as fh:
        fh.write(data)
        fh.flush()
        try:
            return load_audio(fh.name)
        except WhisperbenchError as exc:
            raise WhisperbenchError(f"{what}: {exc}") from None


def _resample(samples: np.ndarray, rate: int) -> np.ndarray:
    if rate == SAMPLE_RATE:
        return samples.astype(np.float32, copy=False)
    import av

    frame = av.AudioFrame.from_ndarray(samples.astype(np.float32).reshape(1, -1), format="flt", layout="mono")
    frame.sample_rate = rate
    resampler = av.AudioResampler(format="flt", layout="mono", rate=SAMPLE_RATE)
    out = [f.to_ndarray().reshape(-1) for f in resampler.resample(frame)]
    out += [f.to_ndarray().reshape(-1) for f in resampler.resample(None)]
    return np.concatenate(out).astype(np.float32, copy=False)


# ----- perturbed datasets ------------------------------------------------------------------


def _perturbed(spec: DatasetSpec) -> list[Utterance]:
    """Generated non-speech items (empty references), or the source's items perturbed."""
    p = spec.perturb
    if p is None:
        raise WhisperbenchError(f"dataset {spec.name!r}: kind 'perturb' needs perturb (kind, seed, parameters)")
    if p.non_speech:
        return [Utterance(f"{p.label()}-{i:03d}", "", lambda i=i: perturb.non_speech(p, i),
                          hashlib.sha256(json.dumps([p.digest(), i]).encode()).hexdigest(), f"generated {p.label()}")
                for i in range(p.count)]
    if not spec.parts or len(spec.parts) != 1:
        raise WhisperbenchError(f"dataset {spec.name!r}: perturbation {p.kind!r} needs one source dataset")
    out = []
    for i, u in enumerate(load(spec.parts[0]).utterances):
        def loader(u=u, i=i) -> DecodedAudio:
            samples = u.load()
            return DecodedAudio(perturb.apply(p, samples, i), u.audio_warning)

        digest = hashlib.sha256(json.dumps([u.audio_digest, p.digest(), i]).encode()).hexdigest()
        out.append(Utterance(f"{u.id}+{p.label()}", u.reference, loader, digest, f"{u.source} ({p.label()})",
                             language=u.language, words=u.words if p.kind in ("snr", "gain") else None))  # times unmoved
    return out


# ----- long-form builder -------------------------------------------------------------------


def build_longform(items: list[Utterance], spec: LongformSpec) -> list[Utterance]:
    """Concatenate consecutive utterances into items of at least `target_seconds` each,
    references joined with a space (as distil-whisper's `librispeech_long` was built).
    Reads every utterance's audio once to know its length."""
    if spec.target_seconds <= 0:
        raise WhisperbenchError(f"long-form target_seconds must be > 0, got {spec.target_seconds}")
    groups: list[list[tuple[Utterance, int]]] = []
    current: list[tuple[Utterance, int]] = []
    seconds = 0.0
    for u in items:
        n = len(u.load())
        current.append((u, n))
        seconds += n / SAMPLE_RATE + (spec.gap_seconds if len(current) > 1 else 0.0)
        if seconds >= spec.target_seconds:
            groups.append(current)
            current, seconds = [], 0.0
    if current and seconds >= spec.min_seconds:
        groups.append(current)
    gap = int(round(spec.gap_seconds * SAMPLE_RATE))
    out = []
    for g in groups:
        parts = [u for u, _ in g]
        uid = parts[0].id if len(parts) == 1 else f"{parts[0].id}..{parts[-1].id}"
        ref = " ".join(u.reference.strip() for u in parts)
        digest = hashlib.sha256(json.dumps([u.audio_digest for u in parts] + [gap]).encode()).hexdigest()

        def loader(parts=parts) -> DecodedAudio:
            pieces = []
            for k, u in enumerate(parts):
                if k and gap:
                    pieces.append(np.zeros(gap, dtype=np.float32))
                pieces.append(u.load())
            warnings = [u.audio_warning for u in parts if u.audio_warning]
            return DecodedAudio(np.concatenate(pieces), "; ".join(warnings) or None)

        languages = {u.language for u in parts}
        out.append(Utterance(uid, ref, loader, digest, " + ".join(u.source for u in parts),
                             language=languages.pop() if len(languages) == 1 else None,
                             words=_joined_words(g, gap)))
    return out


def _joined_words(group: list[tuple[Utterance, int]], gap: int) -> tuple[Word, ...] | None:
    """The reference words of concatenated utterances, each part's moved by where it starts
    (None unless every part has word times)."""
    if any(u.words is None for u, _ in group):
        return None
    out: list[Word] = []
    offset = 0
    for k, (u, n) in enumerate(group):
        offset += gap if k else 0
        t = offset / SAMPLE_RATE
        out += [dataclasses.replace(w, start=round(w.start + t, 3), end=round(w.end + t, 3)) for w in u.words]
        offset += n
    return tuple(out)
