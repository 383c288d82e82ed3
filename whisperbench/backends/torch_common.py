"""PyTorch helpers the torch runtimes (transformers, openai-whisper) share, for
transcription and synthetic timing alike. torch is imported inside each function."""

from __future__ import annotations

from typing import Any

from whisperbench.backends.base import device_kind


def device_available(kind: str) -> bool:
    """Whether PyTorch sees a device of this kind (imports torch only for non-CPU kinds)."""
    if kind == "cpu":
        return True
    import torch

    if kind == "cuda":
        return torch.cuda.is_available()
    if kind == "mps":
        return bool(getattr(torch.backends, "mps", None)) and torch.backends.mps.is_available()
    return False


def set_threads(threads: int) -> int:
    """Set torch's (process-wide) intra-op thread count when `threads` > 0; returns the
    count before, to restore."""
    import torch

    before = torch.get_num_threads()
    if threads:
        torch.set_num_threads(threads)
    return before


def synchronize(device: str) -> None:
    """Wait for queued device work before a clock is read."""
    kind = device_kind(device)
    if kind == "cpu":
        return
    import torch

    if kind == "cuda":
        torch.cuda.synchronize(device)
    elif kind == "mps":
        torch.mps.synchronize()


def release_cuda_cache(device: str) -> None:
    """After a model is dropped: collect it, then hand PyTorch's cached CUDA blocks back."""
    if device_kind(device) != "cuda":
        return
    import gc

    import torch

    gc.collect()
    torch.cuda.empty_cache()


def reset_allocator_peak(device: str) -> None:
    if device_kind(device) != "cuda":
        return
    import torch

    if torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats(device)


def allocator_peak_mb(device: str) -> float | None:
    """PyTorch's own CUDA allocator peak (MB) since the last reset; None off CUDA or before
    CUDA was used (the device-wide figure comes from `whisperbench.gpu.GpuMemoryMonitor`)."""
    if device_kind(device) != "cuda":
        return None
    import torch

    if not (torch.cuda.is_available() and torch.cuda.is_initialized()):
        return None
    return torch.cuda.max_memory_allocated(device) / 2**20


def cuda_copy_bandwidth(device: str, size_mb: int, repeats: int) -> dict[str, Any]:
    """Device-to-device copy bandwidth in GB/s (bytes read + written), best of `repeats`."""
    import torch

    n = max(size_mb, 1024) * 2**20  # well past the L2 cache
    src = torch.ones(n, dtype=torch.uint8, device=device)
    dst = torch.empty_like(src)
    dst.copy_(src)
    torch.cuda.synchronize(device)
    best = float("inf")
    for _ in range(repeats):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        dst.copy_(src)
        end.record()
        torch.cuda.synchronize(device)
        best = min(best, start.elapsed_time(end) / 1000)
    del src, dst
    torch.cuda.empty_cache()
    return {"bandwidth_gbs": 2 * n / best / 1e9, "method": f"torch device copy, {n >> 20} MiB", "seconds": best}


class TorchAllocatorPeak:
    """Mixin for a torch runtime's adapter and synthetic primitives: its CUDA allocator's peak."""

    @classmethod
    def reset_allocator_peak(cls, device: str) -> None:
        reset_allocator_peak(device)

    @classmethod
    def allocator_peak_mb(cls, device: str) -> float | None:
        return allocator_peak_mb(device)
