"""The ASGI application: `create_app(pool, ...)`.

`POST /v1/audio/transcriptions` takes OpenAI's multipart fields (`file`, `model`, `language`,
`prompt` (= `initial_prompt`; an empty one is no prompt), `response_format`, `temperature`,
`timestamp_granularities[]`) and, as extra fields, every `DecodeOptions` field by name
(`beam_size=5`), parsed by the CLI's own arguments
(`whisperbench.decode_args`): the same validation and messages. Every refusal is an OpenAI
error JSON naming the problem; the server keeps serving. Answers carry the server's identity
(`X-Whisperbench-Server`) and the backend's own decode time (`X-Whisperbench-Decode-Seconds`)."""

from __future__ import annotations

import os
import tempfile
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.datastructures import FormData, UploadFile
from starlette.formparsers import MultiPartException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from whisperbench import __version__
from whisperbench.audio import read_audio
from whisperbench.backends.openai_api.protocol import DECODE_SECONDS_HEADER, SERVER_HEADER
from whisperbench.decode_args import decode_field_names, decode_options_from_fields
from whisperbench.errors import AudioError, WhisperbenchError
from whisperbench.options import DecodeOptions
from whisperbench.output import render
from whisperbench.results import Transcription
from whisperbench.serve.errors import ApiError, error_body
from whisperbench.serve.pool import PoolClosed, QueueFull, Worker, WorkerPool
from whisperbench.serve.worker import WorkerCrashed, WorkerTimedOut

RESPONSE_FORMATS = ("json", "text", "verbose_json", "srt", "vtt")
GRANULARITIES = ("segment", "word")
OPENAI_FIELDS = ("file", "model", "language", "prompt", "response_format", "temperature",
                 "timestamp_granularities[]", "timestamp_granularities")
MAX_FIELD_BYTES = 64 * 1024


@dataclass(frozen=True)
class ServedModel:
    """What the server serves: the id `/v1/models` lists and the backend's identity."""

    model_id: str
    describe: dict[str, Any]

    @property
    def server_header(self) -> str:
        d = self.describe
        text = (f"whisperbench/{__version__} backend={d['backend']}; runtime={d['runtime_version']}; "
                f"model={d['model']}; device={d['device']}; compute_type={d['compute_type']}; "
                f"isolation={d.get('isolation', 'thread')}")
        return text.encode("latin-1", "replace").decode("latin-1")


def create_app(pool: WorkerPool, served: ServedModel, *, max_upload_bytes: int) -> Starlette:
    stats: Counter[str] = Counter()
    decode_fields = set(decode_field_names())
    valid_fields = sorted(set(OPENAI_FIELDS) | decode_fields)
    headers = {SERVER_HEADER: served.server_header}

    async def health(request: Request) -> Response:
        return JSONResponse({"status": "ok", **pool.health(), "answers": dict(stats)}, headers=headers)

    async def models(request: Request) -> Response:
        return JSONResponse({"object": "list", "data": [{
            "id": served.model_id, "object": "model", "created": 0, "owned_by": "whisperbench",
            "whisperbench": {**served.describe, "version": __version__, "workers": pool.workers,
                             "queue_size": pool.queue_size, "decode_fields": sorted(decode_fields)},
        }]}, headers=headers)

    async def transcriptions(request: Request) -> Response:
        try:
            response = await _transcribe(request)
        except ApiError as exc:
            stats[exc.code] += 1
            response = exc.response()
        else:
            stats["ok"] += 1
        response.headers.update(headers)
        return response

    async def _transcribe(request: Request) -> Response:
        form = await _read_form(request, max_upload_bytes)
        try:
            upload, options, fmt = _request_fields(form, decode_fields, valid_fields)
            data = await upload.read()
            if not data:
                raise ApiError(400, f"the uploaded file {upload.filename!r} is empty (0 bytes)", code="empty_file",
                               param="file")
            name = upload.filename or "audio"
        finally:
            await form.close()
        try:
            result = await pool.run(lambda backend: _decode(backend, data, name, options))
        except QueueFull:
            raise ApiError(503, f"the server is at capacity ({pool.workers} worker(s) busy, queue of "
                           f"{pool.queue_size} full); retry later", code="server_busy", type="server_busy") from None
        except PoolClosed:
            raise ApiError(503, "the server is shutting down", code="server_shutting_down", type="server_busy") from None
        return _render(result, name, fmt)

    async def not_found(request: Request, exc: Exception) -> Response:
        status = getattr(exc, "status_code", 404)
        return JSONResponse(error_body(f"{request.method} {request.url.path}: {getattr(exc, 'detail', 'not found')}",
                                       type="invalid_request_error", param=None, code=str(status)),
                            status_code=status, headers=headers)

    return Starlette(routes=[
        Route("/health", health, methods=["GET"]),
        Route("/v1/models", models, methods=["GET"]),
        Route("/v1/audio/transcriptions", transcriptions, methods=["POST"]),
    ], exception_handlers={404: not_found, 405: not_found})


