"""Figures of the Ray executor on this machine (issue 18).

1. Scheduling overhead per cell, Ray versus the local executor, on the same suite:
   runs alternate (local, ray, local, ray, ...) on a Ray instance started beforehand with
   one timing slot (so cells run one at a time, as locally); Ray's start-up is reported
   apart. The walls are printed, but on a loaded machine they move by more than the
   overhead; the figure is the time each run spent outside its cells (wall minus the
   cells' own walls, timed where they ran) per cell, Ray minus local, and its share of the
   local wall (target < 5 %). Done on a dummy suite of short cells and on the default
   suite (tiny.en, CTranslate2), unless --skip-default.
2. Parallelism: a 16-cell dummy suite (each cell ~2 s of simulated compute on jfk) on a
   local Ray instance with 4 timing slots versus 1.

On a machine shared with other work the walls move with the load: loadavg is printed with
each figure.

    .venv/bin/python benchmarks/bench_ray.py [--pairs 5] [--default-pairs 2] [--default-repeats 1]
                                             [--skip-default] [--skip-parallel]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

DUMMY = """
name = "{name}"
repeats = {repeats}
warmups = 0
timeout_s = 120
[decode]
language = "en"
{engines}
[[datasets]]
name = "jfk"
kind = "manifest"
path = "{speech}/jfk/manifest.jsonl"
"""


def dummy_suite(tmp: Path, name: str, cells: int, seconds_per_audio_second: float, repeats: int) -> Path:
    from whisperbench.paths import speech_dir

    engines = "".join(f"""
[[engines]]
backend = "dummy"
model = "m{i}"
extra = {{seconds_per_audio_second = {seconds_per_audio_second}}}
""" for i in range(cells))
    path = tmp / f"{name}.toml"
    path.write_text(DUMMY.format(name=name, repeats=repeats, engines=engines, speech=speech_dir()))
    return path


def start_ray(slots: int, cpus: int) -> float:
    import ray

    from whisperbench.bench.executors.base import SLOT

    t0 = time.perf_counter()
    ray.init(address="local", num_cpus=cpus, resources={SLOT: slots}, include_dashboard=False, object_store_memory=200 * 2**20,
             logging_level="WARNING")
    return time.perf_counter() - t0


def run(suite_file: Path, executor, tmp: Path, **overrides):
    from whisperbench.bench.runner import run_suite
    from whisperbench.bench.suite import load_suite

    out = Path(tempfile.mktemp(suffix=".jsonl", dir=tmp))
    report = run_suite(load_suite(suite_file, **overrides), out, quiet=True, executor=executor)
    assert report.failures == 0, f"{suite_file.name}: {report.failures} failures"
    return report


def wall(suite_file: Path, executor, tmp: Path, **overrides) -> float:
    return run(suite_file, executor, tmp, **overrides).wall_seconds


def overhead(label: str, suite_file: Path, cells: int, pairs: int, tmp: Path, **overrides) -> None:
    from whisperbench.bench.executors.local import LocalExecutor
    from whisperbench.bench.executors.ray import RayExecutor

    local, through_ray = [], []
    for _ in range(pairs):
        local.append(run(suite_file, LocalExecutor(), tmp, **overrides))
        through_ray.append(run(suite_file, RayExecutor(), tmp, **overrides))

    def outside(r) -> float:
        """Seconds per cell of the suite's wall spent outside the cells (each cell timed where it
        ran: the local runner around its child, the Ray task around its child): the executor's
        own cost, from each run alone, so the load's effect on the cells themselves cancels."""
        return (r.wall_seconds - sum(r.cell_seconds)) / cells

    lo, ra = (statistics.median(r.wall_seconds for r in rs) for rs in (local, through_ray))
    lo_out, ra_out = (statistics.median(outside(r) for r in rs) for rs in (local, through_ray))
    print(f"{label}: {cells} cells, {pairs} alternating pairs, loadavg {os.getloadavg()[0]:.1f}")
    print(f"  walls: local {', '.join(f'{r.wall_seconds:.2f}' for r in local)} s; "
          f"ray {', '.join(f'{r.wall_seconds:.2f}' for r in through_ray)} s "
          f"(medians {lo:.2f} / {ra:.2f} s: {(ra - lo) / lo * 100:+.1f} %, within the load's noise)")
    print(f"  outside the cells, per cell: local {lo_out * 1000:.0f} ms, ray {ra_out * 1000:.0f} ms; "
          f"Ray's scheduling overhead {(ra_out - lo_out) * 1000:+.0f} ms per cell = "
          f"{(ra_out - lo_out) * cells / lo * 100:+.2f} % of the suite's wall time")


def main() -> None:
    sys.stdout.reconfigure(line_buffering=True)  # figures show up as they come, also into a file
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--pairs", type=int, default=5, help="alternating local/ray runs of the short-cell suite")
    ap.add_argument("--default-pairs", type=int, default=2, help="alternating local/ray runs of the default suite")
    ap.add_argument("--skip-default", action="store_true", help="leave out the default suite (minutes)")
    ap.add_argument("--skip-parallel", action="store_true", help="leave out the 16-cell slots figure")
    ap.add_argument("--default-repeats", type=int, default=1, help="repeats of the default suite (its own: 3)")
    args = ap.parse_args()
    import ray

    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        print(f"machine: {os.cpu_count()} CPUs, loadavg {os.getloadavg()}")
        startup = start_ray(slots=1, cpus=os.cpu_count() or 1)
        print(f"Ray local instance start-up (not in the walls below): {startup:.2f} s")
        short = dummy_suite(tmp, "short-cells", cells=8, seconds_per_audio_second=0.0, repeats=1)
        overhead("dummy suite, near-empty cells (child start-up + one jfk decode)", short, 8, args.pairs, tmp)
        if not args.skip_default:
            from whisperbench.bench.suite import default_suite_path, load_suite

            cells = len(load_suite(default_suite_path(), repeats=args.default_repeats).cells)
            overhead(f"default suite (repeats={args.default_repeats})", default_suite_path(), cells, args.default_pairs,
                     tmp, repeats=args.default_repeats)
        ray.shutdown()
        if args.skip_parallel:
            return

        sixteen = dummy_suite(tmp, "sixteen", cells=16, seconds_per_audio_second=0.1, repeats=2)
        from whisperbench.bench.executors.ray import RayExecutor

        walls = {}
        for slots in (1, 4):
            start_ray(slots=slots, cpus=max(slots, os.cpu_count() or 1))
            walls[slots] = wall(sixteen, RayExecutor(), tmp)
            ray.shutdown()
        print(f"16-cell dummy suite (2 x 1.1 s simulated compute + child start-up per cell), "
              f"loadavg {os.getloadavg()[0]:.1f}: 1 slot {walls[1]:.1f} s, 4 slots {walls[4]:.1f} s, "
              f"speed-up {walls[1] / walls[4]:.2f}x")


if __name__ == "__main__":
    main()
