"""ONNX: the weight format Transformers.js (``@huggingface/transformers``) loads.

Layout of an exported folder (what Transformers.js reads from a local model path)::

    config.json  generation_config.json  preprocessor_config.json
    tokenizer.json  tokenizer_config.json  (vocab.json, merges.txt, ...)
    onnx/encoder_model.onnx                 fp32
    onnx/decoder_model_merged.onnx          fp32, one graph with and without KV cache
    onnx/encoder_model_quantized.onnx       int8 (Transformers.js dtype "q8")
    onnx/decoder_model_merged_quantized.onnx
    whisperbench_onnx.json                  how it was made (exporter versions, precisions)

The graphs come from the ecosystem's exporter, ``optimum-onnx`` (task
``automatic-speech-recognition-with-past``), never from a hand-written graph. The decoder
graphs also output each layer's cross-attention weights (``cross_attentions.N``), as
Transformers.js's own converter does with ``--output_attentions`` (its "timestamped"
exports): its ``return_timestamps: "word"`` times words by DTW over the alignment heads of
``generation_config.json``, which the export carries. The newest
optimum-onnx on PyPI (0.1.0) requires ``transformers<4.58`` and does not import with the
transformers 5.x that whisperbench runs, so the export runs in a separate, pinned Python
environment (``EXPORT_REQUIREMENTS``; ``scripts/setup.sh`` builds it in
``.cache/onnx-export-venv``). Only ``config.json`` + safetensors cross between the two.
The int8 variant is ``onnxruntime.quantization.quantize_dynamic`` (weights int8, per
tensor; MatMul/Gemm only: ONNX Runtime has no int8 ``ConvInteger`` kernel), run here.

`verify` decodes the same audio greedily with the ONNX graphs (ONNX Runtime, Python) and
with the transformers model and reports token agreement.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Sequence

from whisperbench.conversion.formats import read_json
from whisperbench.errors import ConversionError

ONNX_SUBDIR = "onnx"
GRAPHS = ("encoder_model", "decoder_model_merged")
METADATA = "whisperbench_onnx.json"
# precision -> (file suffix, Transformers.js dtype name)
PRECISIONS: dict[str, tuple[str, str]] = {"fp32": ("", "fp32"), "int8": ("_quantized", "q8")}
QUANTIZED_OP_TYPES = ("MatMul", "Gemm")
# The files Transformers.js needs next to onnx/ (the rest of the tokenizer files are copied too).
REQUIRED_FILES = ("config.json", "generation_config.json", "preprocessor_config.json", "tokenizer.json",
                  "tokenizer_config.json")
# The pinned exporter environment (torch goes in first: a bare torch pulls a CUDA build).
EXPORT_TORCH = "torch==2.13.0"
EXPORT_REQUIREMENTS = ("transformers>=4.57,<4.58", "optimum==2.1.0", "optimum-onnx==0.1.0", "accelerate>=0.26", "onnxruntime>=1.18",
                       "onnx>=1.16")
EXPORT_TASK = "automatic-speech-recognition-with-past"
# Bump when the export recipe changes (recorded in the metadata; cached exports are keyed
# on the conversion code itself). 2: decoders output cross-attentions.
RECIPE_VERSION = 2
# The decoder outputs Transformers.js collects for word timestamps (models.js getAttentions).
CROSS_ATTENTIONS = "cross_attentions"

# optimum-onnx's Whisper config with the decoders' cross-attention weights added as outputs
# (the eager attention that returns them is chosen by main_export for output_attentions).
_EXPORT_SCRIPT = r"""
import json, sys
src, out = sys.argv[1], sys.argv[2]
from optimum.exporters.onnx import main_export
from optimum.exporters.onnx.base import ConfigBehavior
from optimum.exporters.onnx.model_configs import WhisperOnnxConfig
from transformers import AutoConfig

