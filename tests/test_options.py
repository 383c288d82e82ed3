"""Decoding and load options (whisperbench.options): validation, hashing, round trips."""

from __future__ import annotations

import pytest

from whisperbench import DecodeOptions, LoadOptions
from whisperbench.errors import WhisperbenchError


@pytest.mark.parametrize(
    "bad",
    [
        {"algorithm": "streaming"},
        {"beam_size": 0},
        {"temperatures": ()},
        {"temperatures": (0.4, 0.2)},
        {"temperatures": (1.5,)},
        {"chunk_length_s": 45},
        {"batch_size": 4, "algorithm": "short"},
        {"max_new_tokens": 500},
        {"task": "summarize"},
        {"word_timestamps": True, "timestamps": False},
        {"initial_prompt": ""},
        {"initial_prompt": " \n"},
        {"initial_prompt": "Glossary: <|fr|> Kennedy"},
        {"initial_prompt": 42},
    ],
)
def test_invalid_decode_options_are_rejected(bad):
    with pytest.raises(WhisperbenchError) as err:
        DecodeOptions(**bad)
    assert next(iter(bad)) in str(err.value)


def test_options_hash_is_stable_and_sensitive():
    a = DecodeOptions(temperatures=[0.0, 0.2])
    assert a.temperatures == (0.0, 0.2)
    assert a.hash() == DecodeOptions(temperatures=(0.0, 0.2)).hash()
    assert a.hash() != a.replace(beam_size=5).hash()
    assert DecodeOptions.from_dict(a.to_dict()) == a
    with pytest.raises(WhisperbenchError, match="unknown decoding option"):
        DecodeOptions.from_dict({"beams": 3})


def test_load_options_validation():
    with pytest.raises(WhisperbenchError, match="threads"):
        LoadOptions(threads=-1)


def test_initial_prompt_enters_the_hash_only_when_given():
    """Results stored before initial_prompt existed keep their hash (no prompt hashes as before:
    the committed baseline's rows are checked in tests/bench/test_records.py); a prompt, and
    each different prompt, is a different configuration."""
    plain = DecodeOptions(beam_size=2)
    assert DecodeOptions.from_dict({k: v for k, v in plain.to_dict().items() if k != "initial_prompt"}) == plain
    prompted = plain.replace(initial_prompt="Glossary: fellow-Americans.")
    assert len({plain.hash(), prompted.hash(), prompted.replace(initial_prompt="Glossary: Kennedy.").hash()}) == 3
    assert DecodeOptions.from_dict(prompted.to_dict()) == prompted
    assert prompted.prompt_text == " Glossary: fellow-Americans." and plain.prompt_text is None
    assert DecodeOptions(initial_prompt="  Kennedy \n").prompt_text == " Kennedy"
