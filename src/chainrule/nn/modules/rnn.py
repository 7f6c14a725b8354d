"""Recurrent layers as PyTorch's: ``RNN``, ``LSTM``, ``GRU`` and their one-step cells.

Parameter names, shapes, gate order (LSTM ``i, f, g, o``; GRU ``r, z, n``) and initialization
are PyTorch's, so a PyTorch ``state_dict`` loads unchanged.

How a layer runs, per layer and direction:

- the input projection of every time step is ONE matrix product, ``x @ W_ih^T + b`` over the
  whole ``(L, N, H_in)`` sequence (:func:`~chainrule.nn.functional.linear`, recorded as usual);
- the recurrence is one :class:`~chainrule.autograd.Function` node for the whole sequence: its
  forward is the loop over time on arrays (one ``h @ W_hh^T`` per step), its backward is
  backpropagation through time on arrays, with ``dW_hh`` as one matrix product over all steps.
  So a sequence costs a handful of graph nodes, not a dozen per step.
- For a differentiable backward (``create_graph=True``, second derivatives) the recurrence is
  replayed from the same step functions on tensors, recorded, and differentiated again, so
  higher derivatives are exact.

The step functions (``_rnn_step``, ``_lstm_step``, ``_gru_step``) are the one definition of
each cell's math: they run on arrays in the fast forward and on tensors in the replay.
"""

from __future__ import annotations

import math
import numbers
import warnings
from typing import Any

from ... import functions
from ...autograd.engine import grad as _autograd_grad
from ...autograd.function import Function, FunctionCtx
from ...autograd.grad_mode import is_grad_enabled
from ...backend import array_module
from ...creation import empty, zeros
from ...ops import elementwise as E
from ...tensor import Tensor
from .. import functional as F
from .. import init
from ..module import Module
from ..parameter import Parameter

_GATES = {"RNN_TANH": 1, "RNN_RELU": 1, "LSTM": 4, "GRU": 3}


# ----- one time step, on arrays or on tensors ------------------------------------------------
def _sigmoid_tanh_scales(hs: int, dtype: Any, xp: Any) -> tuple:
    """Per-column scale and offset so that ``tanh(a * scale) * scale + offset`` is the sigmoid
    of the ``i, f, o`` quarters and the tanh of the ``g`` quarter (sigmoid(a) = tanh(a/2)/2 +
    1/2): all four LSTM gate activations in one ``tanh``."""
    scale = xp.full(4 * hs, 0.5, dtype=dtype)
    scale[2 * hs : 3 * hs] = 1.0
    return scale, 1.0 - scale


def _rnn_step(gx: Any, h: Any, w_t: Any, relu: bool) -> Any:
    """``h' = tanh(gx + h W_hh^T)`` (or relu); ``gx`` already holds ``x W_ih^T + b``, ``w_t``
    is ``W_hh^T``."""
    a = gx + h @ w_t
    return E.relu(a) if relu else E.tanh(a)


def _lstm_step(gx: Any, h: Any, c: Any, w_t: Any, scales: tuple, wr_t: Any) -> tuple:
    """LSTM gates ``i, f, g, o`` of ``gx + h W_hh^T``; ``c' = f c + i g``, ``h' = o tanh(c')``
    (times ``W_hr^T`` with a projection). Returns ``h', c'`` and the activated gates."""
    hs = c.shape[-1]
    act = E.tanh((gx + h @ w_t) * scales[0]) * scales[0] + scales[1]
    c = act[:, hs : 2 * hs] * c + act[:, :hs] * act[:, 2 * hs : 3 * hs]
    h = act[:, 3 * hs :] * E.tanh(c)
    return (h if wr_t is None else h @ wr_t), c, act


def _gru_step(gx: Any, h: Any, w_t: Any, b_hh: Any) -> tuple:
    """GRU gates ``r, z`` = sigmoid(gx + h W_hh^T + b_hh) on their thirds,
    ``n = tanh(gx_n + r (h W_hn^T + b_hn))``, ``h' = (1 - z) n + z h``. Returns ``h'`` and
    ``r, z`` (together), ``n`` and ``h W_hn^T + b_hn``."""
    hs = h.shape[-1]
    gh = h @ w_t if b_hh is None else h @ w_t + b_hh
    rz = E.sigmoid(gx[:, : 2 * hs] + gh[:, : 2 * hs])
    ghn = gh[:, 2 * hs :]
    n = E.tanh(gx[:, 2 * hs :] + rz[:, :hs] * ghn)
    return n + rz[:, hs:] * (h - n), rz, n, ghn


