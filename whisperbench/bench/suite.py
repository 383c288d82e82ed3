"""Benchmark suites: a TOML file naming a matrix of engines (backend x model x compute
type x device x threads) x datasets x algorithms x decoding variants, with repeats and
warm-ups. Everything is validated before anything runs; all problems are reported in
one `WhisperbenchError`.

Suite file format::

    name = "default"
    repeats = 3          # measured passes over each dataset (>= 1)
    warmups = 1          # untimed decodes of the first utterance after loading (>= 0)
    timeout_s = 300      # a cell that reports nothing for this long is killed
    max_memory_mb = 0    # kill a cell whose RSS exceeds this (0: no limit)

    [decode]             # DecodeOptions for every cell (the algorithm comes from the dataset)
    language = "en"

    [algorithm_options.chunked]   # extra DecodeOptions for one algorithm
    batch_size = 1

    [[variants]]         # optional decoding variants, each merged over [decode]
    name = "beam5"
    beam_size = 5

    [[engines]]
    backend = "ctranslate2"
    model = "fixture:tiny.en"
    compute_type = "int8"          # a value or a list (each is its own cell)
    device = "cpu"                 # a value or a list
    threads = 0                    # a value or a list
    extra = {}                     # backend-specific LoadOptions.extra
    serve = false                  # true: run it behind `whisperbench serve` (a child process on a free
                                   # loopback port per cell), measured through the openai-api client

    [cluster]            # optional: where cells may run with `--executor ray` (not part of the suite's hash)
    resources = { H100 = 1 }   # custom Ray resources every cell asks for (a node pool)
    share_nodes = false        # true: cells may be timed side by side on one node

    [[datasets]]
    name = "librispeech"
    kind = "librispeech"           # librispeech | manifest | hf
    path = "${speech}/librispeech/LibriSpeech"   # ${speech}: whisperbench.paths.speech_dir()
    algorithms = ["short"]
    # decode = { word_timestamps = true }   # optional: DecodeOptions for this dataset's cells only
    # optional: limit, subset = [ids], split, config, streaming, audio_column,
    # text_column, id_column, longform = { target_seconds = 60, min_seconds = 0, gap_seconds = 0 }
    # kind = "perturb": perturb = { kind = "snr", snr_db = 10, noise = "pink", seed = 0 } (bench.perturb)
    # and source = { kind = "librispeech", path = ... } (no source for silence / white / pink / brown)

Relative paths are relative to the suite file's folder.
"""

from __future__ import annotations

import itertools
import tomllib
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from whisperbench.bench import datasets as ds
from whisperbench.errors import WhisperbenchError
from whisperbench.files import input_file
from whisperbench.options import ALGORITHMS, DecodeOptions, LoadOptions, stable_hash
from whisperbench.paths import speech_dir

SUITE_KEYS = {"name", "repeats", "warmups", "timeout_s", "max_memory_mb", "decode", "algorithm_options", "scenarios",
              "variants", "engines", "datasets", "description", "cluster"}
CLUSTER_KEYS = {"resources", "share_nodes"}
ENGINE_KEYS = {"backend", "model", "compute_type", "device", "threads", "extra", "serve"}
DATASET_KEYS = {"name", "kind", "path", "algorithms", "limit", "subset", "split", "config", "streaming",
                "audio_column", "text_column", "id_column", "longform", "parts", "perturb", "source", "decode"}


@dataclass(frozen=True)
class Engine:
    backend: str  # canonical registry name
    model: str
    load_options: LoadOptions
    # Behind `whisperbench serve`, measured through the openai-api client (engine `serve = true`).
    served: bool = False

    def identity(self) -> dict[str, Any]:
        # (served only when true: the identity, and so the cell ids, of in-process engines are unchanged)
        return {"backend": self.backend, "model": self.model, **self.load_options.to_dict(),
                **({"served": True} if self.served else {})}


