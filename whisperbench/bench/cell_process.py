"""One benchmark cell, run in its own process: `python -m whisperbench.bench.cell_process`.

Reads a job (JSON) on stdin, writes events as JSON lines on its original stdout (the
process's fd 1 is redirected to stderr, so prints from runtimes cannot corrupt the
protocol). The parent (`runner.py`) writes rows to the store; the child writes no files.

Events: started, loaded, warmup, begin (utterance, repeat), row (a measurement row),
failure (a failure row), done. Audio is decoded before the model loads; timers cover
only `Backend.transcribe` on pre-decoded arrays.
"""

from __future__ import annotations

import json
import os
import sys
import time
import traceback
from datetime import datetime, timezone
from typing import Any, TextIO

from whisperbench.bench.records import CellRecord, Failure, Measurement, loaded_identity
from whisperbench.errors import WhisperbenchError
from whisperbench.gpu import gpu_state
from whisperbench.memory import CellMemory, peak_rss_mb


def weights_info(model: str) -> dict[str, Any]:
    """Format and quantization of the weights on disk, via whisperbench.conversion when present."""
    try:
        from whisperbench import models
        from whisperbench.conversion import describe  # provided by the conversion module

        src = models.resolve(model)
        if src.path is None:
            return {}
        info = describe(src.path)
        return dict(info) if isinstance(info, dict) else {}
    except (ImportError, AttributeError):
        return {}
    except Exception:  # a describe() failure must not fail the measurement
        return {}


def load_dataset(cell: dict[str, Any]):
    """A job's dataset, refused when its content changed since the suite was planned."""
    from whisperbench.bench import datasets as ds

    dataset = ds.load(ds.DatasetSpec.from_dict(cell["dataset"]))
    if dataset.content_hash != cell["dataset_hash"]:
        raise WhisperbenchError(
            f"dataset {dataset.name!r} changed since the suite was planned "
            f"(content hash {dataset.content_hash} != {cell['dataset_hash']})"
        )
    return dataset


class Channel:
    def __init__(self, fh: TextIO) -> None:
        self.fh = fh

    def send(self, event: str, **data: Any) -> None:
        self.fh.write(json.dumps({"event": event, **data}, default=str) + "\n")
        self.fh.flush()


