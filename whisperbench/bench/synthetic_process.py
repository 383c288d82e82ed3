"""One synthetic-timing cell in a process of its own (`synthetic.run(isolate=True)`):
reads the job (`synthetic.cell_job`) as JSON on stdin, writes its row as one JSON line."""

from __future__ import annotations

import json
import sys


def main() -> int:
    from whisperbench.bench.child import start_child

    proto = start_child()
    from whisperbench.bench import synthetic

    job = json.loads(sys.stdin.read())
    row = synthetic.measure_or_record(synthetic.cell_from_job(job), job["repeats"], job["warmups"], job["bandwidth"])
    proto.write(json.dumps(row, default=str) + "\n")
    proto.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