async def _read_form(request: Request, limit: int) -> FormData:
    """The multipart body, read whole up to `limit` bytes (413 beyond), then parsed."""
    if not request.headers.get("content-type", "").startswith("multipart/form-data"):
        raise ApiError(400, "expected a multipart/form-data body (fields: file, model, ...)", code="not_multipart")
    too_big = ApiError(413, f"the upload is larger than this server's limit of {limit / 2**20:g} MB "
                            "(whisperbench serve --max-upload-mb)", code="upload_too_large", param="file")
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise too_big
    chunks, size = [], 0
    try:
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise too_big
            chunks.append(chunk)
    except ClientDisconnect:
        raise ApiError(400, f"the client disconnected during the upload (after {size} bytes)",
                       code="client_disconnected") from None
    body = b"".join(chunks)

    async def replay() -> dict[str, Any]:
        return {"type": "http.request", "body": body, "more_body": False}

    try:
        return await Request(request.scope, replay).form(max_files=1, max_fields=64, max_part_size=MAX_FIELD_BYTES)
    except MultiPartException as exc:
        raise ApiError(400, f"malformed multipart body: {exc}", code="malformed_multipart") from None
    except Exception as exc:  # python-multipart's own parse errors
        raise ApiError(400, f"malformed multipart body: {type(exc).__name__}: {exc}",
                       code="malformed_multipart") from None


def _request_fields(form: FormData, decode_fields: set[str],
                    valid_fields: list[str]) -> tuple[UploadFile, DecodeOptions, str]:
    """The upload, the decoding options and the response format a request asks for."""
    values: dict[str, list[Any]] = {}
    for key, value in form.multi_items():
        values.setdefault(key, []).append(value)
    unknown = sorted(set(values) - set(valid_fields))
    if unknown:
        raise ApiError(400, f"unknown field(s) {', '.join(map(repr, unknown))}; valid: {', '.join(valid_fields)}",
                       code="unknown_field", param=unknown[0])
    granularities = values.pop("timestamp_granularities[]", []) + values.pop("timestamp_granularities", [])
    repeated = sorted(k for k, v in values.items() if len(v) > 1)
    if repeated:
        raise ApiError(400, f"field {repeated[0]!r} given {len(values[repeated[0]])} times", code="repeated_field",
                       param=repeated[0])
    fields = {k: v[0] for k, v in values.items()}
    upload = fields.pop("file", None)
    if not isinstance(upload, UploadFile):
        raise ApiError(400, "field 'file' must be an uploaded audio file" if upload is not None
                       else "missing field 'file' (the audio to transcribe)", code="missing_file", param="file")
    strings = {k: v for k, v in fields.items() if isinstance(v, str)}
    if len(strings) != len(fields):
        name = next(k for k in fields if k not in strings)
        raise ApiError(400, f"field {name!r} must be a value, not a file", code="invalid_field", param=name)
    fields = strings
    fields.pop("model", None)  # one model is served; any name is accepted (clients often send "whisper-1")
    fmt = fields.pop("response_format", "json")
    if fmt not in RESPONSE_FORMATS:
        raise ApiError(400, f"response_format {fmt!r} is not one of {', '.join(RESPONSE_FORMATS)}",
                       code="invalid_response_format", param="response_format")
    return upload, options_from_fields(fields, granularities), fmt


