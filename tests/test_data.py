"""chainrule.data: Dataset, TensorDataset, Subset, random_split, DataLoader and collation."""

from __future__ import annotations

from collections import namedtuple

import numpy as np
import pytest
import torch

import chainrule as cr
from chainrule.data import (
    ConcatDataset,
    DataLoader,
    Dataset,
    IterableDataset,
    Subset,
    TensorDataset,
    default_collate,
    random_split,
)


def _data(n: int = 10) -> tuple[cr.Tensor, cr.Tensor]:
    X = cr.tensor(np.arange(n * 3, dtype=np.float32).reshape(n, 3))
    y = cr.tensor(np.arange(n) % 3)
    return X, y


class ListDataset(Dataset):
    """A map-style dataset that is not a TensorDataset: exercises the general path."""

    def __init__(self, items: list) -> None:
        self.items = items

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int):
        return self.items[i]


# ----- TensorDataset / Subset / ConcatDataset ----------------------------------------------
def test_tensor_dataset_items_and_len():
    X, y = _data()
    ds = TensorDataset(X, y)
    assert len(ds) == 10
    x3, y3 = ds[3]
    assert x3.tolist() == [9.0, 10.0, 11.0] and y3.item() == 0
    assert x3.dtype == np.float32 and y3.dtype == np.int64


def test_tensor_dataset_size_mismatch_names_sizes():
    with pytest.raises(ValueError, match=r"\[5, 4\]"):
        TensorDataset(cr.zeros(5, 2), cr.zeros(4))
    with pytest.raises(ValueError, match="at least one"):
        TensorDataset()
    with pytest.raises(ValueError, match="0-dimensional"):
        TensorDataset(cr.tensor(1.0))


def test_subset_and_concat():
    ds = Subset(list("abcdef"), [5, 1, 3])
    assert [ds[i] for i in range(len(ds))] == ["f", "b", "d"]
    cat = ConcatDataset([[1, 2], [3], [4, 5, 6]])
    assert len(cat) == 6 and [cat[i] for i in range(6)] == [1, 2, 3, 4, 5, 6]
    assert cat[-1] == 6
    with pytest.raises(IndexError):
        cat[6]


# ----- random_split -------------------------------------------------------------------------
def test_random_split_sizes_disjoint_and_covering():
    parts = random_split(range(100), [70, 20, 10], generator=cr.Generator().manual_seed(1))
    assert [len(p) for p in parts] == [70, 20, 10]
    seen = [x for p in parts for x in p]
    assert sorted(seen) == list(range(100))  # disjoint and covering
    assert seen != list(range(100))  # actually shuffled


def test_random_split_fractions_like_torch():
    for n, fr in [(10, [0.5, 0.5]), (11, [0.3, 0.3, 0.4]), (7, [0.1, 0.9]), (5, [0.25] * 4)]:
        ours = [len(p) for p in random_split(range(n), fr, generator=cr.Generator(0))]
        theirs = [len(p) for p in torch.utils.data.random_split(range(n), fr)]
        assert ours == theirs, (n, fr)
        assert sum(ours) == n


def test_random_split_reproducible_and_errors():
    a = random_split(range(20), [10, 10], generator=cr.Generator().manual_seed(3))
    b = random_split(range(20), [10, 10], generator=cr.Generator().manual_seed(3))
    c = random_split(range(20), [10, 10], generator=cr.Generator().manual_seed(4))
    assert list(a[0]) == list(b[0]) and list(a[0]) != list(c[0])
    with pytest.raises(ValueError, match="does not equal the length"):
        random_split(range(10), [3, 3])
    with pytest.raises(ValueError, match="sum to 1"):
        random_split(range(10), [0.5, 0.2])


# ----- DataLoader: batching ------------------------------------------------------------------
@pytest.mark.parametrize("fast", [True, False])
@pytest.mark.parametrize("drop_last", [False, True])
def test_batches_shapes_dtypes_and_len(fast, drop_last):
    X, y = _data(10)
    ds = TensorDataset(X, y) if fast else ListDataset(list(zip(X, y)))
    loader = DataLoader(ds, batch_size=4, drop_last=drop_last)
    batches = list(loader)
    assert len(loader) == len(batches) == (2 if drop_last else 3)
    sizes = [len(b[1]) for b in batches]
    assert sizes == ([4, 4] if drop_last else [4, 4, 2])
    for xb, yb in batches:
        assert xb.shape == (len(yb), 3) and xb.dtype == np.float32 and yb.dtype == np.int64
    flat = np.concatenate([xb.numpy() for xb, _ in batches])
    assert np.array_equal(flat, X.numpy()[: len(flat)])


