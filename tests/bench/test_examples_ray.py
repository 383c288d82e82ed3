"""examples/ray: the laptop script runs for real; the KubeRay and Slurm files (not runnable
here) are checked for shape and for a whisperbench command line the CLI accepts."""

from __future__ import annotations

import json
import os
import re
import shlex
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.bench.conftest import manifest_dataset
from whisperbench.bench import read_results
from whisperbench.bench.executors.base import SLOT
from whisperbench.cli.main import build_parser
from whisperbench.paths import PROJECT_ROOT

EXAMPLES = PROJECT_ROOT / "examples" / "ray"


def parse_bench(command: str):
    """The argparse namespace of a `whisperbench bench ...` command line (shell variables as words)."""
    argv = shlex.split(re.sub(r"\$\{?(\w+)\}?", r"\1", command))
    assert argv[:2] == ["whisperbench", "bench"], argv
    return build_parser().parse_args(argv[1:])


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_laptop_script_runs_a_suite_and_stops_its_head(dummy_toml, write_suite, speech, tmp_path):
    pytest.importorskip("ray", reason="install the ray extra")
    suite = write_suite(dummy_toml(repeats=1, warmups=0, datasets=manifest_dataset(speech, "jfk")))
    out = tmp_path / "laptop.jsonl"
    port = free_port()
    home = tmp_path / "home"  # a fresh machine's: no Ray token yet (the head needs one)
    home.mkdir()
    env = dict(os.environ, HOME=str(home), WHISPERBENCH_RAY_PORT=str(port), PYTHONPATH=str(PROJECT_ROOT),
               WHISPERBENCH_CMD=f"{sys.executable} -m whisperbench.cli.main",
               PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    proc = subprocess.run(["bash", str(EXAMPLES / "laptop.sh"), str(suite), "-o", str(out), "--quiet"], env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (home / ".ray" / "auth_token").stat().st_size > 0
    df = read_results(out)
    assert len(df) == 1 and (df["status"] == "ok").all() and (df["executor"] == "ray").all()
    for pattern in (f"--port {port}", f":{port}"):  # `ray start` itself; the head's raylet and GCS name ip:port
        left = subprocess.run(["pgrep", "-af", "--", pattern], capture_output=True, text=True)
        assert left.returncode == 1, f"the head outlived the script: {left.stdout}{left.stderr}"


def test_rayjob_manifest_runs_the_default_suite_with_a_slot_per_gpu_pod():
    doc = yaml.safe_load((EXAMPLES / "rayjob.yaml").read_text())
    assert doc["apiVersion"] == "ray.io/v1" and doc["kind"] == "RayJob"
    spec = doc["spec"]
    args = parse_bench(spec["entrypoint"])
    assert args.suite == "default" and args.executor == "ray" and args.output.startswith("/results/")
    cluster = spec["rayClusterSpec"]
    assert cluster["rayVersion"].startswith("2.60")
    assert cluster["headGroupSpec"]["rayStartParams"]["num-cpus"] == "0"  # the head only drives
    head = cluster["headGroupSpec"]["template"]["spec"]
    assert any(m["mountPath"] == "/results" for m in head["containers"][0]["volumeMounts"])
    for group in cluster["workerGroupSpecs"]:
        resources = json.loads(json.loads(group["rayStartParams"]["resources"]))  # KubeRay wants it quoted
        assert resources[SLOT] == 1
        assert group["template"]["spec"]["containers"][0]["resources"]["limits"]["nvidia.com/gpu"]


def test_slurm_script_is_valid_bash_and_calls_the_ray_executor():
    script = EXAMPLES / "slurm.sbatch"
    subprocess.run(["bash", "-n", str(script)], check=True)
    text = script.read_text()
    assert "NOT RUNNABLE HERE" in text
    joined = text.replace("\\\n", " ")
    starts = re.findall(r"ray start [^\n&]*", joined)
    assert len(starts) == 2 and all("--block" in s and "--resources=\"$slot\"" in s for s in starts)
    assert '"whisperbench_slot": 1' in text
    command = next(line.strip() for line in joined.splitlines() if line.strip().startswith("whisperbench bench"))
    args = parse_bench(command)
    assert args.executor == "ray" and args.address and args.quiet
