"""The `whisperbench` command line: one module per command group, shared argument helpers."""
