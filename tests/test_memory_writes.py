"""Every write to a tensor's memory goes through ``Tensor._mutate`` (the one choke point that
bumps the version shared by the memory's views), so backward always sees an in-place change.

This reads the source: an assignment into ``x._data[...]``, an augmented assignment to
``x._data``, a rebinding ``x._data = ...`` or an ``out=x._data`` anywhere but in ``tensor.py``
fails the test, naming the file and line.
"""

from __future__ import annotations

import ast
from pathlib import Path

import chainrule

SRC = Path(chainrule.__file__).parent
CHOKE_POINT = SRC / "tensor.py"


def _is_data(node: ast.AST) -> bool:
    return isinstance(node, ast.Attribute) and node.attr == "_data"


def _writes(tree: ast.AST) -> list[tuple[int, str]]:
    found = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.Assign, ast.AugAssign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for t in targets:
                for sub in ast.walk(t):
                    if isinstance(sub, ast.Subscript) and _is_data(sub.value):
                        found.append((node.lineno, "assignment into ._data[...]"))
                    elif sub is t and _is_data(sub):
                        kind = "augmented" if isinstance(node, ast.AugAssign) else "rebinding"
                        found.append((node.lineno, f"{kind} assignment to ._data"))
        elif isinstance(node, ast.Call):
            for kw in node.keywords:
                if kw.arg == "out" and _is_data(kw.value):
                    found.append((node.lineno, "out=<tensor>._data"))
            name = getattr(node.func, "attr", getattr(node.func, "id", ""))
            if name in ("copyto", "fill", "put", "place") and node.args and _is_data(node.args[0]):
                found.append((node.lineno, f"{name}(<tensor>._data, ...)"))
    return found


def test_only_the_choke_point_writes_tensor_memory():
    bad = []
    for path in sorted(SRC.rglob("*.py")):
        if path == CHOKE_POINT:
            continue
        for line, what in _writes(ast.parse(path.read_text(), str(path))):
            bad.append(f"{path.relative_to(SRC)}:{line}: {what}")
    assert not bad, "tensor memory written outside Tensor._mutate:\n" + "\n".join(bad)


def test_the_scan_finds_each_kind_of_write():
    src = "t._data[0] = 1\nt._data += 1\nt._data = a\nnp.add(a, b, out=t._data)\nnp.copyto(t._data, a)\n"
    assert len(_writes(ast.parse(src))) == 5
    assert _writes(ast.parse("t._mutate(lambda a: a.fill(0))\nx = t._data[0]\n")) == []
