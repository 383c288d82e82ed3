"""`whisperbench serve` as a user runs it: a real uvicorn server process on loopback (the
dummy backend, so every answer is fast and known), its OpenAI-shaped answers and errors,
the bounded queue, a crash inside the runtime, and decoding fields parsed exactly as the
CLI parses them."""

from __future__ import annotations

import argparse
import contextlib
import io
import socket
import threading
import time

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from whisperbench.backends.dummy.adapter import DummyBackend
from whisperbench.backends.openai_api.protocol import DECODE_SECONDS_HEADER, SERVER_HEADER, wav_bytes
from whisperbench.decode_args import add_decode_args, decode_options
from whisperbench.errors import WhisperbenchError

httpx = pytest.importorskip("httpx")

TEXT = "ask not what your country can do for you"
ONE_SECOND = wav_bytes(np.zeros(16000, dtype=np.float32))
LIMIT_MB = 2.0  # jfk.flac is 1.1 MB


@pytest.fixture(scope="module")
def server(serve_endpoint):
    return serve_endpoint("dummy", "none", max_upload_mb=LIMIT_MB, extra={"text": TEXT})


def post(server, data: dict | None = None, audio: bytes | None = ONE_SECOND, name: str = "a.wav", files=None):
    if files is None and audio is not None:
        files = {"file": (name, audio, "application/octet-stream")}
    return httpx.post(server.url + "/audio/transcriptions", data=data or {}, files=files, timeout=30)


def error_of(answer, status: int, code: str) -> dict:
    """The OpenAI error body of `answer`, checked: status, shape, code, one clear line."""
    assert answer.status_code == status, answer.text
    body = answer.json()
    assert set(body) == {"error"} and set(body["error"]) == {"message", "type", "param", "code"}, body
    error = body["error"]
    assert error["code"] == code, error
    assert error["message"].strip() and "\n" not in error["message"]
    assert error["type"] == ("invalid_request_error" if status < 500 else error["type"])
    return error


def test_health_models_and_identity(server):
    health = httpx.get(server.root + "/health").json()
    assert health["status"] == "ok" and health["workers"] == 1
    answer = httpx.get(server.url + "/models")
    model = answer.json()["data"][0]
    assert model["id"] == "none" and model["object"] == "model"
    assert model["whisperbench"]["backend"] == "dummy" and "short" in model["whisperbench"]["algorithms"]
    assert answer.headers[SERVER_HEADER].startswith("whisperbench/") and "backend=dummy" in answer.headers[SERVER_HEADER]


def test_every_response_format(server, short_sets):
    jfk = short_sets["jfk"][0][0].read_bytes()
    answer = post(server, {"response_format": "json", "model": "whisper-1"}, jfk, "jfk.flac")
    assert answer.json() == {"text": TEXT} and float(answer.headers[DECODE_SECONDS_HEADER]) >= 0
    assert post(server, {"response_format": "text"}, jfk).text == TEXT + "\n"
    verbose = post(server, {"response_format": "verbose_json", "language": "en"}, jfk).json()
    assert verbose["text"] == TEXT and verbose["language"] == "en"
    assert verbose["duration"] == pytest.approx(11.0, abs=0.1)
    assert verbose["segments"][0]["text"].strip() == TEXT and verbose["whisperbench"]["backend"] == "dummy"
    srt = post(server, {"response_format": "srt"}, jfk).text
    assert srt.startswith("1\n00:00:00,000 --> 00:00:11,0") and TEXT in srt
    vtt = post(server, {"response_format": "vtt"}, jfk)
    assert vtt.text.startswith("WEBVTT") and "00:00:00.000 -->" in vtt.text and vtt.headers["content-type"].startswith("text/vtt")


