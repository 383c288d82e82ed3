"""`whisperbench backends`: every registered backend, installed or not, and what it can do."""

from __future__ import annotations

import argparse
import json

from whisperbench import backends


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("backends", help="list backends, whether installed, and their capabilities")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    rows = []
    for name in backends.names():
        spec = backends.spec(name)
        cls = backends.adapter_class(name)
        missing = backends.missing_modules(name)
        rows.append({
            "name": name,
            "description": spec.description,
            "installed": not missing,
            "missing": missing,
            "install": backends.install_hint(name) if spec.extra else None,
            "runtime_version": cls.runtime_version() if not missing else None,
            "capabilities": cls.capabilities.describe(),
        })
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    for row in rows:
        caps = row["capabilities"]
        state = f"installed ({row['runtime_version']})" if row["installed"] else f"NOT installed: {row['install']}"
        print(f"{row['name']}: {row['description']} [{state}]")
        print(f"  model format: {caps['model_format']}")
        for alg, impl in caps["algorithms"].items():
            print(f"  algorithm {alg}: {impl}")
        for dev, types in caps["devices"].items():
            print(f"  device {dev}: {', '.join(types)}")
        flags = [k for k in ("batching", "word_timestamps", "beam_search", "temperature_fallback",
                             "condition_on_previous_text", "thresholds", "timestamps_off", "translate",
                             "language_detection", "max_new_tokens", "initial_prompt")]
        print("  supports: " + ", ".join(f for f in flags if caps[f]))
        unsupported = [f for f in flags if not caps[f]]
        if unsupported:
            print("  cannot: " + ", ".join(unsupported))
        for key, doc in caps["extra_options"].items():
            print(f"  -O {key}=...: {doc}")
        for note in caps["notes"]:
            print(f"  note: {note}")
    return 0
