"""Typed records, the one definition of cell identity, and the migration of version-1 files
(whisperbench.bench.records)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.bench.results_data import BASELINE, baseline_records
from whisperbench.bench import records, store
from whisperbench.bench.records import (
    CELL_IDENTITY,
    CONFIGURATION_FIELDS,
    SCHEMA_VERSION,
    CellRecord,
    Failure,
    Measurement,
    SyntheticRow,
    canon,
    identity_key,
    migrate,
    update_to_2,
)


# ----- the committed version-1 baseline --------------------------------------------------


def test_committed_baseline_is_version_1_and_loads_migrated():
    raw = baseline_records()
    assert {r["schema_version"] for r in raw} == {1}  # the file this test is about
    assert any("cpu_count" in r for r in raw if r["record"] == "measurement")
    recs = store.read_records(BASELINE)
    assert len(recs) == len(raw) and {r["schema_version"] for r in recs} == {SCHEMA_VERSION}
    rows = [r for r in recs if r["record"] == "measurement"]
    assert rows and all("cpu_count" not in r and r["cpus_logical"] == 2 for r in rows)
    for rec in recs:
        typed = records.from_dict(rec)
        if rec["record"] in ("measurement", "cell"):
            # Every field a version-1 row carries is declared: nothing is left untyped.
            assert isinstance(typed, (Measurement, CellRecord)) and typed.extra == {}, typed.extra
            back = typed.to_dict()
            assert {k: v for k, v in rec.items() if k != "_file"}.items() <= back.items()


def test_committed_baseline_rows_read_as_no_initial_prompt_with_their_stored_hash():
    """Options added later (DecodeOptions.initial_prompt) need no migration: a row written
    before reads back with the option at its default, and its stored options_hash is still
    the hash of those options, so old and new rows of one cell stay one cell."""
    from whisperbench.options import DecodeOptions

    rows = [r for r in store.read_records(BASELINE) if r.get("options_hash")]
    assert rows and all("initial_prompt" not in r["options"] for r in rows)  # written before the option
    for row in rows:
        options = DecodeOptions.from_dict(row["options"])
        assert options.initial_prompt is None and options.hash() == row["options_hash"]


def test_committed_baseline_still_reports_and_compares_against_itself():
    from whisperbench.bench.compare import compare
    from whisperbench.bench.report import build_report

    rep = build_report(BASELINE)
    assert len(rep.table) >= 1 and "ctranslate2" in rep.markdown()
    assert "(2 CPUs" in rep.markdown()  # the environment table
    c = compare(BASELINE, BASELINE, bootstrap=200)
    assert c.exit_code == 0 and c.cells and not c.missing and not c.new
    assert not c.warnings  # same hardware on both sides (cpus_logical read from cpu_count)


# ----- a constructed version-1 row set ---------------------------------------------------


def _v1_rows(n_utts: int = 4, repeats: int = 2, seconds: float = 0.5, load_extra=None) -> list[dict]:
    """Rows as version 1 wrote them: `cpu_count`, `load_extra` possibly absent."""
    rows = [{"schema_version": 1, "record": "run", "run_id": "r1", "suite": "s", "suite_hash": "h"}]
    for u in range(n_utts):
        for rep in range(repeats):
            row = {
                "schema_version": 1, "run_id": "r1", "cell_id": "c1", "suite": "s", "backend": "dummy",
                "runtime_version": "1", "model": "m", "model_format": "dummy", "weights_quantization": None,
                "compute_type": "default", "quantization": "default", "device": "cpu", "threads": 0,
                "dataset": "d", "dataset_kind": "folder", "dataset_path": "/x", "dataset_hash": "dh",
                "algorithm": "short", "variant": "default", "options_hash": "oh", "options": {},
                "hostname": "h", "cpu_model": "cpu", "cpu_count": 8, "gpu_name": None, "gpu_driver": None,
                "packages": {}, "git_commit": "g", "git_dirty": False,
                "record": "measurement", "status": "ok", "utterance_id": f"u{u}", "repeat": rep,
                "reference": "a b c d", "hypothesis": "a b c d", "reference_normalized": "a b c d",
                "hypothesis_normalized": "a b c d", "ref_words": 4, "hits": 4, "substitutions": 0,
                "deletions": 0, "insertions": 0, "wer": 0.0, "ref_chars": 7, "char_edits": 0, "cer": 0.0,
                "repeated_5gram_share": 0.0, "language": "en", "n_segments": 1, "audio_seconds": 2.0,
                "decode_seconds": seconds * (1 + 0.01 * rep), "call_seconds": seconds, "rtfx": 2.0 / seconds,
                "tokens": 5, "tokens_per_second": 10.0, "load_seconds": 0.1, "peak_rss_mb": 100.0,
                "gpu_peak_mb": None, "timestamp": "2026-01-01T00:00:00",
            }
            if load_extra is not None:
                row["load_extra"] = load_extra
            rows.append(row)
    return rows


def _write_raw(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def test_update_to_2_renames_what_changed_meaning():
    suite_row = {"schema_version": 1, "record": "measurement", "cpu_count": 16, "decode_seconds": 1.0}
    synth = {"schema_version": 1, "record": "synthetic", "cpu_count": 4, "decode_seconds": 0.2,
             "decode_seconds_all": [0.2, 0.21], "total_seconds": 0.5}
    a, b = update_to_2(suite_row), update_to_2(synth)
    # A suite row's decode_seconds is the whole decode, and stays; its cpu_count was logical CPUs.
    assert a == {"schema_version": 2, "record": "measurement", "cpus_logical": 16, "decode_seconds": 1.0}
    # A synthetic row's was the decoder alone, and its cpu_count the affinity.
    assert b == {"schema_version": 2, "record": "synthetic", "cpus_usable": 4, "decoder_seconds": 0.2,
                 "decoder_seconds_all": [0.2, 0.21], "total_seconds": 0.5}
    assert suite_row["cpu_count"] == 16  # the input is not modified
    assert migrate(b) == {**b, "schema_version": SCHEMA_VERSION}  # later steps leave a synthetic row as is
    assert migrate({"record": "failure", "cpu_count": 2})["cpus_logical"] == 2  # no version: version 1
    typed = SyntheticRow.from_dict(b)
    assert typed.decoder_seconds == 0.2 and typed.cpus_usable == 4 and typed.total_seconds == 0.5
    assert typed.extra == {}


def test_v1_file_compares_with_a_v2_file_of_the_same_cell(tmp_path):
    """A version-1 file (no load_extra, cpu_count) against the same cell written now through
    the typed records (load_extra {}, cpus_logical): one cell, same hardware, no regression."""
    from whisperbench.bench.compare import compare

    old = _write_raw(tmp_path / "old.jsonl", _v1_rows())
    new_path = tmp_path / "new.jsonl"
    with store.ResultWriter(new_path, new=True) as w:
        w.write({"record": "run", "run_id": "r2", "suite": "s", "suite_hash": "h"})
        for r in _v1_rows()[1:]:
            r = migrate(r)
            r.update(run_id="r2", load_extra={})
            w.write(Measurement.from_dict(r))
    written = [json.loads(x) for x in new_path.read_text().splitlines()]
    assert all(x["schema_version"] == SCHEMA_VERSION for x in written)
    assert all(x.get("cpus_logical") == 8 and "cpu_count" not in x for x in written[1:])
    c = compare(old, new_path, bootstrap=200)
    assert c.exit_code == 0, c.markdown()
    assert len(c.cells) == 1 and not c.new and not c.missing
    assert c.cells[0].speed_comparable and not c.warnings


def test_v1_file_still_reports(tmp_path):
    from whisperbench.bench.report import build_report

    old = _write_raw(tmp_path / "old.jsonl", _v1_rows(load_extra={"x": 1}))
    rep = build_report(old)
    assert len(rep.table) == 1 and rep.table["rtfx"].iloc[0] == pytest.approx(2.0 / 0.5, rel=0.02)
    assert "x=1" in rep.table["configuration"].iloc[0]


def test_a_file_newer_than_this_reader_is_refused(tmp_path):
    from whisperbench.errors import WhisperbenchError

    p = _write_raw(tmp_path / "future.jsonl", [{"schema_version": SCHEMA_VERSION + 1, "record": "run"}])
    with pytest.raises(WhisperbenchError, match="newer"):
        store.read_records(p)


# ----- one identity, one canonicalisation ------------------------------------------------


def test_every_consumer_uses_the_one_identity():
    from whisperbench.bench import aggregate, compare

    assert store.CELL_COLUMNS is records.CELL_COLUMNS
    assert set(CELL_IDENTITY) <= set(store.CELL_COLUMNS)
    assert set(CONFIGURATION_FIELDS) < set(CELL_IDENTITY)
    assert not hasattr(compare, "MATCH_FIELDS") and not hasattr(aggregate, "CONFIG_FIELDS")
    for module in (aggregate, compare):
        assert not hasattr(module, "_canon")
    with pytest.raises(Exception, match="valid: " + ", ".join(CELL_IDENTITY)):
        compare.compare(None, None, ignore=["nonsense"])


def test_canon_treats_every_kind_of_missing_alike():
    assert canon(None) == canon(float("nan")) == canon({}) == canon([]) == canon(()) == ""
    assert canon({"b": 1, "a": 2}) == canon({"a": 2, "b": 1}) == '{"a": 2, "b": 1}'
    assert canon(0) == "0" and canon("None") == "None"


identity_values = st.one_of(
    st.none(), st.just(float("nan")), st.integers(-3, 3), st.text(max_size=4),
    st.dictionaries(st.sampled_from("abc"), st.integers(0, 2), max_size=2),
)


@settings(max_examples=60, deadline=None)
@given(st.fixed_dictionaries({f: identity_values for f in CELL_IDENTITY}),
       st.fixed_dictionaries({f: identity_values for f in CELL_IDENTITY}))
def test_report_and_compare_agree_on_same_cell(a, b):
    """Two rows are the same cell for compare exactly when their identity keys are equal, and
    then they are always one configuration for the report."""
    import pandas as pd

    from whisperbench.bench.compare import _index_cells

    rows = []
    for i, ident in enumerate((a, b)):
        rows.append({**ident, "run_id": "r", "cell_id": f"c{i}", "dataset_hash": "h", "utterance_id": "u",
                     "status": "ok"})
    df = pd.DataFrame.from_records(rows)
    cells = _index_cells(df, "baseline", list(CELL_IDENTITY), problems=[])
    same = identity_key(a) == identity_key(b)
    assert (len(cells) == 1) == same
    if same:
        assert identity_key(a, CONFIGURATION_FIELDS) == identity_key(b, CONFIGURATION_FIELDS)


# ----- the records themselves ------------------------------------------------------------


@settings(max_examples=40, deadline=None)
@given(cls=st.sampled_from([Measurement, Failure, CellRecord, SyntheticRow]),
       known=st.dictionaries(st.sampled_from(["cell_id", "run_id", "load_seconds", "timestamp", "status"]),
                             st.one_of(st.none(), st.text(max_size=5)), max_size=3),
       unknown=st.dictionaries(st.text("xyz", min_size=1, max_size=3), st.integers(), max_size=2))
def test_records_round_trip_through_the_store_form(cls, known, unknown, tmp_path_factory):
    declared = {f for f in cls.__dataclass_fields__}
    known = {k: v for k, v in known.items() if k in declared}
    rec = cls(**known, extra=unknown)
    d = rec.to_dict()
    assert d["record"] == cls.KIND and d["schema_version"] == SCHEMA_VERSION
    assert cls.from_dict(d) == rec
    p = tmp_path_factory.mktemp("rt") / "r.jsonl"
    store.write(p, rec)
    (back,) = store.read_records(p)
    assert records.from_dict(back) == rec


def test_a_field_a_record_does_not_declare_is_an_error_when_built():
    with pytest.raises(TypeError):
        Measurement(cpu_count=4)  # the version-1 name: rows are built with cpus_logical
    with pytest.raises(TypeError):
        SyntheticRow(decode_seconds=0.1)  # the decoder alone is decoder_seconds
