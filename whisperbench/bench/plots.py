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


def _backend_colors(backends: list[str]) -> dict[str, Any]:
    from matplotlib import colormaps

    cmap = colormaps["tab10"]
    return {b: cmap(i % 10) for i, b in enumerate(sorted(set(backends)))}


def wer_vs_rtfx(table, path: str | Path, wer_column: str | None = None) -> Path:
    """One point per configuration: WER (short-form when measured, else pooled over all cells)
    against RTFx; the Pareto front (fastest for its accuracy) is joined and filled."""
    if wer_column is None:
        wer_column = "short_wer" if table["short_wer"].notna().any() else "wer"
    table = table.assign(_row=range(1, len(table) + 1))  # the row numbers of the report table
    data = table[table[wer_column].notna() & table["rtfx"].notna()]
    fig = _figure()
    ax = fig.add_subplot(1, 1, 1)
    what = {"short_wer": "short-form WER", "wer": "WER (all cells)", "sequential_wer": "sequential long-form WER",
            "chunked_wer": "chunked long-form WER"}.get(wer_column, wer_column)
    ax.set_title(f"{what} against RTFx (Pareto front marked; numbers: table rows)", fontsize=10)
    ax.set_xlabel("RTFx (audio seconds per decode second, higher is faster)")
    ax.set_ylabel(f"{what} (%)")
    if data.empty:
        ax.text(0.5, 0.5, "no configuration with both WER and RTFx", ha="center", va="center", transform=ax.transAxes)
        return _save(fig, path)
    pts = [(float(r["rtfx"]), 100 * float(r[wer_column])) for _, r in data.iterrows()]
    front = set(pareto_front(pts))
    colors = _backend_colors(list(data["backend"]))
    seen = set()
    for i, (_, r) in enumerate(data.iterrows()):
        x, y = pts[i]
        on = i in front
        label = r["backend"] if r["backend"] not in seen else None
        seen.add(r["backend"])
        ax.scatter([x], [y], s=90 if on else 50, marker="*" if on else "o",
                   facecolors=colors[r["backend"]] if on else "none", edgecolors=colors[r["backend"]],
                   linewidths=1.5, zorder=3, label=label)
        ax.annotate(str(r["_row"]), (x, y), textcoords="offset points", xytext=(5, 5), fontsize=8)
    fx = sorted(front, key=lambda i: pts[i][0])
    if fx:
        xs = [pts[i][0] for i in fx]
        ys = [pts[i][1] for i in fx]
        ax.step(xs, ys, where="post", color="0.4", linestyle="--", linewidth=1, zorder=2, label="Pareto front")
    xs_all = [p[0] for p in pts]
    if min(xs_all) > 0 and max(xs_all) / min(xs_all) > 20:
        ax.set_xscale("log")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8, loc="best")
    fig.tight_layout()
    return _save(fig, path)


def _short(text: str, width: int = 34) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def latency_distributions(df, cells, path: str | Path, table=None) -> Path:
    """Box plots of per-utterance latency (median over repeats), one box per configuration
    (numbered as the rows of `table` when given), coloured by backend; short-form utterances
    where measured, else all."""
    from whisperbench.bench.store import utterance_latency

    fig = _figure()
    ax = fig.add_subplot(1, 1, 1)
    ok = df[df["status"] == "ok"]
    if ok.empty:
        ax.text(0.5, 0.5, "no successful measurement", ha="center", va="center", transform=ax.transAxes)
        return _save(fig, path)
    lat = utterance_latency(ok)
    short = cells[cells["algorithm"] == "short"]
    scope = short if len(short) else cells
    lat = lat.merge(scope[["run_id", "cell_id", "configuration", "backend"]], on=["run_id", "cell_id"])
    order = {c: i for i, c in enumerate(table["configuration"], 1)} if table is not None else {}
    groups = [(f"{order[name]}. {_short(name)}" if name in order else _short(name),
               g["latency_median_s"].to_numpy(float), g["backend"].iloc[0])
              for name, g in sorted(lat.groupby("configuration"), key=lambda kv: (order.get(kv[0], 0), kv[0]),
                                    reverse=True)]
    colors = _backend_colors([b for _, _, b in groups])
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
    ax.set_title("Latency per configuration" + (" (short-form utterances)" if len(short) else ""), fontsize=10)
    ax.grid(True, axis="x", alpha=0.3)
    fig.tight_layout()
    return _save(fig, path)
