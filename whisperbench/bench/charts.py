"""Interactive charts of the HTML report (Plotly; hover shows each point's configuration and
numbers). The same data as the report's PNGs (`whisperbench.bench.plots`, which selects it:
`algorithm_points`, `longform_pairs`); this module only draws it with Plotly.
"""

from __future__ import annotations

from typing import Any

from whisperbench.bench.plots import (
    ALGORITHM_NAMES,
    COLORS,
    algorithm_points,
    backend_colors,
    longform_pairs,
    snr_curves,
)

def _fmt(x: Any, spec: str) -> str:
    return "–" if x is None or x != x else format(float(x), spec)


def wer_vs_rtfx(table):
    """One panel per algorithm measured; a point per configuration (x marks a noisy timing),
    the Pareto front as a dashed step line."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    panels = algorithm_points(table)
    fig = make_subplots(rows=1, cols=max(1, len(panels)),
                        subplot_titles=[ALGORITHM_NAMES[a] for a, _ in panels] or ["no WER and RTFx"])
    colors = backend_colors(table["backend"])
    shown: set[str] = set()
    for k, (alg, data) in enumerate(panels, 1):
        for backend, g in data.groupby("backend", sort=True):
            hover = [
                f"<b>{r['_row']}. {r['configuration']}</b><br>WER {r['_wer']:.2f}%<br>RTFx {r['_rtfx']:.1f}"
                + (f"<br>boundary errors {r['_boundary']:.0f}" if r["_boundary"] == r["_boundary"]
                   and r["_boundary"] is not None else "")
                + (f"<br>⚠ {r['_marks']}" if r["_marks"] else "") + ("<br>on the Pareto front" if r["_front"] else "")
                for _, r in g.iterrows()]
            symbols = ["x" if m else ("star" if f else "circle-open") for m, f in zip(g["_marks"], g["_front"])]
            fig.add_trace(go.Scatter(
                x=g["_rtfx"], y=g["_wer"], mode="markers+text", text=[str(n) for n in g["_row"]],
                textposition="top right", hovertext=hover, hoverinfo="text", name=backend, legendgroup=backend,
                showlegend=backend not in shown, marker=dict(color=colors[backend], size=11, symbol=symbols,
                                                             line=dict(width=2, color=colors[backend]))),
                row=1, col=k)
            shown.add(backend)
        front = data[data["_front"]].sort_values("_rtfx")
        fig.add_trace(go.Scatter(x=front["_rtfx"], y=front["_wer"], mode="lines", line=dict(dash="dash", color="#666",
                                 shape="hv"), name="Pareto front", legendgroup="front", showlegend=k == 1,
                                 hoverinfo="skip"), row=1, col=k)
        fig.update_xaxes(title_text="RTFx (higher is faster)", row=1, col=k)
        if data["_rtfx"].min() > 0 and data["_rtfx"].max() / data["_rtfx"].min() > 20:
            fig.update_xaxes(type="log", row=1, col=k)
    fig.update_yaxes(title_text="WER (%)", row=1, col=1)
    fig.update_layout(title="WER against RTFx per algorithm (numbers: table rows; x: noisy timing)", height=450,
                      margin=dict(t=80, b=50))
    return fig


def longform(table):
    """Sequential against chunked per configuration: WER and RTFx side by side; hover gives
    boundary errors and noise marks; bars of a noisy timing are hatched."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    data = longform_pairs(table)
    fig = make_subplots(rows=1, cols=2, shared_yaxes=True, subplot_titles=["WER (%)", "RTFx (higher is faster)"])
    names = [f"{r['_row']}. {r['configuration']}" for _, r in data.iterrows()]
    for alg, color in (("sequential", COLORS[0]), ("chunked", COLORS[1])):
        marks = list(data[f"{alg}_timing"].fillna(""))
        hover = [f"<b>{n}</b><br>{alg}: WER {_fmt(w * 100 if w == w and w is not None else None, '.2f')}%, "
                 f"RTFx {_fmt(x, '.1f')}" + (f"<br>boundary errors {be:.0f}" if be is not None and be == be else "")
                 + (f"<br>⚠ {m}" if m else "")
                 for n, w, x, be, m in zip(names, data[f"{alg}_wer"], data[f"{alg}_rtfx"],
                                           data[f"{alg}_boundary_errors"], marks)]
        for col, values in ((1, 100 * data[f"{alg}_wer"].astype(float)), (2, data[f"{alg}_rtfx"].astype(float))):
            fig.add_trace(go.Bar(
                y=names, x=values, orientation="h", name=alg, legendgroup=alg, showlegend=col == 1,
                marker=dict(color=color, pattern=dict(shape=["/" if m and col == 2 else "" for m in marks])),
                hovertext=hover, hoverinfo="text"), row=1, col=col)
    fig.update_layout(title="Sequential against chunked long-form (hatched: noisy timing)", barmode="group",
                      height=max(300, 120 + 60 * len(data)), margin=dict(l=20, t=80))
    fig.update_yaxes(autorange="reversed", automargin=True)
    return fig