def _order(length: int, reverse: bool) -> range:
    return range(length - 1, -1, -1) if reverse else range(length)


def _run(gx: Any, h0: Any, c0: Any, w_hh: Any, b_hh: Any, w_hr: Any, mode: str, reverse: bool,
         xp: Any, keep: dict | None = None) -> tuple:  # fmt: skip
    """The loop over time, on arrays (``keep`` then collects what the backward pass reads, one
    ``(L, ...)`` array per name) or on tensors (recorded). Returns the per-step outputs in time
    order, ``h_n`` and ``c_n`` (None but for LSTM)."""
    length = gx.shape[0]
    w_t, wr_t = w_hh.T, (None if w_hr is None else w_hr.T)
    if keep is not None:  # contiguous transposes: the products run faster on them
        w_t = xp.ascontiguousarray(w_t)
        wr_t = None if wr_t is None else xp.ascontiguousarray(wr_t)
    h, c = h0, c0
    outs: list = [None] * length
    if mode == "LSTM":
        scales = _sigmoid_tanh_scales(c0.shape[-1], gx.dtype, array_module(gx._data
                                      if isinstance(gx, Tensor) else gx))  # fmt: skip
        if keep is not None:
            keep["act"] = xp.empty_like(gx)
            keep["c"] = xp.empty((length, *c0.shape), c0.dtype)
        for t in _order(length, reverse):
            h, c, act = _lstm_step(gx[t], h, c, w_t, scales, wr_t)
            outs[t] = h
            if keep is not None:
                keep["act"][t], keep["c"][t] = act, c
    elif mode == "GRU":
        if keep is not None:
            hs = h0.shape[-1]
            keep["rz"] = xp.empty((length, h0.shape[0], 2 * hs), h0.dtype)
            keep["n"] = xp.empty((length, *h0.shape), h0.dtype)
            keep["ghn"] = xp.empty((length, *h0.shape), h0.dtype)
        for t in _order(length, reverse):
            h, rz, n, ghn = _gru_step(gx[t], h, w_t, b_hh)
            outs[t] = h
            if keep is not None:
                keep["rz"][t], keep["n"][t], keep["ghn"][t] = rz, n, ghn
    else:
        for t in _order(length, reverse):
            h = outs[t] = _rnn_step(gx[t], h, w_t, mode == "RNN_RELU")
    return outs, h, c


def _shifted(out: Any, first: Any, reverse: bool, xp: Any) -> Any:
    """The state each step read: ``first`` for the first step processed, else the output of
    the step before it (in processing order)."""
    prev = xp.empty_like(out)
    if out.shape[0]:
        if reverse:
            prev[-1], prev[:-1] = first, out[1:]
        else:
            prev[0], prev[1:] = first, out[:-1]
    return prev