def test_fast_and_general_paths_give_the_same_batches():
    X, y = _data(23)
    g1, g2 = cr.Generator().manual_seed(5), cr.Generator().manual_seed(5)
    fast = DataLoader(TensorDataset(X, y), batch_size=5, shuffle=True, generator=g1)
    slow = DataLoader(ListDataset(list(zip(X, y))), batch_size=5, shuffle=True, generator=g2)
    for _ in range(2):  # two epochs
        for (a, b), (c, d) in zip(fast, slow, strict=True):
            assert np.array_equal(a.numpy(), c.numpy()) and np.array_equal(b.numpy(), d.numpy())


def test_fast_path_through_subsets_of_random_split():
    X, y = _data(30)
    train, val = random_split(TensorDataset(X, y), [0.8, 0.2], generator=cr.Generator(0))
    got = np.concatenate([yb.numpy() for _, yb in DataLoader(val, batch_size=4)])
    want = np.array([val[i][1].item() for i in range(len(val))])
    assert np.array_equal(got, want)
    rows = np.concatenate([xb.numpy() for xb, _ in DataLoader(Subset(train, [2, 0]))])
    assert np.array_equal(rows, np.stack([train[2][0].numpy(), train[0][0].numpy()]))


def test_batches_do_not_alias_the_dataset():
    X, y = _data(6)
    xb, _ = next(iter(DataLoader(TensorDataset(X, y), batch_size=3)))
    xb._data[:] = -1
    assert X.numpy().min() >= 0


def test_batch_size_validation_and_num_workers():
    with pytest.raises(ValueError, match="positive integer"):
        DataLoader(range(3), batch_size=0)
    with pytest.raises(ValueError, match="num_workers"):
        DataLoader(range(3), num_workers=2)
    with pytest.raises(TypeError, match="chainrule.Generator"):
        DataLoader(range(3), shuffle=True, generator=np.random.default_rng(0))


def test_batch_size_none_yields_samples():
    assert list(DataLoader([1, 2, 3], batch_size=None)) == [1, 2, 3]


def test_custom_collate_fn_and_batch_sampler():
    loader = DataLoader(range(7), batch_size=3, collate_fn=lambda b: sum(b))
    assert list(loader) == [3, 12, 6]
    loader = DataLoader(range(5), batch_sampler=[[4, 0], [2]])
    assert [b.tolist() for b in loader] == [[4, 0], [2]] and len(loader) == 2


def test_iterable_dataset():
    class Stream(IterableDataset):
        def __iter__(self):
            return iter(range(5))

    assert [b.tolist() for b in DataLoader(Stream(), batch_size=2, drop_last=True)] == [
        [0, 1],
        [2, 3],
    ]
    with pytest.raises(ValueError, match="shuffle"):
        DataLoader(Stream(), shuffle=True)


# ----- DataLoader: collation -----------------------------------------------------------------
def test_collate_tuples_numbers_arrays_like_torch():
    batch = [(np.float32(1.0), 2, 3.5, True, np.ones(2, np.int32), "a") for _ in range(3)]
    ours = default_collate(batch)
    theirs = torch.utils.data.default_collate(batch)
    assert isinstance(ours, list) and len(ours) == len(theirs)
    for o, t in zip(ours[:5], theirs[:5]):
        assert o.shape == tuple(t.shape)
        assert str(o.dtype) == str(t.dtype).replace("torch.", "").replace("bool", "bool")
        assert np.array_equal(o.numpy(), t.numpy())
    assert ours[5] == ["a", "a", "a"]


