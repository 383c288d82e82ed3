"""The `openai-api` backend: transcribes by sending each input to an OpenAI-compatible
endpoint with httpx. Its model is the endpoint's URL (`http://127.0.0.1:8000/v1`; `/v1` may
be left out); `-O model=NAME` picks the model name sent (default: the first one the
endpoint's `/v1/models` lists).

Latency is the client's: `Timing.decode_seconds` covers the whole request (upload, the
server's audio decoding and queueing, decoding, answer). What the OpenAI API expresses is
sent as its own fields (language, initial_prompt as `prompt`, one temperature, timestamp
granularities); every other
decoding option needs a whisperbench server (`whisperbench serve`, recognised by its
response header), which takes them as extra fields and refuses what its backend cannot do.
Against any other endpoint a non-default value of such an option is refused here."""

from __future__ import annotations

import dataclasses
import os
import time
from typing import Any

import numpy as np

from whisperbench.backends.base import Backend, Capabilities, RawResult
from whisperbench.backends.openai_api import SPEC
from whisperbench.backends.openai_api.protocol import DECODE_SECONDS_HEADER, SERVER_HEADER, wav_bytes
from whisperbench.errors import ModelError, UnsupportedOptionError, WhisperbenchError
from whisperbench.options import DecodeOptions, LoadOptions
from whisperbench.results import Segment, Word

ENDPOINT = "the endpoint's own decoding"
# Options a plain OpenAI endpoint receives (as language, prompt, temperature, timestamp_granularities[]),
# and those the client itself carries out (whisperbench's VAD cuts the audio before sending).
API_FIELDS = ("language", "initial_prompt", "temperatures", "word_timestamps")
CLIENT_SIDE = ("vad", "vad_threshold", "vad_min_silence_ms", "vad_speech_pad_ms")
# Answers worth another try (besides connection failures): the server is busy or restarting.
RETRY_STATUS = (502, 503, 504)
RETRY_WAIT_S = 0.2


class EndpointError(RuntimeError):
    """The endpoint failed a request (unreachable, 5xx, an answer that is not a transcription)."""


