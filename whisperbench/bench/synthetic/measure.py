"""Timing one synthetic cell (architecture, backend, device, compute type, batch size):
checked against the backend's adapter and its synthetic primitives, weights built or taken
from the cache, then warm-ups and timed repeats of the runtime's own encoder, N-token
generate and decoder-alone calls, with memory and the roofline."""

from __future__ import annotations

import dataclasses
import gc
import statistics
import time
from dataclasses import dataclass, field
from typing import Any

from whisperbench import backends
from whisperbench.backends.synthetic_base import Skip, SyntheticError, SyntheticPrimitives, make_inputs
from whisperbench.bench.architectures import Architecture, ArchitectureError
from whisperbench.bench.synthetic.weights import storage_quantization, weights_path
from whisperbench.errors import UnsupportedOptionError, WhisperbenchError
from whisperbench.memory import CellMemory

DEFAULT_DECODE_TOKENS = 64


@dataclass
class CellSpec:
    arch: Architecture
    backend: str
    device: str = "cpu"
    compute_type: str = "default"
    batch_size: int = 1
    decode_tokens: int = DEFAULT_DECODE_TOKENS
    threads: int = 0
    options: dict[str, Any] = field(default_factory=dict)
    eot_eager: bool = False  # tests: weights that would stop at once without EOT suppression


# ----- validation ----------------------------------------------------------------------


def primitives_of(backend: str) -> type[SyntheticPrimitives]:
    """The backend's synthetic primitives; Skip naming the backends that have them."""
    name = backends.spec(backend).name
    primitives = backends.synthetic_class(name)
    if primitives is None:
        have = [n for n in backends.names() if backends.spec(n).synthetic]
        raise Skip(f"{name}: no synthetic timing for this backend (its runtime has no synthetic primitives; "
                   f"backends that have them: {', '.join(have)})")
    return primitives


def resolve_cell(backend: str, device: str, compute_type: str) -> tuple[str, str, str]:
    """(backend, device, compute type) checked with the backend adapter's own validation;
    raises Skip / UnsupportedOptionError / BackendNotInstalledError with the reason."""
    from whisperbench.options import LoadOptions

    primitives = primitives_of(backend)
    name = primitives.backend
    cls = backends.get(name)  # raises BackendNotInstalledError naming what to install
    lo = cls.resolve_load_options(LoadOptions(device=device, compute_type=compute_type))
    if lo.compute_type not in primitives.compute_types:
        raise Skip(f"{name}: synthetic timing supports compute types {', '.join(primitives.compute_types)}, "
                   f"not {lo.compute_type!r}")
    return name, lo.device, lo.compute_type


def check_decode_tokens(arch: Architecture, backend: str, n: int) -> None:
    if n < 1:
        raise SyntheticError(f"--decode-tokens must be at least 1, got {n}")
    primitives = primitives_of(backend)
    limit = primitives.max_decode_tokens(arch.dims)
    if n > limit:
        raise SyntheticError(
            f"{backends.runtime_name(backend)} cannot decode {n} tokens in one window of {arch.name} "
            f"(at most {limit}: n_text_ctx={arch.dims.n_text_ctx} less the prompt"
            + (", halved as the runtime samples at most n_text_ctx // 2" if primitives.half_context_sampling else "")
            + ")"
        )


# ----- measuring -----------------------------------------------------------------------


