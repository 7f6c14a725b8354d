"""The import graph stays readable: a short module alias means one module everywhere, and the
layers below the engine (tensor, primitives, autograd) import what they use at the top."""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import chainrule

SRC = Path(chainrule.__file__).parent
LOWER = ["tensor.py", "autograd", "ops"]  # no function-local imports of chainrule modules here


def _aliases() -> dict[str, set[str]]:
    seen: dict[str, set[str]] = defaultdict(set)
    for path in SRC.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.level:
                for a in node.names:
                    if a.asname and len(a.asname) <= 2 and a.asname.isupper():
                        seen[a.asname].add(a.name)
    return seen


def test_each_short_alias_means_one_module():
    clashes = {k: v for k, v in _aliases().items() if len(v) > 1}
    assert not clashes, clashes
    assert _aliases()["F"] == {"functional"}  # F is nn.functional, as in PyTorch code


def test_the_lower_layers_have_no_function_local_imports_of_the_package():
    bad = []
    for part in LOWER:
        paths = [SRC / part] if part.endswith(".py") else sorted((SRC / part).rglob("*.py"))
        for path in paths:
            tree = ast.parse(path.read_text())
            for fn in ast.walk(tree):
                if not isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    continue
                for node in ast.walk(fn):
                    if isinstance(node, ast.ImportFrom) and node.level:
                        bad.append(f"{path.relative_to(SRC)}:{node.lineno}")
    assert not bad, bad