@dataclass
class Cell:
    """One (engine, dataset, algorithm, decoding variant): one child process."""

    engine: Engine
    dataset: ds.Dataset
    options: DecodeOptions
    variant: str

    @property
    def identity(self) -> dict[str, Any]:
        return {
            **self.engine.identity(),
            "dataset": self.dataset.name,
            "dataset_hash": self.dataset.content_hash,
            "algorithm": self.options.algorithm,
            "variant": self.variant,
            "options_hash": self.options.hash(),
        }

    @property
    def cell_id(self) -> str:
        return stable_hash(self.identity)

    @property
    def label(self) -> str:
        lo = self.engine.load_options
        parts = [self.engine.backend, self.engine.model, lo.compute_type, lo.device]
        if lo.threads:
            parts.append(f"{lo.threads}t")
        if self.engine.served:
            parts.append("served")
        parts += [self.dataset.name, self.options.algorithm]
        if self.variant != "default":
            parts.append(self.variant)
        return " ".join(str(p) for p in parts)


@dataclass
class Suite:
    name: str
    repeats: int
    warmups: int
    timeout_s: float
    max_memory_mb: float
    cells: list[Cell]
    source: str  # file path or "<quick>"
    definition: dict[str, Any] = field(repr=False, default_factory=dict)
    # Placement on a cluster ([cluster]: resources, share_nodes): where cells run, not what
    # they measure, so not in `definition` (a run resumes on another executor).
    cluster: dict[str, Any] = field(default_factory=dict)

    @property
    def suite_hash(self) -> str:
        return stable_hash({"definition": self.definition, "cells": [c.cell_id for c in self.cells]})

    def settings(self) -> dict[str, Any]:
        return {"repeats": self.repeats, "warmups": self.warmups, "timeout_s": self.timeout_s,
                "max_memory_mb": self.max_memory_mb}


def default_suite_path() -> Path:
    return Path(str(resources.files("whisperbench.bench") / "suites" / "default.toml"))


def resolve_suite_path(name_or_path: str) -> Path:
    """A suite file path, or the name of a packaged suite ("default")."""
    p = Path(name_or_path).expanduser()
    if p.is_file():
        return p
    packaged = Path(str(resources.files("whisperbench.bench") / "suites" / f"{name_or_path}.toml"))
    if packaged.is_file():
        return packaged
    return input_file(p, "suite file")  # raises: a folder, or not found


