"""`whisperbench backends`: every registered backend with its capabilities."""

from __future__ import annotations

import json

from whisperbench.cli.main import main as cli


def test_cli_backends_lists_all(capsys):
    assert cli(["backends", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    names = {r["name"] for r in rows}
    assert {"ctranslate2", "dummy"} <= names
    ct2_row = next(r for r in rows if r["name"] == "ctranslate2")
    assert ct2_row["capabilities"]["algorithms"].keys() == {"short", "sequential", "chunked"}
