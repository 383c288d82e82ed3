"""Transformers.js (``@huggingface/transformers`` on Node.js, ONNX Runtime): the runtime
the Distil-Whisper model card offers for the browser and Node.js.

One long-lived Node.js worker (``backends/transformersjs/node/worker.mjs``) per loaded model; requests
and results stream over its stdin/stdout as JSON lines, the audio goes through a
temporary raw float32 file. Load time is paid once; every result carries the latency
measured inside the worker (``extra['worker_seconds']``) beside the outside wall time
(``timing.decode_seconds``, which adds the IPC). A worker that dies or does not answer
within ``timeout_s`` is a `TransformersJsWorkerError` (the process is killed; the next
request starts a fresh worker and pays the load again, counted in ``extra['worker_restarts']``).

- short: the ASR pipeline on one window;
- chunked: the pipeline's ``chunk_length_s`` / ``stride_length_s`` (``-O stride_length_s``,
  default chunk_length_s / 6 as in the pipeline);
- sequential: Whisper's sliding window driven from here, one pipeline call per 30 s
  window, seeking to the last complete timestamp (no fallback, no conditioning: the
  runtime has neither); with word timestamps, to the start of the window's last word.

Word timestamps are the pipeline's ``return_timestamps: "word"``: cross-attention DTW over
``generation_config.alignment_heads``, which needs decoder graphs that output
cross-attentions (whisperbench's ONNX export does; the worker says when a model's do not).
With no language given, a multilingual model's language is detected by the worker (see
``worker.mjs``, ``detectLanguage``): Transformers.js 3.8 itself has no language detection.

Compute types: float32 (the fp32 graphs) and int8 (the dynamically quantized graphs,
Transformers.js dtype ``q8``). Set-up: ``npm ci`` in ``whisperbench/backends/transformersjs/node``
(``scripts/setup.sh`` does it); the ONNX Runtime binaries come inside the npm packages.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from whisperbench.audio import SAMPLE_RATE
from whisperbench.backends import word_timing
from whisperbench.backends.base import Backend, Capabilities, RawResult
from whisperbench.backends.transformersjs import SPEC
from whisperbench.backends.transformersjs.worker import (
    NODE_DIR,
    NODE_PACKAGE,
    TransformersJsWorkerError,
    Worker,
    missing_runtime,
    node_binary,
    node_version,
)
from whisperbench.errors import ModelError, UnsupportedOptionError, WhisperbenchError
from whisperbench.options import WINDOW_SECONDS, DecodeOptions, LoadOptions
from whisperbench.results import Segment

DTYPES = {"float32": "fp32", "int8": "q8"}  # our compute type -> Transformers.js dtype
PRECISION_OF = {"float32": "fp32", "int8": "int8"}  # our compute type -> onnx_format precision
DEFAULT_TIMEOUT_S = 600.0
DEFAULT_LOAD_TIMEOUT_S = 300.0


class TransformersJsBackend(Backend):
    name = "transformersjs"
    capabilities = Capabilities(
        model_format=SPEC.weight_format,
        algorithms={
            "short": "transformers.js AutomaticSpeechRecognitionPipeline (one window)",
            "sequential": "whisperbench sliding window over transformers.js AutomaticSpeechRecognitionPipeline windows",
            "chunked": "transformers.js AutomaticSpeechRecognitionPipeline (chunk_length_s, stride_length_s)",
        },
        compute_types={"cpu": ("float32", "int8")},
        batching=False,
        word_timestamps=True,
        word_timing=word_timing.DTW,
        beam_search=False,
        temperature_fallback=False,
        condition_on_previous_text=False,
        thresholds=False,
        timestamps_off=True,
        translate=True,
        language_detection=True,
        max_new_tokens=True,
        initial_prompt=False,
        extra_options={
            "stride_length_s": "chunked: seconds of context shared with each neighbour chunk "
            "(default chunk_length_s / 6, the pipeline's default)",
            "timeout_s": f"seconds one request may take before the worker is killed (default {DEFAULT_TIMEOUT_S:g})",
            "load_timeout_s": f"seconds the model load may take (default {DEFAULT_LOAD_TIMEOUT_S:g})",
            "suppress_tokens": "true (default): apply generation_config.suppress_tokens, which transformers.js v3 "
            "leaves out (it then can stop a window at <|nocaptions|>); false: the library's own behaviour",
        },
        notes=(
            "suppress_tokens are applied by the worker (transformers.js v3 skips them); -O suppress_tokens=false to not",
            "greedy only: Transformers.js v3 has no beam search, sampling fallback or conditioning on previous text",
            "language detection is the worker's: Transformers.js 3.8 has none (its Whisper generate decodes a "
            "multilingual model in English when given no language); the worker runs the loaded model one decoder "
            "step after <|startoftranscript|> on the first 30 s and softmaxes over the language tokens, as "
            "openai-whisper and transformers detect",
            "compression-ratio / log-prob / no-speech thresholds are not applied",
            "no initial_prompt: Transformers.js 3.8 declares prompt_ids in its Whisper generation config but its "
            "generate never reads it (the code is commented out), and the pipeline has no other prompt input",
            "chunked decodes one chunk at a time (batch_size 1)",
            "word_timestamps: the pipeline's return_timestamps='word' (cross-attention DTW over "
            "generation_config.alignment_heads; the pipeline then predicts no timestamp tokens, so segments are "
            "sentences of words); needs decoder graphs with cross-attention outputs, which whisperbench's ONNX "
            "export (recipe 2) writes; other ONNX folders without them refuse word_timestamps",
            "token counts are re-derived by tokenizing the pipeline's text (the pipeline returns no token ids)",
            "the model runs in a Node.js worker process: peak memory is the worker's (extra['worker_peak_rss_mb'])",
            "no synthetic timing (`whisperbench synthetic`): random weights would have to go through the ONNX "
            "exporter's own environment for every architecture, and the worker has no encoder-only or "
            "fixed-length decoder call; its rows are skipped, saying so",
        ),
    )

    # ----- registry and identity -------------------------------------------------------
    @classmethod
    def runtime_version(cls) -> str:
        try:
            tjs = json.loads((NODE_DIR / "node_modules" / NODE_PACKAGE / "package.json").read_text())["version"]
            ort = json.loads((NODE_DIR / "node_modules" / "onnxruntime-node" / "package.json").read_text())["version"]
        except (OSError, ValueError, KeyError):
            return "not installed"
        node = node_binary()
        return f"transformers.js {tjs}, onnxruntime-node {ort}, node {node_version(node) if node else 'missing'}"

    @classmethod
    def _check_backend_options(cls, options: DecodeOptions) -> None:
        if options.batch_size > 1:
            raise UnsupportedOptionError(
                f"backend 'transformersjs' cannot honour batch_size={options.batch_size}: "
                "the transformers.js pipeline decodes chunks one at a time"
            )

    # ----- loading ----------------------------------------------------------------------
    def _load(self, model: str, load_options: LoadOptions) -> None:
        from whisperbench import models

        missing = missing_runtime()
        if missing:
            from whisperbench.errors import BackendNotInstalledError

            raise BackendNotInstalledError(f"backend 'transformersjs' needs {'; '.join(missing)}")
        extra = load_options.extra
        try:
            self.timeout_s = float(extra.get("timeout_s", DEFAULT_TIMEOUT_S))
            self.load_timeout_s = float(extra.get("load_timeout_s", DEFAULT_LOAD_TIMEOUT_S))
            self.stride_length_s = None if extra.get("stride_length_s") is None else float(extra["stride_length_s"])
        except (TypeError, ValueError) as exc:
            raise UnsupportedOptionError(f"backend 'transformersjs': bad load option: {exc}") from None
        if self.timeout_s <= 0 or self.load_timeout_s <= 0:
            raise UnsupportedOptionError("timeout_s and load_timeout_s must be positive")
        if self.stride_length_s is not None and self.stride_length_s < 0:
            raise UnsupportedOptionError(f"stride_length_s={self.stride_length_s} must be >= 0")
        self.dtype = DTYPES[load_options.compute_type]

        source = models.resolve(model)
        self.converted_from: str | None = None
        if source.is_local:
            from whisperbench.conversion import ensure_format, onnx_format
            from whisperbench.conversion.formats import detect_format

            have = detect_format(source.path)
            if have == "onnx":
                path = Path(source.path)
            else:
                try:
                    path = ensure_format(model, "onnx", "int8")
                except ModelError:
                    raise
                except WhisperbenchError as exc:
                    raise ModelError(f"cannot export {model!r} ({have}) to ONNX for backend 'transformersjs': {exc}") from None
                self.converted_from = have
            precision = PRECISION_OF[load_options.compute_type]
            if precision not in onnx_format.precisions(path):
                raise ModelError(
                    f"{path} has no {precision} ONNX graphs ({onnx_format.graph_path(path, 'encoder_model', precision).name}); "
                    f"it has: {', '.join(onnx_format.precisions(path)) or 'none'}"
                )
            self.model_path: str | None = str(path)
            self.hub_id: str | None = None
            self._load_request = {"op": "load", "model": path.name, "root": str(path.parent), "local": True}
        else:  # a hub id (e.g. onnx-community/whisper-tiny.en): transformers.js downloads it
            self.model_path, self.hub_id = None, source.hub_id
            self._load_request = {"op": "load", "model": source.hub_id, "root": None, "local": False}
        self.suppress_tokens = str(extra.get("suppress_tokens", True)).strip().lower() not in ("0", "false", "no", "off")
        self._load_request.update(dtype=self.dtype, threads=load_options.threads, suppress_tokens=self.suppress_tokens)
        cfg_path = Path(self.model_path) / "generation_config.json" if self.model_path else None
        gen = json.loads(cfg_path.read_text()) if cfg_path and cfg_path.exists() else {}
        self.multilingual = bool(gen.get("is_multilingual", True))
        self._tmpdir = Path(tempfile.mkdtemp(prefix="whisperbench-tjs-"))
        self.worker_restarts = 0
        self.worker: Worker | None = None
        self._start_worker()
        self.worker_load_seconds = self.worker.ready["load_ms"] / 1000
        self.versions = self.worker.ready.get("versions", {})
        self.no_word_timestamps: str | None = self.worker.ready.get("word_timestamps")  # why not, or None

    def _start_worker(self) -> None:
        node = node_binary()
        assert node is not None
        try:
            self.worker = Worker(node, self._load_request, self.load_timeout_s)
        except TransformersJsWorkerError as exc:
            raise ModelError(f"transformers.js could not load {self.model_spec!r}: {exc}") from None

    def _check_model_options(self, options: DecodeOptions) -> None:
        super()._check_model_options(options)
        if options.word_timestamps and self.no_word_timestamps:
            raise UnsupportedOptionError(f"backend 'transformersjs' cannot honour word_timestamps=True with "
                                         f"{self.model_spec!r}: {self.no_word_timestamps}")

    def describe(self) -> dict:
        d = super().describe()
        d.update(model_path=self.model_path, hub_id=self.hub_id, converted_from=self.converted_from,
                 transformersjs_dtype=self.dtype, suppress_tokens=self.suppress_tokens, worker_pid=self.worker.pid if self.worker else None,
                 worker_load_seconds=self.worker_load_seconds, versions=self.versions)
        return d

    # ----- requests -------------------------------------------------------------------
    def _request(self, payload: dict, timeout_s: float | None = None) -> dict:
        if self.worker is None or not self.worker.alive:
            self.worker_restarts += 1
            self._start_worker()
        assert self.worker is not None
        try:
            return self.worker.request(payload, timeout_s or self.timeout_s, what=str(payload.get("op")))
        except TransformersJsWorkerError:
            if not self.worker.alive:
                self.worker = None  # the next request starts a fresh worker
            raise


    def _pipeline_options(self, options: DecodeOptions) -> dict:
        o: dict[str, Any] = {"return_timestamps": "word" if options.word_timestamps else options.timestamps}
        if self.multilingual:
            o["language"] = options.language
            o["task"] = options.task
            o["detect_language"] = options.language is None
        if options.max_new_tokens is not None:
            o["max_new_tokens"] = options.max_new_tokens
        return o

    def _call(self, audio_file: Path, offset: int, length: int, popts: dict) -> tuple[dict, float]:
        msg = self._request({"op": "transcribe", "audio_path": str(audio_file), "offset": offset,
                             "length": length, "options": popts})
        return msg, msg["infer_ms"] / 1000

    def _transcribe(self, samples: np.ndarray, options: DecodeOptions) -> RawResult:
        audio_file = self._tmpdir / "audio.f32"
        np.ascontiguousarray(samples, dtype="<f4").tofile(audio_file)
        popts = self._pipeline_options(options)
        duration = len(samples) / SAMPLE_RATE
        try:
            if options.algorithm == "sequential":
                segments, worker_seconds, calls, msg = self._sequential(audio_file, samples, popts, options)
                text = None
            else:
                if options.algorithm == "chunked":
                    popts["chunk_length_s"] = options.chunk_length_s
                    if self.stride_length_s is not None:
                        if self.stride_length_s * 2 >= options.chunk_length_s:
                            raise UnsupportedOptionError(
                                f"stride_length_s={self.stride_length_s} must be under half of "
                                f"chunk_length_s={options.chunk_length_s}"
                            )
                        popts["stride_length_s"] = self.stride_length_s
                msg, worker_seconds = self._call(audio_file, 0, len(samples), popts)
                segments = self._segments(msg, 0.0, duration, options.timestamps, options.word_timestamps)
                text, calls = msg["text"], 1
        finally:
            audio_file.unlink(missing_ok=True)
        extra: dict[str, Any] = {
            "worker_seconds": worker_seconds,
            "worker_calls": calls,
            "worker_restarts": self.worker_restarts,
            "tokens_counted": "re-tokenized from the pipeline's text (the pipeline returns no token ids)",
        }
        if options.algorithm == "chunked":
            stride = self.stride_length_s if self.stride_length_s is not None else options.chunk_length_s / 6
            extra.update(chunk_length_s=options.chunk_length_s, stride_length_s=round(stride, 3))
        rss = self.worker.peak_rss() if self.worker else None
        if rss is not None:
            extra["worker_peak_rss_mb"] = round(rss, 1)
        # (msg: the first window's answer, which carries the detected language)
        return RawResult(segments=segments, language=msg.get("language") or options.language,
                         language_probability=msg.get("language_probability"), text=text, extra=extra)

    @staticmethod
    def _segments(msg: dict, offset: float, end_limit: float, timestamps: bool, words: bool = False) -> list[Segment]:
        if words:  # each chunk is a word
            chunks = [c for c in msg["chunks"] if c["text"].strip()]
            return word_timing.word_segments(word_timing.chunk_words(chunks, offset, end_limit), offset, end_limit,
                                             lambda idx: [t for i in idx for t in chunks[i]["tokens"]])
        segments = []
        prev_start = offset
        for c in msg["chunks"]:
            if not c["text"].strip():
                continue
            start, end = (c.get("timestamp") or [None, None]) if timestamps else (None, None)
            start = offset if start is None else offset + float(start)
            end = end_limit if end is None else offset + float(end)
            start = min(max(start, prev_start), end_limit)
            end = min(max(end, start), end_limit)
            prev_start = start
            segments.append(Segment(start=round(start, 3), end=round(end, 3), text=c["text"], tokens=tuple(c["tokens"])))
        return segments

    def _sequential(self, audio_file: Path, samples: np.ndarray, popts: dict, options: DecodeOptions):
        """Whisper's sliding window: decode 30 s from `seek`; when the window's last segment
        ends with a timestamp, continue from there, else from its start (it was cut off)."""
        window = int(WINDOW_SECONDS * SAMPLE_RATE)
        n = len(samples)
        duration = n / SAMPLE_RATE
        seek, segments, worker_seconds, calls, first = 0, [], 0.0, 0, None
        while seek < n and (seek == 0 or n - seek > int(0.1 * SAMPLE_RATE)):
            length = min(window, n - seek)
            msg, secs = self._call(audio_file, seek, length, popts)
            worker_seconds += secs
            calls += 1
            if first is None:
                first = msg
                if popts.get("detect_language"):  # detected on the first window, kept for the rest
                    popts = dict(popts, detect_language=False, language=msg["language"])
            offset = seek / SAMPLE_RATE
            window_end = (seek + length) / SAMPLE_RATE
            chunks = msg["chunks"]
            new_seek = seek + length
            if options.word_timestamps and seek + length < n and len(chunks) > 1:
                last_start = (chunks[-1].get("timestamp") or [None])[0]
                if last_start is not None and 0 < last_start * SAMPLE_RATE < length:
                    chunks = chunks[:-1]  # the last word may be cut: decode it again in the next window
                    new_seek = seek + int(round(last_start * SAMPLE_RATE))
            elif options.timestamps and seek + length < n and chunks:
                last_start, last_end = (chunks[-1].get("timestamp") or [None, None])
                if last_end is not None and last_end > 0:
                    new_seek = seek + int(round(last_end * SAMPLE_RATE))
                elif last_start is not None and last_start > 0 and len(chunks) > 1:
                    chunks = chunks[:-1]  # cut off mid-segment: decode it again in the next window
                    new_seek = seek + int(round(last_start * SAMPLE_RATE))
            part = self._segments(dict(msg, chunks=chunks), offset, min(window_end, duration), options.timestamps,
                                  options.word_timestamps)
            if segments:
                part = [s for s in part if s.start >= segments[-1].start]
            segments.extend(part)
            seek = max(new_seek, seek + SAMPLE_RATE)  # always advance at least 1 s
        return segments, worker_seconds, calls, first

    # ----- release ----------------------------------------------------------------------
    def close(self) -> None:
        worker, self.worker = getattr(self, "worker", None), None
        if worker is not None:
            worker.close()
        tmp = getattr(self, "_tmpdir", None)
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)

    def __del__(self) -> None:  # a forgotten backend must not leave a Node process behind
        try:
            self.close()
        except Exception:
            pass
