"""Synthetic rows as a table: the model card's relative latency (with intervals) and the
Markdown report."""

from __future__ import annotations

from typing import Any, Iterable, Sequence

GROUP = ("backend", "device", "compute_type", "batch_size", "decode_tokens")


def _ok(rows: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    return [r for r in rows if r.get("status") == "ok"]


def relative_latency(rows: Sequence[dict[str, Any]], reference: str | None = None,
                     pairs: Sequence[tuple[str, str]] | None = None) -> list[dict[str, Any]]:
    """The model card's "relative latency": reference latency / architecture latency, per
    (backend, device, compute type, batch size, decode length). Default pairs: the
    reference (default: the first architecture in `rows`) against every other one;
    `pairs=[(a, b), ...]` gives any pairs (a is the reference). Each ratio has a 95 %
    interval (`noise.ratio_interval`: the two cells are separate processes timed at
    different times) and says whether it is `distinguishable` from 1."""
    from whisperbench.bench import noise

    ok = _ok(rows)
    archs = list(dict.fromkeys(r["architecture"] for r in ok))
    if pairs is None:
        ref = reference or (archs[0] if archs else None)
        pairs = [(ref, a) for a in archs if a != ref]
    by_key: dict[tuple, dict[str, dict[str, Any]]] = {}
    for r in ok:
        by_key.setdefault(tuple(r[k] for k in GROUP), {})[r["architecture"]] = r
    out = []
    for key, per_arch in by_key.items():
        for a, b in pairs:
            if a not in per_arch or b not in per_arch:
                continue
            ra, rb = per_arch[a], per_arch[b]
            interval = noise.ratio_interval(
                [rb["total_seconds"]], [ra["total_seconds"]],
                spread_base=noise.log_sd(rb.get("total_seconds_all") or []),
                spread_cand=noise.log_sd(ra.get("total_seconds_all") or []))
            out.append({
                **dict(zip(GROUP, key)),
                "reference": a,
                "architecture": b,
                "reference_total_s": ra["total_seconds"],
                "total_s": rb["total_seconds"],
                "relative_latency": ra["total_seconds"] / rb["total_seconds"],
                "relative_latency_low": interval.low if interval else None,
                "relative_latency_high": interval.high if interval else None,
                "distinguishable": interval.distinguishable if interval else None,
                "timing_notes": [f"{x}: {m}" for x, r in ((a, ra), (b, rb)) for m in timing_marks(r)],
                "per_token_speedup": _ratio(ra["per_token_seconds"], rb["per_token_seconds"]),
                "encoder_speedup": _ratio(ra["encoder_seconds"], rb["encoder_seconds"]),
                "reference_roofline_ratio": ra.get("roofline_ratio"),
                "roofline_ratio": rb.get("roofline_ratio"),
            })
    return out


def timing_marks(row: dict[str, Any]) -> list[str]:
    """What makes a synthetic row's timing noise (loaded machine, wide spread), if anything."""
    from whisperbench.bench import noise

    return noise.judge_rows([row], cv=row.get("total_seconds_cv")).marks()


def _ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a and b else None


def _f(v: Any, fmt: str = "{:.3g}") -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return fmt.format(v)
    return str(v)


def markdown(rows: Sequence[dict[str, Any]], reference: str | None = None) -> str:
    """Markdown: measurements with roofline columns, relative latency, skipped/failed cells."""
    lines = ["# Architecture timing (random weights, fixed decode length)", ""]
    ok = _ok(rows)
    if ok:
        r0 = ok[0]
        lines += [
            f"Decode length: {r0['decode_tokens']} tokens per item (EOT suppressed, greedy, no timestamps). "
            f"Memory bandwidth: " + ", ".join(sorted({f"{r['device']} {r['bandwidth_gbs']:.1f} GB/s ({r['bandwidth_method']})" for r in ok})) + ".",
            "",
            "| architecture | backend | device | compute | batch | encoder s | total s | ms/token | tokens/s "
            "| peak RSS MB | GPU peak MB | bound ms/token | measured/bound | total s min–max (CV) | timing |",
            "|---|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
        ]
        for r in ok:
            cv = r.get("total_seconds_cv")
            spread = (f"{_f(r.get('total_seconds_min'))}–{_f(r.get('total_seconds_max'))}"
                      + (f" ({100 * cv:.0f}%)" if cv is not None else "")) if r.get("total_seconds_min") else "-"
            marks = timing_marks(r)
            lines.append(
                f"| {r['architecture']} | {r['backend']} | {r['device']} | {r['compute_type']} | {r['batch_size']} "
                f"| {_f(r['encoder_seconds'])} | {_f(r['total_seconds'])} | {_f(r['per_token_seconds'] * 1e3)} "
                f"| {_f(r.get('tokens_per_second'), '{:.1f}')} | {_f(r.get('peak_rss_mb'), '{:.0f}')} "
                f"| {_f(r.get('gpu_peak_mb'), '{:.0f}')} | {_f(r['bound_per_token_s'] * 1e3)} "
                f"| {_f(r.get('roofline_ratio'), '{:.2f}')} | {spread} | {'⚠️ ' + '; '.join(marks) if marks else 'ok'} |"
            )
        lines.append("")
    rel = relative_latency(rows, reference)
    lines += ["## Relative latency", ""]
    if rel:
        lines += [
            "reference latency / architecture latency (the model card's column: > 1 means faster than the reference), "
            "with a 95% interval that allows for run-to-run drift between the two cells (see "
            "`whisperbench.bench.noise`); a ratio whose interval includes 1 is not a finding",
            "",
            "| backend | device | compute | batch | reference | architecture | reference total s | total s "
            "| relative latency [95% CI] | per-token speed-up | encoder speed-up | timing |",
            "|---|---|---|---:|---|---|---:|---:|---:|---:|---:|---|",
        ]
        for r in rel:
            ratio = f"{_f(r['relative_latency'], '{:.2f}')}x"
            if r.get("relative_latency_low") is not None:
                ratio += f" [{r['relative_latency_low']:.2f}, {r['relative_latency_high']:.2f}]"
                if not r["distinguishable"]:
                    ratio += " not distinguishable"
            notes = r.get("timing_notes") or []
            lines.append(
                f"| {r['backend']} | {r['device']} | {r['compute_type']} | {r['batch_size']} | {r['reference']} "
                f"| {r['architecture']} | {_f(r['reference_total_s'])} | {_f(r['total_s'])} "
                f"| {ratio} | {_f(r['per_token_speedup'], '{:.2f}')}x "
                f"| {_f(r['encoder_speedup'], '{:.2f}')}x | {'⚠️ ' + '; '.join(notes) if notes else 'ok'} |"
            )
    else:
        lines.append("(needs at least two architectures measured in the same backend configuration)")
    bad = [r for r in rows if r.get("status") != "ok"]
    if bad:
        lines += ["", "## Not measured", ""]
        for r in bad:
            lines.append(f"- {r.get('architecture')} / {r.get('backend')} / {r.get('device')} / {r.get('compute_type')} "
                         f"/ batch {r.get('batch_size')}: **{r['status']}**: {r.get('error')}")
    return "\n".join(lines) + "\n"