def run(job: dict[str, Any], chan: Channel) -> int:
    from whisperbench import backends
    from whisperbench.bench import noise, served
    from whisperbench.bench.word_metrics import word_timing_fields
    from whisperbench.bench.metrics import (accuracy, boundary_errors, catastrophic, compression_ratio,
                                            hallucinations_per_minute, repeated_ngram_share)
    from whisperbench.options import DecodeOptions, LoadOptions
    from whisperbench.text import normalizer_version

    cell = job["cell"]
    base = dict(job["identity"])
    lo = LoadOptions(**cell["load_options"])
    options = DecodeOptions.from_dict(cell["options"])
    repeats = int(job["repeats"])
    skip = {(u, int(r)) for u, r in job.get("skip", [])}
    chan.send("started", pid=os.getpid())

    def failure(exc: BaseException, utterance_id: str | None = None, repeat: int | None = None,
                scope: str = "cell") -> None:
        chan.send("failure", row=Failure(
            **base, scope=scope, utterance_id=utterance_id, repeat=repeat,
            error_type=type(exc).__name__, error=str(exc) or type(exc).__name__,
            traceback=None if isinstance(exc, WhisperbenchError) else traceback.format_exc(limit=8),
            timestamp=datetime.now(timezone.utc).isoformat(),
        ).to_dict())

    # 1. Dataset and audio, before anything is timed.
    try:
        dataset = load_dataset(cell)
        for lang in {u.language or options.language for u in dataset.utterances}:
            normalizer_version(lang)  # scoring's packages (OpenCC for Chinese) are there, before any decoding
        todo = [(r, u) for r in range(repeats) for u in dataset.utterances if (u.id, r) not in skip]
        needed = {u.id for _, u in todo}
        audio = {u.id: u.load() for u in dataset.utterances if u.id in needed}
    except Exception as exc:
        failure(exc)
        return 1
    if not todo:
        chan.send("done")
        return 0
    rss_before_load = peak_rss_mb()

    # 2. Model.
    memory = None
    server = None
    try:
        cls = backends.get(cell["backend"])
        if lo.device.startswith("cuda") or lo.device == "auto":  # device memory from before the load
            memory = CellMemory(lo.device if lo.device != "auto" else "cuda",
                                allocator=(cls.reset_allocator_peak, cls.allocator_peak_mb), sample_rss=False)
        if cell.get("served"):  # behind whisperbench serve, measured through the openai-api client
            server, backend = served.start(cell["backend"], cell["model"], lo)
            described = served.describe(backend)
        else:
            backend = cls(cell["model"], lo)
            described = backend.describe()
    except Exception as exc:
        failure(exc)
        return 1
    winfo = weights_info(cell["model"])
    base.update(
        **loaded_identity(described, winfo, lo.device, lo.threads),
        implementation=backend.capabilities.algorithms.get(options.algorithm),
        normalizer=normalizer_version(),
    )
    device = str(base["device"])
    if memory and not device.startswith("cuda"):  # "auto" chose the CPU
        memory.stop()
        memory = None
    if memory:
        memory.reset_allocator()  # rows: the allocator's peak while transcribing
    chan.send("loaded", load_seconds=backend.load_seconds, rss_mb=peak_rss_mb())

    # 3. Warm-ups: the first utterance to measure, not recorded as measurements.
    warm = []
    try:
        first = audio[todo[0][1].id]
        for _ in range(int(job.get("warmups", 0))):
            warm.append(backend.transcribe(first, options).timing.decode_seconds)
    except Exception as exc:
        failure(exc, todo[0][1].id, None)
        return 1
    chan.send("cell", record=CellRecord(
        run_id=base.get("run_id"), cell_id=base.get("cell_id"),
        load_seconds=backend.load_seconds, warmup_seconds=warm,
        rss_before_load_mb=rss_before_load, rss_after_load_mb=peak_rss_mb(),
        weights=winfo, describe=described,
        extra={"gpu_memory_method": memory.gpu.method, "gpu_memory_note": memory.gpu.note or None,
               "gpu_peak_after_load_mb": memory.gpu_peak_mb(),
               "gpu_state": gpu_state()} if memory else {},  # clocks, power, temperature after warm-up
        timestamp=datetime.now(timezone.utc).isoformat(),
    ).to_dict())

    # 4. Measurements.
    for repeat, utt in todo:
        chan.send("begin", utterance_id=utt.id, repeat=repeat)
        samples = audio[utt.id]
        try:
            before = noise.snapshot()  # outside the timed region
            server_before = server.sample() if server else {}
            t0 = time.perf_counter()
            result = backend.transcribe(samples, options)
            call_seconds = time.perf_counter() - t0
            load = noise.load_fields(before, noise.snapshot())
            load.update(served.row_fields(server, server_before, result, load) if server else {})
        except Exception as exc:
            failure(exc, utt.id, repeat, scope="utterance")
            continue
        # Scored in the language the dataset states, else the one decoding was told.
        scored_in = utt.language or options.language
        acc = accuracy(utt.reference, result.text, scored_in)
        boundaries = result.extra.get("window_boundaries")
        t = result.timing
        disaster = catastrophic(acc, t.audio_seconds, scored_in)
        chan.send("row", row=Measurement(
            **{**base, "implementation": result.implementation, "normalizer": normalizer_version(scored_in)},
            utterance_id=utt.id, repeat=repeat,
            reference=utt.reference, hypothesis=result.text,
            **acc.to_dict(),
            hallucinations_per_minute=hallucinations_per_minute(acc.hallucinated_words, t.audio_seconds)
            if acc.empty_reference else None,
            insertion_rate=acc.insertions / acc.ref_words if acc.ref_words else None,
            repeated_5gram_share=repeated_ngram_share(acc.hypothesis_normalized, 5),
            compression_ratio=compression_ratio(acc.hypothesis_normalized),
            catastrophic=bool(disaster), catastrophic_reasons="; ".join(disaster) or None,
            vad_seconds=result.extra.get("vad_seconds"),
            reference_words_dropped=dataset.reference_words_dropped.get(utt.id, 0),
            # Long-form: where the algorithm cut the audio, and the errors next to the cuts.
            window_boundaries=boundaries,
            boundary_errors=boundary_errors(utt.reference, result.segments, boundaries)
            if boundaries is not None else None,
            **word_timing_fields(utt.words, result),
            language=result.language, language_probability=result.language_probability,
            reference_language=utt.language, n_segments=len(result.segments),
            audio_warning=utt.audio_warning,  # the file decoded incompletely (whisperbench.audio)
            audio_seconds=t.audio_seconds, decode_seconds=t.decode_seconds, call_seconds=call_seconds,
            **load,
            rtfx=t.rtfx, tokens=t.tokens_generated, tokens_per_second=t.tokens_per_second,
            load_seconds=backend.load_seconds, peak_rss_mb=peak_rss_mb(),
            gpu_peak_mb=memory.gpu_peak_mb() if memory else None,
            gpu_allocated_peak_mb=memory.allocator_peak_mb() if memory else None,
            timestamp=datetime.now(timezone.utc).isoformat(),
        ).to_dict())
    backend.close()
    if server:
        server.stop()
    if memory:
        memory.stop()
    chan.send("done")
    return 0


def main() -> int:
    from whisperbench.bench.child import start_child

    chan = Channel(start_child())
    try:
        job = json.loads(sys.stdin.read())
        return run(job, chan)
    except BrokenPipeError:  # the runner is gone
        return 1


if __name__ == "__main__":
    sys.exit(main())