def wer_vs_snr(points):
    """WER against SNR, one line per configuration, algorithm and noise colour (`plots.snr_curves`)."""
    import plotly.graph_objects as go

    curves = snr_curves(points)
    colors = backend_colors([b for _, b, _ in curves])
    fig = go.Figure()
    for k, (label, backend, g) in enumerate(curves):
        fig.add_trace(go.Scatter(
            x=g["snr_db"], y=g["wer"], mode="lines+markers", name=label,
            line=dict(color=colors[backend], dash="solid" if k % 2 == 0 else "dash"),
            hovertext=[f"<b>{label}</b><br>SNR {s:g} dB: WER {w:.2f}% ({n} words)"
                       for s, w, n in zip(g["snr_db"], g["wer"], g["ref_words"])], hoverinfo="text"))
    fig.update_layout(title="WER against SNR of the mixed-in noise (numbers: table rows)", height=450,
                      xaxis_title="SNR (dB; higher is cleaner)", yaxis_title="WER (%)", margin=dict(t=80))
    return fig


def latency(lat, table, short_only: bool):
    """Per-utterance latency (median over repeats) per configuration, as box plots; `lat`
    holds `configuration`, `backend`, `utterance_id` and `latency_median_s`."""
    import plotly.graph_objects as go

    order = {c: i for i, c in enumerate(table["configuration"], 1)}
    colors = backend_colors(table["backend"])
    fig = go.Figure()
    for name, g in sorted(lat.groupby("configuration"), key=lambda kv: order.get(kv[0], 0)):
        fig.add_trace(go.Box(x=g["latency_median_s"], name=f"{order.get(name, '?')}. {name}", boxpoints="all",
                             jitter=0.3, text=list(g["utterance_id"]), marker_color=colors.get(g["backend"].iloc[0]),
                             hovertemplate="%{text}: %{x:.3g} s<extra></extra>", orientation="h", showlegend=False))
    fig.update_layout(title="Latency per configuration" + (" (short-form utterances)" if short_only else ""),
                      xaxis_title="decode seconds per utterance (median over repeats)",
                      height=max(300, 120 + 40 * lat["configuration"].nunique()), margin=dict(l=20, t=60))
    fig.update_yaxes(autorange="reversed", automargin=True)
    return fig


def history(series, commits: list[str]):
    """One series over commits: WER, RTFx, p90 latency and peak memory (2 x 2 panels), each
    point with its 95% interval; regressions as red rings on the panel of the gate that fired,
    their reasons in the hover."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    from whisperbench.bench.history import GATE_PANEL, METRICS, fmt_value

    fig = make_subplots(rows=2, cols=2, subplot_titles=[name for _, name, _ in METRICS], shared_xaxes=True,
                        vertical_spacing=0.12)
    for k, (metric, name, _) in enumerate(METRICS):
        row, col = k // 2 + 1, k % 2 + 1
        pts = [p for p in series.points if p.values.get(metric) and p.values[metric].value is not None]
        scale = 100 if metric == "wer" else 1
        y = [scale * p.values[metric].value for p in pts]
        up = [scale * (p.values[metric].high - p.values[metric].value) if p.values[metric].high is not None else 0
              for p in pts]
        down = [scale * (p.values[metric].value - p.values[metric].low) if p.values[metric].low is not None else 0
                for p in pts]
        hover = [f"<b>{p.commit}</b> ({p.time[:19]})<br>{name}: {fmt_value(metric, p.values[metric])}<br>"
                 f"{p.runs} run(s), {p.utterances} utterances" + (f"<br>against {p.reference}" if p.reference else "")
                 + "".join(f"<br>❌ {r}" for r in p.regressions) + "".join(f"<br>{n}" for n in p.notes)
                 for p in pts]
        fig.add_trace(go.Scatter(x=[p.commit for p in pts], y=y, mode="lines+markers", name=name, showlegend=False,
                                 error_y=dict(type="data", array=up, arrayminus=down, visible=True),
                                 hovertext=hover, hoverinfo="text", line=dict(color=COLORS[0])), row=row, col=col)
        marked = [(p, v) for p, v in zip(pts, y)
                  if any(GATE_PANEL.get(word) == metric for r in p.regressions for word in GATE_PANEL if word in r)]
        if marked:
            fig.add_trace(go.Scatter(x=[p.commit for p, _ in marked], y=[v for _, v in marked], mode="markers",
                                     name="regression", showlegend=False, hoverinfo="text",
                                     hovertext=[f"<b>regression at {p.commit}</b><br>" + "<br>".join(p.regressions)
                                                for p, _ in marked],
                                     marker=dict(size=16, color="rgba(0,0,0,0)", line=dict(color="#d62728", width=3))),
                          row=row, col=col)
    fig.update_xaxes(type="category", categoryorder="array", categoryarray=commits)
    fig.update_layout(title=f"{series.workload}: {series.label}", height=520, margin=dict(t=90, b=40))
    return fig
