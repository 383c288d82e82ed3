"""`whisperbench baseline save|show|list`: named baselines under results/baselines/."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "baseline",
        help="save, show or list named baselines (results/baselines/NAME/)",
        description=(
            "A baseline is a stored copy of results with the environment they were measured in "
            "(results/baselines/NAME/results.jsonl, environment.json, summary.md). `whisperbench compare NAME "
            "CANDIDATE` compares against it; one recorded on other hardware gates on WER only."
        ),
    )
    bsub = p.add_subparsers(dest="action", metavar="ACTION")
    bsub.required = True
    s = bsub.add_parser("save", help="store results as baseline NAME")
    s.add_argument("name", help="baseline name (letters, digits, '.', '_', '-')")
    s.add_argument("results", nargs="+",
                   help="results files or folders; several runs of the same suite are kept as replicates, and "
                        "`compare` measures the run-to-run noise of the speed gate from them (3 or more advised)")
    s.add_argument("--force", "-f", action="store_true", help="replace an existing baseline")
    s.add_argument("--description", help="a note stored with the baseline")
    s.set_defaults(func=run_save)
    sh = bsub.add_parser("show", help="print a baseline's environment and table")
    sh.add_argument("name")
    sh.set_defaults(func=run_show)
    ls = bsub.add_parser("list", help="list stored baselines")
    ls.set_defaults(func=run_list)


def run_save(args: argparse.Namespace) -> int:
    from whisperbench.bench import baseline

    d = baseline.save(args.name, args.results, force=args.force, description=args.description)
    env = baseline.load_environment(args.name)
    print(f"saved baseline {args.name!r}: {env['cells']} cells, {env['rows']} rows -> {d}")
    return 0


def run_show(args: argparse.Namespace) -> int:
    from whisperbench.bench import baseline

    print(baseline.show(args.name))
    return 0


def run_list(args: argparse.Namespace) -> int:
    from whisperbench.bench import baseline

    names = baseline.list_baselines()
    for n in names:
        env = baseline.load_environment(n)
        hosts = ", ".join(sorted({str(r.get("cpu_model")) for r in env.get("runs", [])}))
        print(f"{n}\t{env.get('saved', '?')}\t{env.get('cells', '?')} cells\t{hosts}")
    if not names:
        print(f"no baselines under {baseline.baselines_dir()}")
    return 0