def load_suite(path: str | Path, *, devices_here: bool = True, **overrides: Any) -> Suite:
    path = resolve_suite_path(str(path))
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise WhisperbenchError(f"suite {path}: malformed TOML: {exc}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise WhisperbenchError(f"suite {path}: cannot read: {exc}") from None
    return build_suite(data, base_dir=path.parent, source=str(path), devices_here=devices_here, **overrides)


def build_suite(data: dict[str, Any], *, base_dir: Path | None = None, source: str = "<quick>",
                devices_here: bool = True, **overrides: Any) -> Suite:
    """Validate a suite definition, load dataset indexes, check every cell against its
    backend's capabilities. Raises one WhisperbenchError listing every problem.
    `devices_here=False`: the cells run elsewhere (a Ray cluster), so a device this
    machine lacks is no error here (the node that runs the cell checks it)."""
    data = dict(data)
    for k, v in overrides.items():
        if v is not None:
            data[k] = v
    problems: list[str] = []
    base_dir = base_dir or Path.cwd()

    unknown = sorted(set(data) - SUITE_KEYS)
    if unknown:
        problems.append(f"unknown key(s) {', '.join(unknown)}; valid: {', '.join(sorted(SUITE_KEYS))}")
    name = str(data.get("name") or Path(source).stem)
    repeats = _int(data.get("repeats", 3), "repeats", 1, problems)
    warmups = _int(data.get("warmups", 1), "warmups", 0, problems)
    timeout_s = _num(data.get("timeout_s", 600), "timeout_s", problems, positive=True)
    max_memory_mb = _num(data.get("max_memory_mb", 0), "max_memory_mb", problems)

    # Decoding variants.
    base = data.get("decode", {})
    per_alg = data.get("algorithm_options", {})
    if not isinstance(base, dict):
        problems.append("[decode] must be a table of decoding options")
        base = {}
    if not isinstance(per_alg, dict) or any(k not in ALGORITHMS or not isinstance(v, dict) for k, v in per_alg.items()):
        problems.append(f"[algorithm_options] must hold tables named after algorithms ({', '.join(ALGORITHMS)})")
        per_alg = {}
    if "algorithm" in base:
        problems.append("[decode] must not set algorithm: each dataset lists its algorithms")
    variants_raw = data.get("variants") or [{"name": "default"}]
    variants: list[tuple[str, dict]] = []
    for i, v in enumerate(variants_raw):
        if not isinstance(v, dict):
            problems.append(f"variants[{i}] must be a table")
            continue
        v = dict(v)
        vname = str(v.pop("name", f"variant{i}"))
        variants.append((vname, {**base, **v}))
    if len({n for n, _ in variants}) != len(variants):
        problems.append("variant names must be unique")

    cluster = _cluster(data.get("cluster", {}), problems)
    engines = _engines(data.get("engines"), problems, devices_here)
    datasets = _datasets(data.get("datasets"), base_dir, problems)

    cells: list[Cell] = []
    if not problems:
        for engine, (dset, algorithms, dopts), (vname, vopts) in itertools.product(engines, datasets, variants):
            for alg in algorithms:
                try:
                    opts = DecodeOptions.from_dict({**vopts, **per_alg.get(alg, {}), **dopts, "algorithm": alg})
                except (WhisperbenchError, TypeError) as exc:
                    problems.append(f"variant {vname!r}, algorithm {alg!r}: {exc}")
                    continue
                try:
                    from whisperbench import backends

                    backends.get(engine.backend).check_options(opts)
                except WhisperbenchError as exc:
                    problems.append(f"{engine.backend} on dataset {dset.name!r}: {exc}")
                    continue
                cells.append(Cell(engine, dset, opts, vname))
        ids = [c.cell_id for c in cells]
        if len(set(ids)) != len(ids):
            problems.append("the suite lists the same cell twice (identical engine, dataset, algorithm and options)")
    if problems:
        raise WhisperbenchError(f"invalid suite {source}:\n  - " + "\n  - ".join(dict.fromkeys(problems)))
    definition = {k: v for k, v in data.items() if k != "cluster"}
    return Suite(name, repeats, warmups, timeout_s, max_memory_mb, cells, source, definition, cluster)


def _int(value: Any, what: str, minimum: int, problems: list[str]) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        problems.append(f"{what} must be an integer >= {minimum}, got {value!r}")
        return minimum
    return value


def _num(value: Any, what: str, problems: list[str], positive: bool = False) -> float:
    if not isinstance(value, (int, float)) or isinstance(value, bool) or value < 0 or (positive and value == 0):
        problems.append(f"{what} must be a number {'> 0' if positive else '>= 0'}, got {value!r}")
        return 1.0
    return float(value)


def _cluster(raw: Any, problems: list[str]) -> dict[str, Any]:
    if not isinstance(raw, dict):
        problems.append("[cluster] must be a table (resources, share_nodes)")
        return {}
    unknown = sorted(set(raw) - CLUSTER_KEYS)
    if unknown:
        problems.append(f"[cluster]: unknown key(s) {', '.join(unknown)}; valid: {', '.join(sorted(CLUSTER_KEYS))}")
    resources = raw.get("resources", {})
    if not isinstance(resources, dict) or not all(
            isinstance(v, (int, float)) and not isinstance(v, bool) and v > 0 for v in resources.values()):
        problems.append(f"[cluster] resources must map resource names to amounts > 0, got {resources!r}")
        resources = {}
    share = raw.get("share_nodes", False)
    if not isinstance(share, bool):
        problems.append(f"[cluster] share_nodes must be true or false, got {share!r}")
        share = False
    return {"resources": dict(resources), "share_nodes": share}


def _listify(v: Any) -> list:
    return list(v) if isinstance(v, list) else [v]


def _engines(raw: Any, problems: list[str], devices_here: bool = True) -> list[Engine]:
    from whisperbench import backends, models

    if not raw or not isinstance(raw, list):
        problems.append("the suite needs at least one [[engines]] entry (backend, model)")
        return []
    out: list[Engine] = []
    for i, e in enumerate(raw):
        where = f"engines[{i}]"
        if not isinstance(e, dict):
            problems.append(f"{where} must be a table")
            continue
        unknown = sorted(set(e) - ENGINE_KEYS)
        if unknown:
            problems.append(f"{where}: unknown key(s) {', '.join(unknown)}; valid: {', '.join(sorted(ENGINE_KEYS))}")
        if "backend" not in e or "model" not in e:
            problems.append(f"{where}: needs backend and model")
            continue
        try:
            cls = backends.get(str(e["backend"]))  # unknown or not installed: clear error here
        except WhisperbenchError as exc:
            problems.append(f"{where}: {exc}")
            continue
        try:
            if cls.capabilities.model_format != "none":  # not the dummy's name or an endpoint's URL
                models.resolve(str(e["model"]))
        except WhisperbenchError as exc:
            problems.append(f"{where}: {exc}")
            continue
        extra = e.get("extra", {})
        if not isinstance(extra, dict):
            problems.append(f"{where}: extra must be a table")
            continue
        serve = e.get("serve", False)
        if serve not in (True, False):
            problems.append(f"{where}: serve must be true or false, got {serve!r}")
            continue
        if serve and cls.name == "openai-api":
            problems.append(f"{where}: serve = true starts whisperbench serve for a backend; openai-api is already "
                            "a client of an endpoint")
            continue
        if serve:
            from whisperbench import serve as serving

            if serving.missing_modules():
                problems.append(f"{where}: serve = true needs {', '.join(serving.missing_modules())}, which is not "
                                f"installed; install it with: {serving.INSTALL_HINT}")
                continue
        for ct, dev, th in itertools.product(
            _listify(e.get("compute_type", "default")), _listify(e.get("device", "cpu")), _listify(e.get("threads", 0))
        ):
            try:
                lo = cls.resolve_load_options(LoadOptions(device=str(dev), compute_type=str(ct), threads=th, extra=extra),
                                              device_here=devices_here)
            except WhisperbenchError as exc:
                problems.append(f"{where}: {exc}")
                continue
            out.append(Engine(cls.name, str(e["model"]), lo, served=serve))
    return out


def expand_path(value: str, base_dir: Path) -> str:
    value = value.replace("${speech}", str(speech_dir()))
    if value.startswith("hf://"):
        return value[len("hf://"):]
    p = Path(value).expanduser()
    if not p.is_absolute():
        p = base_dir / p
    return str(p)


def _datasets(raw: Any, base_dir: Path, problems: list[str]) -> list[tuple[ds.Dataset, list[str], dict[str, Any]]]:
    """(dataset, its algorithms, its own decoding options) of each [[datasets]] entry."""
    if not raw or not isinstance(raw, list):
        problems.append("the suite needs at least one [[datasets]] entry (name, kind, path, algorithms)")
        return []
    out = []
    names = set()
    for i, d in enumerate(raw):
        where = f"datasets[{i}]"
        if not isinstance(d, dict):
            problems.append(f"{where} must be a table")
            continue
        where = f"dataset {d.get('name', i)!r}"
        unknown = sorted(set(d) - DATASET_KEYS)
        if unknown:
            problems.append(f"{where}: unknown key(s) {', '.join(unknown)}; valid: {', '.join(sorted(DATASET_KEYS))}")
            continue
        needs = {"join": ("parts",), "perturb": ("perturb",)}.get(d.get("kind"), ("path",))
        missing = [k for k in ("name", "kind", *needs) if k not in d]
        if missing:
            problems.append(f"{where}: needs {', '.join(missing)}")
            continue
        if d["name"] in names:
            problems.append(f"{where}: dataset names must be unique")
            continue
        names.add(d["name"])
        algorithms = _listify(d.get("algorithms", ["short"]))
        bad = [a for a in algorithms if a not in ALGORITHMS]
        if bad or not algorithms:
            problems.append(f"{where}: algorithms must be a list from {', '.join(ALGORITHMS)}, got {algorithms!r}")
            continue
        decode = d.get("decode", {})
        if not isinstance(decode, dict) or "algorithm" in decode:
            problems.append(f"{where}: decode must be a table of decoding options (not algorithm: use algorithms)")
            continue
        try:
            spec = dataset_spec(d, base_dir)
            dataset = ds.load(spec)
        except (WhisperbenchError, TypeError, ValueError) as exc:
            problems.append(f"{where}: {exc}")
            continue
        out.append((dataset, algorithms, decode))
    return out


def dataset_spec(d: dict[str, Any], base_dir: Path) -> ds.DatasetSpec:
    d = {k: v for k, v in d.items() if k not in ("algorithms", "decode")}
    kind = d["kind"]
    if kind not in ds.DATASET_KINDS:
        raise WhisperbenchError(f"unknown kind {kind!r}; valid: {', '.join(ds.DATASET_KINDS)}")
    path = str(d.get("path", ""))
    parts = None
    perturbation = None
    if kind == "join":
        raw = d.get("parts")
        if not isinstance(raw, list) or not raw or not all(isinstance(p, dict) for p in raw):
            raise WhisperbenchError("kind 'join' needs parts: a list of dataset tables (kind, path, ...)")
        parts = tuple(dataset_spec({"name": f"{d['name']}[{i}]", **p}, base_dir) for i, p in enumerate(raw))
    elif kind == "perturb":
        if not isinstance(d.get("perturb"), dict):
            raise WhisperbenchError("kind 'perturb' needs perturb: a table (kind, seed, parameters)")
        perturbation = ds.PerturbSpec(**d["perturb"])
        source = d.get("source")
        if source is not None:
            if not isinstance(source, dict):
                raise WhisperbenchError("source must be a dataset table (kind, path, ...)")
            parts = (dataset_spec({"name": f"{d['name']}[source]", **source}, base_dir),)
    elif kind == "hf":
        if path.startswith("hf://"):
            path = path[len("hf://"):]  # explicitly a hub name
        else:
            local = expand_path(path, base_dir)
            path = local if Path(local).exists() else path  # otherwise a hub name
    else:
        path = expand_path(path, base_dir)
        if not Path(path).exists():
            raise WhisperbenchError(f"path not found: {path}")
    lf = d.get("longform")
    if lf is not None:
        if not isinstance(lf, dict) or "target_seconds" not in lf:
            raise WhisperbenchError("longform must be a table with target_seconds")
        lf = ds.LongformSpec(**lf)
    limit = d.get("limit")
    if limit is not None and (not isinstance(limit, int) or isinstance(limit, bool) or limit < 1):
        raise WhisperbenchError(f"limit must be an integer >= 1, got {limit!r}")
    subset = d.get("subset")
    return ds.DatasetSpec(
        name=str(d["name"]), kind=kind, path=path, config=d.get("config"), split=d.get("split"),
        streaming=bool(d.get("streaming", False)), audio_column=d.get("audio_column", "audio"),
        text_column=d.get("text_column", "text"), id_column=d.get("id_column"), limit=limit,
        subset=tuple(str(s) for s in subset) if subset is not None else None, longform=lf, parts=parts,
        perturb=perturbation,
    )


def quick_dataset(value: str, split: str | None = None) -> dict[str, Any]:
    """`--dataset` of the quick form: a dataset of a packaged suite by name (the default
    suite's first), a path (a LibriSpeech folder, a .jsonl manifest, a saved HF dataset),
    or hf:NAME[:CONFIG]."""
    if value.startswith("hf:"):
        name, _, config = value[3:].partition(":")
        return {"name": name.replace("/", "_"), "kind": "hf", "path": f"hf://{name}", "config": config or None,
                "split": split}
    p = Path(value).expanduser()
    if p.exists():
        if p.is_file():
            return {"name": p.parent.name if p.name == "manifest.jsonl" else p.stem, "kind": "manifest", "path": str(p.resolve())}
        if (p / "dataset_info.json").exists() or (p / "dataset_dict.json").exists():
            return {"name": p.name, "kind": "hf", "path": str(p.resolve()), "split": split}
        return {"name": p.name, "kind": "librispeech", "path": str(p.resolve()), "split": split}
    names = []
    for suite_file in sorted(default_suite_path().parent.glob("*.toml"), key=lambda p: p != default_suite_path()):
        for d in tomllib.loads(suite_file.read_text(encoding="utf-8")).get("datasets", []):
            if d["name"] == value:
                return {k: v for k, v in d.items() if k != "algorithms"}
            names.append(d["name"])
    raise WhisperbenchError(
        f"dataset {value!r} is not a path, hf:NAME, or a dataset of a packaged suite ({', '.join(names)})"
    )
