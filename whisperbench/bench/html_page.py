"""Self-contained HTML pages (the report, the history): tables the reader can sort and
filter, interactive charts, and nothing fetched from elsewhere.

- `table(headers, rows)`: a `<table class="sortable">` with a filter box above it. A click on
  a column header sorts the rows by that column (again: reversed); numbers sort as numbers
  (`12.5%`, `0.55× [...]`, `3.1`), missing values (`–`) last, the rest as text. The filter
  box keeps the rows that contain every word typed in it.
- `chart(figure, div_id)`: a Plotly figure as a `<div>` (hover, zoom); `page()` inlines
  plotly.js once when the page has a chart, so the file works offline (`file://`, an
  artifact, GitHub Pages).

The sorting and filtering script is ours (`SORT_FILTER_JS`, a few lines); the charts are
Plotly's.
"""

from __future__ import annotations

import html
from typing import Any, Sequence

CSS = """
body { font-family: system-ui, sans-serif; margin: 2em; color: #222; }
table { border-collapse: collapse; margin: 0.3em 0 1em; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 0.3em 0.6em; text-align: right; }
th { background: #f3f3f3; }
table.sortable th { cursor: pointer; user-select: none; }
table.sortable th[aria-sort=ascending]::after { content: " ▲"; }
table.sortable th[aria-sort=descending]::after { content: " ▼"; }
td:first-child, th:first-child, td.text, th.text { text-align: left; }
input.table-filter { margin-top: 0.5em; padding: 0.2em 0.4em; width: 20em; }
figure { display: inline-block; margin: 1em; }
div.chart { margin: 1em 0; }
div.table-wrap { overflow-x: auto; max-width: 100%; }
p.note { color: #555; max-width: 60em; }
tr.regression td { background: #fde8e8; }
"""

# Sort on a header click, filter on typing. Numbers: a leading number followed by a unit
# or the end (so a run id such as "3fa9..." stays text).
SORT_FILTER_JS = r"""
(function () {
  var NUM = /^([-+]?[0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)(?=$|[\s%×(\[]|s$|MB$)/;
  function key(cell) {
    var text = (cell.getAttribute("data-sort") || cell.textContent).trim();
    if (text === "" || text === "–") return null;
    var m = NUM.exec(text);
    return m ? parseFloat(m[1]) : text.toLowerCase();
  }
  function compare(a, b) {
    if (typeof a === "number" && typeof b === "number") return a - b;
    if (typeof a === "number") return -1;
    if (typeof b === "number") return 1;
    return a < b ? -1 : a > b ? 1 : 0;
  }
  document.querySelectorAll("table.sortable").forEach(function (table) {
    var heads = table.tHead.rows[0].cells;
    Array.prototype.forEach.call(heads, function (th, col) {
      th.addEventListener("click", function () {
        var dir = th.getAttribute("aria-sort") === "ascending" ? -1 : 1;
        Array.prototype.forEach.call(heads, function (h) { h.removeAttribute("aria-sort"); });
        th.setAttribute("aria-sort", dir === 1 ? "ascending" : "descending");
        var body = table.tBodies[0];
        var rows = Array.prototype.slice.call(body.rows).map(function (r, i) {
          return { row: r, key: key(r.cells[col]), i: i };
        });
        rows.sort(function (a, b) {
          if (a.key === null || b.key === null) return (a.key === null) - (b.key === null) || a.i - b.i;
          return dir * compare(a.key, b.key) || a.i - b.i;
        });
        rows.forEach(function (r) { body.appendChild(r.row); });
      });
    });
  });
  document.querySelectorAll("input.table-filter").forEach(function (input) {
    var table = document.getElementById(input.getAttribute("data-table"));
    input.addEventListener("input", function () {
      var words = input.value.toLowerCase().split(/\s+/).filter(Boolean);
      Array.prototype.forEach.call(table.tBodies[0].rows, function (r) {
        var text = r.textContent.toLowerCase();
        r.style.display = words.every(function (w) { return text.indexOf(w) >= 0; }) ? "" : "none";
      });
    });
  });
})();
"""


def esc(text: Any) -> str:
    return html.escape(str(text))


def table(headers: Sequence[str], rows: Sequence[Sequence[str]], table_id: str, *, text_columns: Sequence[int] = (0,),
          row_classes: Sequence[str] | None = None, filter_box: bool = True) -> str:
    """A sortable table (and its filter box); `text_columns`: left-aligned columns."""
    text = set(text_columns)
    head = "".join(f'<th{" class=text" if i in text else ""}>{esc(h)}</th>' for i, h in enumerate(headers))
    body = []
    for n, r in enumerate(rows):
        cls = f' class="{esc(row_classes[n])}"' if row_classes and row_classes[n] else ""
        body.append(f"<tr{cls}>" + "".join(f'<td{" class=text" if i in text else ""}>{esc(c)}</td>'
                                          for i, c in enumerate(r)) + "</tr>")
    box = (f'<input type="search" class="table-filter" data-table="{esc(table_id)}" '
           f'placeholder="filter rows: type words" aria-label="filter {esc(table_id)}">' if filter_box else "")
    return (f'{box}<div class="table-wrap"><table class="sortable" id="{esc(table_id)}"><thead><tr>{head}</tr>'
            f'</thead><tbody>{"".join(body)}</tbody></table></div>')


def chart(figure, div_id: str) -> str:
    """A Plotly figure as a `<div class="chart">`; plotly.js itself is inlined by `page`."""
    import plotly.io as pio

    inner = pio.to_html(figure, full_html=False, include_plotlyjs=False, div_id=div_id,
                        config={"displaylogo": False, "responsive": True})
    return f'<div class="chart">{inner}</div>'


def page(title: str, body: str, *, charts: bool) -> str:
    """The whole document: our CSS and script, and plotly.js inlined when `charts`."""
    plotly_js = ""
    if charts:
        from plotly.offline import get_plotlyjs

        plotly_js = f'<script type="text/javascript">{get_plotlyjs()}</script>'
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{esc(title)}</title>
<style>{CSS}</style>
{plotly_js}
</head><body>
{body}
<script>{SORT_FILTER_JS}</script>
</body></html>
"""
