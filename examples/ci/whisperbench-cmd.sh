# Sourced by the example CI scripts: sets the array `wb`, how to call whisperbench:
# $WHISPERBENCH_CMD when set, else `whisperbench` on PATH, else .venv/bin/whisperbench.
if [ -n "${WHISPERBENCH_CMD:-}" ]; then
    read -r -a wb <<< "$WHISPERBENCH_CMD"
elif command -v whisperbench >/dev/null 2>&1; then
    wb=(whisperbench)
else
    wb=(.venv/bin/whisperbench)
fi
