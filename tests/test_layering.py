"""Layers only look down: core <- conversion <- backends <- serve <- bench <- cli.

Every module's imports are read with `ast`, including imports inside functions (the ones
that hid the conversion <-> backends cycle), relative imports, and `from whisperbench
import backends` (a subpackage named as an imported name).
"""

from __future__ import annotations

import ast
from pathlib import Path
from typing import NamedTuple

import pytest

import whisperbench
from tests.conftest import RUNTIME_LIBRARIES

PACKAGE_ROOT = Path(whisperbench.__file__).parent
LAYERS = ("core", "conversion", "backends", "serve", "bench", "cli")  # each may import only those before it
SUBPACKAGES = LAYERS[1:]


class Edge(NamedTuple):
    importer: str
    imported: str
    line: int

    def __str__(self) -> str:
        return f"{self.importer}:{self.line} imports {self.imported}"


def layer_of(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[1] in SUBPACKAGES else "core"


def module_name(path: Path, root: Path = PACKAGE_ROOT) -> str:
    rel = path.relative_to(root.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _exists(module: str, root: Path) -> bool:
    rel = Path(*module.split("."))
    return (root.parent / rel).with_suffix(".py").exists() or (root.parent / rel / "__init__.py").exists()


def imports_of(source: str, module: str, is_package: bool, root: Path = PACKAGE_ROOT) -> list[Edge]:
    """The whisperbench modules `module` imports, anywhere in its body."""
    package = module if is_package else module.rpartition(".")[0]
    edges = []
    for node in ast.walk(ast.parse(source)):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            targets = [target]
            # `from whisperbench import backends` imports the subpackage itself.
            targets += [f"{target}.{a.name}" for a in node.names if _exists(f"{target}.{a.name}", root)]
        edges += [Edge(module, t, node.lineno) for t in targets if t == "whisperbench" or t.startswith("whisperbench.")]
    return edges


def import_graph(root: Path = PACKAGE_ROOT) -> list[Edge]:
    edges = []
    for path in sorted(root.rglob("*.py")):
        edges += imports_of(path.read_text(encoding="utf-8"), module_name(path, root), path.name == "__init__.py", root)
    return edges


def crossings(edges: list[Edge]) -> dict[tuple[str, str], list[Edge]]:
    """(importer layer, imported layer) -> the edges between two different layers."""
    out: dict[tuple[str, str], list[Edge]] = {}
    for e in edges:
        a, b = layer_of(e.importer), layer_of(e.imported)
        if a != b and e.imported != "whisperbench":  # the bare package: `from whisperbench import models`
            out.setdefault((a, b), []).append(e)
    return out


def upward(edges: list[Edge], importer: str) -> list[Edge]:
    """Edges from layer `importer` to any layer above it."""
    above = LAYERS[LAYERS.index(importer) + 1:]
    return [e for (a, b), es in crossings(edges).items() if a == importer and b in above for e in es]


@pytest.fixture(scope="module")
def graph() -> list[Edge]:
    return import_graph()


def test_the_graph_is_read(graph):
    """The walk sees the package (a parser that finds nothing would pass every rule)."""
    assert len({e.importer for e in graph}) > 50
    assert Edge("whisperbench.backends.base", "whisperbench.conversion", 0)[:2] in {e[:2] for e in graph}
    # `from whisperbench import backends` inside a function, in a module above backends:
    assert any(e.importer == "whisperbench.cli.backends_cmd" and layer_of(e.imported) == "backends" for e in graph)


@pytest.mark.parametrize("layer", ["conversion", "backends", "serve", "bench", "core"])
def test_layer_imports_nothing_above_it(graph, layer):
    bad = upward(graph, layer)
    assert not bad, f"{layer} imports from a layer above it:\n" + "\n".join(map(str, bad))


def test_no_two_subpackages_import_each_other(graph):
    pairs = crossings(graph)
    cycles = [f"{a} <-> {b}: {pairs[(a, b)][0]}; {pairs[(b, a)][0]}"
              for a in LAYERS for b in LAYERS if a < b and (a, b) in pairs and (b, a) in pairs]
    assert not cycles, "\n".join(cycles)


# ----- the checker itself can fail -------------------------------------------------------

def _tree(tmp_path: Path, files: dict[str, str]) -> Path:
    root = tmp_path / "whisperbench"
    for name, text in {"__init__.py": "", "conversion/__init__.py": "", "backends/__init__.py": "",
                       "bench/__init__.py": "", **files}.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root


def test_function_level_and_relative_upward_imports_are_caught(tmp_path):
    root = _tree(tmp_path, {
        "conversion/verify.py": "def f():\n    from whisperbench import backends\n",
        "conversion/other.py": "def g():\n    from ..bench import report\n",
        "bench/report.py": "",
        "backends/base.py": "import whisperbench.conversion.verify\n",
    })
    edges = import_graph(root)
    bad = sorted(str(e) for e in upward(edges, "conversion"))
    assert bad == ["whisperbench.conversion.other:2 imports whisperbench.bench",
                   "whisperbench.conversion.other:2 imports whisperbench.bench.report",
                   "whisperbench.conversion.verify:2 imports whisperbench.backends"]
    pairs = crossings(edges)
    assert ("conversion", "backends") in pairs and ("backends", "conversion") in pairs  # the old cycle


def test_downward_imports_pass(tmp_path):
    root = _tree(tmp_path, {
        "errors.py": "",
        "conversion/api.py": "from whisperbench.errors import X\nfrom . import formats\n",
        "conversion/formats.py": "",
        "backends/base.py": "def f():\n    from whisperbench.conversion import api\n",
    })
    edges = import_graph(root)
    assert all(not upward(edges, layer) for layer in LAYERS[:-1])
    assert ("backends", "conversion") in crossings(edges) and ("conversion", "backends") not in crossings(edges)


# ----- runtime libraries stay in backends/ and the format modules -------------------------

# Layers that may import a runtime library: the backends and the weight-format modules.
RUNTIME_LAYERS = ("backends", "conversion")


def runtime_imports(source: str) -> list[tuple[str, int]]:
    """(runtime library, line) for every import of one anywhere in `source` (function
    bodies included; `import torch.cuda` and `from transformers import X` count)."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and not node.level:
            names = [node.module or ""]
        else:
            continue
        found += [(n.split(".")[0], node.lineno) for n in names if n.split(".")[0] in RUNTIME_LIBRARIES]
    return found


def test_only_backends_and_formats_import_runtime_libraries():
    bad = [f"{module_name(path)}:{line} imports {lib}"
           for path in sorted(PACKAGE_ROOT.rglob("*.py"))
           if layer_of(module_name(path)) not in RUNTIME_LAYERS
           for lib, line in runtime_imports(path.read_text(encoding="utf-8"))]
    assert not bad, "runtime libraries imported outside backends/ and conversion/:\n" + "\n".join(bad)
    # The walk sees them where they belong (a checker that finds nothing would pass).
    adapter = PACKAGE_ROOT / "backends" / "ctranslate2" / "adapter.py"
    assert "ctranslate2" in {lib for lib, _ in runtime_imports(adapter.read_text())}


def test_runtime_import_checker_sees_function_level_imports():
    source = "import os\n\ndef f():\n    import torch.cuda\n    from whisper.tokenizer import get_tokenizer\n"
    assert runtime_imports(source) == [("torch", 4), ("whisper", 5)]
