#!/usr/bin/env bash
# Issue 8's device check (large-v3 vs distil-large-v3 architecture timing on a GPU) for a
# machine lent by the device tool. Its image has torch and transformers but no CTranslate2,
# and nothing can be downloaded there, so prepare the wheel here once:
#   pip download ctranslate2==4.8.5 --no-deps --only-binary=:all: --python-version 3.12 \
#       --platform manylinux_2_28_x86_64 -d .cache/gpu-wheels
# then run there, carrying .cache/gpu-wheels:   bash scripts/gpu_check.sh [gpu_check.py options]
# Results land in $OUT (gpu_check.jsonl, gpu_check.md) when set, else results/.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if ! "$PY" -c "import ctranslate2" 2>/dev/null; then
  if ! ls .cache/gpu-wheels/*.whl >/dev/null 2>&1; then
    echo "gpu_check.sh: ctranslate2 is not installed and .cache/gpu-wheels holds no wheel; see the top of $0" >&2
    exit 2
  fi
  "$PY" -m pip install -q --no-index --no-deps .cache/gpu-wheels/*.whl
fi
nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.max.sm,memory.total --format=csv || true
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
exec "$PY" benchmarks/gpu_check.py "$@"
