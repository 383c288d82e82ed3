"""Report plots (matplotlib, Agg canvas; no global pyplot state, no display needed).

Each figure is FIGSIZE inches at DPI, so every PNG is exactly `PIXELS` (width, height).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

FIGSIZE = (8.0, 5.0)
DPI = 100
PIXELS = (int(FIGSIZE[0] * DPI), int(FIGSIZE[1] * DPI))  # (width, height)


def _figure():
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=FIGSIZE, dpi=DPI)
    FigureCanvasAgg(fig)
    return fig


def _save(fig, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=DPI, format="png")  # no bbox_inches="tight": the size stays PIXELS
    return path


def pareto_front(points: list[tuple[float, float]]) -> list[int]:
    """Indexes of the points (rtfx, wer) that no other point beats on both: at least as fast
    and at least as accurate, and strictly better on one. Sorted by RTFx, fastest last."""
    front = []
    for i, (x, y) in enumerate(points):
        dominated = any((x2 >= x and y2 <= y) and (x2 > x or y2 < y) for j, (x2, y2) in enumerate(points) if j != i)
        if not dominated:
            front.append(i)
    return sorted(front, key=lambda i: points[i][0])


# matplotlib's tab10 (Plotly's default too): a backend has one colour in the PNGs and the HTML charts.
COLORS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22",
          "#17becf")


def backend_colors(backends) -> dict[str, str]:
    return {b: COLORS[i % len(COLORS)] for i, b in enumerate(sorted(set(backends)))}


ALGORITHM_NAMES = {"short": "short-form", "sequential": "sequential long-form", "chunked": "chunked long-form"}


def algorithm_points(table) -> list[tuple[str, Any]]:
    """Per algorithm with data, the configurations that have both its WER and its RTFx:
    (algorithm, rows with `_row` (the report's row number), `_wer` (%), `_rtfx`, `_marks`
    (noise marks) and `_boundary` (boundary errors or None), `_front` (on the Pareto front))."""
    from whisperbench.bench.aggregate import ALGORITHM_COLUMNS

    table = table.assign(_row=range(1, len(table) + 1))
    out = []
    for alg, col in ALGORITHM_COLUMNS.items():
        if col not in table or f"{alg}_rtfx" not in table:
            continue
        data = table[table[col].notna() & table[f"{alg}_rtfx"].notna()]
        if data.empty:
            continue
        data = data.assign(_wer=100 * data[col].astype(float), _rtfx=data[f"{alg}_rtfx"].astype(float),
                           _marks=data[f"{alg}_timing"].fillna(""), _boundary=data[f"{alg}_boundary_errors"])
        front = set(pareto_front(list(zip(data["_rtfx"], data["_wer"]))))
        out.append((alg, data.assign(_front=[i in front for i in range(len(data))])))
    return out


def longform_pairs(table):
    """The configurations with a sequential or a chunked long-form result (report row order)."""
    table = table.assign(_row=range(1, len(table) + 1))
    return table[table["sequential_wer"].notna() | table["chunked_wer"].notna()]


def wer_vs_rtfx(table, path: str | Path) -> Path:
    """One panel per algorithm measured (short-form, sequential, chunked): one point per
    configuration, WER against RTFx, the Pareto front (fastest for its accuracy) joined and
    filled; points whose timing is noise (loaded machine, wide spread) are drawn with an x."""
    panels = algorithm_points(table)
    fig = _figure()
    if not panels:
        ax = fig.add_subplot(1, 1, 1)
        ax.text(0.5, 0.5, "no configuration with both WER and RTFx", ha="center", va="center", transform=ax.transAxes)
        return _save(fig, path)
    colors = backend_colors(list(table["backend"]))
    seen: set[str] = set()
    for k, (alg, data) in enumerate(panels, 1):
        ax = fig.add_subplot(1, len(panels), k)
        ax.set_title(f"{ALGORITHM_NAMES[alg]}", fontsize=9)
        ax.set_xlabel("RTFx (higher is faster)", fontsize=8)
        if k == 1:
            ax.set_ylabel("WER (%)", fontsize=8)
        ax.tick_params(labelsize=7)
        for _, r in data.iterrows():
            color, noisy = colors[r["backend"]], bool(r["_marks"])
            label = r["backend"] if r["backend"] not in seen else None
            seen.add(r["backend"])
            style = (dict(marker="x", color=color) if noisy else
                     dict(marker="*" if r["_front"] else "o", facecolors=color if r["_front"] else "none",
                          edgecolors=color))
            ax.scatter([r["_rtfx"]], [r["_wer"]], s=90 if r["_front"] else 45, linewidths=1.5, zorder=3, label=label,
                       **style)
            ax.annotate(str(r["_row"]), (r["_rtfx"], r["_wer"]), textcoords="offset points", xytext=(4, 4), fontsize=7)
        front = data[data["_front"]].sort_values("_rtfx")
        ax.step(front["_rtfx"], front["_wer"], where="post", color="0.4", linestyle="--", linewidth=1, zorder=2,
                label="Pareto front" if k == 1 else None)
        xs = data["_rtfx"]
        if xs.min() > 0 and xs.max() / xs.min() > 20:
            ax.set_xscale("log")
        ax.grid(True, alpha=0.3)
    fig.suptitle("WER against RTFx per algorithm (numbers: table rows; x: noisy timing)", fontsize=10)
    fig.legend(fontsize=7, loc="lower center", ncol=min(6, len(seen) + 1))
    fig.tight_layout(rect=(0, 0.08, 1, 0.95))
    return _save(fig, path)


def longform_comparison(table, path: str | Path) -> Path:
    """Sequential against chunked long-form per configuration: WER and RTFx side by side
    (horizontal bars, numbered as the table rows); boundary errors written at the chunked
    WER bar; bars whose timing is noise hatched."""
    data = longform_pairs(table)
    fig = _figure()
    if data.empty:
        ax = fig.add_subplot(1, 1, 1)
        ax.text(0.5, 0.5, "no long-form result", ha="center", va="center", transform=ax.transAxes)
        return _save(fig, path)
    import numpy as np

    y = np.arange(len(data))[::-1]
    names = [f"{r['_row']}. {_short(str(r['configuration']), 28)}" for _, r in data.iterrows()]
    styles = {"sequential": (COLORS[0], -0.2), "chunked": (COLORS[1], 0.2)}
    for k, (metric, title) in enumerate((("wer", "WER (%)"), ("rtfx", "RTFx (higher is faster)")), 1):
        ax = fig.add_subplot(1, 2, k)
        for alg, (color, dy) in styles.items():
            col = f"{alg}_wer" if metric == "wer" else f"{alg}_rtfx"
            vals = data[col].astype(float) * (100 if metric == "wer" else 1)
            noisy = [bool(m) for m in data[f"{alg}_timing"].fillna("")]
            bars = ax.barh(y + dy, vals.fillna(0), height=0.38, color=color, label=alg if k == 1 else None)
            for bar, n in zip(bars, noisy):
                if n and metric == "rtfx":
                    bar.set_hatch("///")
            if metric == "wer" and alg == "chunked":
                for yy, v, be in zip(y + dy, vals, data["chunked_boundary_errors"]):
                    if v == v and be is not None and be == be:
                        ax.annotate(f"{be:.0f} at boundaries", (v, yy), xytext=(3, -2), textcoords="offset points",
                                    fontsize=6)
        ax.set_yticks(y)
        ax.set_yticklabels(names if k == 1 else [], fontsize=7)
        ax.set_title(title, fontsize=9)
        ax.tick_params(labelsize=7)
        ax.grid(True, axis="x", alpha=0.3)
    fig.suptitle("Sequential against chunked long-form (hatched: noisy timing)", fontsize=10)
    fig.legend(fontsize=7, loc="lower center", ncol=2)
    fig.tight_layout(rect=(0, 0.06, 1, 0.95))
    return _save(fig, path)


def snr_curves(points):
    """The curves of `aggregate.wer_by_snr` rows: per (configuration row, algorithm, noise), a
    label and its points sorted by SNR (the HTML chart draws the same curves)."""
    out = []
    for (row, alg, colour), g in points.groupby(["_row", "algorithm", "noise"], sort=False):
        g = g.sort_values("snr_db")
        variant = str(g["variant"].iloc[0])
        label = (f"{row}. {g['backend'].iloc[0]}" + (f" [{variant}]" if variant != "default" else "")
                 + f" ({alg}, {colour} noise)")
        out.append((label, g["backend"].iloc[0], g))
    return out


def wer_vs_snr(points, path: str | Path) -> Path:
    """WER against the SNR of the noise mixed into the speech, one curve per configuration
    (numbered as the table rows), algorithm and noise colour; cleaner audio to the right."""
    fig = _figure()
    ax = fig.add_subplot(1, 1, 1)
    if points.empty:
        ax.text(0.5, 0.5, "no speech-in-noise result", ha="center", va="center", transform=ax.transAxes)
        return _save(fig, path)
    curves = snr_curves(points)
    colors = backend_colors([b for _, b, _ in curves])
    markers = "osD^vP*X"
    for k, (label, backend, g) in enumerate(curves):
        ax.plot(g["snr_db"], g["wer"], marker=markers[k % len(markers)], color=colors[backend], linewidth=1.5,
                label=label, linestyle="-" if k % 2 == 0 else "--")
    ax.set_xticks(sorted(points["snr_db"].unique()))
    ax.set_xlabel("SNR (dB; higher is cleaner)", fontsize=8)
    ax.set_ylabel("WER (%)", fontsize=8)
    ax.tick_params(labelsize=7)
    ax.grid(True, alpha=0.3)
    ax.set_title("WER against SNR of the mixed-in noise (numbers: table rows)", fontsize=10)
    ax.legend(fontsize=6, loc="upper right")
    fig.tight_layout()
    return _save(fig, path)


def _short(text: str, width: int = 34) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def latency_groups(df, cells):
    """Per-utterance latency (median over repeats; `store.utterance_latency`) with each
    utterance's `configuration` and `backend`: of short-form utterances where measured,
    else of all. Returns (rows, short_only)."""
    import pandas as pd

    from whisperbench.bench.store import utterance_latency

    ok = df[df["status"] == "ok"] if len(df) else df
    if ok.empty:
        return pd.DataFrame(columns=["configuration", "backend", "utterance_id", "latency_median_s"]), False
    short = cells[cells["algorithm"] == "short"]
    scope = short if len(short) else cells
    lat = utterance_latency(ok).merge(scope[["run_id", "cell_id", "configuration", "backend"]], on=["run_id", "cell_id"])
    return lat, bool(len(short))


def latency_distributions(lat, short_only: bool, path: str | Path, table=None) -> Path:
    """Box plots of per-utterance latency (`latency_groups`), one box per configuration
    (numbered as the rows of `table` when given), coloured by backend."""
    fig = _figure()
    ax = fig.add_subplot(1, 1, 1)
    if lat.empty:
        ax.text(0.5, 0.5, "no successful measurement", ha="center", va="center", transform=ax.transAxes)
        return _save(fig, path)
    order = {c: i for i, c in enumerate(table["configuration"], 1)} if table is not None else {}
    groups = [(f"{order[name]}. {_short(name)}" if name in order else _short(name),
               g["latency_median_s"].to_numpy(float), g["backend"].iloc[0])
              for name, g in sorted(lat.groupby("configuration"), key=lambda kv: (order.get(kv[0], 0), kv[0]),
                                    reverse=True)]
    colors = backend_colors([b for _, _, b in groups])
    try:  # matplotlib >= 3.10
        bp = ax.boxplot([v for _, v, _ in groups], orientation="horizontal", patch_artist=True, showfliers=True)
    except TypeError:
        bp = ax.boxplot([v for _, v, _ in groups], vert=False, patch_artist=True, showfliers=True)
    for patch, (_, _, b) in zip(bp["boxes"], groups):
        patch.set_facecolor(colors[b])
        patch.set_alpha(0.6)
    ax.set_yticks(range(1, len(groups) + 1))
    ax.set_yticklabels([n for n, _, _ in groups], fontsize=7)
    values = [x for _, v, _ in groups for x in v]
    if values and min(values) > 0 and max(values) / min(values) > 50:
        ax.set_xscale("log")
    ax.set_xlabel("decode seconds per utterance (median over repeats)")
    ax.set_title("Latency per configuration" + (" (short-form utterances)" if short_only else ""), fontsize=10)
    ax.grid(True, axis="x", alpha=0.3)
    fig.tight_layout()
    return _save(fig, path)
