"""Pytrees: nested tuples, lists, dicts and namedtuples of leaves, as ``torch.utils._pytree`` and
``jax.tree_util``. ``None`` is an empty node (no leaves), as in JAX (torch's pytree makes it a
leaf); dicts flatten in insertion order, as in torch (JAX sorts the keys).

Example:
    >>> leaves, spec = tree_flatten({"a": 1, "b": (2, [3, None])})
    >>> leaves
    [1, 2, 3]
    >>> tree_unflatten([x * 10 for x in leaves], spec)
    {'a': 10, 'b': (20, [30, None])}
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

__all__ = [
    "TreeSpec",
    "tree_flatten",
    "tree_unflatten",
    "tree_map",
    "tree_leaves",
    "tree_structure",
]


def _is_namedtuple(x: Any) -> bool:
    return isinstance(x, tuple) and hasattr(type(x), "_fields")


class TreeSpec:
    """The structure of a pytree: its node type, context (dict keys, namedtuple class) and
    children; a leaf is ``TreeSpec(None)``.

    Example:
        >>> tree_structure((1, [2])).num_leaves
        2
    """

    __slots__ = ("kind", "context", "children", "num_leaves")

    def __init__(self, kind: Any = None, context: Any = None, children: list | None = None):
        self.kind = kind  # None: a leaf; "none", tuple, list, dict or a namedtuple class
        self.context = context
        self.children = children or []
        self.num_leaves = 1 if kind is None else sum(c.num_leaves for c in self.children)

    def is_leaf(self) -> bool:
        """Whether this spec is a single leaf."""
        return self.kind is None

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, TreeSpec)
            and self.kind == other.kind
            and self.context == other.context
            and self.children == other.children
        )

    def __hash__(self) -> int:
        return hash((str(self.kind), str(self.context), len(self.children)))

    def __repr__(self) -> str:
        if self.kind is None:
            return "*"
        if self.kind == "none":
            return "None"
        inner = ", ".join(map(repr, self.children))
        if self.kind is dict:
            inner = ", ".join(f"{k!r}: {c!r}" for k, c in zip(self.context, self.children))
            return "{" + inner + "}"
        if self.kind is list:
            return f"[{inner}]"
        if self.kind is tuple:
            return f"({inner}{',' if len(self.children) == 1 else ''})"
        return f"{self.kind.__name__}({inner})"


def _children(x: Any) -> tuple[Any, Any, list] | None:
    if x is None:
        return "none", None, []
    if isinstance(x, dict):
        keys = list(x.keys())
        return dict, keys, [x[k] for k in keys]
    if _is_namedtuple(x):
        return type(x), None, list(x)
    if type(x) is tuple or type(x) is list:
        return type(x), None, list(x)
    return None


def tree_flatten(tree: Any, is_leaf: Callable[[Any], bool] | None = None) -> tuple[list, TreeSpec]:
    """The leaves of ``tree`` (depth first, dicts in insertion order) and its structure.

    Example:
        >>> tree_flatten([1, (2, 3)])[0]
        [1, 2, 3]
    """
    leaves: list = []

    def go(x: Any) -> TreeSpec:
        node = None if is_leaf is not None and is_leaf(x) else _children(x)
        if node is None:
            leaves.append(x)
            return TreeSpec()
        kind, ctx, kids = node
        return TreeSpec(kind, ctx, [go(k) for k in kids])

    spec = go(tree)
    return leaves, spec


def tree_unflatten(leaves: Any, spec: TreeSpec) -> Any:
    """Rebuild the pytree of structure ``spec`` from ``leaves``.

    Example:
        >>> tree_unflatten([1, 2], tree_structure({"x": 0, "y": [0]}))
        {'x': 1, 'y': [2]}
    """
    leaves = list(leaves)
    if len(leaves) != spec.num_leaves:
        raise ValueError(
            f"tree_unflatten: the structure {spec} has {spec.num_leaves} leaves, got {len(leaves)}"
        )
    it = iter(leaves)

    def go(s: TreeSpec) -> Any:
        if s.kind is None:
            return next(it)
        if s.kind == "none":
            return None
        kids = [go(c) for c in s.children]
        if s.kind is dict:
            return dict(zip(s.context, kids))
        if s.kind is tuple or s.kind is list:
            return s.kind(kids)
        return s.kind(*kids)  # a namedtuple

    return go(spec)


def tree_leaves(tree: Any, is_leaf: Callable[[Any], bool] | None = None) -> list:
    """The leaves of ``tree``.

    Example:
        >>> tree_leaves({"a": [1, 2], "b": None})
        [1, 2]
    """
    return tree_flatten(tree, is_leaf)[0]


def tree_structure(tree: Any, is_leaf: Callable[[Any], bool] | None = None) -> TreeSpec:
    """The structure of ``tree``.

    Example:
        >>> tree_structure((1, 2))
        (*, *)
    """
    return tree_flatten(tree, is_leaf)[1]


def tree_map(
    fn: Callable[..., Any], tree: Any, *rest: Any, is_leaf: Callable[[Any], bool] | None = None
) -> Any:
    """``fn`` applied to every leaf (to the leaves at the same place of ``rest``, which must have
    the same structure), in a tree of the same structure.

    Example:
        >>> tree_map(lambda a, b: a + b, {"x": 1, "y": (2,)}, {"x": 10, "y": (20,)})
        {'x': 11, 'y': (22,)}
    """
    leaves, spec = tree_flatten(tree, is_leaf)
    others = []
    for r in rest:
        lv, sp = tree_flatten(r, is_leaf)
        if sp != spec:
            raise ValueError(f"tree_map: structures differ: {spec} and {sp}")
        others.append(lv)
    return tree_unflatten([fn(*xs) for xs in zip(leaves, *others)], spec)


def tree_flatten_with_path(tree: Any) -> tuple[list[tuple[str, Any]], TreeSpec]:
    """Like :func:`tree_flatten`, each leaf with its path as text (``[0]['w']``).

    Example:
        >>> tree_flatten_with_path({"w": [1, 2]})[0]
        [("['w'][0]", 1), ("['w'][1]", 2)]
    """
    out: list[tuple[str, Any]] = []

    def go(x: Any, path: str) -> None:
        node = _children(x)
        if node is None:
            out.append((path, x))
            return
        kind, ctx, kids = node
        keys = ctx if kind is dict else range(len(kids))
        for k, c in zip(keys, kids):
            go(c, f"{path}[{k!r}]")

    go(tree, "")
    return out, tree_structure(tree)
