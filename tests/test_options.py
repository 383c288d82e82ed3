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