def test_collate_nested_dicts_through_the_loader():
    samples = [
        {"x": cr.tensor([float(i), 0.0]), "meta": {"id": i, "tags": [i, -i]}, "name": f"s{i}"}
        for i in range(5)
    ]
    batches = list(DataLoader(ListDataset(samples), batch_size=2))
    assert len(batches) == 3
    b = batches[0]
    assert set(b) == {"x", "meta", "name"}
    assert b["x"].shape == (2, 2) and b["x"][:, 0].tolist() == [0.0, 1.0]
    assert b["meta"]["id"].tolist() == [0, 1] and b["meta"]["id"].dtype == np.int64
    assert [t.tolist() for t in b["meta"]["tags"]] == [[0, 1], [0, -1]]
    assert b["name"] == ["s0", "s1"]
    assert batches[2]["x"].shape == (1, 2)


def test_collate_namedtuple_and_errors():
    P = namedtuple("P", "a b")
    out = default_collate([P(1, 2.0), P(3, 4.0)])
    assert isinstance(out, P) and out.a.tolist() == [1, 3]
    with pytest.raises(RuntimeError, match="equal size"):
        default_collate([[1, 2], [3]])
    with pytest.raises(TypeError, match="NoneType"):
        default_collate([None, None])


# ----- DataLoader: shuffling -----------------------------------------------------------------
def _epoch_labels(loader) -> list[int]:
    return [int(v) for _, yb in loader for v in yb.tolist()]


def test_shuffle_is_a_permutation_reproducible_and_new_each_epoch():
    n = 50
    X = cr.tensor(np.arange(n, dtype=np.float32)[:, None])
    y = cr.tensor(np.arange(n))
    make = lambda seed: DataLoader(  # noqa: E731
        TensorDataset(X, y), batch_size=8, shuffle=True, generator=cr.Generator().manual_seed(seed)
    )
    a, b, c = make(0), make(0), make(1)
    a1, a2 = _epoch_labels(a), _epoch_labels(a)
    assert sorted(a1) == list(range(n)) and sorted(a2) == list(range(n))
    assert a1 != list(range(n))
    assert a1 != a2  # a new order each epoch, as torch
    assert [a1, a2] == [_epoch_labels(b), _epoch_labels(b)]  # same seed, same epochs
    assert _epoch_labels(c) != a1
    for xb, yb in make(0):  # rows stay paired with their labels
        assert np.array_equal(xb.numpy()[:, 0].astype(np.int64), yb.numpy())


def test_shuffle_without_generator_follows_manual_seed():
    cr.manual_seed(7)
    first = _epoch_labels(DataLoader(TensorDataset(*_data(20)), batch_size=4, shuffle=True))
    cr.manual_seed(7)
    again = _epoch_labels(DataLoader(TensorDataset(*_data(20)), batch_size=4, shuffle=True))
    assert first == again


def test_tensor_dataset_batches_skip_per_sample_indexing(monkeypatch):
    """The fast path is taken: no per-sample __getitem__ (plain or through random_split)."""
    X, y = _data(12)
    full = TensorDataset(X, y)
    part = random_split(full, [8, 4], generator=cr.Generator(0))[0]

    def boom(self, i):
        raise AssertionError("per-sample indexing on the TensorDataset fast path")

    monkeypatch.setattr(TensorDataset, "__getitem__", boom)
    assert sum(len(yb) for _, yb in DataLoader(full, batch_size=5, shuffle=True)) == 12
    assert sum(len(yb) for _, yb in DataLoader(part, batch_size=3, drop_last=True)) == 6
    with pytest.raises(AssertionError, match="per-sample"):  # a custom collate_fn goes slow
        list(DataLoader(full, batch_size=5, collate_fn=list))


def test_subclass_overriding_getitem_is_not_bypassed_by_the_fast_path():
    """A Subset/TensorDataset subclass may augment each sample: the loader must call it."""

    class Aug(Subset):
        def __getitem__(self, i):
            (x,) = self.dataset[self.indices[i]]
            return (x * 100,)

    class Neg(TensorDataset):
        def __getitem__(self, i):
            return tuple(-t for t in super().__getitem__(i))

    def rows(ds):
        return [b.tolist() for (b,) in DataLoader(ds, batch_size=2)]

    assert rows(Aug(TensorDataset(cr.arange(4.0)), [0, 1, 2, 3])) == [[0, 100], [200, 300]]
    assert rows(Subset(Aug(TensorDataset(cr.arange(4.0)), [3, 2]), [0, 1])) == [[300, 200]]
    assert rows(Subset(Neg(cr.arange(3.0)), [2, 1, 0])) == [[-2, -1], [0]]
