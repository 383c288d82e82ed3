"""DecodeOptions.initial_prompt reaches each runtime's decoder (tiny.en, the 11 s jfk clip).

Unprompted, tiny.en writes "fellow Americans" in every runtime; prompted with the glossary
"Glossary: fellow-Americans." it writes "fellow-Americans", still every word, and nothing of
the prompt comes back as transcribed text ("Glossary"). Each way a runtime takes the prompt
is run once: faster-whisper's transcribe (short, sequential alike), its batched pipeline
(chunked) and whisperbench's generate batch (transcribe_batch, also the shared chunking
layer's window decoder); openai-whisper's DecodingOptions.prompt (short, chunked) and
transcribe's initial_prompt (sequential); transformers' generate prompt_ids short-form,
long-form and in a batch, and the ASR pipeline (chunked); whisper.cpp's initial_prompt."""

from __future__ import annotations

import pytest

from tests.conftest import JFK_WORDS
from whisperbench.errors import UnsupportedOptionError
from whisperbench.options import DecodeOptions
from whisperbench.text import normalize

PROMPT = "Glossary: fellow-Americans."
# (backend, algorithm, or "batch": a batch of one short-form window through transcribe_batch)
PATHS = [("ctranslate2", "short"), ("ctranslate2", "chunked"), ("ctranslate2", "batch"),
         ("openai", "short"), ("openai", "sequential"),
         ("transformers", "short"), ("transformers", "sequential"), ("transformers", "chunked"),
         ("transformers", "batch"), ("whispercpp", "short")]


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted({n for n, _ in PATHS}))
def test_unprompted_tiny_en_writes_two_words(name, load_backend, jfk):
    assert "fellow Americans" in load_backend(name).transcribe(jfk, DecodeOptions(language="en")).text


@pytest.mark.slow
@pytest.mark.parametrize("name,path", PATHS, ids=[f"{n}-{p}" for n, p in PATHS])
def test_the_prompt_reaches_the_decoder(name, path, load_backend, jfk):
    backend = load_backend(name)
    options = DecodeOptions(language="en", algorithm="short" if path == "batch" else path, initial_prompt=PROMPT)
    result = backend.transcribe_batch([jfk], options)[0] if path == "batch" else backend.transcribe(jfk, options)
    assert "fellow-Americans" in result.text, result.text
    assert "Glossary" not in result.text and normalize(result.text) == JFK_WORDS, result.text
    assert result.options.initial_prompt == PROMPT


# A prompt longer than the 223 tokens the runtimes keep (each "Kennedy." is 2-3 tokens).
LONG_PROMPT = "Glossary: " + "Kennedy. " * 150 + "fellow-Americans."


def test_a_prompt_that_leaves_no_room_for_max_new_tokens_is_refused():
    """prompt tokens kept (at most 223) + <|startofprev|> + start tokens + max_new_tokens must
    fit in 448 decoder positions; counted with the loaded model's tokenizer (here a stand-in
    that counts words)."""
    from whisperbench.backends.dummy.adapter import DummyBackend

    class Counting(DummyBackend):
        def _count_tokens(self, text: str) -> int:
            return len(text.split())

    model = Counting("none")
    model.multilingual = False  # one start token, and <|notimestamps|> with timestamps off
    fits = DecodeOptions(language="en", initial_prompt="a " * 200, max_new_tokens=224, timestamps=False)
    model._check_model_options(fits)  # 1 + 200 + 2 + 224 = 427
    model._check_model_options(fits.replace(initial_prompt="a " * 300, max_new_tokens=222))  # 1 + 223 + 2 + 222
    with pytest.raises(UnsupportedOptionError, match=r"initial_prompt \(300 tokens\) with max_new_tokens=223.*449"):
        model._check_model_options(fits.replace(initial_prompt="a " * 300, max_new_tokens=223))
    model._check_model_options(fits.replace(initial_prompt="a " * 300, max_new_tokens=None))  # no limit asked
    model.multilingual = True  # <|sot|><|en|><|transcribe|>
    with pytest.raises(UnsupportedOptionError, match="449"):
        model._check_model_options(fits.replace(initial_prompt="a " * 300, max_new_tokens=221))


@pytest.mark.slow
@pytest.mark.parametrize("name", ["ctranslate2", "openai", "transformers", "whispercpp"])
def test_a_prompt_longer_than_the_context_keeps_its_end(name, load_backend, jfk):
    """The runtimes keep the prompt's last 223 tokens (transformers' generate would raise:
    whisperbench cuts its prompt_ids as openai-whisper does); ctranslate2 and transformers
    count, and refuse it with max_new_tokens=224."""
    backend = load_backend(name)
    result = backend.transcribe(jfk, DecodeOptions(language="en", initial_prompt=LONG_PROMPT))
    assert normalize(result.text) == JFK_WORDS, result.text
    if name in ("ctranslate2", "transformers", "openai"):
        with pytest.raises(UnsupportedOptionError, match="initial_prompt"):
            backend.transcribe(jfk, DecodeOptions(language="en", initial_prompt=LONG_PROMPT, max_new_tokens=224))


@pytest.mark.slow
def test_transformers_long_form_without_conditioning_refuses_the_prompt(load_backend, sonnet):
    """transformers' long-form generate gives prompt_ids to every window unless it conditions
    on previous text (the other runtimes prompt the first window only): refused, not run."""
    options = DecodeOptions(language="en", algorithm="sequential", initial_prompt=PROMPT)
    with pytest.raises(UnsupportedOptionError, match="condition_on_previous_text=True"):
        load_backend("transformers").transcribe(sonnet, options)
