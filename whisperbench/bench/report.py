"""Reports over stored results: the model-card table per configuration, a per-cell table,
the environment the runs were measured on, as Markdown (for PR comments and job summaries,
with PNG plots beside it) and a self-contained interactive HTML page (sortable, filterable
tables and Plotly charts with plotly.js inlined: `whisperbench.bench.html_page`).

The numbers come from `whisperbench.bench.aggregate` (what a configuration is and how its
cells are pooled); this module formats and renders them.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Sequence

from whisperbench.bench import html_page, languages, noise
from whisperbench.bench.aggregate import (
    _nz,
    _short,
    cell_summary,
    configuration_table,
    environment_summary,
    format_label,
    quantization_label,
    reference_warnings,
    repeated_runs_notes,
    wer_by_snr,
)
from whisperbench.bench import word_metrics
from whisperbench.errors import WhisperbenchError


# (column, Markdown header) of the configuration table, in order.
TABLE_COLUMNS = (
    ("backend", "backend"),
    ("model", "model"),
    ("model_format", "format"),
    ("quantization", "quantization"),
    ("device", "device"),
    ("short_wer", "short-form WER"),
    ("sequential_wer", "long-form WER (sequential)"),
    ("chunked_wer", "long-form WER (chunked)"),
    ("relative_latency", "relative latency"),
    ("rtfx", "RTFx"),
    ("latency_p50_s", "p50 latency (s)"),
    ("latency_p90_s", "p90 latency (s)"),
    ("load_seconds", "load time (s)"),
    ("peak_rss_mb", "peak memory (MB)"),
    ("timing", "timing"),
)


NUMERIC_COLUMNS = {c for c, _ in TABLE_COLUMNS[5:]} - {"timing"} | {
    "gpu_peak_mb", "catastrophic", "ins_rate", "hallucinations_per_minute", "vad_seconds"}
def relative_latency_text(row) -> str:
    """`0.55× [0.36, 0.83]`, `... not distinguishable` when the interval includes 1, `(ref)`."""
    text = format_value("relative_latency", row["relative_latency"])
    if row.get("is_reference"):
        return text + " (ref)"
    lo, hi = row.get("relative_latency_low"), row.get("relative_latency_high")
    if lo is None or hi is None or lo != lo or hi != hi:
        return text
    text += f" [{lo:.2f}, {hi:.2f}]"
    return text + " not distinguishable" if lo <= 1 <= hi else text


def _env_rows(env: list[dict[str, Any]]) -> list[list[str]]:
    out = []
    for e in env:
        cpu = f"{e.get('cpu_model') or '?'} ({e.get('cpu_count') or '?'} CPUs"
        if e.get("cpu_affinity") and e.get("cpu_affinity") != e.get("cpu_count"):
            cpu += f", {e['cpu_affinity']} usable"
        cpu += ")"
        mem = f"{e['memory_total_mb'] / 1024:.1f} GiB" if e.get("memory_total_mb") else "?"
        gpu = e.get("gpu_name") or "none"
        if e.get("gpu_driver"):
            gpu += f" (driver {e['gpu_driver']})"
        git = (str(e.get("git_commit") or "?")[:10]) + (" (dirty)" if e.get("git_dirty") else "")
        pk = ", ".join(f"{k} {v}" for k, v in sorted(e.get("packages", {}).items()))
        out.append([str(e.get("run_id") or "?")[:12], str(e.get("suite") or "?"), str(e.get("created") or "?")[:19],
                    str(e.get("hostname") or "?"), str(e.get("os") or "?"), str(e.get("python") or "?"), cpu, mem, gpu,
                    git, pk])
    return out


ENV_HEADERS = ["run", "suite", "created", "host", "OS", "Python", "CPU", "memory", "GPU", "git", "packages"]


# ---------------------------------------------------------------------------------------
# formatting


def _sig(x: float, digits: int = 3) -> str:
    if x == 0:
        return "0"
    mag = math.floor(math.log10(abs(x)))
    decimals = max(0, digits - 1 - mag)
    return f"{x:.{decimals}f}"


def format_value(column: str, value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if column.endswith("_wer") or column in ("wer", "cer", "ins_rate"):
        return f"{100 * value:.2f}%"
    if column == "catastrophic":
        return str(int(value))
    if column == "hallucinations_per_minute":
        return f"{value:.1f}"
    if column == "relative_latency":
        return f"{value:.2f}×" if value >= 0.1 else f"{_sig(float(value), 2)}×"
    if column in ("rtfx", "rtfx_best"):
        return f"{value:.1f}"
    if column.endswith("_s") or column.endswith("_seconds"):
        return _sig(float(value), 3)
    if column.endswith("_mb"):
        return f"{value:.0f}"
    return str(value)


def _md_escape(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[str]], align: Sequence[str] | None = None) -> str:
    align = align or ["---"] * len(headers)
    lines = ["| " + " | ".join(_md_escape(h) for h in headers) + " |", "|" + "|".join(align) + "|"]
    lines += ["| " + " | ".join(_md_escape(c) for c in r) + " |" for r in rows]
    return "\n".join(lines)


def table_columns(table) -> list[tuple[str, str]]:
    cols = list(TABLE_COLUMNS)
    if table["gpu_peak_mb"].notna().any():
        cols.append(("gpu_peak_mb", "GPU peak (MB)"))
    non_speech = "empty_references" in table and (table["empty_references"] > 0).any()
    if non_speech:
        cols.append(("hallucinated_words", "words on empty refs"))
        cols.append(("hallucinations_per_minute", "hallucinated words/min"))
    if "vad_seconds" in table and table["vad_seconds"].notna().any():
        cols.insert([c for c, _ in cols].index("rtfx") + 1, ("vad_seconds", "VAD time (s)"))
    if "ins_rate" in table and table["ins_rate"].notna().any():
        cols.insert([c for c, _ in cols].index("relative_latency"), ("ins_rate", "insertion rate"))
    if "catastrophic" in table and (table["catastrophic"].fillna(0) > 0).any():
        cols.insert(0, ("catastrophic", "catastrophic"))  # first, where any row is flagged: it is the news
    elif non_speech and "catastrophic" in table and table["catastrophic"].notna().any():
        cols.append(("catastrophic", "catastrophic"))  # non-speech measured: a zero is news too
    extra = []
    if (table["threads"].astype(str) != "0").any():
        extra.append(("threads", "threads"))
    if (table["load_extra"] != "").any():
        extra.append(("load_extra", "backend options"))
    if (table["variant"] != "default").any():
        extra.append(("variant", "variant"))
    if table["configuration"].str.contains(r"\(runs? ", regex=True).any():
        extra.append(("run_id", "runs"))
    i = [c for c, _ in cols].index("device") + 1
    return cols[:i] + extra + cols[i:]


def table_rows(table) -> tuple[list[str], list[list[str]]]:
    cols = table_columns(table)
    headers = ["#"] + [h for _, h in cols]
    rows = []
    for n, (_, r) in enumerate(table.iterrows(), 1):
        cells = [str(n)]
        for c, _ in cols:
            v = r[c]
            if c == "relative_latency":
                cells.append(relative_latency_text(r))
            elif c == "timing":
                cells.append(v if v == "ok" else "⚠️ " + v)
            elif c == "run_id":
                cells.append(", ".join(r[:8] for r in str(v).split(",")))
            elif c == "model_format":
                cells.append(format_label(r))
            elif c == "quantization":
                cells.append(quantization_label(r))
            elif c == "load_extra":
                extra = json.loads(v) if v else {}
                cells.append(", ".join(f"{k}={_short(x)}" for k, x in sorted(extra.items())))
            else:
                cells.append(format_value(c, v))
        rows.append(cells)
    return headers, rows


CELL_TABLE_COLUMNS = (
    ("configuration", "configuration"), ("dataset", "dataset"), ("algorithm", "algorithm"),
    ("n_utterances", "utterances"), ("repeats", "repeats"), ("wer", "WER"), ("cer", "CER"), ("rtfx", "RTFx"),
    ("latency_p50_s", "p50 (s)"), ("latency_p90_s", "p90 (s)"), ("n_failed", "failed rows"), ("status", "status"),
    ("timing_spread", "repeat totals min–max (CV)"), ("timing", "timing"),
)


def cell_rows(cells) -> tuple[list[str], list[list[str]]]:
    headers = [h for _, h in CELL_TABLE_COLUMNS]
    rows = []
    for _, r in cells.sort_values(["configuration", "dataset", "algorithm"], kind="stable").iterrows():
        rows.append([_cell_timing(r, c) if c.startswith("timing") else
                     format_value(c, r.get(c)) if c not in ("n_utterances", "repeats", "n_failed") else str(int(r[c]))
                     for c, _ in CELL_TABLE_COLUMNS])
    return headers, rows


def _cell_timing(r, column: str) -> str:
    if column == "timing_spread":
        lo, hi, cv = r.get("timing_min_s"), r.get("timing_max_s"), r.get("timing_cv")
        if lo is None or lo != lo:
            return "–"
        return f"{_sig(float(lo))}–{_sig(float(hi))}" + (f" ({100 * cv:.0f}%)" if cv is not None and cv == cv else "")
    marks = []
    loaded, others, cv = r.get("loaded"), r.get("others_cpus"), _nz(r.get("timing_cv"))
    if loaded is None or loaded != loaded:
        marks.append("load not recorded")
    elif bool(loaded):
        marks.append("loaded" + (f": others used {others:.2f} CPUs" if others is not None and others == others else ""))
    if cv > noise.WIDE_CV:
        marks.append(f"wide spread: CV {100 * cv:.0f}%")
    return "⚠️ " + "; ".join(marks) if marks else "ok"


LONGFORM_COLUMNS = (
    ("configuration", "configuration"), ("dataset", "dataset"), ("algorithm", "algorithm"),
    ("implementation", "implementation"), ("wer", "WER"), ("sdi", "S / D / I"),
    ("boundary_errors", "boundary errors"), ("rtfx", "RTFx"),
)


LONGFORM_NOTE = (
    "Sequential and chunked long-form per dataset. S / D / I: substituted, deleted and inserted words per pass. "
    "Boundary errors: deleted or inserted words within 2 s of a window boundary (where the algorithm cut the "
    "audio); many of them point at the chunking, few at the model. – where the implementation does not report "
    "its boundaries."
)


def serving_html(serving, table) -> str:
    """The serving-overhead table for the HTML page ('' without served cells)."""
    if not serving or not serving[1]:
        return ""
    from whisperbench.bench.served import OVERHEAD_NOTE

    return (f'<h2>Serving overhead</h2><p class="note">{html_page.esc(OVERHEAD_NOTE)}</p>'
            f'{table(*serving, "serving", text_columns=(0, 1))}')


def longform_rows(cells) -> tuple[list[str], list[list[str]]]:
    """Sequential and chunked cells side by side: WER with its substitutions, deletions and
    insertions per pass, and how many deleted or inserted words lie within
    metrics.BOUNDARY_SECONDS of a window boundary (chunking to blame, not the model)."""
    headers = [h for _, h in LONGFORM_COLUMNS]
    rows: list[list[str]] = []
    if cells.empty:
        return headers, rows
    long = cells[cells["algorithm"].isin(["sequential", "chunked"])]
    for _, r in long.sort_values(["dataset", "configuration", "algorithm"], kind="stable").iterrows():
        words = (r.get("ref_words") or 0) / max(1, int(r.get("repeats") or 1))
        sdi = "–"
        if r.get("sub_rate") is not None and r.get("sub_rate") == r.get("sub_rate"):
            sdi = " / ".join(f"{r[c] * words:.0f}" for c in ("sub_rate", "del_rate", "ins_rate"))
        be = r.get("boundary_errors")
        nb = r.get("window_boundaries")
        be_text = "–" if be is None or be != be else f"{be:.0f} ({nb:.0f} boundaries)"
        rows.append([
            str(r["configuration"]), str(r["dataset"]), str(r["algorithm"]), str(r.get("implementation") or "–"),
            format_value("wer", r.get("wer")), sdi, be_text, format_value("rtfx", r.get("rtfx")),
        ])
    return headers, rows


SNR_NOTE = ("Speech mixed with noise at a set signal-to-noise ratio (dataset kind 'perturb'): corpus WER per "
            "configuration (numbered as the table rows), algorithm and noise colour.")


def snr_rows(points) -> tuple[list[str], list[list[str]]]:
    """`aggregate.wer_by_snr` as a table: a row per configuration, algorithm and noise colour,
    a WER column per SNR (cleanest first)."""
    levels = sorted(points["snr_db"].unique(), reverse=True) if len(points) else []
    headers = ["configuration", "algorithm", "noise"] + [f"SNR {x:g} dB" for x in levels]
    rows = []
    for (row, alg, colour), g in points.groupby(["_row", "algorithm", "noise"], sort=False):
        wer = dict(zip(g["snr_db"], g["wer"]))
        rows.append([f"{row}. {g['configuration'].iloc[0]}", str(alg), str(colour)]
                    + [f"{wer[x]:.2f}%" if x in wer else "–" for x in levels])
    return headers, rows


# ---------------------------------------------------------------------------------------
# the report


@dataclass
class Report:
    table: Any  # configuration_table() DataFrame
    cells: Any  # cell_summary() DataFrame
    environment: list[dict[str, Any]]
    reference: str
    title: str
    sources: list[str]
    latency: Any = None  # plots.latency_groups() rows
    latency_short_only: bool = False
    images: dict[str, Path] = field(default_factory=dict)  # name -> PNG path (the Markdown's)
    failures: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # runs kept apart (`aggregate.repeated_runs_notes`)
    languages: Any = None  # languages.language_table() (datasets that state each utterance's language)
    confusions: Any = None  # languages.confusion_table()
    serving: Any = None  # (headers, rows): served cells beside their in-process twins (`served.overhead_rows`)
    snr: Any = None  # aggregate.wer_by_snr() rows (speech mixed with noise)

    def markdown(self, image_links: bool = True) -> str:
        headers, rows = table_rows(self.table)
        align = ["---:"] + ["---:" if c in NUMERIC_COLUMNS else "---" for c, _ in table_columns(self.table)]
        out = [f"## {self.title}", ""]
        out.append(f"Results: {', '.join(f'`{s}`' for s in self.sources)}. "
                   f"Relative latency against **{self.reference}** (ratio of decode time over the cells both "
                   "measured; below 1 is faster), with a 95% interval that allows for run-to-run drift; one that "
                   "includes 1 is marked not distinguishable. Timing marks rows measured on a loaded machine or "
                   "with a wide spread between repeats. WER is corpus WER pooled over each algorithm's datasets; p50/p90 "
                   "are per-utterance latencies (median over repeats) of short-form utterances; RTFx is audio "
                   "seconds per decode second over all cells.")
        out.append("")
        out.append(markdown_table(headers, rows, align))
        out.append("")
        if self.notes:
            out.append("**Runs kept apart:**")
            out += [f"- {_md_escape(n)}" for n in self.notes]
            out.append("")
        if self.failures:
            out.append("**Failures:**")
            out += [f"- {_md_escape(f)}" for f in self.failures]
            out.append("")
        if self.warnings:
            out.append("**Warnings:**")
            out += [f"- {_md_escape(w)}" for w in self.warnings]
            out.append("")
        lh, lr = longform_rows(self.cells)
        if lr:
            out += ["### Long-form", "", LONGFORM_NOTE, "", markdown_table(lh, lr, ["---"] * 4 + ["---:"] * 4), ""]
        if self.languages is not None and len(self.languages):
            gh, gr = languages.language_rows(self.languages)
            out += ["### Languages", "", languages.LANGUAGES_NOTE, "",
                    markdown_table(gh, gr, ["---"] * 2 + ["---:"] * 3 + ["---"] + ["---:"] * 3), ""]
            if self.confusions is not None and len(self.confusions):
                ch, cr = languages.confusion_rows(self.confusions)
                out += ["Language confusions (rows decoded with no language):", "",
                        markdown_table(ch, cr, ["---"] * 3 + ["---:"]), ""]
        if self.serving and self.serving[1]:
            from whisperbench.bench.served import OVERHEAD_NOTE

            out += ["### Serving overhead", "", OVERHEAD_NOTE, "",
                    markdown_table(*self.serving, ["---"] * 2 + ["---:"] * 9), ""]
        if self.snr is not None and len(self.snr):
            sh, sr = snr_rows(self.snr)
            out += ["### WER against SNR", "", SNR_NOTE, "",
                    markdown_table(sh, sr, ["---"] * 3 + ["---:"] * (len(sh) - 3)), ""]
        wh, wr = word_metrics.word_timing_rows(self.cells)
        if wr:
            out += ["### Word timestamps", "", word_metrics.WORD_TIMING_NOTE, "",
                    markdown_table(wh, wr, ["---"] * 4 + ["---:"] * 6), ""]
        if image_links and self.images:
            for name, path in self.images.items():
                out.append(f"![{name}]({path.name})")
            out.append("")
        out.append("<details><summary>Per-cell results</summary>")
        out.append("")
        h, r = cell_rows(self.cells)
        out.append(markdown_table(h, r, ["---"] * 3 + ["---:"] * 8 + ["---", "---:", "---"]))
        out.append("")
        out.append("</details>")
        out.append("")
        out.append("### Environment")
        out.append("")
        out.append(markdown_table(ENV_HEADERS, _env_rows(self.environment)))
        out.append("")
        return "\n".join(out)

    def _word_timing_html(self) -> str:
        wh, wr = word_metrics.word_timing_rows(self.cells)
        if not wr:
            return ""
        return (f'<h2>Word timestamps</h2><p class="note">{html_page.esc(word_metrics.WORD_TIMING_NOTE)}</p>'
                f'{html_page.table(wh, wr, "wordtiming", text_columns=(0, 1, 2, 3))}')

    def html(self) -> str:
        """The interactive page: sortable, filterable tables and Plotly charts, all inline."""
        from whisperbench.bench import charts

        t = html_page.table
        headers, rows = table_rows(self.table)
        lists = "".join(f"<h3>{title}</h3><ul>" + "".join(f"<li>{html_page.esc(x)}</li>" for x in items) + "</ul>"
                        for title, items in (("Runs kept apart", self.notes), ("Failures", self.failures),
                                             ("Warnings", self.warnings)) if items)
        lh, lr = longform_rows(self.cells)
        longform = (f'<h2>Long-form</h2><p class="note">{html_page.esc(LONGFORM_NOTE)}</p>'
                    f'{t(lh, lr, "longform", text_columns=(0, 1, 2, 3, 5))}' if lr else "")
        plots = [html_page.chart(charts.wer_vs_rtfx(self.table), "chart-wer-rtfx")]
        if lr:
            plots.append(html_page.chart(charts.longform(self.table), "chart-longform"))
        snr = ""
        if self.snr is not None and len(self.snr):
            plots.append(html_page.chart(charts.wer_vs_snr(self.snr), "chart-wer-snr"))
            sh, sr = snr_rows(self.snr)
            snr = (f'<h2>WER against SNR</h2><p class="note">{html_page.esc(SNR_NOTE)}</p>'
                   f'{t(sh, sr, "snr", text_columns=(0, 1, 2))}')
        if self.latency is not None and len(self.latency):
            plots.append(html_page.chart(charts.latency(self.latency, self.table, self.latency_short_only),
                                         "chart-latency"))
        langs = ""
        if self.languages is not None and len(self.languages):
            gh, gr = languages.language_rows(self.languages)
            langs = (f'<h2>Languages</h2><p class="note">{html_page.esc(languages.LANGUAGES_NOTE)}</p>'
                     f'{t(gh, gr, "languages", text_columns=(0, 1, 5))}')
            if self.confusions is not None and len(self.confusions):
                fh, fr = languages.confusion_rows(self.confusions)
                langs += f'<h3>Language confusions</h3>{t(fh, fr, "confusions", text_columns=(0, 1, 2))}'
        ch, cr = cell_rows(self.cells)
        text_cols = [0] + [i + 1 for i, (c, _) in enumerate(table_columns(self.table)) if c not in NUMERIC_COLUMNS]
        body = f"""<h1>{html_page.esc(self.title)}</h1>