def test_bad_requests_get_openai_errors_and_the_server_keeps_serving(server):
    assert error_of(post(server, audio=b"this is not audio at all" * 10, name="notes.txt"), 400,
                    "invalid_audio")["param"] == "file"
    assert "empty" in error_of(post(server, audio=b""), 400, "empty_file")["message"]
    unknown = error_of(post(server, {"beam_sise": "2"}), 400, "unknown_field")
    assert unknown["param"] == "beam_sise" and "beam_size" in unknown["message"]  # the valid names are listed
    error_of(post(server, audio=None, data={"model": "x"}), 400, "not_multipart")  # a urlencoded form
    error_of(httpx.post(server.url + "/audio/transcriptions", json={"file": "x"}), 400, "not_multipart")
    error_of(post(server, audio=None, files={"other": ("x", b"y")}), 400, "unknown_field")
    error_of(httpx.post(server.url + "/audio/transcriptions", content=b"--xyz\r\nContent-Disposition: form-data\r\n\r\n",
                        headers={"content-type": "multipart/form-data; boundary=xyz"}), 400, "malformed_multipart")
    error_of(httpx.post(server.url + "/audio/transcriptions", content=b"garbage",
                        headers={"content-type": "multipart/form-data"}), 400, "malformed_multipart")
    error_of(post(server, {"response_format": "xml"}), 400, "invalid_response_format")
    error_of(post(server, {"prompt": "Kennedy", "initial_prompt": "Kennedy"}), 400, "conflicting_fields")
    assert error_of(post(server, {"prompt": "<|fr|> Kennedy"}), 400, "invalid_option")["param"] == "prompt"
    error_of(post(server, {"temperature": "0.2", "temperatures": "0,0.2"}), 400, "conflicting_fields")
    error_of(post(server, {"timestamp_granularities[]": "sentence"}), 400, "invalid_field")
    assert httpx.get(server.root + "/health").json()["status"] == "ok"
    assert post(server).json() == {"text": TEXT}


def _raw_upload(server, declared: int, send: int) -> socket.socket:
    """A multipart POST that declares `declared` body bytes and sends `send` of them."""
    boundary = "b0undary"
    head = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.wav\"\r\n"
            "Content-Type: audio/wav\r\n\r\n").encode()
    sock = socket.create_connection((server.host, server.port), timeout=10)
    sock.sendall((f"POST /v1/audio/transcriptions HTTP/1.1\r\nHost: {server.host}\r\n"
                  f"Content-Type: multipart/form-data; boundary={boundary}\r\nContent-Length: {declared}\r\n\r\n").encode())
    sock.sendall((head + b"\0" * send)[:send])
    return sock