class _Recurrence(Function):
    """One layer-direction over the whole sequence: ``gx`` (L, N, G*H) is the input projection
    (biases included: both for RNN and LSTM, ``b_ih`` only for GRU, whose ``b_hh`` sits inside
    the reset gate), ``h0``/``c0`` (N, H). Outputs ``output (L, N, H_out), h_n[, c_n]``."""

    @staticmethod
    def forward(ctx: FunctionCtx, gx: Tensor, h0: Tensor, c0: Any, w_hh: Tensor, b_hh: Any,
                w_hr: Any, mode: str = "LSTM", reverse: bool = False) -> tuple:  # fmt: skip
        arrays = [None if a is None else a._data for a in (gx, h0, c0, w_hh, b_hh, w_hr)]
        xp = array_module(arrays[0])
        keep: dict = {}
        outs, h, c = _run(*arrays, mode, reverse, xp, keep)
        out = xp.stack(outs) if outs else xp.empty((0, *arrays[1].shape), arrays[1].dtype)
        ctx.save_for_backward(gx, h0, c0, w_hh, b_hh, w_hr)
        ctx.arrays, ctx.out, ctx.keep, ctx.mode, ctx.reverse = arrays, out, keep, mode, reverse
        res = (Tensor._wrap(out), Tensor._wrap(h))
        return res + (Tensor._wrap(c),) if mode == "LSTM" else res

    @staticmethod
    def backward(ctx: FunctionCtx, g_out: Tensor, g_h: Tensor, g_c: Any = None) -> tuple:
        if is_grad_enabled():  # create_graph: replay on tensors and differentiate that
            return _replayed_grads(ctx, (g_out, g_h) + ((g_c,) if ctx.mode == "LSTM" else ()))
        gx, h0, c0, w_hh, b_hh, w_hr = ctx.arrays
        mode, out, keep, reverse = ctx.mode, ctx.out, ctx.keep, ctx.reverse
        xp = array_module(gx)
        length, n = gx.shape[:2]
        go, dh = g_out._data, g_h._data
        hprev = _shifted(out, h0, reverse, xp)
        dgx = xp.empty_like(gx)
        dgh = dgx  # the gradient of h W_hh^T [+ b_hh] per step: dgx but for GRU
        dw_hr = None
        steps = _order(length, not reverse)  # backward runs the other way round
        if mode == "LSTM":
            hs = c0.shape[-1]
            act = keep["act"].reshape(length, n, 4, hs)
            i, f, g, o = act[:, :, 0], act[:, :, 1], act[:, :, 2], act[:, :, 3]
            cprev = _shifted(keep["c"], c0, reverse, xp)
            tc = xp.tanh(keep["c"])
            # every factor that does not depend on the recurrence, for all steps at once
            k_c = o * (1 - tc * tc)  # dc += dh * k_c
            k_o = tc * o * (1 - o)  # d(o gate) = dh * k_o
            k_ifg = xp.stack([g * i * (1 - i), cprev * f * (1 - f), i * (1 - g * g)], 2)
            d4 = dgx.reshape(length, n, 4, hs)
            dc = g_c._data
            if w_hr is not None:
                dhr_all = xp.empty_like(out)
            for t in steps:
                dh = dh + go[t]
                if w_hr is not None:
                    dhr_all[t] = dh
                    dh = dh @ w_hr
                dc = dc + dh * k_c[t]
                xp.multiply(k_ifg[t], dc[:, None, :], out=d4[t, :, :3])
                xp.multiply(dh, k_o[t], out=d4[t, :, 3])
                dc = dc * f[t]
                dh = dgx[t] @ w_hh
            if w_hr is not None:
                hr = (o * tc).reshape(-1, hs)
                dw_hr = dhr_all.reshape(-1, out.shape[-1]).T @ hr
        elif mode == "GRU":
            hs = h0.shape[-1]
            rz, nn, ghn = keep["rz"], keep["n"], keep["ghn"]
            r, z = rz[..., :hs], rz[..., hs:]
            k_n = (1 - z) * (1 - nn * nn)  # d(n pre-activation) = dh * k_n
            k_r = ghn * r * (1 - r)  # d(r pre-activation) = dn * k_r
            k_z = (hprev - nn) * z * (1 - z)  # d(z pre-activation) = dh * k_z
            dgh = xp.empty_like(gx)
            for t in steps:
                dh = dh + go[t]
                dn = xp.multiply(dh, k_n[t], out=dgx[t, :, 2 * hs :])
                xp.multiply(dn, k_r[t], out=dgx[t, :, :hs])
                xp.multiply(dh, k_z[t], out=dgx[t, :, hs : 2 * hs])
                dgh[t, :, : 2 * hs] = dgx[t, :, : 2 * hs]
                xp.multiply(dn, r[t], out=dgh[t, :, 2 * hs :])
                dh = dh * z[t] + dgh[t] @ w_hh
        else:
            k = (out > 0).astype(out.dtype) if mode == "RNN_RELU" else 1 - out * out
            for t in steps:
                dh = xp.multiply(dh + go[t], k[t], out=dgx[t]) @ w_hh
        flat = dgh.reshape(-1, dgh.shape[-1])
        dw_hh = flat.T @ hprev.reshape(-1, hprev.shape[-1])  # every step in one product
        db_hh = flat.sum(0) if b_hh is not None else None
        grads = (dgx, dh, dc if mode == "LSTM" else None, dw_hh, db_hh, dw_hr)
        return tuple(None if a is None else Tensor._wrap(a) for a in grads)


