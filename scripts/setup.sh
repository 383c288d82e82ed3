#!/usr/bin/env bash
# Create .venv (if missing) and install whisperbench with every runtime and test tool.
# torch==2.13.0 (CPU) goes in first: a bare `torch` requirement would pull a multi-GB CUDA build.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    "$PY" -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q "torch==2.13.0"
.venv/bin/python -m pip install -q -e ".[all,test]"

# Transformers.js backend (issue 7). (1) The Node worker's packages, exactly as locked
# (`npm ci`; ONNX Runtime's CPU binaries ship inside the npm packages: install scripts are
# off, so nothing is downloaded after install). Re-run only when the lockfile changes.
NODE_DIR=whisperbench/backends/transformersjs/node
command -v node >/dev/null || { echo "setup: Node.js (>= 18) is needed for the transformersjs backend" >&2; exit 1; }
LOCK_SHA=$(sha256sum "$NODE_DIR/package-lock.json" | cut -d' ' -f1)
if [ "$(cat "$NODE_DIR/node_modules/.whisperbench-lock" 2>/dev/null)" != "$LOCK_SHA" ]; then
    ONNXRUNTIME_NODE_INSTALL_CUDA=skip npm ci --prefix "$NODE_DIR" --ignore-scripts --no-audit --no-fund --loglevel=error
    echo "$LOCK_SHA" > "$NODE_DIR/node_modules/.whisperbench-lock"
fi
# (2) The ONNX exporter (optimum-onnx) needs transformers<4.58: its own pinned venv.
EXPORT_VENV=.cache/onnx-export-venv
if [ ! -x "$EXPORT_VENV/bin/python" ]; then
    "$PY" -m venv "$EXPORT_VENV"
fi
mapfile -t ONNX_EXPORT_REQS < <(.venv/bin/python -c "from whisperbench.conversion import onnx_format as o; print(o.EXPORT_TORCH); print('\n'.join(o.EXPORT_REQUIREMENTS))")
"$EXPORT_VENV/bin/python" -m pip install -q --upgrade pip
"$EXPORT_VENV/bin/python" -m pip install -q "${ONNX_EXPORT_REQS[0]}"
"$EXPORT_VENV/bin/python" -m pip install -q "${ONNX_EXPORT_REQS[@]:1}"

# Browser tests of the HTML report and history pages (issue 16): headless Chromium and its
# WebDriver, Debian's packages (Selenium drives them; nothing is downloaded at test time).
if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; then
    if [ "$(id -u)" = 0 ]; then
        apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium chromium-driver
    else
        echo "setup: the browser tests need Chromium and its WebDriver: run as root," \
             "or install them first: sudo apt-get install -y chromium chromium-driver" >&2
        exit 1
    fi
fi
