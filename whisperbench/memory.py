"""Process memory readings.

`resource.getrusage(...).ru_maxrss` is the wrong peak for a freshly spawned child process on
Linux: the kernel carries the parent's high-water mark across fork+exec, so a small
child started by a 3 GB parent reports 3 GB. VmHWM in /proc belongs to the process's
own address space and starts afresh at exec.
"""

from __future__ import annotations

import resource
import sys


def peak_rss_mb(pid: int | str = "self") -> float | None:
    """Peak resident set size in MB of `pid` (default: this process); None if unreadable."""
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    if pid != "self":
        return None
    kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # no /proc (macOS): best available
    return kb / 2**20 if sys.platform == "darwin" else kb / 1024