class WhisperWithCrossAttentions(WhisperOnnxConfig):
    @property
    def outputs(self):
        outputs = super().outputs
        if self._behavior is ConfigBehavior.DECODER:
            for i in range(self._config.decoder_layers):
                outputs[f"%(cross)s.{i}"] = {0: "batch_size", 2: "decoder_sequence_length",
                                            3: "encoder_sequence_length_out"}
        return outputs

config = WhisperWithCrossAttentions(AutoConfig.from_pretrained(src), task="automatic-speech-recognition")
custom = {"encoder_model": config.with_behavior("encoder"),
          "decoder_model": config.with_behavior("decoder", use_past=True, use_past_in_inputs=False),
          "decoder_with_past_model": config.with_behavior("decoder", use_past=True, use_past_in_inputs=True)}
main_export(src, output=out, task=%(task)r, local_files_only=True, do_validation=False, device="cpu", dtype="fp32",
            model_kwargs={"output_attentions": True}, custom_onnx_configs=custom)
from importlib.metadata import version
print("WHISPERBENCH_VERSIONS " + json.dumps({p: version(p) for p in ("optimum-onnx", "optimum", "transformers", "torch", "onnx")}))
"""


def default_export_venv() -> Path:
    from whisperbench.paths import PROJECT_ROOT

    return PROJECT_ROOT / ".cache" / "onnx-export-venv"


def export_python() -> str:
    """The Python that runs optimum-onnx: $WHISPERBENCH_ONNX_EXPORT_PYTHON, else the pinned
    venv from scripts/setup.sh, else this interpreter if optimum-onnx imports here."""
    env = os.environ.get("WHISPERBENCH_ONNX_EXPORT_PYTHON")
    if env:
        if not Path(env).exists():
            raise ConversionError(f"WHISPERBENCH_ONNX_EXPORT_PYTHON={env} does not exist")
        return env
    venv = default_export_venv() / "bin" / "python"
    if venv.exists():
        return str(venv)
    try:
        import importlib.util

        if importlib.util.find_spec("optimum.exporters.onnx") is not None:
            from optimum.exporters.onnx import main_export  # noqa: F401  (fails with transformers 5)

            return sys.executable
    except Exception:  # optimum-onnx present but not importable with this transformers
        pass
    raise ConversionError(
        "exporting to ONNX needs optimum-onnx, which requires transformers<4.58 and so runs in its own "
        f"environment: run scripts/setup.sh (it builds {default_export_venv()}), or build one yourself "
        f"(pip install '{EXPORT_TORCH}' then pip install {' '.join(repr(r) for r in EXPORT_REQUIREMENTS)}) "
        "and set WHISPERBENCH_ONNX_EXPORT_PYTHON to its python"
    )


def export_env_command(python: str | None = None) -> list[str]:
    """pip commands that build the exporter environment (used by scripts/setup.sh)."""
    py = python or str(default_export_venv() / "bin" / "python")
    return [f"{py} -m pip install -q '{EXPORT_TORCH}'",
            f"{py} -m pip install -q " + " ".join(f"'{r}'" for r in EXPORT_REQUIREMENTS)]


def is_onnx_folder(path: str | Path) -> bool:
    p = Path(path)
    return p.is_dir() and (p / ONNX_SUBDIR / "encoder_model.onnx").exists() and (p / "config.json").exists()


def graph_path(folder: str | Path, graph: str, precision: str) -> Path:
    return Path(folder) / ONNX_SUBDIR / f"{graph}{PRECISIONS[precision][0]}.onnx"


def precisions(folder: str | Path) -> list[str]:
    """The precisions whose graphs are all present in an exported folder."""
    return [p for p in PRECISIONS if all(graph_path(folder, g, p).exists() for g in GRAPHS)]


def read_metadata(folder: str | Path) -> dict[str, Any]:
    return read_json(Path(folder) / METADATA, {})


def export(
    src: str | Path,
    output: str | Path,
    quantization: str | None = "int8",
    *,
    overwrite: bool = False,
    timeout_s: float = 1800,
) -> Path:
    """Export a transformers-format Whisper folder `src` to a Transformers.js folder at
    `output`: fp32 always, plus the int8 variant when `quantization == "int8"`."""
    src, output = Path(src), Path(output)
    if quantization not in (None, "fp32", "int8"):
        raise ConversionError(f"ONNX quantization {quantization!r}: choose None/'fp32' or 'int8'")
    if not (src / "config.json").exists():
        raise ConversionError(f"{src} is not a transformers model folder (no config.json)")
    if output.exists():
        if not overwrite:
            raise ConversionError(f"{output} exists; pass overwrite=True to replace it")
        shutil.rmtree(output)
    python = export_python()
    output.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".onnx-export-", dir=output.parent))
    try:
        raw = work / "raw"
        env = dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", PYTHONWARNINGS="ignore",
                   TOKENIZERS_PARALLELISM="false")
        env.pop("PYTHONPATH", None)
        t0 = time.perf_counter()
        try:
            proc = subprocess.run(
                [python, "-c", _EXPORT_SCRIPT % {"task": EXPORT_TASK, "cross": CROSS_ATTENTIONS}, str(src), str(raw)],
                capture_output=True, text=True, env=env, timeout=timeout_s,
            )
        except subprocess.TimeoutExpired:
            raise ConversionError(f"ONNX export of {src} took longer than {timeout_s:g} s") from None
        if proc.returncode != 0:
            tail = "\n".join((proc.stderr or proc.stdout).strip().splitlines()[-15:])
            raise ConversionError(f"ONNX export of {src} failed (optimum-onnx, exit {proc.returncode}):\n{tail}")
        export_seconds = time.perf_counter() - t0
        versions = {}
        for line in proc.stdout.splitlines():
            if line.startswith("WHISPERBENCH_VERSIONS "):
                versions = json.loads(line.split(" ", 1)[1])
        staged = work / "model"
        (staged / ONNX_SUBDIR).mkdir(parents=True)
        for f in raw.iterdir():
            if f.suffix in (".json", ".txt", ".model", ".tiktoken"):
                shutil.copy2(f, staged / f.name)
        for g in GRAPHS:
            if not (raw / f"{g}.onnx").exists():
                raise ConversionError(f"optimum-onnx produced no {g}.onnx in {raw}: {sorted(os.listdir(raw))}")
            os.replace(raw / f"{g}.onnx", staged / ONNX_SUBDIR / f"{g}.onnx")
            if (raw / f"{g}.onnx_data").exists():  # external data (models over 2 GB)
                os.replace(raw / f"{g}.onnx_data", staged / ONNX_SUBDIR / f"{g}.onnx_data")
        for f in REQUIRED_FILES:
            if not (staged / f).exists() and (src / f).exists():
                shutil.copy2(src / f, staged / f)
        missing = [f for f in REQUIRED_FILES if not (staged / f).exists()]
        if missing:
            raise ConversionError(f"{src} lacks {', '.join(missing)}, which Transformers.js needs")
        heads = _keep_alignment_heads(src, staged)
        meta = {
            "format": "onnx",
            "layout": "transformers.js",
            "recipe_version": RECIPE_VERSION,
            "source": str(src),
            "source_dtype": json.loads((src / "config.json").read_text()).get("dtype")
            or json.loads((src / "config.json").read_text()).get("torch_dtype"),
            "exporter": {"tool": "optimum.exporters.onnx.main_export", "task": EXPORT_TASK,
                         "versions": versions, "python": python, "seconds": round(export_seconds, 1)},
            "graphs": list(GRAPHS),
            "decoder_outputs": {CROSS_ATTENTIONS: True},
            "alignment_heads": heads,
            "precisions": {"fp32": {"suffix": "", "transformersjs_dtype": "fp32", "weights": "float32"}},
        }
        (staged / METADATA).write_text(json.dumps(meta, indent=2) + "\n")
        if quantization == "int8":
            quantize(staged)
        os.replace(staged, output)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return output


def _keep_alignment_heads(src: Path, staged: Path) -> list | None:
    """The alignment heads (the cross-attention heads that time words) in the export's
    generation_config.json: the exporter's copy, else the source's; None when neither has them."""
    gen_path = staged / "generation_config.json"
    gen = read_json(gen_path, {})
    if not gen.get("alignment_heads"):
        heads = read_json(src / "generation_config.json", {}).get("alignment_heads")
        if not heads:
            return None
        gen["alignment_heads"] = heads
        gen_path.write_text(json.dumps(gen, indent=2) + "\n")
    return gen["alignment_heads"]


def quantize(folder: str | Path) -> Path:
    """Add the int8 (dynamic quantization) graphs to an exported folder, in place."""
    try:
        from onnxruntime import __version__ as ort_version
        from onnxruntime.quantization import QuantType, quantize_dynamic
    except ImportError as exc:
        raise ConversionError(
            f"int8 ONNX quantization needs onnx and onnxruntime ({exc}); pip install 'whisperbench[transformersjs]'"
        ) from None
    folder = Path(folder)
    if "fp32" not in precisions(folder):
        raise ConversionError(f"{folder} has no fp32 ONNX graphs to quantize")
    for g in GRAPHS:
        dst = graph_path(folder, g, "int8")
        tmp = dst.with_name(dst.name + ".tmp")
        quantize_dynamic(
            graph_path(folder, g, "fp32"), tmp, weight_type=QuantType.QInt8, per_channel=False,
            reduce_range=False, op_types_to_quantize=list(QUANTIZED_OP_TYPES),
            extra_options={"EnableSubgraph": True},  # the merged decoder's If branches
        )
        os.replace(tmp, dst)
    meta = read_metadata(folder) or {"format": "onnx", "precisions": {}}
    meta.setdefault("precisions", {})["int8"] = {
        "suffix": PRECISIONS["int8"][0],
        "transformersjs_dtype": PRECISIONS["int8"][1],
        "weights": "int8",
        "method": "onnxruntime.quantization.quantize_dynamic",
        "weight_type": "QInt8",
        "per_channel": False,
        "op_types": list(QUANTIZED_OP_TYPES),
        "onnxruntime": ort_version,
    }
    (folder / METADATA).write_text(json.dumps(meta, indent=2) + "\n")
    return folder


def build(src: Path, output: Path, quantization: str | None = None, *, overwrite: bool = False) -> Path:
    """The registry's builder (conversion.formats): `export` with the registry's
    quantization names, float32 (None) or int8 (float32 graphs plus int8 ones)."""
    return export(src, output, "int8" if quantization == "int8" else None, overwrite=overwrite)


# ----- verification --------------------------------------------------------------------
def greedy_tokens_onnx(folder: str | Path, features, prompt: Sequence[int], precision: str = "fp32",
                       max_new_tokens: int = 100) -> list[int]:
    """Greedy decoding of one window with the exported graphs in ONNX Runtime (Python):
    the same suppression rules as transformers' generate (suppress_tokens, begin_suppress_tokens)."""
    import numpy as np
    import onnxruntime as ort

    folder = Path(folder)
    gen = json.loads((folder / "generation_config.json").read_text())
    cfg = json.loads((folder / "config.json").read_text())
    eos = gen.get("eos_token_id", cfg.get("eos_token_id"))
    suppress = list(gen.get("suppress_tokens") or cfg.get("suppress_tokens") or [])
    begin_suppress = list(gen.get("begin_suppress_tokens") or cfg.get("begin_suppress_tokens") or [])
    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    enc = ort.InferenceSession(str(graph_path(folder, "encoder_model", precision)), opts, providers=["CPUExecutionProvider"])
    dec = ort.InferenceSession(str(graph_path(folder, "decoder_model_merged", precision)), opts,
                               providers=["CPUExecutionProvider"])
    hidden = enc.run(None, {"input_features": np.asarray(features, dtype=np.float32)})[0]
    heads = cfg["decoder_attention_heads"]
    head_dim = cfg["d_model"] // heads
    names = [i.name for i in dec.get_inputs()]
    past = {n: np.zeros((1, heads, 0, head_dim), dtype=np.float32) for n in names if n.startswith("past_key_values")}
    out_names = [o.name for o in dec.get_outputs()]
    ids = np.asarray([list(prompt)], dtype=np.int64)
    tokens: list[int] = []
    for step in range(max_new_tokens):
        feed = {"input_ids": ids, "encoder_hidden_states": hidden, **past}
        if "use_cache_branch" in names:
            feed["use_cache_branch"] = np.asarray([step > 0])
        outs = dict(zip(out_names, dec.run(None, feed)))
        logits = outs["logits"][0, -1].copy()
        logits[suppress] = -np.inf
        if step == 0:
            logits[begin_suppress] = -np.inf
        tok = int(np.argmax(logits))
        if tok == eos:
            break
        tokens.append(tok)
        for n in past:
            present = outs[n.replace("past_key_values", "present")]
            if step == 0 or ".decoder." in n:
                past[n] = present
        ids = np.asarray([[tok]], dtype=np.int64)
    return tokens


