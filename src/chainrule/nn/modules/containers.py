"""Containers: ``Sequential``, ``ModuleList``, ``ModuleDict``, ``ParameterList``,
``ParameterDict`` and ``Identity``."""

from __future__ import annotations

import operator
from collections import OrderedDict
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from ...tensor import Tensor
from ..module import Module, _addindent
from ..parameter import Parameter


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


def _extend(container: Any, values: Any, owner: str, what: str, atoms: tuple = (str,)) -> Any:
    """``container.append`` every element of ``values`` (an iterable, but not one of ``atoms``);
    returns ``container``. ``owner`` and ``what`` name the container and its elements in the
    error message."""
    if isinstance(values, atoms) or not isinstance(values, Iterable):
        raise TypeError(
            f"{owner}.extend should be called with an iterable of {what}, "
            f"got {type(values).__name__}"
        )
    for value in list(values):  # a snapshot: ``c.extend(c)`` must not chase its own tail
        container.append(value)
    return container


def _set_pairs(container: Any, items: list, owner: str, pair_name: str) -> None:
    """``container[k] = v`` for each ``(k, v)`` pair of ``items``, for ``owner.update``."""
    for j, pair in enumerate(items):
        if not isinstance(pair, (tuple, list)) or len(pair) != 2:
            raise ValueError(
                f"{owner}.update: element #{j} should be a {pair_name} pair, got {pair!r}"
            )
        container[pair[0]] = pair[1]


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
        return _extend(self, modules, "ModuleList", "modules")

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
        _set_pairs(self, items, "ModuleDict", "(name, module)")

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError(
            "ModuleDict has no forward: index it and call its modules in your own forward"
        )


# PyTorch's legacy type names, which ParameterDict's repr shows (``torch.typename``).
_TYPENAMES = {
    "float16": "HalfTensor", "float32": "FloatTensor", "float64": "DoubleTensor",
    "int8": "CharTensor", "uint8": "ByteTensor", "int16": "ShortTensor", "int32": "IntTensor",
    "int64": "LongTensor", "bool": "BoolTensor", "complex64": "ComplexFloatTensor",
    "complex128": "ComplexDoubleTensor",
}  # fmt: skip


def _as_parameter(value: Any, owner: str) -> Parameter | None:
    """A tensor becomes a :class:`Parameter` (sharing its memory, as in PyTorch)."""
    if value is None or isinstance(value, Parameter):
        return value
    if isinstance(value, Tensor):
        return Parameter(value.detach(), value.dtype.kind in "fc")
    raise TypeError(
        f"{owner} holds parameters (chainrule.nn.Parameter or chainrule.Tensor), got "
        f"{type(value).__name__} {value!r}"
    )


def _param_line(key: Any, p: Parameter | None, type_name: str) -> str:
    if p is None:
        return f"  ({key}): Object of type: NoneType"
    size = "x".join(str(n) for n in p.shape)
    device = "" if p.device == "cpu" else f" ({p.device})"
    return f"  ({key}): Parameter containing: [chainrule.{type_name} of size {size}{device}]"


