#!/usr/bin/env bash
# A suite on a one-machine Ray cluster (a laptop or a workstation): start a head node,
# run the suite on it with --executor ray, stop the head again (also on Ctrl-C or failure).
#
#   examples/ray/laptop.sh [SUITE] [more whisperbench bench options, e.g. -o results/ray.jsonl]
#
# SUITE defaults to the packaged default suite. Environment:
#   WHISPERBENCH_RAY_PORT   the head's port (default 6379)
#   WHISPERBENCH_RAY_SLOTS  timing slots of this machine: cells timed at once (default 1; more only
#                           when the suite's cells may share the machine, e.g. GPU cells on several GPUs)
#   WHISPERBENCH_CMD        how to call whisperbench (default: whisperbench)
#
# `ray start --block` keeps the head in this script's process tree, so stopping it stops only
# this cluster (`ray stop` would stop every Ray instance of the user on the machine).
# Ray 2.60 starts a head with token authentication (token in ~/.ray/auth_token); clients
# connect with it only when RAY_AUTH_MODE=token, so it is set here for the head and for
# whisperbench alike. `ray start --head` does not create that token (ray.init does): on a
# machine that never ran Ray it is created first, as `ray get-auth-token --generate` does
# (only where none exists, in ~/.ray/auth_token, RAY_AUTH_TOKEN and RAY_AUTH_TOKEN_PATH first).
set -euo pipefail
export RAY_AUTH_MODE=${RAY_AUTH_MODE:-token}
if [ "$RAY_AUTH_MODE" = token ]; then
    ray get-auth-token --generate >/dev/null
fi
SUITE=${1:-default}
shift || true
PORT=${WHISPERBENCH_RAY_PORT:-6379}
SLOTS=${WHISPERBENCH_RAY_SLOTS:-1}
read -r -a WB <<< "${WHISPERBENCH_CMD:-whisperbench}"
LOG=$(mktemp)

ray start --head --port "$PORT" --include-dashboard=false \
    --resources "{\"whisperbench_slot\": $SLOTS}" --block >"$LOG" 2>&1 &
HEAD=$!
trap 'kill "$HEAD" 2>/dev/null || true; wait "$HEAD" 2>/dev/null || true; rm -f "$LOG"' EXIT
for _ in $(seq 120); do  # until the head answers
    if ! kill -0 "$HEAD" 2>/dev/null; then
        echo "laptop.sh: the Ray head did not start:" >&2; cat "$LOG" >&2; exit 1
    fi
    ray status --address "127.0.0.1:$PORT" >/dev/null 2>&1 && break
    sleep 1
done
"${WB[@]}" bench "$SUITE" --executor ray --address "127.0.0.1:$PORT" "$@"
