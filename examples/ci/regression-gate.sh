#!/usr/bin/env bash
# The regression gate the CI example runs (examples/ci/whisperbench-regression.yml), and
# what a test runs locally: run a suite, compare it against a stored baseline, write the
# Markdown summary, and exit with `whisperbench compare`'s status:
#   0 no regression, 1 a cell regressed beyond the thresholds, 2 unusable input.
#
# Settings (environment, all optional):
#   WHISPERBENCH_SUITE         suite file or packaged suite name        (default: default)
#   WHISPERBENCH_BASELINE      baseline name or results path            (default: default,
#                              i.e. results/baselines/default/)
#   WHISPERBENCH_GATE_DIR      output folder: candidate.jsonl, summary.md, report/
#                                                                       (default: gate-out)
#   WHISPERBENCH_COMPARE_ARGS  extra `whisperbench compare` arguments, e.g.
#                              "--max-wer-increase 0.5 --max-slowdown 1.3"
#   WHISPERBENCH_CMD           how to call whisperbench (default: `whisperbench` on PATH,
#                              else .venv/bin/whisperbench)
#   GITHUB_STEP_SUMMARY        when set (GitHub Actions), the summary is appended to it
set -uo pipefail
cd "$(dirname "$0")/../.."

suite=${WHISPERBENCH_SUITE:-default}
baseline=${WHISPERBENCH_BASELINE:-default}
out=${WHISPERBENCH_GATE_DIR:-gate-out}
. examples/ci/whisperbench-cmd.sh
read -r -a compare_args <<< "${WHISPERBENCH_COMPARE_ARGS:-}"

mkdir -p "$out"
rm -f "$out/candidate.jsonl" "$out/summary.md"

# 1. Run the suite. A failed cell is recorded in the results (bench exits 1) and the
#    comparison below counts it as a regression; a suite that cannot run at all leaves no
#    results, and the comparison then reports unusable input (exit 2).
"${wb[@]}" bench "$suite" --quiet --output "$out/candidate.jsonl"
bench_rc=$?
echo "whisperbench bench exited with $bench_rc" >&2

# 2. Compare against the baseline; the Markdown goes to summary.md.
"${wb[@]}" compare "$baseline" "$out/candidate.jsonl" --markdown "$out/summary.md" "${compare_args[@]}"
rc=$?
if [ ! -s "$out/summary.md" ]; then
    printf '## whisperbench compare: ⚠️ unusable input\n\nThe comparison could not run (exit %s); see the job log.\n' \
        "$rc" > "$out/summary.md"
fi

# 3. The full report of the candidate (Markdown, HTML, plots) as an artifact.
if [ -s "$out/candidate.jsonl" ]; then
    "${wb[@]}" report "$out/candidate.jsonl" --output-dir "$out/report" --quiet || true
fi

# 4. The job summary.
if [ -n "${GITHUB_STEP_SUMMARY:-}" ]; then
    cat "$out/summary.md" >> "$GITHUB_STEP_SUMMARY"
fi
echo "whisperbench compare exited with $rc" >&2
exit "$rc"