class ParameterList(Module):
    """A list of parameters that the parent module registers (a plain list hides them).

    Tensors that are not yet :class:`Parameter` are wrapped into one (sharing memory), as in
    PyTorch. Entries are named ``'0'``, ``'1'``, ... so a model's ``state_dict`` shows them as
    ``'plist.0'``. Indexable (an int gives a parameter, a slice a ``ParameterList``), iterable;
    ``append``, ``extend`` and ``+=`` add at the end.

    Example:
        >>> import chainrule as cr
        >>> from chainrule import nn
        >>> class Model(nn.Module):
        ...     def __init__(self):
        ...         super().__init__()
        ...         self.plist = nn.ParameterList([nn.Parameter(cr.ones(2)), cr.zeros(3)])
        >>> m = Model()
        >>> list(m.state_dict()), len(m.plist), type(m.plist[1]).__name__
        (['plist.0', 'plist.1'], 2, 'Parameter')
        >>> m.plist
        ParameterList(
            (0): Parameter containing: [chainrule.float32 of size 2]
            (1): Parameter containing: [chainrule.float32 of size 3]
        )
    """

    def __init__(self, values: Iterable[Any] | None = None) -> None:
        super().__init__()
        if values is not None:
            self.extend(values)

    def _abs_index(self, idx: Any) -> str:
        try:
            i = operator.index(idx)
        except TypeError:
            raise TypeError(
                f"ParameterList indices must be integers or slices, got {type(idx).__name__}"
            ) from None
        n = len(self)
        if not -n <= i < n:
            raise IndexError(f"ParameterList: index {i} is out of range for {n} parameters")
        return str(i % n)

    def __getitem__(self, idx: Any) -> Any:
        if isinstance(idx, slice):
            out = type(self)()
            for i in range(*idx.indices(len(self))):
                out.append(self[i])
            return out
        return self._parameters[self._abs_index(idx)]

    def __setitem__(self, idx: int, param: Any) -> None:
        self.register_parameter(self._abs_index(idx), _as_parameter(param, "ParameterList"))

    def __len__(self) -> int:
        return len(self._parameters)

    def __iter__(self) -> Iterator[Any]:
        return iter(list(self._parameters.values()))

    def __iadd__(self, parameters: Iterable[Any]) -> ParameterList:
        return self.extend(parameters)

    def append(self, value: Any) -> ParameterList:
        """Add ``value`` (a parameter, or a tensor made one) at the end; returns self.

        Example:
            >>> import chainrule as cr
            >>> len(cr.nn.ParameterList().append(cr.ones(2)))
            1
        """
        self.register_parameter(str(len(self)), _as_parameter(value, "ParameterList"))
        return self

    def extend(self, values: Iterable[Any]) -> ParameterList:
        """Append every element of ``values``; returns self.

        Example:
            >>> import chainrule as cr
            >>> pl = cr.nn.ParameterList([cr.ones(1)]).extend([cr.ones(2), cr.ones(3)])
            >>> [p.shape for p in pl]
            [(1,), (2,), (3,)]
        """
        return _extend(self, values, "ParameterList", "parameters", (Tensor, str))

    def extra_repr(self) -> str:
        return "\n".join(
            _param_line(k, p, str(p.dtype) if p is not None else "") for k, p in enumerate(self)
        )

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("ParameterList should not be called.")


