"""Containers: ``Sequential``, ``ModuleList``, ``ModuleDict`` and ``Identity``."""

from __future__ import annotations

import operator
from collections import OrderedDict
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from ..module import Module, _addindent


class Identity(Module):
    """Returns its input unchanged (a placeholder; extra arguments are ignored).

    Example:
        >>> import chainrule as cr
        >>> cr.nn.Identity(54, unused="argument")(cr.tensor([1.0]))
        tensor([1.])
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__()

    def forward(self, input: Any) -> Any:
        return input


def _index(idx: Any, n: int, name: str) -> int:
    i = operator.index(idx)
    if not -n <= i < n:
        raise IndexError(f"{name}: index {i} is out of range for {n} modules")
    return i % n


class Sequential(Module):
    """Modules applied one after another, the output of each the input of the next.

    Takes modules as arguments or an ``OrderedDict`` of named modules. Indexable (an int gives a
    module, a slice a ``Sequential``), iterable, and ``append`` adds at the end.

    Example:
        >>> import chainrule as cr
        >>> from chainrule import nn
        >>> model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
        >>> model(cr.zeros(3, 4)).shape, len(model), type(model[-1]).__name__
        ((3, 2), 3, 'Linear')
        >>> nn.Sequential(OrderedDict(fc=nn.Linear(2, 2), act=nn.Tanh()))
        Sequential(
          (fc): Linear(in_features=2, out_features=2, bias=True)
          (act): Tanh()
        )
    """

    def __init__(self, *args: Any) -> None:
        super().__init__()
        if len(args) == 1 and isinstance(args[0], OrderedDict):
            for key, module in args[0].items():
                self.add_module(key, module)
        else:
            for idx, module in enumerate(args):
                self.add_module(str(idx), module)

    def __getitem__(self, idx: Any) -> Any:
        if isinstance(idx, slice):
            return type(self)(OrderedDict(list(self._modules.items())[idx]))
        keys = list(self._modules)
        return self._modules[keys[_index(idx, len(keys), "Sequential")]]

    def __setitem__(self, idx: int, module: Module) -> None:
        keys = list(self._modules)
        setattr(self, keys[_index(idx, len(keys), "Sequential")], module)

    def __delitem__(self, idx: Any) -> None:
        keys = list(self._modules)
        if isinstance(idx, slice):
            for key in keys[idx]:
                del self._modules[key]
        else:
            del self._modules[keys[_index(idx, len(keys), "Sequential")]]
        # PyTorch renumbers every entry after a deletion (named ones included)
        modules = list(self._modules.values())
        self._modules.clear()
        for i, module in enumerate(modules):
            self._modules[str(i)] = module

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self) -> Iterator[Module]:
        return iter(self._modules.values())

    def __add__(self, other: Sequential) -> Sequential:
        """A new ``Sequential`` of this one's modules, then ``other``'s (as PyTorch).

        Example:
            >>> from chainrule import nn
            >>> len(nn.Sequential(nn.ReLU()) + nn.Sequential(nn.Tanh(), nn.ReLU()))
            3
        """
        if not isinstance(other, Sequential):
            raise ValueError(
                "add operator supports only objects of Sequential class, but "
                f"{type(other).__name__} is given."
            )
        return Sequential(*self, *other)

    def __iadd__(self, other: Sequential) -> Sequential:
        if not isinstance(other, Sequential):
            raise ValueError(
                "add operator supports only objects of Sequential class, but "
                f"{type(other).__name__} is given."
            )
        return self.extend(list(other))

    def append(self, module: Module) -> Sequential:
        """Add ``module`` at the end; returns self.

        Example:
            >>> from chainrule import nn
            >>> len(nn.Sequential(nn.ReLU()).append(nn.Tanh()))
            2
        """
        self.add_module(str(len(self)), module)
        return self

    def insert(self, index: int, module: Module) -> Sequential:
        """Insert ``module`` before position ``index``; returns self.

        Example:
            >>> from chainrule import nn
            >>> nn.Sequential(nn.ReLU()).insert(0, nn.Tanh())[0]
            Tanh()
        """
        if not isinstance(module, Module):
            raise TypeError(f"Sequential.insert: expected a Module, got {type(module).__name__}")
        n = len(self._modules)
        if not -n <= index <= n:
            raise IndexError(f"Sequential.insert: index {index} is out of range for {n} modules")
        if index < 0:
            index += n
        modules = list(self._modules.values())
        modules.insert(index, module)
        self._modules.clear()
        for i, m in enumerate(modules):
            self._modules[str(i)] = m
        return self

    def extend(self, sequential: Iterable[Module]) -> Sequential:
        """Append every module of ``sequential``; returns self.

        Example:
            >>> from chainrule import nn
            >>> len(nn.Sequential().extend([nn.ReLU(), nn.Tanh()]))
            2
        """
        for m in sequential:
            self.append(m)
        return self

    def pop(self, key: int) -> Module:
        """Remove and return the module at position ``key``.

        Example:
            >>> from chainrule import nn
            >>> nn.Sequential(nn.ReLU(), nn.Tanh()).pop(0)
            ReLU()
        """
        v = self[key]
        del self[key]
        return v

    def forward(self, input: Any) -> Any:
        for module in self._modules.values():
            input = module(input)
        return input


def _compressed_repr(module: Module, items: list) -> str:
    # PyTorch 2 prints runs of identical entries once: "(0-2): 3 x Linear(...)".
    reprs = [repr(m) for m in items]
    if not reprs:
        return module._get_name() + "()"
    blocks: list[list] = [[0, 0, reprs[0]]]
    for i, r in enumerate(reprs[1:], 1):
        if r == blocks[-1][2]:
            blocks[-1][1] = i
        else:
            blocks.append([i, i, r])
    lines = []
    for start, end, r in blocks:
        line = f"({start}): {r}" if start == end else f"({start}-{end}): {end - start + 1} x {r}"
        lines.append(_addindent(line, 2))
    return module._get_name() + "(\n  " + "\n  ".join(lines) + "\n)"


class ModuleList(Module):
    """A list of modules whose parameters the parent module sees (a plain list hides them).

    Example:
        >>> from chainrule import nn
        >>> layers = nn.ModuleList([nn.Linear(2, 2) for _ in range(3)])
        >>> len(layers), len(list(layers.parameters()))
        (3, 6)
        >>> layers
        ModuleList(
          (0-2): 3 x Linear(in_features=2, out_features=2, bias=True)
        )
    """

    def __init__(self, modules: Iterable[Module] | None = None) -> None:
        super().__init__()
        if modules is not None:
            self.extend(modules)

    def __getitem__(self, idx: Any) -> Any:
        if isinstance(idx, slice):
            return type(self)(list(self._modules.values())[idx])
        return self._modules[str(_index(idx, len(self), "ModuleList"))]

    def __setitem__(self, idx: int, module: Module) -> None:
        setattr(self, str(_index(idx, len(self), "ModuleList")), module)

    def __delitem__(self, idx: Any) -> None:
        if isinstance(idx, slice):
            for k in range(len(self._modules))[idx]:
                del self._modules[str(k)]
        else:
            del self._modules[str(_index(idx, len(self), "ModuleList"))]
        modules = list(self._modules.values())
        self._modules.clear()
        for i, m in enumerate(modules):
            self._modules[str(i)] = m

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self) -> Iterator[Module]:
        return iter(self._modules.values())

    def __iadd__(self, modules: Iterable[Module]) -> ModuleList:
        return self.extend(modules)

    def __add__(self, other: Iterable[Module]) -> ModuleList:
        return ModuleList([*self, *other])

    def __repr__(self) -> str:
        return _compressed_repr(self, list(self))

    def append(self, module: Module) -> ModuleList:
        """Add ``module`` at the end; returns self.

        Example:
            >>> from chainrule import nn
            >>> len(nn.ModuleList().append(nn.ReLU()))
            1
        """
        self.add_module(str(len(self)), module)
        return self

    def extend(self, modules: Iterable[Module]) -> ModuleList:
        """Append every module of ``modules`` (any iterable of modules, a ``ModuleList`` or
        ``Sequential`` included); returns self.

        Example:
            >>> from chainrule import nn
            >>> len(nn.ModuleList().extend([nn.ReLU(), nn.Tanh()]))
            2
            >>> len(nn.ModuleList([nn.ReLU()]).extend(nn.Sequential(nn.Tanh(), nn.ReLU())))
            3
        """
        if isinstance(modules, str) or not isinstance(modules, Iterable):
            raise TypeError(
                f"ModuleList.extend should be called with an iterable of modules, "
                f"got {type(modules).__name__}"
            )
        for m in list(modules):  # a snapshot: ``ml.extend(ml)`` must not chase its own tail
            self.append(m)
        return self

    def insert(self, index: int, module: Module) -> None:
        """Insert ``module`` before position ``index``.

        Example:
            >>> from chainrule import nn
            >>> ml = nn.ModuleList([nn.ReLU()]); ml.insert(0, nn.Tanh()); ml[0]
            Tanh()
        """
        modules = list(self._modules.values())
        modules.insert(index, module)
        self._modules.clear()
        for i, m in enumerate(modules):
            self.add_module(str(i), m)

    def pop(self, key: int) -> Module:
        """Remove and return the module at position ``key``.

        Example:
            >>> from chainrule import nn
            >>> nn.ModuleList([nn.ReLU(), nn.Tanh()]).pop(1)
            Tanh()
        """
        v = self[key]
        del self[key]
        return v

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError(
            "ModuleList has no forward: iterate over it and call its modules in your own forward"
        )


class ModuleDict(Module):
    """A dict of modules (insertion-ordered) whose parameters the parent module sees.

    Example:
        >>> from chainrule import nn
        >>> heads = nn.ModuleDict({"cls": nn.Linear(4, 3), "reg": nn.Linear(4, 1)})
        >>> list(heads.keys()), "cls" in heads
        (['cls', 'reg'], True)
    """

    def __init__(self, modules: Mapping[str, Module] | Iterable | None = None) -> None:
        super().__init__()
        if modules is not None:
            self.update(modules)

    def __getitem__(self, key: str) -> Module:
        return self._modules[key]

    def __setitem__(self, key: str, module: Module) -> None:
        self.add_module(key, module)

    def __delitem__(self, key: str) -> None:
        del self._modules[key]

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self) -> Iterator[str]:
        return iter(self._modules)

    def __contains__(self, key: object) -> bool:
        return key in self._modules

    def clear(self) -> None:
        """Remove every module."""
        self._modules.clear()

    def pop(self, key: str) -> Module:
        """Remove and return the module under ``key``.

        Example:
            >>> from chainrule import nn
            >>> nn.ModuleDict({"a": nn.ReLU()}).pop("a")
            ReLU()
        """
        v = self[key]
        del self[key]
        return v

    def keys(self) -> Any:
        """The names."""
        return self._modules.keys()

    def items(self) -> Any:
        """``(name, module)`` pairs."""
        return self._modules.items()

    def values(self) -> Any:
        """The modules."""
        return self._modules.values()

    def update(self, modules: Mapping[str, Module] | Iterable) -> None:
        """Add modules from a mapping (another ``ModuleDict`` included) or from
        ``(name, module)`` pairs.

        Example:
            >>> from chainrule import nn
            >>> d = nn.ModuleDict(); d.update([("act", nn.ReLU())]); list(d)
            ['act']
            >>> d.update(nn.ModuleDict({"out": nn.Tanh()})); list(d)
            ['act', 'out']
        """
        if isinstance(modules, (Mapping, ModuleDict)):
            items = list(modules.items())
        elif isinstance(modules, Iterable) and not isinstance(modules, str):
            items = list(modules)
        else:
            raise TypeError(
                "ModuleDict.update should be called with a mapping or an iterable of "
                f"(name, module) pairs, got {type(modules).__name__}"
            )
        for j, pair in enumerate(items):
            if not isinstance(pair, (tuple, list)) or len(pair) != 2:
                raise ValueError(
                    f"ModuleDict.update: element #{j} should be a (name, module) pair, got {pair!r}"
                )
            self[pair[0]] = pair[1]

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError(
            "ModuleDict has no forward: index it and call its modules in your own forward"
        )