def _replayed_grads(ctx: FunctionCtx, gouts: tuple) -> tuple:
    """The gradients as a recorded graph: run the recurrence again on the saved tensors (so it
    is recorded) and take its gradient with ``create_graph=True``."""
    ins = ctx.saved_tensors
    outs, h, c = _run(*ins, ctx.mode, ctx.reverse, None)
    out = functions.stack(outs) if outs else zeros(0, *ins[1].shape, dtype=ins[1].dtype)
    res = [out, h] + ([c] if ctx.mode == "LSTM" else [])
    wrt = [a for a in ins if isinstance(a, Tensor) and a.requires_grad]
    pairs = [(o, g) for o, g in zip(res, gouts) if o.requires_grad]
    got = _autograd_grad(
        [o for o, _ in pairs], wrt, [g for _, g in pairs], create_graph=True, allow_unused=True
    )
    it = iter(got)
    return tuple(next(it) if isinstance(a, Tensor) and a.requires_grad else None for a in ins)


# ----- the modules ---------------------------------------------------------------------------
class RNNBase(Module):
    """What :class:`RNN`, :class:`LSTM` and :class:`GRU` share: arguments, parameters, the
    input checks and the loop over layers and directions (PyTorch's ``nn.RNNBase``)."""

    def __init__(
        self,
        mode: str,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        proj_size: int = 0,
        device: Any = None,
        dtype: Any = None,
    ) -> None:
        super().__init__()
        if (
            not isinstance(dropout, numbers.Number)
            or isinstance(dropout, bool)
            or not 0 <= dropout <= 1
        ):
            raise ValueError(
                "dropout should be a number in range [0, 1] representing the probability of an "
                "element being zeroed"
            )
        if dropout > 0 and num_layers == 1:
            warnings.warn(
                "dropout option adds dropout after all but last recurrent layer, so non-zero "
                f"dropout expects num_layers greater than 1, but got dropout={dropout} and "
                f"num_layers={num_layers}",
                stacklevel=2,
            )
        for name, v in (("input_size", input_size), ("hidden_size", hidden_size),
                        ("num_layers", num_layers), ("proj_size", proj_size)):  # fmt: skip
            if isinstance(v, bool) or not isinstance(v, numbers.Integral):
                raise TypeError(f"{name} should be of type int, got: {type(v).__name__}")
        if hidden_size <= 0:
            raise ValueError("hidden_size must be greater than zero")
        if num_layers <= 0:
            raise ValueError("num_layers must be greater than zero")
        if proj_size < 0:
            raise ValueError(
                "proj_size should be a positive integer or zero to disable projections"
            )
        if proj_size >= hidden_size:
            raise ValueError("proj_size has to be smaller than hidden_size")
        if proj_size and mode != "LSTM":
            raise ValueError("proj_size argument is only supported for LSTM, not RNN or GRU")
        self.mode = mode
        self.input_size = int(input_size)
        self.hidden_size = int(hidden_size)
        self.num_layers = int(num_layers)
        self.bias = bool(bias)
        self.batch_first = bool(batch_first)
        self.dropout = float(dropout)
        self.bidirectional = bool(bidirectional)
        self.proj_size = int(proj_size)
        gate = _GATES[mode] * hidden_size
        dirs = 2 if bidirectional else 1
        real = proj_size or hidden_size
        self._flat_weights_names: list[str] = []
        for layer in range(num_layers):
            for d in range(dirs):
                sfx = f"_l{layer}" + ("_reverse" if d else "")
                size_in = input_size if layer == 0 else real * dirs
                shapes = [("weight_ih", (gate, size_in)), ("weight_hh", (gate, real))]
                if bias:
                    shapes += [("bias_ih", (gate,)), ("bias_hh", (gate,))]
                if proj_size:
                    shapes.append(("weight_hr", (proj_size, hidden_size)))
                for name, shape in shapes:
                    setattr(self, name + sfx, Parameter(empty(*shape, dtype=dtype, device=device)))
                    self._flat_weights_names.append(name + sfx)
        self.reset_parameters()

    @property
    def _flat_weights(self) -> list:
        return [getattr(self, n) for n in self._flat_weights_names]

    @property
    def all_weights(self) -> list:
        """The parameters of each layer and direction, as lists (PyTorch's ``all_weights``).

        Example:
            >>> import chainrule as cr
            >>> [[tuple(p.shape) for p in w] for w in cr.nn.GRU(2, 3, bias=False).all_weights]
            [[(9, 2), (9, 3)]]
        """
        per = 2 + 2 * self.bias + (self.proj_size > 0)
        w = self._flat_weights
        return [w[i : i + per] for i in range(0, len(w), per)]

    def reset_parameters(self) -> None:
        """Draw every weight and bias from U(-1/sqrt(hidden_size), 1/sqrt(hidden_size)), as
        PyTorch.

        Example:
            >>> import chainrule as cr
            >>> m = cr.nn.LSTM(3, 4); m.reset_parameters()
            >>> bool((m.weight_hh_l0.abs() <= 0.5).all())
            True
        """
        stdv = 1.0 / math.sqrt(self.hidden_size)
        for w in self.parameters():
            init.uniform_(w, -stdv, stdv)

    def extra_repr(self) -> str:
        s = f"{self.input_size}, {self.hidden_size}"
        if self.proj_size != 0:
            s += f", proj_size={self.proj_size}"
        if self.num_layers != 1:
            s += f", num_layers={self.num_layers}"
        if not self.bias:
            s += ", bias=False"
        if self.batch_first:
            s += ", batch_first=True"
        if self.dropout != 0:
            s += f", dropout={self.dropout}"
        if self.bidirectional:
            s += ", bidirectional=True"
        return s

    # -- checks and the loop over layers ------------------------------------------------------
    def _check_input(self, input: Tensor) -> bool:
        if input.ndim not in (2, 3):
            what = "tensor " if self.mode.startswith("RNN") else ""
            raise ValueError(
                f"{type(self).__name__}: Expected input to be 2D or 3D, got {input.ndim}D "
                f"{what}instead"
            )
        if input.shape[-1] != self.input_size:
            raise RuntimeError(
                f"input.size(-1) must be equal to input_size. Expected {self.input_size}, got "
                f"{input.shape[-1]}"
            )
        return input.ndim == 3

    def _check_hidden(self, hx: Tensor, expected: tuple, msg: str) -> None:
        if tuple(hx.shape) != expected:
            raise RuntimeError(f"{msg} {expected}, got {list(hx.shape)}")

    def _layers(self, x: Tensor, h0: Tensor, c0: Tensor | None) -> tuple:
        """``x`` (L, N, H_in), ``h0``/``c0`` (layers*dirs, N, .) -> output, h_n, c_n."""
        dirs = 2 if self.bidirectional else 1
        per = 2 + 2 * self.bias + (self.proj_size > 0)
        w = self._flat_weights
        hn: list = []
        cn: list = []
        for layer in range(self.num_layers):
            outs = []
            for d in range(dirs):
                k = layer * dirs + d
                p = w[k * per : (k + 1) * per]
                w_ih, w_hh = p[0], p[1]
                b_ih, b_hh = (p[2], p[3]) if self.bias else (None, None)
                w_hr = p[-1] if self.proj_size else None
                if self.mode == "GRU" or b_ih is None:
                    gx = F.linear(x, w_ih, b_ih)
                else:  # both biases go into the one input projection
                    gx = F.linear(x, w_ih, b_ih + b_hh)
                res = _Recurrence.apply(
                    gx, h0[k], None if c0 is None else c0[k], w_hh,
                    b_hh if self.mode == "GRU" else None, w_hr, mode=self.mode,
                    reverse=bool(d),
                )  # fmt: skip
                outs.append(res[0])
                hn.append(res[1])
                if c0 is not None:
                    cn.append(res[2])
            x = outs[0] if dirs == 1 else functions.cat(outs, 2)
            if self.dropout and self.training and layer < self.num_layers - 1:
                x = F.dropout(x, self.dropout, True)
        return x, functions.stack(hn), (functions.stack(cn) if c0 is not None else None)

    def _zeros(self, x: Tensor, size: int) -> Tensor:
        dirs = 2 if self.bidirectional else 1
        return zeros(self.num_layers * dirs, x.shape[1], size, dtype=x.dtype)

    def _prepare(self, input: Tensor) -> tuple:
        batched = self._check_input(input)
        x = input if batched else functions.unsqueeze(input, 1)
        if self.batch_first and batched:
            x = functions.transpose(x, 0, 1)
        return x, batched

    def _finish(self, out: Tensor, batched: bool) -> Tensor:
        if not batched:
            return functions.squeeze(out, 1)
        return functions.transpose(out, 0, 1) if self.batch_first else out


