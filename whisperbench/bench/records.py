"""The records of a results file, typed, and the one definition of cell identity.

Every record the store holds is built through one of these dataclasses (`to_dict()` is
what is written) and read back into them (`from_dict()`); each field means one thing in
every record kind, with its unit in its name (`_seconds`, `_mb`) or its comment.

- `Measurement` (record "measurement", status "ok"): one (cell, utterance, repeat).
- `Failure` (record "failure", status "failed"): a cell or an utterance that failed.
- `CellRecord` (record "cell"): one per cell attempt, after load and warm-ups.
- `SyntheticRow` (record "synthetic"): one synthetic-timing cell (`bench.synthetic`).

Cell identity: `CELL_IDENTITY` lists the fields that must be equal for two rows to belong
to "the same cell" (the store's summaries, the report and compare all use it), and
`canon` is the one canonical text of a field's value used to compare them.

Schema versions: rows written now are `SCHEMA_VERSION` (3). `migrate` brings an older
record up to date, one `update_to_N` step at a time (as asv does); `store.read_records`
applies it to everything it reads, so results files written before a change still load,
report and compare.
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, field
from typing import Any, Callable, ClassVar, Mapping

SCHEMA_VERSION = 3

# ----- cell identity ---------------------------------------------------------------------

# What ran: runtime, weights, quantization, hardware placement, backend options.
# served: True when the engine ran behind `whisperbench serve` (suite engine `serve = true`),
# measured through the openai-api client; in-process rows leave it None (their identity is unchanged).
ENGINE_FIELDS = ("backend", "model", "model_format", "quantization", "compute_type", "device", "threads", "load_extra",
                 "served")
# On what and how: the dataset by name, the long-form algorithm, the decoding variant and options.
WORKLOAD_FIELDS = ("dataset", "algorithm", "variant", "options_hash")
# Two rows are of the same cell when these are equal (by `canon`). The dataset's content
# hash is not part of it: the same cell over a changed dataset is a mismatch, not a new cell.
CELL_IDENTITY = ENGINE_FIELDS + WORKLOAD_FIELDS
# A report's configuration: a cell's identity less the workload pooled over (dataset,
# algorithm, options) and less compute_type, which `quantization` (what ran) already says.
CONFIGURATION_FIELDS = tuple(f for f in CELL_IDENTITY if f not in ("compute_type", "dataset", "algorithm", "options_hash"))
# What describes a cell in a summary row: its identity and what may differ between runs of it.
CELL_COLUMNS = ("suite",) + CELL_IDENTITY + ("runtime_version", "dataset_hash", "source_format", "weights_quantization",
                                             "perturbation")
# Which hardware a row was measured on ("same hardware" for speed comparisons).
HARDWARE_FIELDS = ("cpu_model", "cpus_logical", "gpu_name")


def canon(value: Any) -> str:
    """The canonical text of an identity value: missing (None, NaN) and empty containers
    are "", containers are key-sorted JSON, everything else its str()."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, (dict, list, tuple)):
        return json.dumps(value, sort_keys=True, default=str) if value else ""
    return str(value)


def identity_key(row: Mapping[str, Any], fields: tuple[str, ...] | list[str] = CELL_IDENTITY) -> tuple[str, ...]:
    """The canonical key of `row` over `fields` (a missing field counts as None)."""
    return tuple(canon(row.get(f)) for f in fields)


def loaded_identity(described: Mapping[str, Any], weights: Mapping[str, Any], device: str,
                    threads: int) -> dict[str, Any]:
    """The identity fields only a loaded model tells, for every row measured with it (the
    suite's cell process and a scenario cell's): from the backend's `describe()` and the
    weights' own format and quantization on disk (`cell_process.weights_info`); `device`
    and `threads` as asked, where the backend does not say what it chose."""
    compute_type, wq, read_format = described.get("compute_type"), weights.get("quantization"), described.get("model_format")
    return dict(
        runtime_version=described.get("runtime_version"), model_format=read_format,
        source_format=weights.get("format") if weights.get("format") not in (None, read_format) else None,
        weights_quantization=wq, compute_type=compute_type,
        # What ran: the weights' quantization when the runtime was left to choose.
        quantization=wq if compute_type in (None, "default") and wq else compute_type,
        device=described.get("device", device), threads=described.get("threads", threads),
    )