class OpenAIApiBackend(Backend):
    name = "openai-api"
    runtime_packages = SPEC.packages
    capabilities = Capabilities(
        model_format=SPEC.weight_format,
        algorithms={"short": ENDPOINT, "sequential": ENDPOINT, "chunked": ENDPOINT},
        # The client computes nothing: what runs is the server's business (recorded from /v1/models).
        compute_types={"cpu": ("server",)},
        word_timestamps=True,
        extra_options={
            "model": "the model name sent in each request (default: the first id the endpoint's /v1/models lists)",
            "api_key_env": "environment variable holding the API key, sent as a Bearer token (default "
                           "OPENAI_API_KEY; the key itself is never recorded)",
            "timeout_s": "seconds to wait for one answer (default 600)",
            "retries": "extra tries after a connection failure or a 502/503/504 answer, 0.2 s apart, doubling "
                       "(default 2)",
        },
        notes=(
            "decoding options other than language, initial_prompt (sent as prompt), one temperature and word "
            "timestamps need a whisperbench server (`whisperbench serve`); against other endpoints they are refused",
            "latency is measured on the client: upload, queueing and the server's audio decoding included",
            "no synthetic timing: the server's runtime does the computing (time that runtime in-process)",
        ),
    )

    def _load(self, model: str, load_options: LoadOptions) -> None:
        import httpx

        extra = load_options.extra
        self.url = endpoint_url(model)
        self.timeout_s = _number(extra, "timeout_s", 600.0)
        self.retries = int(_number(extra, "retries", 2))
        key_env = str(extra.get("api_key_env", "OPENAI_API_KEY"))
        key = os.environ.get(key_env)
        self._client = httpx.Client(timeout=self.timeout_s,
                                    headers={"Authorization": f"Bearer {key}"} if key else {})
        try:
            answer = self._request("GET", "/models")
        except EndpointError as exc:
            self._client.close()
            raise ModelError(f"backend 'openai-api': {exc}") from None
        if answer.status_code >= 400:
            self._client.close()
            raise ModelError(f"backend 'openai-api': {self._refusal(answer)}")
        try:
            self.models_answer = answer.json()
            listed = [m["id"] for m in self.models_answer.get("data", [])]
        except (ValueError, KeyError, TypeError, AttributeError):
            self._client.close()
            raise ModelError(f"backend 'openai-api': {self.url}/models did not answer a model list "
                             f"(status {answer.status_code}); is {self.url} an OpenAI-compatible API?") from None
        self.server = answer.headers.get(SERVER_HEADER)
        self.model_name = str(extra.get("model") or (listed[0] if listed else "whisper-1"))
        served = self._served()
        if served:
            algorithms = served.get("algorithms") or {}
            self.capabilities = dataclasses.replace(type(self).capabilities, algorithms={
                a: f"{algorithms.get(a, ENDPOINT)} via whisperbench serve" for a in type(self).capabilities.algorithms})

    def _served(self) -> dict[str, Any] | None:
        """The whisperbench section of our server's /v1/models entry (None: another server)."""
        if not self.server:
            return None
        for m in self.models_answer.get("data", []):
            if isinstance(m, dict) and m.get("id") == self.model_name and isinstance(m.get("whisperbench"), dict):
                return m["whisperbench"]
        return {}

    def _check_model_options(self, options: DecodeOptions) -> None:
        super()._check_model_options(options)
        if self.server:
            return  # a whisperbench server takes every option and refuses, with its backend's message
        if options.algorithm == "chunked":
            raise self._unsupported("algorithm='chunked'", f"{self.url} is not a whisperbench server; the OpenAI "
                                    "API has no choice of algorithm (short and sequential send the audio whole)")
        defaults = DecodeOptions(algorithm=options.algorithm)
        for f in dataclasses.fields(DecodeOptions):
            value = getattr(options, f.name)
            if value == getattr(defaults, f.name) or f.name in CLIENT_SIDE:
                continue
            if f.name in API_FIELDS and not (f.name == "temperatures" and options.uses_fallback):
                continue
            raise self._unsupported(f"{f.name}={value!r}", f"{self.url} is not a whisperbench server and the OpenAI "
                                    "transcription API has no field for it (only language, prompt, one temperature "
                                    "and timestamp_granularities[])")

    def _transcribe(self, samples: np.ndarray, options: DecodeOptions) -> RawResult:
        fields = self._fields(options)
        files = {"file": ("audio.wav", wav_bytes(samples), "audio/wav")}
        answer = self._request("POST", "/audio/transcriptions", data=fields, files=files)
        if answer.status_code >= 400:
            raise self._refusal(answer)
        try:
            body = answer.json()
            segments = _segments(body)
            text = str(body["text"])
        except (ValueError, KeyError, TypeError) as exc:
            raise EndpointError(f"{self.url} answered something other than a verbose_json transcription: "
                                f"{type(exc).__name__}: {exc}") from None
        decode = answer.headers.get(DECODE_SECONDS_HEADER)
        extra: dict[str, Any] = {"endpoint": self.url, "server": self.server,
                                 "server_decode_seconds": float(decode) if decode else None}
        served = body.get("whisperbench")
        if isinstance(served, dict):
            extra["server_implementation"] = served.get("implementation")
        return RawResult(segments=segments, language=body.get("language"), text=text,
                         language_probability=served.get("language_probability") if isinstance(served, dict) else None,
                         extra=extra)

    def _fields(self, options: DecodeOptions) -> dict[str, Any]:
        fields: dict[str, Any] = {"model": self.model_name, "response_format": "verbose_json",
                                  "timestamp_granularities[]": ["segment", "word"] if options.word_timestamps
                                  else ["segment"]}
        if options.language:
            fields["language"] = options.language
        if options.initial_prompt is not None:
            fields["prompt"] = options.initial_prompt
        if not self.server:
            fields["temperature"] = f"{options.temperatures[0]:g}"
            return fields
        defaults = DecodeOptions()
        for f in dataclasses.fields(DecodeOptions):
            value = getattr(options, f.name)
            if f.name in CLIENT_SIDE or f.name in ("language", "initial_prompt") or value == getattr(defaults, f.name):
                continue
            fields[f.name] = field_text(value)
        return fields

    def _request(self, method: str, path: str, **kwargs: Any) -> Any:
        """One request, tried again after a connection failure or a 502/503/504 answer."""
        import httpx

        for attempt in range(self.retries + 1):
            try:
                answer = self._client.request(method, self.url + path, **kwargs)
            except (httpx.ConnectError, httpx.ConnectTimeout, httpx.RemoteProtocolError, httpx.ReadError) as exc:
                problem = EndpointError(f"cannot reach {self.url}{path}: {type(exc).__name__}: {exc}")
            except httpx.TimeoutException:
                raise EndpointError(f"{self.url}{path} gave no answer within {self.timeout_s:g} s "
                                    "(-O timeout_s=SECONDS)") from None
            else:
                if answer.status_code not in RETRY_STATUS or attempt == self.retries:
                    return answer
                problem = self._refusal(answer)
            if attempt < self.retries:
                time.sleep(RETRY_WAIT_S * 2 ** attempt)
        raise problem

    def _refusal(self, answer: Any) -> Exception:
        """The error an answer >= 400 stands for: the server's own message, as input errors
        (4xx: the request's fault) or failures (5xx)."""
        try:
            error = answer.json()["error"]
            message, code = str(error.get("message")), error.get("code")
        except (ValueError, KeyError, TypeError, AttributeError):
            message, code = answer.text[:300].strip() or answer.reason_phrase, None
        text = f"{self.url} answered {answer.status_code}: {message}"
        if answer.status_code == 401:
            return WhisperbenchError(f"{text} (the key comes from the variable named by -O api_key_env, "
                                     "default OPENAI_API_KEY)")
        if answer.status_code < 500 and answer.status_code != 429:
            return UnsupportedOptionError(text) if code in ("unsupported_option", "invalid_option") \
                else WhisperbenchError(text)
        return EndpointError(text)

    def describe(self) -> dict[str, Any]:
        d = super().describe()
        d.update(endpoint=self.url, models=self.models_answer, server=self.server, model_name=self.model_name)
        return d

    def close(self) -> None:
        client = getattr(self, "_client", None)
        if client is not None:
            client.close()