<p class="note">Results: {html_page.esc(', '.join(self.sources))}. Relative latency against
<b>{html_page.esc(self.reference)}</b> (ratio of decode time over the cells both measured; below 1 is faster),
with a 95% interval that allows for run-to-run drift; one that includes 1 is marked not distinguishable.
Timing marks rows measured on a loaded machine or with a wide spread between repeats.
WER is corpus WER pooled over each algorithm's datasets; p50/p90 are per-utterance latencies (median over repeats)
of short-form utterances; RTFx is audio seconds per decode second over all cells. Format: what the runtime read
(and what it was converted from); quantization: what ran (and the weights' when they differ).
Click a column header to sort; type in the box above a table to filter its rows.</p>
<h2>Configurations</h2>
{t(headers, rows, "configurations", text_columns=text_cols)}
{lists}
<h2>Plots</h2>
{"".join(plots)}
{longform}
{langs}
{serving_html(self.serving, t)}
{self._word_timing_html()}
{snr}
<h2>Per-cell results</h2>
{t(ch, cr, "cells", text_columns=(0, 1, 2, 11, 12, 13))}
<h2>Environment</h2>
{t(ENV_HEADERS, _env_rows(self.environment), "environment", text_columns=range(len(ENV_HEADERS)))}
<p class="note">Generated by whisperbench on {html_page.esc(datetime.now().isoformat(timespec='seconds'))}.</p>"""
        return html_page.page(self.title, body, charts=True)


def build_report(paths, *, reference: str | int | None = None, title: str | None = None) -> Report:
    """Read results (a file, a folder, or a list) and compute the report's tables."""
    from whisperbench.bench.plots import latency_groups
    from whisperbench.bench.store import read_results

    if isinstance(paths, (str, Path)):
        paths = [paths]
    df = read_results(paths)
    if df.empty:
        raise WhisperbenchError(f"no measurement rows in {', '.join(map(str, paths))}")
    from whisperbench.bench.served import overhead_rows

    cells = cell_summary(df)
    table, ref = configuration_table(df, reference, cells=cells)
    failures = []
    failed = df[df["status"] == "failed"]
    if len(failed):
        for (run_id, cell_id), g in failed.groupby(["run_id", "cell_id"], sort=False):
            lab = cells[(cells["run_id"] == run_id) & (cells["cell_id"] == cell_id)]
            name = f"{lab['configuration'].iloc[0]} · {g['dataset'].iloc[0]}/{g['algorithm'].iloc[0]}" if len(lab) else cell_id
            failures.append(f"{name}: {len(g)} failed row(s), last: {g['error'].iloc[-1]}")
    suites = sorted({str(s) for s in df["suite"].dropna().unique()})
    lat, short_only = latency_groups(df, cells)
    langs, confused = languages.language_table(df, cells), languages.confusion_table(df, cells)
    return Report(table=table, cells=cells, environment=environment_summary(paths, df), reference=ref,
                  title=title or f"whisperbench report: {', '.join(suites)}", sources=[str(p) for p in paths],
                  serving=overhead_rows(df),
                  latency=lat, latency_short_only=short_only, languages=langs, confusions=confused,
                  failures=failures, warnings=reference_warnings(df),
                  notes=repeated_runs_notes(cells), snr=wer_by_snr(cells, table))


def write_report(paths, output_dir: str | Path, *, reference: str | int | None = None, title: str | None = None,
                 plots: bool = True) -> tuple[Report, dict[str, Path]]:
    """Write report.md (with the PNG plots beside it) and the interactive report.html into
    `output_dir`; return the report and {kind: path} of what was written."""
    from whisperbench.bench import plots as plotting
    from whisperbench.files import output_folder

    out = output_folder(output_dir, "report folder")  # before the results are read
    report = build_report(paths, reference=reference, title=title)
    out.mkdir(parents=True, exist_ok=True)
    written: dict[str, Path] = {}
    if plots:
        pngs = [("wer_vs_rtfx", "WER against RTFx per algorithm (Pareto front marked)",
                 lambda p: plotting.wer_vs_rtfx(report.table, p))]
        if len(plotting.longform_pairs(report.table)):
            pngs.append(("longform", "Sequential against chunked long-form",
                         lambda p: plotting.longform_comparison(report.table, p)))
        if report.snr is not None and len(report.snr):
            pngs.append(("wer_vs_snr", "WER against SNR per configuration",
                         lambda p: plotting.wer_vs_snr(report.snr, p)))
        pngs.append(("latency", "Per-utterance latency by configuration",
                     lambda p: plotting.latency_distributions(report.latency, report.latency_short_only, p,
                                                              table=report.table)))
        for kind, caption, draw in pngs:
            written[kind] = report.images[caption] = draw(out / f"{kind}.png")
    md = out / "report.md"
    md.write_text(report.markdown(), encoding="utf-8")
    written["markdown"] = md
    h = out / "report.html"
    h.write_text(report.html(), encoding="utf-8")
    written["html"] = h
    return report, written
