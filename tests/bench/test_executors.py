"""Executors without a cluster: what a cell asks for, the [cluster] table, the CLI's choice
of executor, and the Ray progress counts."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.bench.conftest import cli
from tests.conftest import require
from whisperbench.bench import executors
from whisperbench.bench.executors import CellJob, cell_resources
from whisperbench.bench.executors.base import SLOT
from whisperbench.bench.executors.local import LocalExecutor
from whisperbench.bench.executors.ray import RayProgress, request, task_options
from whisperbench.bench.suite import load_suite
from whisperbench.errors import WhisperbenchError

names = st.text(st.characters(whitelist_categories=("Lu", "Ll", "Nd")), min_size=1, max_size=8)


@given(device=st.sampled_from(["cpu", "cuda", "cuda:0", "auto"]), threads=st.integers(0, 64),
       max_memory_mb=st.sampled_from([0, 0.5, 1500]), share=st.booleans(),
       pool=st.dictionaries(names.filter(lambda n: n != SLOT), st.integers(1, 8), max_size=2))
def test_a_cell_asks_for_its_gpu_threads_memory_pool_and_slot(device, threads, max_memory_mb, share, pool):
    res = cell_resources(device, threads, max_memory_mb, {"resources": pool, "share_nodes": share})
    need, opts = request(res), task_options(res)
    assert need.get("GPU", 0) == opts["num_gpus"] == (1 if device.startswith("cuda") else 0)
    assert need["CPU"] == opts["num_cpus"] == max(1, threads)
    assert need.get("memory", 0) == opts.get("memory", 0) == int(max_memory_mb * 2**20)
    assert (SLOT in need) is (not share) and all(need[k] == v for k, v in pool.items())
    assert opts["max_retries"] == 0  # lost nodes are resubmitted by the driver, never replayed by Ray


def test_cluster_table_is_checked_and_kept_out_of_the_suite_hash(write_suite, dummy_toml):
    plain = load_suite(write_suite(dummy_toml(repeats=1), "plain"))
    pooled = load_suite(write_suite(dummy_toml(repeats=1, more="[cluster]\nresources = {H100 = 1}\nshare_nodes = true\n"),
                                    "pooled"))
    assert pooled.cluster == {"resources": {"H100": 1}, "share_nodes": True} and plain.cluster["share_nodes"] is False
    assert pooled.suite_hash == plain.suite_hash  # a run started locally resumes on a cluster
    for bad, message in [("[cluster]\nresources = {H100 = 0}\n", "amounts > 0"),
                         ("[cluster]\nshare_nodes = 'yes'\n", "true or false"),
                         ("[cluster]\nnodes = 3\n", "unknown key")]:
        with pytest.raises(WhisperbenchError, match=message):
            load_suite(write_suite(dummy_toml(repeats=1, more=bad), "bad"))


def test_executor_choice(write_suite, dummy_toml, capsys):
    assert isinstance(executors.get(), LocalExecutor)
    with pytest.raises(WhisperbenchError, match="unknown executor"):
        executors.get("slurm")
    suite = write_suite(dummy_toml(repeats=1))
    assert cli("bench", suite, "--address", "auto") == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--address names a Ray cluster" in err[0]


def test_ray_progress_counts_pending_running_done_per_node():
    p = RayProgress("s", 3, quiet=True)
    jobs = [CellJob(str(i), f"cell {i}", {"skip": []}, 1) for i in range(3)]
    p.submitted(3)
    p.start(jobs[0], "a:1")
    p.start(jobs[1], "b:2")
    p.end(jobs[0], "a:1")
    p.lost("b:2")  # b died while running cell 1, which goes again
    p.submitted()
    assert p.status() == "2 pending | a:1: 0 running, 1 done | b:2: 0 running, 0 done"
    p.start(jobs[1], "a:1")
    p.end(jobs[2], None)  # cell 2 given up before it was ever placed
    assert p.status() == "0 pending | a:1: 1 running, 1 done | b:2: 0 running, 0 done"


def test_a_cluster_suite_may_name_devices_this_machine_lacks(write_suite, speech):
    require("ctranslate2")
    from tests.bench.conftest import reduced_suite_toml
    from whisperbench.backends import get as backend

    if backend("ctranslate2")._device_available("cuda"):
        pytest.skip("this machine has a GPU")
    path = write_suite(reduced_suite_toml(speech, sonnets=False).replace('device = "cpu"', 'device = "cuda"'))
    with pytest.raises(WhisperbenchError, match="not available on this machine"):
        load_suite(path)
    suite = load_suite(path, devices_here=False)  # --executor ray: the node that runs the cell checks
    assert {c.engine.load_options.device for c in suite.cells} == {"cuda"}
    assert cell_resources("cuda", 0, 0, suite.cluster).gpus == 1
