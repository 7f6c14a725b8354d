"""Pytrees (chainrule.utils.pytree) against torch.utils._pytree and jax.tree_util: the same
leaves in the same order, round trips, tree_map over several trees, and errors. ``None`` is an
empty node, as in JAX (torch's pytree makes it a leaf); dicts flatten in insertion order, as in
torch (JAX sorts the keys)."""

from __future__ import annotations

from collections import namedtuple

import pytest
import torch.utils._pytree as tp

from chainrule.utils.pytree import (
    tree_flatten,
    tree_flatten_with_path,
    tree_leaves,
    tree_map,
    tree_structure,
    tree_unflatten,
)

jax = pytest.importorskip("jax")

Point = namedtuple("Point", ["x", "y"])

TREES = [
    1,
    None,
    (),
    [],
    {},
    (1, 2),
    [1, (2, 3), {"a": 4, "b": [5, None]}],
    {"z": 1, "a": (2, [3]), "m": {"k": None, "j": 4}},
    Point(1, [2, 3]),
    [Point(x=(1,), y={"q": 2}), None, [[[]]], 6],
]


def _unsorted_dict(tree) -> bool:
    if isinstance(tree, dict):
        return list(tree) != sorted(tree) or any(_unsorted_dict(v) for v in tree.values())
    if isinstance(tree, (list, tuple)):
        return any(_unsorted_dict(v) for v in tree)
    return False


@pytest.mark.parametrize("tree", TREES, ids=repr)
def test_flatten_matches_torch_and_jax_and_round_trips(tree):
    leaves, spec = tree_flatten(tree)
    if not _unsorted_dict(tree):  # JAX flattens dicts in sorted key order, torch as inserted
        assert leaves == jax.tree_util.tree_leaves(tree)
    if "None" not in repr(tree):  # torch's pytree has None as a leaf, JAX as an empty node
        assert leaves == tp.tree_leaves(tree)
    back = tree_unflatten(leaves, spec)
    assert back == tree
    assert type(back) is type(tree)
    assert spec.num_leaves == len(leaves)
    assert tree_structure(tree) == spec
    assert tree_leaves(tree) == leaves


def test_dicts_keep_insertion_order_as_torch():
    tree = {"b": 1, "a": 2}
    assert tree_leaves(tree) == tp.tree_leaves(tree) == [1, 2]
    assert list(tree_unflatten([3, 4], tree_structure(tree))) == ["b", "a"]


def test_tree_map_several_trees_and_mismatch():
    a = {"x": [1, 2], "y": (3,)}
    b = {"x": [10, 20], "y": (30,)}
    assert tree_map(lambda u, v: u + v, a, b) == {"x": [11, 22], "y": (33,)}
    assert tree_map(lambda u: u * 2, a) == tp.tree_map(lambda u: u * 2, a)
    with pytest.raises(ValueError, match="structures differ"):
        tree_map(lambda u, v: u, a, {"x": [1], "y": (3,)})


def test_is_leaf_and_paths_and_errors():
    tree = {"w": [1, 2], "b": (3,)}
    leaves, spec = tree_flatten(tree, is_leaf=lambda x: isinstance(x, list))
    assert leaves == [[1, 2], 3]
    assert [p for p, _ in tree_flatten_with_path(tree)[0]] == ["['w'][0]", "['w'][1]", "['b'][0]"]
    with pytest.raises(ValueError, match="has 3 leaves, got 2"):
        tree_unflatten([1, 2], tree_structure(tree))
    assert repr(tree_structure(tree)) == "{'w': [*, *], 'b': (*,)}"
    assert tree_structure((1, 2)) != tree_structure([1, 2])
