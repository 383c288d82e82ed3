#!/usr/bin/env bash
# What the history workflow (examples/ci/whisperbench-history.yml) runs, and what a test
# runs locally: measure the suite at this commit into a folder that keeps every earlier
# run's results, then build the history pages from all of them:
#   index.html   WER, RTFx, p90 latency and peak memory over commits per configuration and
#                dataset, regressions marked where `whisperbench compare` would first have
#                fired, the latest value against the best (self-contained: publish as is)
#   history.md   the same tables, for the job summary
#
# Settings (environment, all optional):
#   WHISPERBENCH_SUITE            suite file or packaged suite name       (default: default)
#   WHISPERBENCH_HISTORY_RESULTS  the folder of kept results files        (default: history-results)
#   WHISPERBENCH_HISTORY_SITE     where the pages are written             (default: history-site)
#   WHISPERBENCH_HISTORY_ARGS     extra `whisperbench history` arguments, e.g. "--max-slowdown 1.3"
#   WHISPERBENCH_CMD              how to call whisperbench (default: `whisperbench` on PATH,
#                                 else .venv/bin/whisperbench)
#   GITHUB_STEP_SUMMARY           when set (GitHub Actions), history.md is appended to it
# Exit status: `whisperbench history`'s (0, or 2 on unusable input). A suite that fails in
# part still leaves its rows; the history shows the failures at this commit.
set -uo pipefail
cd "$(dirname "$0")/../.."

suite=${WHISPERBENCH_SUITE:-default}
results=${WHISPERBENCH_HISTORY_RESULTS:-history-results}
site=${WHISPERBENCH_HISTORY_SITE:-history-site}
. examples/ci/whisperbench-cmd.sh
read -r -a history_args <<< "${WHISPERBENCH_HISTORY_ARGS:-}"

mkdir -p "$results"
commit=$(git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)
"${wb[@]}" bench "$suite" --quiet --output "$results/$commit-$(date -u +%Y%m%dT%H%M%SZ).jsonl"
echo "whisperbench bench exited with $?" >&2

"${wb[@]}" history "$results" --output-dir "$site" --quiet "${history_args[@]}"
rc=$?
if [ -n "${GITHUB_STEP_SUMMARY:-}" ] && [ -s "$site/history.md" ]; then
    cat "$site/history.md" >> "$GITHUB_STEP_SUMMARY"
fi
echo "whisperbench history exited with $rc" >&2
exit "$rc"