def verify(folder: str | Path, reference: str | Path, audio, precision: str | Sequence[str] = "fp32",
           max_new_tokens: int = 100) -> dict[str, Any]:
    """Decode `audio` (one window, greedy, no timestamps) with the ONNX graphs and with the
    transformers model at `reference`; report token agreement (difflib ratio, 1.0 = identical)
    and the length of the identical prefix. Several precisions (a list) -> {precision: report}."""
    import torch
    from transformers import WhisperForConditionalGeneration, WhisperProcessor

    from whisperbench.audio import SAMPLE_RATE, load_audio

    samples = load_audio(audio)[: 30 * SAMPLE_RATE]
    processor = WhisperProcessor.from_pretrained(str(reference), local_files_only=True)
    model = WhisperForConditionalGeneration.from_pretrained(str(reference), local_files_only=True,
                                                    dtype=torch.float32).eval()
    features = processor.feature_extractor(samples, sampling_rate=SAMPLE_RATE, return_tensors="pt").input_features
    gen = model.generation_config
    kwargs: dict[str, Any] = dict(return_timestamps=False, num_beams=1, do_sample=False, max_new_tokens=max_new_tokens)
    if getattr(gen, "is_multilingual", False):
        kwargs.update(language="en", task="transcribe")
    with torch.inference_mode():
        seq = model.generate(features, **kwargs)[0].tolist()
    tok = processor.tokenizer
    prompt = [gen.decoder_start_token_id]
    if getattr(gen, "is_multilingual", False):
        prompt += [gen.lang_to_id["<|en|>"], gen.task_to_id["transcribe"]]
    prompt.append(gen.no_timestamps_token_id)
    special = set(tok.all_special_ids) | set(prompt)
    ref = [t for t in seq if t not in special and t < gen.no_timestamps_token_id]
    import difflib

    def report(p: str) -> dict[str, Any]:
        got = greedy_tokens_onnx(folder, features.numpy(), prompt, p, max_new_tokens)
        # Share of tokens in the longest matching blocks (1.0 = identical); an inserted comma
        # costs one token, not everything after it.
        agreement = difflib.SequenceMatcher(a=ref, b=got, autojunk=False).ratio() if (ref or got) else 1.0
        prefix = next((i for i, (a, b) in enumerate(zip(ref, got)) if a != b), min(len(ref), len(got)))
        return {
            "precision": p,
            "agreement": agreement,
            "identical": ref == got,
            "common_prefix": prefix,
            "reference_tokens": ref,
            "onnx_tokens": got,
            "reference_text": tok.decode(ref),
            "onnx_text": tok.decode(got),
        }

    if isinstance(precision, str):
        return report(precision)
    return {p: report(p) for p in precision}
