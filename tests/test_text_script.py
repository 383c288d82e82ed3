"""Chinese scored in one script (whisperbench.text.SCRIPT_CONVERSIONS): both sides go to
Simplified characters through OpenCC before CER, the row's normalizer identity names the
conversion, and a missing OpenCC is one clear error, never a silent cross-script score."""

from __future__ import annotations

import json
from importlib.metadata import PackageNotFoundError, version

import opencc  # the bench extra's; CI installs it (scripts/setup.sh), so no skip
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from whisperbench import text
from whisperbench.bench import datasets as ds
from whisperbench.bench.metrics import accuracy
from whisperbench.errors import WhisperbenchError
from whisperbench.text import normalize, normalizer_version

# Simplified characters, most of which Traditional writes differently (and some it does
# not), with punctuation the normalizer turns into spaces. Not 着: Taiwan writes it 著, which
# is also a Simplified character, so OpenCC cannot fold it back in every context (着于 ->
# 著於 -> 著于); every pair and triple of these characters round-trips through s2tw/tw2s
# and s2hk/hk2s.
SIMPLIFIED = "对于更高阶的导数我们可以继续同样过程头发干燥说话为这个国际线里面后来门问题学习经济发展钟东车长时间电视机场"
ZH_TEXT = st.text(alphabet=st.sampled_from(SIMPLIFIED + "，。、 "), min_size=1, max_size=40).filter(
    lambda s: any(c in SIMPLIFIED for c in s))

TO_TRADITIONAL = {"zh": opencc.OpenCC("s2tw").convert, "yue": opencc.OpenCC("s2hk").convert}


@settings(max_examples=60, deadline=None)
@given(simplified=ZH_TEXT, language=st.sampled_from(["zh", "zh-CN", "zh-TW", "yue"]))
def test_the_same_text_in_the_other_script_scores_cer_0_either_way_round(simplified, language):
    traditional = TO_TRADITIONAL[text.language_code(language)](simplified)
    # Traditional hypothesis against a Simplified reference, and the other way round: both
    # sides are converted, so only what was heard is scored.
    for ref, hyp in ((simplified, traditional), (traditional, simplified)):
        acc = accuracy(ref, hyp, language)
        assert acc.cer == 0 and acc.char_edits == 0
        assert acc.reference_normalized == acc.hypothesis_normalized == normalize(simplified, language)
    # The conversion is what makes it 0: Japanese (no conversion) counts every changed character.
    changed = sum(a != b for a, b in zip(simplified, traditional))
    assert accuracy(simplified, traditional, "ja").char_edits == changed


@settings(max_examples=30, deadline=None)
@given(reference=ZH_TEXT, hypothesis=ZH_TEXT)
def test_cer_across_scripts_equals_cer_within_simplified(reference, hypothesis):
    """A wrong hypothesis is as wrong in Traditional characters as in Simplified ones."""
    within = accuracy(reference, hypothesis, "zh")
    across = accuracy(reference, TO_TRADITIONAL["zh"](hypothesis), "zh")
    assert (across.cer, across.char_edits, across.ref_chars) == (within.cer, within.char_edits, within.ref_chars)


def test_normalizer_identity_names_the_conversion():
    whisper = f"openai-whisper=={version('openai-whisper')}:BasicTextNormalizer"
    occ = version("opencc")
    assert normalizer_version("zh") == normalizer_version("zh-CN") == f"{whisper}+opencc=={occ}:tw2s"
    assert normalizer_version("yue") == f"{whisper}+opencc=={occ}:hk2s"
    for other in ("ja", "de", "ru"):  # no conversion: the identity they always had
        assert normalizer_version(other) == whisper
    assert "opencc" not in normalizer_version() and "opencc" not in normalizer_version("en")


def test_taiwan_usage_is_converted_in_context():
    """tw2s, not plain t2s: Taiwan writes 著 for the particle 着 but keeps it in 著名."""
    assert normalize("他看著我。", "zh") == "他看着我"
    assert normalize("著名的頭髮", "zh") == "著名的头发"


@pytest.fixture
def no_opencc(monkeypatch):
    real = text.version

    def fake(name: str) -> str:
        if name.lower() == "opencc":
            raise PackageNotFoundError(name)
        return real(name)

    monkeypatch.setattr(text, "version", fake)
    text.script_converter.cache_clear()
    yield
    text.script_converter.cache_clear()


def test_without_opencc_chinese_is_one_clear_error_and_other_languages_score(no_opencc, tmp_path, speech):
    for call in (lambda: normalize("頭髮", "zh"), lambda: normalizer_version("zh"),
                 lambda: accuracy("头发", "頭髮", "zh")):
        with pytest.raises(WhisperbenchError, match=r"OpenCC.*pip install 'whisperbench\[bench\]'"):
            call()
    assert normalize("Ça va!", "fr") == "ça va" and accuracy("新しい", "新しい", "ja").cer == 0
    # A dataset with Chinese utterances stops when it is loaded, before anything is decoded.
    manifest = tmp_path / "m.jsonl"
    manifest.write_text(json.dumps({"audio_filepath": str(speech / "jfk" / "jfk.flac"), "text": "头发",
                                    "language": "zh", "id": "a"}) + "\n")
    with pytest.raises(WhisperbenchError, match="OpenCC"):
        ds.load(ds.DatasetSpec(name="m", kind="manifest", path=str(manifest)))
