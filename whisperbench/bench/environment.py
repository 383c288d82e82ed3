"""What a measurement ran on: machine, package versions, project git commit."""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
from functools import lru_cache
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from whisperbench.paths import PROJECT_ROOT

# Packages whose versions are recorded with every run (absent ones are recorded as None),
# besides each registered runtime's own (`BackendSpec.packages`).
HARNESS_PACKAGES = ("whisperbench", "numpy", "av", "jiwer", "datasets", "pandas")


def packages() -> tuple[str, ...]:
    """The harness's packages, then every registered runtime's, each once."""
    from whisperbench import backends

    runtime = [p for name in backends.names() for p in backends.spec(name).packages]
    return tuple(dict.fromkeys([*HARNESS_PACKAGES, *runtime]))


def package_versions() -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    for p in packages():
        try:
            out[p] = version(p)
        except PackageNotFoundError:
            out[p] = None
    return out


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def gpus() -> list[dict[str, str]]:
    """NVIDIA GPUs (name, driver, memory) from `whisperbench.gpu.gpu_state`; [] when there is none."""
    from whisperbench.gpu import gpu_state

    return [
        {"name": g["name"], "driver": g["driver_version"],
         "memory": f"{g['memory_total']:.0f} MiB" if g.get("memory_total") is not None else "unknown"}
        for g in gpu_state()
    ]


def git_commit() -> dict[str, Any]:
    """The project's commit and whether the work tree had uncommitted changes."""
    exe = shutil.which("git")
    if not exe or not (PROJECT_ROOT / ".git").exists():
        return {"commit": None, "dirty": None}
    try:
        commit = subprocess.run(
            [exe, "-C", str(PROJECT_ROOT), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10, check=True
        ).stdout.strip()
        status = subprocess.run(
            [exe, "-C", str(PROJECT_ROOT), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True, text=True, timeout=10, check=True,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return {"commit": None, "dirty": None}
    return {"commit": commit, "dirty": bool(status.strip())}


@lru_cache(maxsize=1)
def machine() -> dict[str, Any]:
    import psutil

    g = gpus()
    return {
        "hostname": platform.node(),
        "os": platform.platform(),
        "python": platform.python_version(),
        "cpu_model": cpu_model(),
        "cpu_count_logical": os.cpu_count(),
        "cpu_count_physical": psutil.cpu_count(logical=False),
        "cpu_affinity": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "memory_total_mb": round(psutil.virtual_memory().total / 2**20),
        "gpu_name": g[0]["name"] if g else None,
        "gpu_driver": g[0]["driver"] if g else None,
        "gpus": g,
    }


def machine_fields(m: dict[str, Any] | None = None) -> dict[str, Any]:
    """The row fields that say which machine a row was measured on (from `machine()`)."""
    m = m or machine()
    return {"hostname": m["hostname"], "cpu_model": m["cpu_model"], "cpus_logical": m["cpu_count_logical"],
            "gpu_name": m["gpu_name"], "gpu_driver": m["gpu_driver"]}


def snapshot() -> dict[str, Any]:
    """Everything recorded once per run (and copied into each row)."""
    git = git_commit()
    return {"machine": machine(), "packages": package_versions(), "git_commit": git["commit"], "git_dirty": git["dirty"]}
