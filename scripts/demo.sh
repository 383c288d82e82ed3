#!/usr/bin/env bash
# Set up (idempotent) and run the default benchmark suite: tiny.en (offline fixture) on
# the shared English speech (../shared/speech, or $WHISPERBENCH_SPEECH_DIR), short-form
# and long-form, then print the summary. Extra arguments are options of
# `whisperbench bench` (e.g. --quiet, --repeats 1).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/whisperbench bench default "$@"