def endpoint_url(model: str) -> str:
    """The API's base URL (ending in /v1) from what the user gave as the model."""
    url = model.strip().rstrip("/")
    if not url.startswith(("http://", "https://")):
        raise ModelError(f"model {model!r} not found: backend 'openai-api' takes the endpoint's URL as its "
                         "model (e.g. http://127.0.0.1:8000/v1)")
    return url if url.endswith("/v1") else url + "/v1"


def field_text(value: Any) -> str:
    """A DecodeOptions value written as the CLI takes it (`--temperatures 0,0.2`)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "none"
    if isinstance(value, tuple):
        return ",".join(str(v) for v in value)  # (str: the shortest text that reads back as the same float)
    return str(value)


def _number(extra: Any, key: str, default: float) -> float:
    value = extra.get(key, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        raise UnsupportedOptionError(f"backend 'openai-api': option {key} must be a number >= 0, got {value!r}")
    return float(value)


def _segments(body: dict[str, Any]) -> list[Segment]:
    """Segments of a verbose_json answer; words from each segment (our server) or from the
    top-level list (OpenAI's shape), placed in the segment they start in."""
    loose = [_word(w) for w in body.get("words") or []]
    out = []
    raw = body.get("segments") or []
    for i, s in enumerate(raw):
        words = s.get("words")
        if words is not None:
            ws: tuple[Word, ...] | None = tuple(_word(w) for w in words)
        elif loose:
            end = raw[i + 1]["start"] if i + 1 < len(raw) else float("inf")
            ws = tuple(w for w in loose if s["start"] - 1e-6 <= w.start < end)
        else:
            ws = None
        out.append(Segment(start=float(s["start"]), end=float(s["end"]), text=str(s["text"]),
                           tokens=tuple(int(t) for t in s.get("tokens") or ()), avg_logprob=s.get("avg_logprob"),
                           no_speech_prob=s.get("no_speech_prob"), compression_ratio=s.get("compression_ratio"),
                           temperature=s.get("temperature"), words=ws))
    if not raw and body.get("text"):
        out.append(Segment(0.0, float(body.get("duration") or 0.0), str(body["text"])))
    return out


def _word(w: dict[str, Any]) -> Word:
    return Word(start=float(w["start"]), end=float(w["end"]), word=str(w["word"]), probability=w.get("probability"))