def test_oversized_upload_is_413(server):
    sock = _raw_upload(server, declared=10 * 2**20, send=1000)  # refused on its declared length, unread
    answer = ""
    while "}}" not in answer:  # headers and body may come in separate reads
        chunk = sock.recv(65536).decode("latin-1")
        if not chunk:
            break
        answer += chunk
    sock.close()
    assert answer.startswith("HTTP/1.1 413") and '"code":"upload_too_large"' in answer
    over = int(LIMIT_MB * 2**20) + 4096

    def body():  # no declared length (chunked): counted while it is read
        yield b"--b\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.wav\"\r\n\r\n"
        for _ in range(over // 4096 + 1):
            yield b"\0" * 4096

    error = error_of(httpx.post(server.url + "/audio/transcriptions", content=body(),
                                headers={"content-type": "multipart/form-data; boundary=b"}), 413, "upload_too_large")
    assert f"{LIMIT_MB:g} MB" in error["message"]
    assert post(server).status_code == 200


def test_client_disconnecting_mid_upload_is_counted_and_harmless(server):
    def disconnected() -> int:
        return httpx.get(server.root + "/health").json()["answers"].get("client_disconnected", 0)

    before = disconnected()
    _raw_upload(server, declared=200_000, send=5000).close()
    deadline = time.monotonic() + 10
    while disconnected() == before and time.monotonic() < deadline:
        time.sleep(0.05)
    assert disconnected() == before + 1
    assert post(server).json() == {"text": TEXT}


# ----- decoding fields: the CLI's parser, its messages ---------------------------------------

def _flags() -> dict[str, str]:
    parser = argparse.ArgumentParser(add_help=False)
    add_decode_args(parser)
    return {a.dest: a.option_strings[0] for a in parser._actions
            if a.option_strings and not isinstance(a, argparse.BooleanOptionalAction)}


FLAGS = {k: v for k, v in _flags().items() if not k.startswith("vad")}  # (silero would load torch in the server)
VALUES = ["x", "", "0", "1", "2", "5", "-1", "0.5", "1.5", "-0.5", "none", "off", "300", "45", "8", "short",
          "sequential", "chunked", "translate", "en", "fr", "0,0.2", "0.6,0.2", "0,,1", "1e9"]


def cli_outcome(fields: dict[str, str]) -> str | None:
    """What `whisperbench transcribe` says about these options as flags (None: accepted), and
    then what the dummy backend says about the options."""
    from whisperbench.cli.main import build_parser

    argv = ["transcribe", "a.wav", "-b", "dummy", "-m", "none", *(f"{FLAGS[k]}={v}" for k, v in fields.items())]
    err = io.StringIO()
    try:
        with contextlib.redirect_stderr(err):
            args = build_parser().parse_args(argv)
        options = decode_options(args)
        DummyBackend.check_options(options)
    except SystemExit:
        return err.getvalue().strip().splitlines()[-1].split(" error: ", 1)[1]
    except WhisperbenchError as exc:
        return str(exc)
    return None


@settings(max_examples=40, deadline=None, database=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(fields=st.dictionaries(st.sampled_from(sorted(FLAGS)), st.sampled_from(VALUES), min_size=1, max_size=2))
def test_decoding_fields_are_parsed_and_refused_as_the_cli_does(server, fields):
    expected = cli_outcome(fields)
    answer = post(server, fields)
    if expected is None:
        assert answer.status_code == 200, answer.text
    else:
        assert answer.status_code == 400, (fields, expected, answer.text)
        assert answer.json()["error"]["message"] == expected


def test_prompt_is_the_initial_prompt_option(server):
    """OpenAI's `prompt` sets DecodeOptions.initial_prompt, as does the extra field of that name
    (the server's verbose_json shows the options it decoded with); an empty prompt, which
    clients send for none, is none."""
    def decoded_options(fields: dict) -> dict:
        answer = post(server, {"response_format": "verbose_json", **fields})
        assert answer.status_code == 200, answer.text
        return answer.json()["whisperbench"]["options"]

    assert decoded_options({"prompt": "Glossary: fellow-Americans."})["initial_prompt"] == "Glossary: fellow-Americans."
    assert decoded_options({"initial_prompt": "Kennedy"})["initial_prompt"] == "Kennedy"
    assert decoded_options({"prompt": ""})["initial_prompt"] is None
    assert decoded_options({})["initial_prompt"] is None


def test_boolean_fields(server):
    assert "expected true or false" in error_of(post(server, {"timestamps": "maybe"}), 400, "invalid_option")["message"]
    refused = error_of(post(server, {"word_timestamps": "true"}), 400, "unsupported_option")  # the dummy has none
    assert "word_timestamps" in refused["message"]
    error_of(post(server, {"timestamp_granularities[]": "word"}), 400, "unsupported_option")
    assert post(server, {"algorithm": "sequential", "condition_on_previous_text": "true"}).status_code == 200


# ----- load and failures -------------------------------------------------------------------

def test_requests_beyond_the_queue_get_503_and_the_rest_are_served(serve_endpoint):
    server = serve_endpoint("dummy", "none", workers=1, queue_size=1, extra={"service_time_s": 0.6, "text": TEXT})
    answers: list = [None] * 6

    def send(i: int) -> None:
        answers[i] = post(server)

    threads = [threading.Thread(target=send, args=(i,)) for i in range(len(answers))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    codes = sorted(a.status_code for a in answers)
    assert set(codes) == {200, 503} and 2 <= codes.count(200) < len(codes), codes
    busy = next(a for a in answers if a.status_code == 503)
    assert error_of(busy, 503, "server_busy")["type"] == "server_busy"
    assert all(a.json() == {"text": TEXT} for a in answers if a.status_code == 200)
    assert httpx.get(server.root + "/health").json()["admitted"] == 0
    assert post(server).status_code == 200


def test_a_crash_in_the_runtime_fails_that_request_only(serve_endpoint):
    server = serve_endpoint("dummy", "none", extra={"crash": "raise", "crash_after": 1})
    assert post(server).status_code == 200
    error = error_of(post(server), 500, "runtime_error")
    assert error["type"] == "server_error" and "dummy backend asked to fail" in error["message"]
    assert httpx.get(server.root + "/health").json()["status"] == "ok"
    error_of(post(server), 500, "runtime_error")  # still serving