def options_from_fields(fields: dict[str, str], granularities: list[str]) -> DecodeOptions:
    """The DecodeOptions of a request's value fields (OpenAI's and the extra ones; no file,
    model or response_format) and its timestamp_granularities[]."""
    fields = dict(fields)
    sent_as: dict[str, str] = {}  # decoding option -> the OpenAI field that set it
    prompt = fields.pop("prompt", "")
    if prompt.strip():  # (OpenAI clients may send an empty prompt: no prompt)
        if "initial_prompt" in fields:
            raise ApiError(400, "give prompt or initial_prompt (the same option), not both",
                           code="conflicting_fields", param="prompt")
        fields["initial_prompt"] = prompt
        sent_as["initial_prompt"] = "prompt"
    temperature = fields.pop("temperature", None)
    if temperature is not None:
        if "temperatures" in fields:
            raise ApiError(400, "give temperature or temperatures (the fallback sequence), not both",
                           code="conflicting_fields", param="temperature")
        fields["temperatures"] = temperature
    bad = [g for g in granularities if g not in GRANULARITIES]
    if bad:
        raise ApiError(400, f"timestamp_granularities[] {bad[0]!r} is not one of {', '.join(GRANULARITIES)}",
                       code="invalid_field", param="timestamp_granularities[]")
    if "word" in granularities:
        if fields.get("word_timestamps", "true").lower() in ("false", "0", "no", "off"):
            raise ApiError(400, "timestamp_granularities[]=word contradicts word_timestamps=false",
                           code="conflicting_fields", param="word_timestamps")
        fields["word_timestamps"] = "true"
    try:
        options = decode_options_from_fields(fields)
    except WhisperbenchError as exc:
        param = next((sent_as.get(k, k) for k in fields if k in str(exc) or k.replace("_", "-") in str(exc)), None)
        raise ApiError(400, str(exc), code="invalid_option", param=param) from None
    return options


def _decode(backend: Worker, data: bytes, name: str, options: DecodeOptions) -> Transcription:
    """Runs on a pool thread: the upload decoded as audio here, then transcribed by the worker."""
    suffix = Path(name).suffix[:16] if Path(name).suffix.isascii() else ""
    fd, path = tempfile.mkstemp(prefix="whisperbench-upload-", suffix=suffix)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        try:
            samples = read_audio(path).samples
        except AudioError as exc:
            raise ApiError(400, f"the uploaded file {name!r} is not audio whisperbench can decode: "
                           f"{str(exc).replace(path, name)}", code="invalid_audio", param="file") from None
    finally:
        os.unlink(path)
    try:
        return backend.transcribe(samples, options)
    except WhisperbenchError as exc:  # an option this backend or model cannot honour
        raise ApiError(400, str(exc), code="unsupported_option") from None
    except WorkerTimedOut as exc:  # (--request-timeout) killed; the worker restarts
        raise ApiError(504, f"the runtime did not finish this request in time: {exc}; the worker is restarting",
                       code="runtime_timeout") from None
    except WorkerCrashed as exc:  # (isolation process) the server goes on; the worker restarts
        raise ApiError(500, f"the runtime crashed on this request: {exc}; the worker is restarting",
                       code="runtime_crash") from None
    except Exception as exc:
        raise ApiError(500, f"the runtime failed on this request: {type(exc).__name__}: {exc}",
                       code="runtime_error") from None


def _render(result: Transcription, name: str, fmt: str) -> Response:
    headers = {DECODE_SECONDS_HEADER: f"{result.timing.decode_seconds:.6f}"}
    if fmt == "json":
        return JSONResponse({"text": result.text}, headers=headers)
    if fmt == "verbose_json":
        return JSONResponse(verbose_json(result), headers=headers)
    media = {"vtt": "text/vtt"}.get(fmt, "text/plain")
    return PlainTextResponse(render([(name, result)], fmt), media_type=media, headers=headers)


def verbose_json(result: Transcription) -> dict[str, Any]:
    """OpenAI's verbose_json, plus each segment's words and a `whisperbench` section (how the
    server decoded it)."""
    segments = []
    for i, s in enumerate(result.segments):
        seg = {"id": i, "seek": 0, "start": s.start, "end": s.end, "text": s.text, "tokens": list(s.tokens),
               "temperature": s.temperature, "avg_logprob": s.avg_logprob,
               "compression_ratio": s.compression_ratio, "no_speech_prob": s.no_speech_prob}
        if s.words is not None:
            seg["words"] = [_word(w) for w in s.words]
        segments.append(seg)
    out: dict[str, Any] = {"task": result.options.task, "language": result.language,
                           "duration": result.timing.audio_seconds, "text": result.text, "segments": segments}
    if result.options.word_timestamps:
        out["words"] = [_word(w) for s in result.segments for w in (s.words or ())]
    out["whisperbench"] = {
        "backend": result.backend, "implementation": result.implementation,
        "language_probability": result.language_probability,
        "decode_seconds": result.timing.decode_seconds, "tokens": result.timing.tokens_generated,
        "options": result.options.to_dict(),
    }
    return out


def _word(w: Any) -> dict[str, Any]:
    return {"word": w.word, "start": w.start, "end": w.end, "probability": w.probability}
