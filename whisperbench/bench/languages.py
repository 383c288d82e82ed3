"""Per-language accuracy and language identification, from stored rows whose dataset states
each utterance's language (`reference_language`).

- WER and CER per (configuration, language), pooled over the rows (errors / reference words
  or characters), and the language's primary metric (`whisperbench.text.primary_metric`:
  CER for languages written without spaces);
- language identification, over the rows decoded with no language given: the share whose
  detected language is the stated one, the mean probability the runtime gave its pick, and
  the confusions (spoken -> detected, with counts).

A configuration is the report's (`aggregate.cell_summary`). Rows of datasets that state no
language are left out.
"""

from __future__ import annotations

from typing import Any

from whisperbench.text import language_code, primary_metric

# (column, header) of the per-language table, in order.
LANGUAGE_COLUMNS = (
    ("configuration", "configuration"), ("language", "language"), ("n_utterances", "utterances"),
    ("wer", "WER"), ("cer", "CER"), ("primary", "primary"), ("lid_rows", "identified over"),
    ("lid_accuracy", "identification accuracy"), ("lid_probability", "mean probability"),
)
CONFUSION_COLUMNS = (("configuration", "configuration"), ("language", "spoken"), ("detected", "detected as"),
                     ("rows", "rows"))
ALL = "all"  # the row pooling every language of a configuration


def _rows_with_language(df, cells=None):
    """The ok rows that state a language, with their configuration label, whether the
    language was detected (no language given) and whether it was identified."""
    from whisperbench.bench.aggregate import cell_summary

    if df.empty or "reference_language" not in df:
        return df.iloc[0:0]
    ok = df[(df["status"] == "ok") & df["reference_language"].notna()].copy()
    if ok.empty:
        return ok
    cells = cell_summary(df) if cells is None else cells
    label = {(r, c): lab for r, c, lab in zip(cells["run_id"], cells["cell_id"], cells["configuration"])}
    ok["configuration"] = [label.get((r, c), "?") for r, c in zip(ok["run_id"], ok["cell_id"])]
    ok["spoken"] = ok["reference_language"].map(language_code)
    ok["heard"] = ok["language"].map(lambda x: language_code(x) if isinstance(x, str) else None)
    ok["detected"] = ok["options"].map(lambda o: not (isinstance(o, dict) and o.get("language")))
    ok["identified"] = ok["spoken"] == ok["heard"]
    return ok


def _numbers(g) -> dict[str, Any]:
    scored = g[g["ref_words"] > 0]
    words, chars = scored["ref_words"].sum(), scored["ref_chars"].sum()
    errors = scored["substitutions"].sum() + scored["deletions"].sum() + scored["insertions"].sum()
    detected = g[g["detected"]]
    probs = detected["language_probability"].dropna() if "language_probability" in detected else []
    return {
        "n_utterances": int(g["utterance_id"].nunique()),
        "wer": float(errors / words) if words else None,
        "cer": float(scored["char_edits"].sum() / chars) if chars else None,
        "lid_rows": len(detected),
        "lid_accuracy": float(detected["identified"].mean()) if len(detected) else None,
        "lid_probability": float(probs.mean()) if len(probs) else None,
    }


def language_table(df, cells=None):
    """One row per (configuration, language), then one per configuration over all its
    languages (language "all"); `primary` names the language's primary metric."""
    import pandas as pd

    ok = _rows_with_language(df, cells)
    out = []
    for config, c in (ok.groupby("configuration", sort=False) if len(ok) else ()):
        for lang, g in c.groupby("spoken", sort=True):
            out.append({"configuration": config, "language": lang, "primary": primary_metric(lang), **_numbers(g)})
        out.append({"configuration": config, "language": ALL, "primary": None, **_numbers(c)})
    return pd.DataFrame(out, columns=[c for c, _ in LANGUAGE_COLUMNS])


def confusion_table(df, cells=None):
    """Rows decoded with no language whose detected language is not the spoken one:
    (configuration, spoken, detected, rows), most frequent first within a configuration."""
    import pandas as pd

    ok = _rows_with_language(df, cells)
    out = []
    if len(ok):
        wrong = ok[ok["detected"] & ~ok["identified"]]
        for (config, spoken, heard), g in wrong.groupby(["configuration", "spoken", wrong["heard"].fillna("none")],
                                                        sort=False):
            out.append({"configuration": config, "language": spoken, "detected": heard, "rows": len(g)})
    table = pd.DataFrame(out, columns=[c for c, _ in CONFUSION_COLUMNS])
    if table.empty:
        return table
    order = {c: i for i, c in enumerate(dict.fromkeys(table["configuration"]))}
    table["_order"] = table["configuration"].map(order)
    return table.sort_values(["_order", "rows", "language"], ascending=[True, False, True],
                             kind="stable").drop(columns="_order").reset_index(drop=True)


def _text(column: str, value: Any) -> str:
    if value is None or value != value:
        return "–"
    if column in ("wer", "cer", "lid_accuracy"):
        return f"{100 * value:.1f}%"
    if column == "lid_probability":
        return f"{value:.2f}"
    return str(value)


def language_rows(table) -> tuple[list[str], list[list[str]]]:
    """The per-language table as text (the primary metric's value marked with *)."""
    headers = [h for _, h in LANGUAGE_COLUMNS]
    rows = []
    for _, r in table.iterrows():
        cells = []
        for c, _ in LANGUAGE_COLUMNS:
            text = _text(c, r[c])
            cells.append(text + "*" if c == r["primary"] and text != "–" else text)
        rows.append(cells)
    return headers, rows


def confusion_rows(table) -> tuple[list[str], list[list[str]]]:
    return [h for _, h in CONFUSION_COLUMNS], [[_text(c, r[c]) for c, _ in CONFUSION_COLUMNS]
                                               for _, r in table.iterrows()]


LANGUAGES_NOTE = (
    "Per language stated by the dataset. WER and CER pooled over the rows (each language normalized with "
    "Whisper's normalizer for it: English, or the basic one; Chinese in Simplified characters on both sides, "
    "by OpenCC); * marks the language's primary metric (CER "
    "where words are not written with spaces, CER then counted without spaces). Identification: rows decoded "
    "with no language given whose detected language is the spoken one; mean probability: what the runtime "
    "gave its pick."
)