def measure(cell: CellSpec, repeats: int = 3, warmups: int = 1,
            bandwidth: dict[str, Any] | None = None) -> dict[str, Any]:
    """Time one cell; returns its row (status ok). Raises Skip / WhisperbenchError.
    `bandwidth`: the device's copy bandwidth when already measured (else measured here)."""
    from whisperbench.bench import noise, roofline

    arch = cell.arch
    arch.validate()
    backend, device, compute_type = resolve_cell(cell.backend, cell.device, cell.compute_type)
    problem = arch.runtime_problem(backend)
    if problem:
        raise ArchitectureError(problem)
    check_decode_tokens(arch, backend, cell.decode_tokens)
    if cell.batch_size < 1:
        raise SyntheticError(f"batch size must be at least 1, got {cell.batch_size}")
    primitives_cls = primitives_of(backend)
    primitives_cls.check_options(cell.options)
    path = (weights_path(arch, backend, compute_type, eot_eager=cell.eot_eager)
            if primitives_cls.needs_weights else None)
    n = cell.decode_tokens
    runtime = backends.runtime_name(backend)
    mem = CellMemory(device, allocator=(primitives_cls.reset_allocator_peak, primitives_cls.allocator_peak_mb))
    mem.reset_allocator()  # the load counts
    primitives = None
    try:
        t0 = time.perf_counter()
        primitives = primitives_cls(arch.dims, path, device, compute_type, cell.threads, cell.options)
        load_seconds = time.perf_counter() - t0
        primitives.prepare(make_inputs(arch.dims, cell.batch_size))
        for w in range(max(warmups, 1)):
            primitives.encode()
            _, lengths = primitives.generate(n)
            if w == 0 and any(x != n for x in lengths) and primitives.force_length():
                _, lengths = primitives.generate(n)  # the model emitted EOT early: held another way
            primitives.decode(n)
        enc, tot, dec, decoded = [], [], [], []
        before = noise.snapshot()
        for _ in range(repeats):
            enc.append(primitives.encode())
            dt, lengths = primitives.generate(n)
            tot.append(dt)
            dt, decoder_lengths = primitives.decode(n)
            dec.append(dt)
            decoded = lengths
            for what, got in (("generate", lengths), ("decoder", decoder_lengths)):
                if any(x != n for x in got):
                    raise SyntheticError(
                        f"{runtime} decoded {got} tokens instead of exactly {n} ({what}: {primitives.method}); "
                        "not timing a different length"
                    )
        load = noise.load_fields(before, noise.snapshot())
        memory = mem.stop()
    finally:
        mem.stop()  # a no-op after the stop above
        if primitives is not None:
            primitives.close()
        gc.collect()
    encoder_s = statistics.median(enc)
    total_s = statistics.median(tot)
    # Timed on its own (not total - encoder: on a CPU the encoder's run-to-run jitter can
    # exceed a small decoder's whole time).
    decode_s = statistics.median(dec)
    per_token = decode_s / n
    spread = noise.dispersion(tot)  # of the total latency, the relative-latency column's figure
    bw = bandwidth or roofline.measure_bandwidth(device)
    return {
        "status": "ok",
        "backend": backend,
        "runtime": runtime,
        "runtime_version": backends.adapter_class(backend).runtime_version(),
        "model_format": backends.spec(backend).weight_format,
        "weights_quantization": storage_quantization(backend, compute_type),
        "compute_type": compute_type,
        "device": device,
        "threads": cell.threads,
        "batch_size": cell.batch_size,
        "decode_tokens": n,
        "decoded_tokens": decoded,
        "fixed_length_method": primitives.method,
        "options": dict(cell.options),
        **primitives.extra,
        "model_path": str(path) if path else None,
        "load_seconds": load_seconds,
        "encoder_seconds": encoder_s,
        "total_seconds": total_s,
        "decoder_seconds": decode_s,
        "decoder_method": primitives.decoder_method,
        "total_minus_encoder_seconds": total_s - encoder_s,
        "per_token_seconds": per_token,
        "tokens_per_second": cell.batch_size * n / decode_s if decode_s > 0 else None,
        "encoder_seconds_all": enc,
        "total_seconds_all": tot,
        "decoder_seconds_all": dec,
        "repeats": repeats,
        "warmups": max(warmups, 1),
        **load,
        **{f"total_seconds_{k}": v for k, v in spread.items()},
        **noise.verdict_fields(noise.judge_rows([load], cv=spread["cv"])),
        **memory,
        "bandwidth_gbs": bw["bandwidth_gbs"],
        "bandwidth_method": bw["method"],
        **roofline.roofline(arch, backend, compute_type, cell.batch_size, n, per_token, bw["bandwidth_gbs"]),
        **primitives.timing_extra(),
    }


def measure_or_record(cell: CellSpec, repeats: int, warmups: int,
                      bandwidth: dict[str, Any] | None = None) -> dict[str, Any]:
    """`measure`, with what stops a cell turned into its row: skipped (the runtime cannot
    do it) or failed (it broke), never an exception."""
    try:
        return measure(cell, repeats=repeats, warmups=warmups, bandwidth=bandwidth)
    except (Skip, ArchitectureError, UnsupportedOptionError) as exc:
        return {"status": "skipped", "error_type": type(exc).__name__, "error": str(exc)}
    except WhisperbenchError as exc:
        return {"status": "failed", "error_type": type(exc).__name__, "error": str(exc)}
    except Exception as exc:  # noqa: BLE001 - a runtime's own error: record, go on
        return {"status": "failed", "error_type": type(exc).__name__,
                "error": f"{backends.runtime_name(cell.backend)}: {exc}"}


def cell_job(cell: CellSpec, repeats: int, warmups: int, bandwidth: dict[str, Any] | None) -> dict[str, Any]:
    """What `synthetic_process` needs to time `cell`, as JSON-ready data."""
    return {"cell": dataclasses.asdict(cell), "repeats": repeats, "warmups": warmups, "bandwidth": bandwidth}


def cell_from_job(job: dict[str, Any]) -> CellSpec:
    from whisperbench.conversion.checkpoint import Dims

    fields = dict(job["cell"])
    fields["arch"] = Architecture(**{**fields["arch"], "dims": Dims(**fields["arch"]["dims"])})
    return CellSpec(**fields)