class _SimpleRNNBase(RNNBase):
    """RNN and GRU: one hidden state ``h``."""

    def forward(self, input: Tensor, hx: Tensor | None = None) -> tuple:
        x, batched = self._prepare(input)
        dirs = 2 if self.bidirectional else 1
        if hx is None:
            h0 = self._zeros(x, self.hidden_size)
        else:
            if hx.ndim != (3 if batched else 2):
                kind = "batched 3-D" if batched else "unbatched 2-D"
                raise RuntimeError(
                    f"For {kind} input, hx should also be {3 if batched else 2}-D but got "
                    f"{hx.ndim}-D tensor"
                )
            h0 = hx if batched else functions.unsqueeze(hx, 1)
            expected = (self.num_layers * dirs, x.shape[1], self.hidden_size)
            self._check_hidden(h0, expected, "Expected hidden size")
        out, hn, _ = self._layers(x, h0, None)
        return self._finish(out, batched), (hn if batched else functions.squeeze(hn, 1))


class RNN(_SimpleRNNBase):
    """Elman RNN: ``h_t = tanh(x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh)`` (or ``relu``), as
    PyTorch's ``nn.RNN``.

    Input ``(L, N, H_in)`` (``(N, L, H_in)`` with ``batch_first``) or unbatched ``(L, H_in)``;
    optional ``hx`` ``(D * num_layers, N, H)``. Returns ``(output, h_n)``, ``output`` holding
    the last layer's ``h_t`` for every ``t`` (both directions concatenated). ``dropout`` is
    applied to the outputs of every layer but the last, in training mode only.

    Example:
        >>> import chainrule as cr
        >>> rnn = cr.nn.RNN(10, 20, num_layers=2)
        >>> out, h_n = rnn(cr.randn(5, 3, 10))
        >>> out.shape, h_n.shape
        ((5, 3, 20), (2, 3, 20))
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        nonlinearity = kwargs.pop("nonlinearity", "tanh")
        if len(args) > 3:  # (input_size, hidden_size, num_layers, nonlinearity, ...)
            nonlinearity = args[3]
            args = args[:3] + args[4:]
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(
                f"Unknown nonlinearity '{nonlinearity}'. Select from 'tanh' or 'relu'."
            )
        self.nonlinearity = nonlinearity
        super().__init__("RNN_TANH" if nonlinearity == "tanh" else "RNN_RELU", *args, **kwargs)


class GRU(_SimpleRNNBase):
    """Gated recurrent unit, as PyTorch's ``nn.GRU`` (gates ``r, z, n`` in that order)::

        r = sigmoid(x W_ir^T + b_ir + h W_hr^T + b_hr)
        z = sigmoid(x W_iz^T + b_iz + h W_hz^T + b_hz)
        n = tanh(x W_in^T + b_in + r * (h W_hn^T + b_hn))
        h' = (1 - z) * n + z * h

    Arguments, shapes and outputs as :class:`RNN`.

    Example:
        >>> import chainrule as cr
        >>> gru = cr.nn.GRU(4, 8, batch_first=True, bidirectional=True)
        >>> out, h_n = gru(cr.randn(2, 5, 4))
        >>> out.shape, h_n.shape, gru.weight_hh_l0_reverse.shape
        ((2, 5, 16), (2, 2, 8), (24, 8))
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__("GRU", *args, **kwargs)