# ----- records -----------------------------------------------------------------------------


@dataclass(kw_only=True)
class Record:
    """Base of every record: declared fields, plus `extra` for fields a record carries that
    its class does not declare (from a newer writer, or runtime-specific details); `extra`
    is written flat, beside the declared fields."""

    KIND: ClassVar[str] = ""
    schema_version: int = SCHEMA_VERSION
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        out = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "extra"}
        out["record"] = self.KIND
        for k, v in self.extra.items():
            out.setdefault(k, v)
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "Record":
        """Read a (migrated) record; keys starting with "_" (the store's bookkeeping) are dropped."""
        names = {f.name for f in dataclasses.fields(cls)} - {"extra"}
        known = {k: v for k, v in data.items() if k in names}
        extra = {k: v for k, v in data.items() if k not in names and k != "record" and not k.startswith("_")}
        return cls(**known, extra=extra)


@dataclass(kw_only=True)
class RowIdentity(Record):
    """The fields every measurement and failure row of a cell carries."""

    run_id: str | None = None
    cell_id: str | None = None
    suite: str | None = None
    backend: str | None = None
    runtime_version: str | None = None
    model: str | None = None
    model_format: str | None = None  # the format the runtime read (the backend's, after any conversion)
    source_format: str | None = None  # the format of the model as given, when it was converted from another
    weights_quantization: str | None = None  # of the model's weights as given (whisperbench.conversion)
    compute_type: str | None = None  # as requested from the runtime ("default" lets it choose)
    quantization: str | None = None  # what ran: compute_type, or the weights' when compute_type is "default"
    device: str | None = None
    threads: int | None = None  # 0: the runtime's default
    load_extra: dict[str, Any] = field(default_factory=dict)  # backend-specific load options
    served: bool | None = None  # True: decoded by `whisperbench serve`, timed by the openai-api client
    dataset: str | None = None
    dataset_kind: str | None = None
    dataset_path: str | None = None
    dataset_hash: str | None = None
    perturbation: dict[str, Any] = field(default_factory=dict)  # kind 'perturb': bench.perturb.PerturbSpec fields
    algorithm: str | None = None
    variant: str | None = None
    implementation: str | None = None
    options_hash: str | None = None  # DecodeOptions.hash()
    options: dict[str, Any] = field(default_factory=dict)  # every DecodeOptions field
    normalizer: str | None = None
    hostname: str | None = None
    cpu_model: str | None = None
    cpus_logical: int | None = None  # logical CPUs of the machine (os.cpu_count), not the affinity
    gpu_name: str | None = None
    gpu_driver: str | None = None
    packages: dict[str, Any] = field(default_factory=dict)  # {package: version}
    git_commit: str | None = None
    git_dirty: bool | None = None

    def identity(self) -> dict[str, Any]:
        """Only the RowIdentity fields (what a cell's child process copies into each of its rows)."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(RowIdentity)
                if f.name not in ("extra", "schema_version")}


@dataclass(kw_only=True)
class Measurement(RowIdentity):
    """One measured (cell, utterance, repeat): a real transcription and its timing."""

    KIND: ClassVar[str] = "measurement"
    status: str = "ok"
    utterance_id: str | None = None
    repeat: int | None = None  # 0-based
    reference: str | None = None
    hypothesis: str | None = None
    reference_normalized: str | None = None
    hypothesis_normalized: str | None = None
    ref_words: int | None = None
    hits: int | None = None
    substitutions: int | None = None
    deletions: int | None = None
    insertions: int | None = None
    wer: float | None = None  # fraction; None when the normalized reference is empty
    ref_chars: int | None = None
    char_edits: int | None = None
    cer: float | None = None  # fraction
    empty_reference: bool | None = None
    hallucinated_words: int | None = None  # words transcribed on an empty reference
    hallucinations_per_minute: float | None = None  # hallucinated_words per minute of that audio
    insertion_rate: float | None = None  # insertions / ref_words (None on an empty reference)
    repeated_5gram_share: float | None = None  # of the normalized hypothesis
    compression_ratio: float | None = None  # zlib, of the normalized hypothesis
    catastrophic: bool | None = None  # no words on speech, WER > 100 %, a loop, words on non-speech (metrics)
    catastrophic_reasons: str | None = None
    vad_seconds: float | None = None  # decode option vad='silero': detection time (inside decode_seconds)
    reference_words_dropped: int | None = None  # reference words the normalizer deletes
    window_boundaries: list[float] | None = None  # long-form: where the algorithm cut the audio (s)
    boundary_errors: int | None = None  # deleted/inserted words next to a window boundary
    # Word timestamps against the dataset's reference word times (bench.word_metrics; None
    # without word_timestamps or reference words): how the times were made (backends.word_timing),
    # reference words, those matched and their share, shares of the 2 x matched boundaries
    # within 50/100/250 ms, absolute start/end errors (s), and the signed errors per matched word.
    word_timing: str | None = None
    word_reference_words: int | None = None
    word_matched_words: int | None = None
    word_matched_share: float | None = None
    word_within_50ms: float | None = None
    word_within_100ms: float | None = None
    word_within_250ms: float | None = None
    word_start_error_mean_s: float | None = None
    word_start_error_median_s: float | None = None
    word_end_error_mean_s: float | None = None
    word_end_error_median_s: float | None = None
    word_start_errors_s: list[float] | None = None
    word_end_errors_s: list[float] | None = None
    language: str | None = None  # detected, or the one forced by options.language
    language_probability: float | None = None  # of the detected language (None where not reported)
    reference_language: str | None = None  # the language the dataset states for the utterance
    n_segments: int | None = None
    audio_warning: str | None = None  # the audio decoded incompletely
    audio_seconds: float | None = None
    decode_seconds: float | None = None  # the backend's timer around the whole decode (audio pre-decoded)
    call_seconds: float | None = None  # the child process's timer around Backend.transcribe
    # Served cells: the server's own decode time for the request (decode_seconds is the client's),
    # the server process's peak RSS so far and the CPU seconds it spent on this request.
    server_decode_seconds: float | None = None
    server_peak_rss_mb: float | None = None
    server_cpu_seconds: float | None = None
    loadavg_before: list[float] | None = None  # [1, 5, 15] min
    loadavg_after: list[float] | None = None
    load_cpus: int | None = None  # CPUs usable by the process (its affinity) while timed
    others_cpu_seconds: float | None = None  # CPU time other processes took on them during the call
    load_wall_seconds: float | None = None
    rtfx: float | None = None  # audio_seconds / decode_seconds
    tokens: int | None = None
    tokens_per_second: float | None = None
    load_seconds: float | None = None  # model load
    peak_rss_mb: float | None = None  # the cell process's peak RSS so far
    gpu_peak_mb: float | None = None  # device memory in use above the reading before load
    gpu_allocated_peak_mb: float | None = None  # PyTorch's allocator peak (torch runtimes only)
    timestamp: str | None = None  # ISO time


@dataclass(kw_only=True)
class Failure(RowIdentity):
    """A cell (scope "cell": crash, timeout, out of memory, load error) or one utterance
    (scope "utterance") that failed; utterance_id / repeat are None outside an utterance."""

    KIND: ClassVar[str] = "failure"
    status: str = "failed"
    scope: str = "cell"
    utterance_id: str | None = None
    repeat: int | None = None
    error_type: str | None = None
    error: str | None = None
    traceback: str | None = None
    stderr_tail: str | None = None
    returncode: int | None = None
    timestamp: str | None = None


@dataclass(kw_only=True)
class CellRecord(Record):
    """One per cell attempt, after the model loaded and the warm-ups ran."""

    KIND: ClassVar[str] = "cell"
    run_id: str | None = None
    cell_id: str | None = None
    load_seconds: float | None = None
    warmup_seconds: list[float] = field(default_factory=list)  # decode seconds of each warm-up
    rss_before_load_mb: float | None = None
    rss_after_load_mb: float | None = None
    weights: dict[str, Any] = field(default_factory=dict)  # format / quantization on disk
    describe: dict[str, Any] = field(default_factory=dict)  # Backend.describe()
    timestamp: str | None = None


@dataclass(kw_only=True)
class SyntheticRow(Record):
    """One synthetic-timing cell (random weights, a fixed number of decoded tokens).
    Status "ok", "skipped" (the runtime cannot do it) or "failed"; runtime-specific
    details (memory peaks, roofline, the runner's own fields) are in `extra`."""

    KIND: ClassVar[str] = "synthetic"
    status: str | None = None
    run_id: str | None = None
    dataset: str = "synthetic"
    hostname: str | None = None
    cpu_model: str | None = None
    cpus_logical: int | None = None  # logical CPUs of the machine (os.cpu_count)
    cpus_usable: int | None = None  # CPUs the process may run on (its affinity)
    gpu_name: str | None = None
    gpu_driver: str | None = None
    packages: dict[str, Any] = field(default_factory=dict)
    git_commit: str | None = None
    git_dirty: bool | None = None
    architecture: str | None = None
    architecture_source: str | None = None
    dims: dict[str, Any] = field(default_factory=dict)
    parameters: int | None = None
    distilled: bool | None = None
    backend: str | None = None
    device: str | None = None
    compute_type: str | None = None
    batch_size: int | None = None
    decode_tokens: int | None = None  # tokens each decode must produce
    error_type: str | None = None
    error: str | None = None
    encoder_seconds: float | None = None  # median over repeats
    total_seconds: float | None = None  # encoder + N-token generate, median over repeats
    decoder_seconds: float | None = None  # the decoder alone, N tokens, median over repeats (not a whole decode)
    decoder_seconds_all: list[float] | None = None  # per repeat
    per_token_seconds: float | None = None  # decoder_seconds / decode_tokens
    tokens_per_second: float | None = None  # batch_size * decode_tokens / decoder_seconds
    timestamp: str | None = None


RECORD_CLASSES: dict[str, type[Record]] = {c.KIND: c for c in (Measurement, Failure, CellRecord, SyntheticRow)}


def from_dict(data: Mapping[str, Any]) -> Record | dict[str, Any]:
    """The typed record of a (migrated) dict; run/session records stay dicts."""
    cls = RECORD_CLASSES.get(str(data.get("record")))
    return cls.from_dict(data) if cls else dict(data)


# ----- migration ---------------------------------------------------------------------------


def _rename(rec: dict[str, Any], old: str, new: str) -> None:
    if old in rec:
        value = rec.pop(old)
        rec.setdefault(new, value)


def update_to_2(rec: dict[str, Any]) -> dict[str, Any]:
    """Version 1 -> 2: `cpu_count` was the machine's logical CPUs in suite rows and the
    affinity count in synthetic rows (now `cpus_logical` / `cpus_usable`); a synthetic row's
    `decode_seconds` was the decoder alone (now `decoder_seconds`, as opposed to a suite
    row's whole decode)."""
    rec = dict(rec)
    if rec.get("record") == SyntheticRow.KIND:
        _rename(rec, "cpu_count", "cpus_usable")
        _rename(rec, "decode_seconds", "decoder_seconds")
        _rename(rec, "decode_seconds_all", "decoder_seconds_all")
    else:
        _rename(rec, "cpu_count", "cpus_logical")
    rec["schema_version"] = 2
    return rec


# The format each backend read when version 3 came (the backend's `Capabilities.model_format`);
# a version-2 row of a converted model recorded the format it was converted from.
FORMAT_READ_AT_VERSION_3 = {"ctranslate2": "ctranslate2", "openai": "openai", "transformers": "transformers",
                            "whispercpp": "ggml", "transformersjs": "onnx", "dummy": "none"}


def update_to_3(rec: dict[str, Any]) -> dict[str, Any]:
    """Version 2 -> 3: a measurement row's `model_format` was the format of the model as
    given (e.g. "ctranslate2" for the openai backend converting the tiny.en fixture), while the
    runner's failure rows had the backend's. It is now the format the runtime read, and
    `source_format` the one it was converted from."""
    rec = dict(rec)
    read = FORMAT_READ_AT_VERSION_3.get(str(rec.get("backend")))
    if rec.get("record") in (Measurement.KIND, Failure.KIND) and read and rec.get("model_format") not in (None, read):
        rec["source_format"] = rec["model_format"]
        rec["model_format"] = read
    rec["schema_version"] = 3
    return rec


MIGRATIONS: dict[int, Callable[[dict[str, Any]], dict[str, Any]]] = {2: update_to_2, 3: update_to_3}


def migrate(rec: dict[str, Any]) -> dict[str, Any]:
    """`rec` brought up to SCHEMA_VERSION (a record without a version is version 1)."""
    version = int(rec.get("schema_version") or 1)
    for to in range(version + 1, SCHEMA_VERSION + 1):
        rec = MIGRATIONS[to](rec)
    return rec
