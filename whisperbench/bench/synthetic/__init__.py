"""Architecture timing without weights: random weights at real Whisper dimensions, in
each runtime's own format, timed at a fixed decode length.

For each (architecture, backend, device, compute type, batch size) this measures

- encoder time for a batch of 30 s windows (the runtime's encoder call alone);
- total latency: features (PCM for whisper.cpp) -> exactly N decoded tokens per item,
  end-of-text suppressed, greedy, no timestamps, through the runtime's own generate;
- decoder time, timed on its own: N tokens generated from the encoder output the
  encoder call kept, or the runtime's own timings where it cannot start from one
  (whisper.cpp). Per-token latency = decoder time / N. (Total minus encoder is kept as
  `total_minus_encoder_seconds`: on a CPU the encoder's jitter can exceed a small
  decoder's whole time, so it is not used.);
- peak memory (process RSS sampled during the cell; on CUDA the device memory in use,
  read through NVML, and PyTorch's allocator peak for the torch runtimes);
- the memory-bandwidth roofline of the decoder (see `whisperbench.bench.roofline`).

How each runtime loads random weights, runs its encoder, holds the decode to exactly N
tokens and times its decoder is in its package: `backends/<runtime>/synthetic.py`, a
`SyntheticPrimitives` named by its registry entry. The decoded length is always read back
from the runtime's output; a row whose length differs is a failure, never a timing.

Modules: `weights` (random checkpoints, cached), `measure` (one cell), `sweep` (every cell,
each in a child process, into the results file), `table` (relative latency, Markdown).
Results are JSON Lines records of kind `synthetic` (and one `synthetic_run`), written
with `whisperbench.bench.store.ResultWriter`; `dataset` is "synthetic".
"""

from whisperbench.backends.synthetic_base import Skip, SyntheticError
from whisperbench.bench.synthetic.measure import (
    DEFAULT_DECODE_TOKENS,
    CellSpec,
    cell_from_job,
    check_decode_tokens,
    measure,
    measure_or_record,
    resolve_cell,
)
from whisperbench.bench.synthetic.sweep import RECORD, RUN_RECORD, default_backends, read_rows, run
from whisperbench.bench.synthetic.table import markdown, relative_latency, timing_marks
from whisperbench.bench.synthetic.weights import random_checkpoint, storage_quantization, weights_path

__all__ = [
    "DEFAULT_DECODE_TOKENS", "RECORD", "RUN_RECORD", "CellSpec", "Skip", "SyntheticError", "cell_from_job",
    "check_decode_tokens", "default_backends", "markdown", "measure", "measure_or_record", "random_checkpoint",
    "read_rows", "relative_latency", "resolve_cell", "run", "storage_quantization", "timing_marks", "weights_path",
]
