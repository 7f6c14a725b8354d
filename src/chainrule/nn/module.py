"""``Module``: the base class of layers and models. It registers the parameters, buffers and
submodules assigned to it, and walks them for ``parameters()``, ``state_dict()``, ``train()``...
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping
from typing import Any, NamedTuple

import numpy as np

from ..backend import to_device
from ..tensor import Tensor
from .parameter import Parameter


class _IncompatibleKeys(NamedTuple):
    missing_keys: list
    unexpected_keys: list

    def __repr__(self) -> str:
        if not self.missing_keys and not self.unexpected_keys:
            return "<All keys matched successfully>"
        return (
            f"_IncompatibleKeys(missing_keys={self.missing_keys}, "
            f"unexpected_keys={self.unexpected_keys})"
        )


class RemovableHandle:
    """Returned by ``register_forward_hook``; ``remove()`` unregisters the hook.

    Example:
        >>> import chainrule as cr
        >>> m = cr.nn.Identity()
        >>> h = m.register_forward_hook(lambda mod, args, out: None); h.remove()
        >>> len(m._forward_hooks)
        0
    """

    _next_id = 0

    def __init__(self, hooks: dict) -> None:
        self.hooks = hooks
        self.id = RemovableHandle._next_id
        RemovableHandle._next_id += 1

    def remove(self) -> None:
        """Unregister the hook."""
        self.hooks.pop(self.id, None)


def _addindent(s: str, num_spaces: int) -> str:
    lines = s.split("\n")
    if len(lines) == 1:
        return s
    first = lines.pop(0)
    return first + "\n" + "\n".join(" " * num_spaces + line for line in lines)


def _as_array(value: Any, key: str) -> Any:
    if isinstance(value, Tensor):
        return value._data
    try:
        return np.asarray(value)
    except Exception as e:  # e.g. a torch tensor that requires grad
        raise TypeError(
            f"load_state_dict: cannot read the value for {key!r} ({type(value).__name__}): {e}"
        ) from None


class Module:
    """Base class for all layers and models: subclass it, assign layers and :class:`Parameter`
    attributes in ``__init__``, and write ``forward``.

    Example:
        >>> import chainrule as cr
        >>> from chainrule import nn
        >>> class MLP(nn.Module):
        ...     def __init__(self):
        ...         super().__init__()
        ...         self.hidden = nn.Linear(2, 3)
        ...         self.out = nn.Linear(3, 1)
        ...     def forward(self, x):
        ...         return self.out(self.hidden(x).relu())
        >>> model = MLP()
        >>> [name for name, _ in model.named_parameters()]
        ['hidden.weight', 'hidden.bias', 'out.weight', 'out.bias']
        >>> model(cr.zeros(5, 2)).shape
        (5, 1)
    """

    training: bool
    _version: int = 1

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        if args or kwargs:
            raise TypeError(
                f"{type(self).__name__}.__init__() got unexpected arguments; "
                "Module.__init__ takes none"
            )
        d = self.__dict__
        d["training"] = True
        d["_parameters"] = OrderedDict()
        d["_buffers"] = OrderedDict()
        d["_non_persistent_buffers_set"] = set()
        d["_modules"] = OrderedDict()
        d["_forward_hooks"] = OrderedDict()
        d["_forward_pre_hooks"] = OrderedDict()

    # ----- forward ---------------------------------------------------------------------
    def forward(self, *args: Any, **kwargs: Any) -> Any:
        """The computation; every subclass defines it. Call the module, not ``forward``."""
        raise NotImplementedError(
            f'Module [{type(self).__name__}] is missing the required "forward" function'
        )

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        d = self.__dict__
        if d["_forward_pre_hooks"] or d["_forward_hooks"]:
            return self._call_with_hooks(args, kwargs)
        return self.forward(*args, **kwargs)

    def _call_with_hooks(self, args: tuple, kwargs: dict) -> Any:
        for hook in list(self._forward_pre_hooks.values()):
            res = hook(self, args)
            if res is not None:
                args = res if isinstance(res, tuple) else (res,)
        out = self.forward(*args, **kwargs)
        for hook in list(self._forward_hooks.values()):
            res = hook(self, args, out)
            if res is not None:
                out = res
        return out

    def register_forward_pre_hook(self, hook: Callable[..., Any]) -> RemovableHandle:
        """Call ``hook(module, args)`` before each forward; a non-None result replaces args.

        Example:
            >>> import chainrule as cr
            >>> m = cr.nn.Identity()
            >>> _ = m.register_forward_pre_hook(lambda mod, args: (args[0] * 2,))
            >>> m(cr.tensor([1.0]))
            tensor([2.])
        """
        handle = RemovableHandle(self._forward_pre_hooks)
        self._forward_pre_hooks[handle.id] = hook
        return handle

    def register_forward_hook(self, hook: Callable[..., Any]) -> RemovableHandle:
        """Call ``hook(module, args, output)`` after each forward; a non-None result replaces
        the output.

        Example:
            >>> import chainrule as cr
            >>> seen = []
            >>> m = cr.nn.ReLU()
            >>> _ = m.register_forward_hook(lambda mod, args, out: seen.append(out.shape))
            >>> _ = m(cr.zeros(2, 3)); seen
            [(2, 3)]
        """
        handle = RemovableHandle(self._forward_hooks)
        self._forward_hooks[handle.id] = hook
        return handle

    # ----- registration ----------------------------------------------------------------
    def _check_init(self, what: str) -> None:
        if "_parameters" not in self.__dict__:
            raise AttributeError(f"cannot assign {what} before Module.__init__() call")

    @staticmethod
    def _check_name(name: Any, what: str) -> None:
        if not isinstance(name, str):
            raise TypeError(f"{what} name should be a string, got {type(name).__name__}")
        if "." in name:
            raise KeyError(f'{what} name can\'t contain ".", got {name!r}')
        if name == "":
            raise KeyError(f'{what} name can\'t be empty string ""')

    def register_parameter(self, name: str, param: Parameter | None) -> None:
        """Add a parameter (or ``None``, a declared but absent one, like ``bias=False``).

        Example:
            >>> import chainrule as cr
            >>> m = cr.nn.Module()
            >>> m.register_parameter("scale", cr.nn.Parameter(cr.ones(1)))
            >>> [n for n, _ in m.named_parameters()]
            ['scale']
        """
        self._check_init("parameters")
        self._check_name(name, "parameter")
        if hasattr(self, name) and name not in self._parameters:
            raise KeyError(f"attribute '{name}' already exists")
        if param is not None and not isinstance(param, Parameter):
            raise TypeError(
                f"cannot assign '{type(param).__name__}' object to parameter '{name}' "
                "(chainrule.nn.Parameter or None required)"
            )
        if param is not None and param._node is not None:
            raise ValueError(
                f"cannot assign non-leaf Tensor to parameter '{name}'; make it a leaf with "
                "nn.Parameter(t.detach())"
            )
        self._buffers.pop(name, None)
        self._modules.pop(name, None)
        self.__dict__.pop(name, None)
        self._parameters[name] = param

    def register_buffer(self, name: str, tensor: Tensor | None, persistent: bool = True) -> None:
        """Add a tensor that is state but not a parameter (BatchNorm's running mean).

        Buffers are in ``state_dict()`` (unless ``persistent=False``) and move with ``to()``.

        Example:
            >>> import chainrule as cr
            >>> m = cr.nn.Module()
            >>> m.register_buffer("steps", cr.tensor(0))
            >>> list(m.state_dict())
            ['steps']
        """
        self._check_init("buffer")
        self._check_name(name, "buffer")
        if hasattr(self, name) and name not in self._buffers:
            raise KeyError(f"attribute '{name}' already exists")
        if tensor is not None and not isinstance(tensor, Tensor):
            raise TypeError(
                f"cannot assign '{type(tensor).__name__}' object to buffer '{name}' "
                "(chainrule.Tensor or None required)"
            )
        self._parameters.pop(name, None)
        self._modules.pop(name, None)
        self.__dict__.pop(name, None)
        self._buffers[name] = tensor
        if persistent:
            self._non_persistent_buffers_set.discard(name)
        else:
            self._non_persistent_buffers_set.add(name)

    def add_module(self, name: str, module: Module | None) -> None:
        """Add a child module under ``name`` (what attribute assignment does).

        Example:
            >>> import chainrule as cr
            >>> m = cr.nn.Module(); m.add_module("act", cr.nn.ReLU())
            >>> m
            Module(
              (act): ReLU()
            )
        """
        self._check_init("module")
        if module is not None and not isinstance(module, Module):
            raise TypeError(f"{type(module).__name__} is not a Module subclass")
        self._check_name(name, "module")
        if hasattr(self, name) and name not in self._modules:
            raise KeyError(f"attribute '{name}' already exists")
        self._modules[name] = module

    register_module = add_module

    def __setattr__(self, name: str, value: Any) -> None:
        d = self.__dict__
        params = d.get("_parameters")
        if isinstance(value, Parameter):
            if params is None:
                raise AttributeError("cannot assign parameters before Module.__init__() call")
            d.pop(name, None)
            d["_buffers"].pop(name, None)
            d["_modules"].pop(name, None)
            d["_non_persistent_buffers_set"].discard(name)
            self.register_parameter(name, value)
        elif params is not None and name in params:
            if value is not None:
                raise TypeError(
                    f"cannot assign '{type(value).__name__}' as parameter '{name}' "
                    "(chainrule.nn.Parameter or None expected)"
                )
            params[name] = None
        elif isinstance(value, Module):
            if params is None:
                raise AttributeError("cannot assign module before Module.__init__() call")
            d.pop(name, None)
            params.pop(name, None)
            d["_buffers"].pop(name, None)
            d["_non_persistent_buffers_set"].discard(name)
            d["_modules"][name] = value
        elif params is not None and name in d["_modules"]:
            if value is not None:
                raise TypeError(
                    f"cannot assign '{type(value).__name__}' as child module '{name}' "
                    "(chainrule.nn.Module or None expected)"
                )
            d["_modules"][name] = None
        elif params is not None and name in d["_buffers"]:
            if value is not None and not isinstance(value, Tensor):
                raise TypeError(
                    f"cannot assign '{type(value).__name__}' as buffer '{name}' "
                    "(chainrule.Tensor or None expected)"
                )
            d["_buffers"][name] = value
        else:
            object.__setattr__(self, name, value)

    def __getattr__(self, name: str) -> Any:
        d = self.__dict__
        for store in ("_parameters", "_buffers", "_modules"):
            s = d.get(store)
            if s is not None and name in s:
                return s[name]
        raise AttributeError(f"'{type(self).__name__}' object has no attribute '{name}'")

    def __delattr__(self, name: str) -> None:
        d = self.__dict__
        for store in ("_parameters", "_buffers", "_modules"):
            if name in d.get(store, ()):
                del d[store][name]
                d["_non_persistent_buffers_set"].discard(name)
                return
        object.__delattr__(self, name)

    def __dir__(self) -> list:
        keys = set(super().__dir__())
        keys.update(self._parameters, self._buffers, self._modules)
        return sorted(k for k in keys if not k[0].isdigit())

    # ----- walking the tree ------------------------------------------------------------
    def named_modules(
        self, memo: set | None = None, prefix: str = "", remove_duplicate: bool = True
    ) -> Iterator[tuple[str, Module]]:
        """``(name, module)`` for this module (name ``''``) and every module below it.

        Example:
            >>> from chainrule import nn
            >>> [n for n, _ in nn.Sequential(nn.Linear(2, 2), nn.ReLU()).named_modules()]
            ['', '0', '1']
        """
        if memo is None:
            memo = set()
        if remove_duplicate:
            if id(self) in memo:
                return
            memo.add(id(self))
        yield prefix, self
        for name, module in self._modules.items():
            if module is None:
                continue
            sub = prefix + ("." if prefix else "") + name
            yield from module.named_modules(memo, sub, remove_duplicate)

    def modules(self) -> Iterator[Module]:
        """This module and every module below it, each once.

        Example:
            >>> from chainrule import nn
            >>> len(list(nn.Sequential(nn.Linear(2, 2), nn.ReLU()).modules()))
            3
        """
        for _, m in self.named_modules():
            yield m

    def named_children(self) -> Iterator[tuple[str, Module]]:
        """``(name, module)`` for the direct children.

        Example:
            >>> from chainrule import nn
            >>> [n for n, _ in nn.Sequential(nn.Linear(2, 2), nn.ReLU()).named_children()]
            ['0', '1']
        """
        seen: set[int] = set()
        for name, module in self._modules.items():
            if module is not None and id(module) not in seen:
                seen.add(id(module))
                yield name, module

    def children(self) -> Iterator[Module]:
        """The direct children.

        Example:
            >>> from chainrule import nn
            >>> [type(m).__name__ for m in nn.Sequential(nn.Linear(2, 2), nn.ReLU()).children()]
            ['Linear', 'ReLU']
        """
        for _, m in self.named_children():
            yield m

    def _named_members(
        self, store: str, prefix: str, recurse: bool, remove_duplicate: bool
    ) -> Iterator[tuple[str, Any]]:
        seen: set[int] = set()
        mods = (
            self.named_modules(prefix=prefix, remove_duplicate=remove_duplicate)
            if recurse
            else [(prefix, self)]
        )
        for mod_prefix, module in mods:
            for name, value in getattr(module, store).items():
                if value is None:
                    continue
                if remove_duplicate:
                    if id(value) in seen:
                        continue
                    seen.add(id(value))
                yield mod_prefix + ("." if mod_prefix else "") + name, value

    def named_parameters(
        self, prefix: str = "", recurse: bool = True, remove_duplicate: bool = True
    ) -> Iterator[tuple[str, Parameter]]:
        """``(dotted name, parameter)`` pairs, each shared parameter once.

        Example:
            >>> from chainrule import nn
            >>> [(n, p.shape) for n, p in nn.Linear(2, 3).named_parameters()]
            [('weight', (3, 2)), ('bias', (3,))]
        """
        return self._named_members("_parameters", prefix, recurse, remove_duplicate)

    def parameters(self, recurse: bool = True) -> Iterator[Parameter]:
        """The parameters of this module and (with ``recurse``) of every module below it.

        Example:
            >>> from chainrule import nn
            >>> sum(p.numel() for p in nn.Linear(2, 3).parameters())
            9
        """
        for _, p in self.named_parameters(recurse=recurse):
            yield p

    def named_buffers(
        self, prefix: str = "", recurse: bool = True, remove_duplicate: bool = True
    ) -> Iterator[tuple[str, Tensor]]:
        """``(dotted name, buffer)`` pairs.

        Example:
            >>> from chainrule import nn
            >>> [n for n, _ in nn.BatchNorm1d(3).named_buffers()]
            ['running_mean', 'running_var', 'num_batches_tracked']
        """
        return self._named_members("_buffers", prefix, recurse, remove_duplicate)

    def buffers(self, recurse: bool = True) -> Iterator[Tensor]:
        """The buffers of this module and (with ``recurse``) of every module below it.

        Example:
            >>> from chainrule import nn
            >>> len(list(nn.BatchNorm1d(3).buffers()))
            3
        """
        for _, b in self.named_buffers(recurse=recurse):
            yield b

    def get_submodule(self, target: str) -> Module:
        """The module at dotted path ``target`` (``''`` is this module).

        Example:
            >>> from chainrule import nn
            >>> m = nn.Sequential(nn.Sequential(nn.Linear(1, 1)))
            >>> m.get_submodule("0.0")
            Linear(in_features=1, out_features=1, bias=True)
        """
        mod: Module = self
        if target == "":
            return mod
        for item in target.split("."):
            child = mod._modules.get(item)
            if child is None:
                raise AttributeError(f"{mod._get_name()} has no submodule `{item}` ({target!r})")
            mod = child
        return mod

    # ----- modes -----------------------------------------------------------------------
    def train(self, mode: bool = True) -> Module:
        """Put this module and every module below it in training mode (``mode=False``: eval).

        Dropout and BatchNorm behave differently in the two modes.

        Example:
            >>> from chainrule import nn
            >>> m = nn.Sequential(nn.Dropout(0.5)).train(False)
            >>> m[0].training
            False
        """
        if not isinstance(mode, bool):
            raise ValueError(f"training mode is expected to be boolean, got {mode!r}")
        for m in self.modules():
            m.__dict__["training"] = mode
        return self

    def eval(self) -> Module:
        """Evaluation mode: ``train(False)``.

        Example:
            >>> from chainrule import nn
            >>> nn.Dropout().eval().training
            False
        """
        return self.train(False)

    def requires_grad_(self, requires_grad: bool = True) -> Module:
        """Set ``requires_grad`` of every parameter (``False`` freezes the module).

        Example:
            >>> from chainrule import nn
            >>> m = nn.Linear(2, 2).requires_grad_(False)
            >>> [p.requires_grad for p in m.parameters()]
            [False, False]
        """
        for p in self.parameters():
            p.requires_grad_(requires_grad)
        return self

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Reset the gradients of all parameters: to ``None`` (default) or to zeros.

        Example:
            >>> import chainrule as cr
            >>> m = cr.nn.Linear(2, 1)
            >>> m(cr.ones(1, 2)).sum().backward()
            >>> m.zero_grad(); m.weight.grad is None
            True
        """
        for p in self.parameters():
            if p.grad is None:
                continue
            if set_to_none:
                p.grad = None
            else:
                if p.grad._node is not None:
                    p.grad = p.grad.detach()
                else:
                    p.grad._requires_grad = False
                p.grad.zero_()

    def apply(self, fn: Callable[[Module], Any]) -> Module:
        """Call ``fn`` on every submodule (children first) and then on this module.

        Example:
            >>> from chainrule import nn
            >>> m = nn.Sequential(nn.Linear(2, 2), nn.ReLU())
            >>> names = []
            >>> _ = m.apply(lambda mod: names.append(type(mod).__name__)); names
            ['Linear', 'ReLU', 'Sequential']
        """
        for module in self.children():
            module.apply(fn)
        fn(self)
        return self

    # ----- device and dtype ------------------------------------------------------------
    def _apply(self, fn: Callable[[Any], Any]) -> Module:
        # Change the arrays in place so Parameter objects keep their identity: an optimizer
        # built before `.to()` still holds the same parameters.
        for module in self.children():
            module._apply(fn)
        for p in self._parameters.values():
            if p is None:
                continue
            p.data = fn(p._data)
            if p.grad is not None:
                p.grad.data = fn(p.grad._data)
        for b in self._buffers.values():
            if b is not None:
                b.data = fn(b._data)
        return self

    def to(self, *args: Any, **kwargs: Any) -> Module:
        """Move parameters and buffers to a device and/or cast the floating ones to a dtype,
        in place; returns self.

        Example:
            >>> import chainrule as cr
            >>> m = cr.nn.Linear(2, 2).to(cr.float64)
            >>> m.weight.dtype
            dtype('float64')
        """
        from .._device import device as device_cls

        device = kwargs.pop("device", None)
        dtype = kwargs.pop("dtype", None)
        kwargs.pop("non_blocking", None)
        if kwargs:
            raise TypeError(f"to() got unexpected keyword arguments {sorted(kwargs)}")
        for a in args:
            if isinstance(a, Tensor):
                device, dtype = a.device, a.dtype
            elif isinstance(a, bool):  # to(device, dtype, non_blocking)
                continue
            elif isinstance(a, (str, device_cls, int)):
                device = a
            elif a is not None:
                dtype = a
        if dtype is not None:
            dtype = np.dtype(dtype)
            if dtype.kind not in "fc":
                raise TypeError(
                    "nn.Module.to only accepts floating point dtypes, but got desired "
                    f"dtype={dtype}"
                )

        def convert(arr: Any) -> Any:
            if dtype is not None and arr.dtype.kind in "fc" and arr.dtype != dtype:
                arr = arr.astype(dtype)
            if device is not None:
                arr = to_device(arr, device)
            return arr

        return self._apply(convert)

    def cpu(self) -> Module:
        """Move parameters and buffers to the CPU.

        Example:
            >>> from chainrule import nn
            >>> nn.Linear(1, 1).cpu().weight.device
            device(type='cpu')
        """
        return self.to("cpu")

    def cuda(self, device: Any = None) -> Module:
        """Move parameters and buffers to GPU ``device`` (the current one by default; needs CuPy
        and a GPU)."""
        return self.to("cuda" if device is None else device)

    def float(self) -> Module:
        """Cast floating parameters and buffers to float32.

        Example:
            >>> from chainrule import nn
            >>> nn.Linear(1, 1).double().float().weight.dtype
            dtype('float32')
        """
        return self.to(np.float32)

    def double(self) -> Module:
        """Cast floating parameters and buffers to float64.

        Example:
            >>> from chainrule import nn
            >>> nn.Linear(1, 1).double().weight.dtype
            dtype('float64')
        """
        return self.to(np.float64)

    def half(self) -> Module:
        """Cast floating parameters and buffers to float16.

        Example:
            >>> from chainrule import nn
            >>> nn.Linear(1, 1).half().weight.dtype
            dtype('float16')
        """
        return self.to(np.float16)

    # ----- state dict ------------------------------------------------------------------
    def state_dict(
        self, *, destination: Any = None, prefix: str = "", keep_vars: bool = False
    ) -> OrderedDict:
        """Parameters and persistent buffers by dotted name (``'0.weight'``), as tensors that
        share memory with the module (detached unless ``keep_vars``).

        Example:
            >>> from chainrule import nn
            >>> list(nn.Sequential(nn.Linear(2, 2), nn.BatchNorm1d(2)).state_dict())
            ['0.weight', '0.bias', '1.weight', '1.bias', '1.running_mean', '1.running_var', '1.num_batches_tracked']
        """  # noqa: E501
        if destination is None:
            destination = OrderedDict()
        for name, p in self._parameters.items():
            if p is not None:
                destination[prefix + name] = p if keep_vars else p.detach()
        for name, b in self._buffers.items():
            if b is not None and name not in self._non_persistent_buffers_set:
                destination[prefix + name] = b if keep_vars else b.detach()
        for name, module in self._modules.items():
            if module is not None:
                module.state_dict(
                    destination=destination, prefix=prefix + name + ".", keep_vars=keep_vars
                )
        return destination

    def _load_from_state_dict(
        self,
        state_dict: Mapping,
        prefix: str,
        assign: bool,
        missing: list,
        unexpected: list,
        errors: list,
    ) -> None:
        persistent = {
            k: v for k, v in self._buffers.items() if k not in self._non_persistent_buffers_set
        }
        local = {k: v for k, v in {**self._parameters, **persistent}.items() if v is not None}
        for name, param in local.items():
            key = prefix + name
            if key not in state_dict:
                missing.append(key)
                continue
            arr = _as_array(state_dict[key], key)
            if param.ndim == 0 and arr.shape == (1,):  # checkpoints from old PyTorch versions
                arr = arr.reshape(())
            if tuple(arr.shape) != tuple(param.shape):
                errors.append(
                    f"size mismatch for {key}: copying a param with shape {tuple(arr.shape)} "
                    f"from checkpoint, the shape in current model is {tuple(param.shape)}."
                )
                continue
            if assign:
                data = to_device(arr, param.device)
                if isinstance(param, Parameter):
                    setattr(self, name, Parameter(data, param.requires_grad))
                else:
                    self._buffers[name] = Tensor(data)
                continue
            try:
                value = to_device(arr, param.device)
                param._mutate(lambda a, value=value: a.__setitem__(..., value))
            except (TypeError, ValueError) as e:
                errors.append(
                    f'While copying the parameter named "{key}", whose dimensions in the model '
                    f"are {tuple(param.shape)} and whose dimensions in the checkpoint are "
                    f"{tuple(arr.shape)}, an exception occurred : {e}."
                )
        for key in state_dict:
            if not key.startswith(prefix):
                continue
            parts = key[len(prefix) :].split(".", 1)
            if len(parts) > 1:
                if parts[0] not in self._modules:
                    unexpected.append(key)
            elif parts[0] not in local:
                unexpected.append(key)

    def load_state_dict(
        self, state_dict: Mapping, strict: bool = True, assign: bool = False
    ) -> _IncompatibleKeys:
        """Copy parameters and buffers from ``state_dict`` (tensors, arrays or nested lists)
        into this module, in place.

        With ``strict`` (the default) missing and unexpected keys are an error; a shape mismatch
        always is. Returns ``(missing_keys, unexpected_keys)``.

        Example:
            >>> from chainrule import nn
            >>> a, b = nn.Linear(2, 2), nn.Linear(2, 2)
            >>> b.load_state_dict(a.state_dict())
            <All keys matched successfully>
            >>> bool((a.weight == b.weight).all())
            True
        """
        if not isinstance(state_dict, Mapping):
            raise TypeError(f"Expected state_dict to be dict-like, got {type(state_dict)}.")
        missing: list = []
        unexpected: list = []
        errors: list = []
        # Shared submodules load under every name they have, as in PyTorch.
        for prefix, module in self.named_modules(remove_duplicate=False):
            p = prefix + "." if prefix else ""
            module._load_from_state_dict(state_dict, p, assign, missing, unexpected, errors)
        if strict:
            if unexpected:
                keys = ", ".join(f'"{k}"' for k in unexpected)
                errors.insert(0, f"Unexpected key(s) in state_dict: {keys}. ")
            if missing:
                keys = ", ".join(f'"{k}"' for k in missing)
                errors.insert(0, f"Missing key(s) in state_dict: {keys}. ")
        if errors:
            raise RuntimeError(
                f"Error(s) in loading state_dict for {type(self).__name__}:\n\t"
                + "\n\t".join(errors)
            )
        return _IncompatibleKeys(missing, unexpected)

    # ----- display ---------------------------------------------------------------------
    def _get_name(self) -> str:
        return type(self).__name__

    def extra_repr(self) -> str:
        """The module's own settings shown inside its repr (``in_features=2, ...``).

        Example:
            >>> from chainrule import nn
            >>> nn.Linear(2, 3).extra_repr()
            'in_features=2, out_features=3, bias=True'
        """
        return ""

    def __repr__(self) -> str:
        extra = self.extra_repr()
        extra_lines = extra.split("\n") if extra else []
        child_lines = [
            f"({key}): " + _addindent(repr(module), 2) for key, module in self._modules.items()
        ]
        lines = extra_lines + child_lines
        main = self._get_name() + "("
        if lines:
            if len(extra_lines) == 1 and not child_lines:
                main += extra_lines[0]
            else:
                main += "\n  " + "\n  ".join(lines) + "\n"
        return main + ")"