class LSTM(RNNBase):
    """Long short-term memory, as PyTorch's ``nn.LSTM`` (gates ``i, f, g, o`` in that order)::

        i, f, o = sigmoid(...), g = tanh(...)    # of x W_ih^T + b_ih + h W_hh^T + b_hh
        c' = f * c + i * g
        h' = o * tanh(c')                         # times W_hr^T with proj_size > 0

    Input as :class:`RNN`; optional ``(h_0, c_0)``. Returns ``(output, (h_n, c_n))``.

    Example:
        >>> import chainrule as cr
        >>> lstm = cr.nn.LSTM(10, 20, num_layers=2)
        >>> out, (h_n, c_n) = lstm(cr.randn(5, 3, 10))
        >>> out.shape, h_n.shape, c_n.shape
        ((5, 3, 20), (2, 3, 20), (2, 3, 20))
        >>> cr.nn.LSTM(10, 20, proj_size=5)(cr.randn(5, 10))[0].shape
        (5, 5)
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__("LSTM", *args, **kwargs)

    def forward(self, input: Tensor, hx: tuple | None = None) -> tuple:
        x, batched = self._prepare(input)
        dirs = 2 if self.bidirectional else 1
        real = self.proj_size or self.hidden_size
        if hx is None:
            h0, c0 = self._zeros(x, real), self._zeros(x, self.hidden_size)
        else:
            h0, c0 = hx
            want = 3 if batched else 2
            if h0.ndim != want or c0.ndim != want:
                kind = "batched 3-D" if batched else "unbatched 2-D"
                raise RuntimeError(
                    f"For {kind} input, hx and cx should also be {want}-D but got "
                    f"({h0.ndim}-D, {c0.ndim}-D) tensors"
                )
            if not batched:
                h0, c0 = functions.unsqueeze(h0, 1), functions.unsqueeze(c0, 1)
            n = self.num_layers * dirs
            self._check_hidden(h0, (n, x.shape[1], real), "Expected hidden[0] size")
            self._check_hidden(c0, (n, x.shape[1], self.hidden_size), "Expected hidden[1] size")
        out, hn, cn = self._layers(x, h0, c0)
        if not batched:
            hn, cn = functions.squeeze(hn, 1), functions.squeeze(cn, 1)
        return self._finish(out, batched), (hn, cn)


# ----- cells ---------------------------------------------------------------------------------
class RNNCellBase(Module):
    """What the cells share: ``weight_ih`` (G*H, H_in), ``weight_hh`` (G*H, H), ``bias_ih``,
    ``bias_hh``; PyTorch's init and checks. A step runs as a length-1 sequence of the layer."""

    _mode: str

    def __init__(self, input_size: int, hidden_size: int, bias: bool, num_chunks: int,
                 device: Any = None, dtype: Any = None) -> None:  # fmt: skip
        super().__init__()
        if hidden_size <= 0:
            raise ValueError("hidden_size must be greater than zero")
        self.input_size = int(input_size)
        self.hidden_size = int(hidden_size)
        self.bias = bool(bias)
        g = num_chunks * hidden_size
        self.weight_ih = Parameter(empty(g, input_size, dtype=dtype, device=device))
        self.weight_hh = Parameter(empty(g, hidden_size, dtype=dtype, device=device))
        if bias:
            self.bias_ih = Parameter(empty(g, dtype=dtype, device=device))
            self.bias_hh = Parameter(empty(g, dtype=dtype, device=device))
        else:
            self.register_parameter("bias_ih", None)
            self.register_parameter("bias_hh", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """U(-1/sqrt(hidden_size), 1/sqrt(hidden_size)) for every parameter, as PyTorch.

        Example:
            >>> import chainrule as cr
            >>> m = cr.nn.GRUCell(3, 4); m.reset_parameters()
            >>> bool((m.weight_ih.abs() <= 0.5).all())
            True
        """
        stdv = 1.0 / math.sqrt(self.hidden_size)
        for w in self.parameters():
            init.uniform_(w, -stdv, stdv)

    def extra_repr(self) -> str:
        s = f"{self.input_size}, {self.hidden_size}"
        if not self.bias:
            s += ", bias=False"
        if getattr(self, "nonlinearity", "tanh") != "tanh":
            s += f", nonlinearity={self.nonlinearity}"
        return s

    def _input(self, input: Tensor) -> tuple:
        if input.ndim not in (1, 2):
            raise ValueError(
                f"{type(self).__name__}: Expected input to be 1D or 2D, got {input.ndim}D instead"
            )
        if input.shape[-1] != self.input_size:
            raise RuntimeError(
                f"input has inconsistent input_size: got {input.shape[-1]} expected "
                f"{self.input_size}"
            )
        batched = input.ndim == 2
        return (input if batched else functions.unsqueeze(input, 0)), batched

    def _state(self, hx: Tensor | None, x: Tensor, batched: bool, k: int) -> Tensor:
        if hx is None:
            return zeros(x.shape[0], self.hidden_size, dtype=x.dtype)
        if not batched and hx.ndim == 1:
            hx = functions.unsqueeze(hx, 0)
        if hx.shape[0] != x.shape[0]:
            raise RuntimeError(
                f"Input batch size {x.shape[0]} doesn't match hidden{k} batch size {hx.shape[0]}"
            )
        if hx.ndim != 2 or hx.shape[1] != self.hidden_size:
            raise RuntimeError(
                f"hidden{k} has inconsistent hidden_size: got {hx.shape[-1]}, expected "
                f"{self.hidden_size}"
            )
        return hx

    def _step(self, x: Tensor, h: Tensor, c: Tensor | None) -> tuple:
        gru = self._mode == "GRU"
        b = self.bias_ih if gru or not self.bias else self.bias_ih + self.bias_hh
        gx = functions.unsqueeze(F.linear(x, self.weight_ih, b), 0)
        res = _Recurrence.apply(
            gx, h, c, self.weight_hh, self.bias_hh if gru else None, None, mode=self._mode
        )
        return res[1:]


class RNNCell(RNNCellBase):
    """One step of :class:`RNN`: ``h' = tanh(x W_ih^T + b_ih + h W_hh^T + b_hh)`` (or relu).

    Example:
        >>> import chainrule as cr
        >>> cell = cr.nn.RNNCell(10, 20)
        >>> cell(cr.randn(3, 10)).shape, cell(cr.randn(10), cr.zeros(20)).shape
        ((3, 20), (20,))
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        bias: bool = True,
        nonlinearity: str = "tanh",
        device: Any = None,
        dtype: Any = None,
    ) -> None:
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"Unknown nonlinearity: {nonlinearity}")
        self.nonlinearity = nonlinearity
        self._mode = "RNN_TANH" if nonlinearity == "tanh" else "RNN_RELU"
        super().__init__(input_size, hidden_size, bias, 1, device, dtype)

    def forward(self, input: Tensor, hx: Tensor | None = None) -> Tensor:
        x, batched = self._input(input)
        (h,) = self._step(x, self._state(hx, x, batched, 0), None)
        return h if batched else functions.squeeze(h, 0)


class GRUCell(RNNCellBase):
    """One step of :class:`GRU`.

    Example:
        >>> import chainrule as cr
        >>> cr.nn.GRUCell(10, 20)(cr.randn(3, 10)).shape
        (3, 20)
    """

    _mode = "GRU"

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True,
                 device: Any = None, dtype: Any = None) -> None:  # fmt: skip
        super().__init__(input_size, hidden_size, bias, 3, device, dtype)

    def forward(self, input: Tensor, hx: Tensor | None = None) -> Tensor:
        x, batched = self._input(input)
        (h,) = self._step(x, self._state(hx, x, batched, 0), None)
        return h if batched else functions.squeeze(h, 0)


class LSTMCell(RNNCellBase):
    """One step of :class:`LSTM`: returns ``(h', c')``.

    Example:
        >>> import chainrule as cr
        >>> h, c = cr.nn.LSTMCell(10, 20)(cr.randn(3, 10))
        >>> h.shape, c.shape
        ((3, 20), (3, 20))
    """

    _mode = "LSTM"

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True,
                 device: Any = None, dtype: Any = None) -> None:  # fmt: skip
        super().__init__(input_size, hidden_size, bias, 4, device, dtype)

    def forward(self, input: Tensor, hx: tuple | None = None) -> tuple:
        x, batched = self._input(input)
        h0, c0 = (None, None) if hx is None else hx
        h, c = self._step(x, self._state(h0, x, batched, 0), self._state(c0, x, batched, 1))
        return (h, c) if batched else (functions.squeeze(h, 0), functions.squeeze(c, 0))