class ParameterDict(Module):
    """An ordered dict of parameters, by string key, that the parent module registers.

    Tensors that are not yet :class:`Parameter` are wrapped into one. ``update`` (and the
    constructor) keeps the order of an ``OrderedDict``, a ``ParameterDict`` or a sequence of
    ``(key, value)`` pairs, and sorts the keys of any other mapping, as PyTorch does.

    Example:
        >>> import chainrule as cr
        >>> from chainrule import nn
        >>> pd = nn.ParameterDict({"scale": cr.ones(3), "bias": cr.zeros(3)})
        >>> list(pd), "scale" in pd, pd["bias"].shape
        (['bias', 'scale'], True, (3,))
        >>> pd
        ParameterDict(
            (bias): Parameter containing: [chainrule.FloatTensor of size 3]
            (scale): Parameter containing: [chainrule.FloatTensor of size 3]
        )
    """

    def __init__(self, parameters: Any = None) -> None:
        super().__init__()
        if parameters is not None:
            self.update(parameters)

    @staticmethod
    def _key(key: Any) -> str:
        if not isinstance(key, str):
            raise TypeError(f"ParameterDict keys must be strings, got {type(key).__name__} {key!r}")
        return key

    def __getitem__(self, key: str) -> Any:
        if self._key(key) not in self._parameters:
            raise KeyError(key)
        return self._parameters[key]

    def __setitem__(self, key: str, value: Any) -> None:
        self.register_parameter(self._key(key), _as_parameter(value, "ParameterDict"))

    def __delitem__(self, key: str) -> None:
        if self._key(key) not in self._parameters:
            raise KeyError(key)
        del self._parameters[key]

    def __len__(self) -> int:
        return len(self._parameters)

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._parameters))

    def __reversed__(self) -> Iterator[str]:
        return reversed(list(self._parameters))

    def __contains__(self, key: object) -> bool:
        return key in self._parameters

    def keys(self) -> Any:
        """The keys, in order.

        Example:
            >>> import chainrule as cr
            >>> list(cr.nn.ParameterDict([("b", cr.ones(1)), ("a", cr.ones(1))]).keys())
            ['b', 'a']
        """
        return self._parameters.keys()

    def items(self) -> Any:
        """``(key, parameter)`` pairs.

        Example:
            >>> import chainrule as cr
            >>> [(k, p.shape) for k, p in cr.nn.ParameterDict({"w": cr.ones(2)}).items()]
            [('w', (2,))]
        """
        return self._parameters.items()

    def values(self) -> Any:
        """The parameters.

        Example:
            >>> import chainrule as cr
            >>> [p.shape for p in cr.nn.ParameterDict({"w": cr.ones(2)}).values()]
            [(2,)]
        """
        return self._parameters.values()

    def get(self, key: str, default: Any = None) -> Any:
        """The parameter under ``key``, or ``default``.

        Example:
            >>> import chainrule as cr
            >>> cr.nn.ParameterDict().get("missing", 0)
            0
        """
        return self._parameters[key] if key in self._parameters else default

    def setdefault(self, key: str, default: Any = None) -> Any:
        """The parameter under ``key``, first setting it to ``default`` if absent.

        Example:
            >>> import chainrule as cr
            >>> pd = cr.nn.ParameterDict(); pd.setdefault("w", cr.ones(1)).shape
            (1,)
        """
        if key not in self:
            self[key] = default
        return self[key]

    def pop(self, key: str) -> Any:
        """Remove and return the parameter under ``key``.

        Example:
            >>> import chainrule as cr
            >>> pd = cr.nn.ParameterDict({"w": cr.ones(1)}); _ = pd.pop("w"); len(pd)
            0
        """
        value = self[key]
        del self[key]
        return value

    def popitem(self) -> tuple[str, Any]:
        """Remove and return the last ``(key, parameter)`` pair.

        Example:
            >>> import chainrule as cr
            >>> cr.nn.ParameterDict([("a", cr.ones(1)), ("b", cr.ones(2))]).popitem()[0]
            'b'
        """
        if not self._parameters:
            raise KeyError("popitem(): ParameterDict is empty")
        return self._parameters.popitem()

    def clear(self) -> None:
        """Remove every parameter.

        Example:
            >>> import chainrule as cr
            >>> pd = cr.nn.ParameterDict({"w": cr.ones(1)}); pd.clear(); len(pd)
            0
        """
        self._parameters.clear()

    def copy(self) -> ParameterDict:
        """A new ``ParameterDict`` holding the same parameters (not copies of them).

        Example:
            >>> import chainrule as cr
            >>> pd = cr.nn.ParameterDict({"w": cr.ones(1)})
            >>> pd.copy()["w"] is pd["w"]
            True
        """
        return ParameterDict(OrderedDict(self._parameters))

    def fromkeys(self, keys: Iterable[str], default: Any = None) -> ParameterDict:
        """A new ``ParameterDict`` with every key of ``keys`` mapped to ``default``.

        Example:
            >>> import chainrule as cr
            >>> list(cr.nn.ParameterDict().fromkeys(["a", "b"], cr.ones(1)))
            ['a', 'b']
        """
        return ParameterDict([(k, default) for k in keys])

    def update(self, parameters: Any) -> None:
        """Add parameters from a mapping or from ``(key, value)`` pairs (see the class).

        Example:
            >>> import chainrule as cr
            >>> pd = cr.nn.ParameterDict(); pd.update({"b": cr.ones(1), "a": cr.ones(1)})
            >>> list(pd)
            ['a', 'b']
        """
        if isinstance(parameters, (OrderedDict, ParameterDict)):
            items = list(parameters.items())
        elif isinstance(parameters, Mapping):
            items = sorted(parameters.items())
        elif isinstance(parameters, Iterable) and not isinstance(parameters, (str, Tensor)):
            items = list(parameters)
        else:
            raise TypeError(
                "ParameterDict.update should be called with a mapping or an iterable of "
                f"(key, value) pairs, got {type(parameters).__name__}"
            )
        _set_pairs(self, items, "ParameterDict", "(key, value)")

    def __or__(self, other: ParameterDict) -> ParameterDict:
        out = self.copy()
        out.update(other)
        return out

    def __ror__(self, other: ParameterDict) -> ParameterDict:
        out = other.copy()
        out.update(self)
        return out

    def __ior__(self, other: ParameterDict) -> ParameterDict:
        self.update(other)
        return self

    def extra_repr(self) -> str:
        return "\n".join(
            _param_line(k, p, _TYPENAMES.get(str(p.dtype), "Tensor") if p is not None else "")
            for k, p in self.items()
        )

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("ParameterDict should not be called.")
