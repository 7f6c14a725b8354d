"""``MultiheadAttention``, as PyTorch's: the same parameters, masks, layouts and results."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ...creation import empty
from ...ops import linalg as L
from ...ops import nnops as N
from ...ops import shape as S
from ...tensor import Tensor, as_tensor
from .. import functional as F
from .. import init
from ..module import Module
from ..parameter import Parameter
from .linear import Linear


def canonical_mask(mask: Any, name: str, dtype: Any, op: str = "MultiheadAttention") -> Any:
    """A PyTorch-style padding/attention mask as an additive float mask of ``dtype``: boolean
    True (position ignored) becomes ``-inf``, False ``0``; a float mask is kept (a tensor stays
    a tensor, so it can carry a gradient).

    Example:
        >>> import chainrule as cr
        >>> canonical_mask(cr.tensor([False, True]), "key_padding_mask", cr.float32)
        tensor([  0., -inf])
    """
    if mask is None:
        return None
    m = mask if isinstance(mask, Tensor) else as_tensor(np.asarray(mask))
    if m.dtype.kind == "b":
        return Tensor._wrap(np.where(m._data, -np.inf, 0.0).astype(dtype))
    if m.dtype.kind != "f":
        raise TypeError(
            f"{op}: only bool and floating types of {name} are supported, got {m.dtype}"
        )
    if m.dtype != np.dtype(dtype):
        raise TypeError(f"{op}: {name} of dtype {m.dtype} does not match the query's {dtype}")
    return m


class MultiheadAttention(Module):
    """Attention from ``query`` to ``key``/``value`` over ``num_heads`` heads of
    ``embed_dim // num_heads`` features, as ``torch.nn.MultiheadAttention``.

    Parameters have PyTorch's names, shapes and initialization: ``in_proj_weight (3E, E)``
    (or ``q_proj_weight``, ``k_proj_weight (E, kdim)``, ``v_proj_weight (E, vdim)`` when ``kdim``
    or ``vdim`` differ from ``embed_dim``), ``in_proj_bias (3E,)``, ``out_proj`` (a Linear),
    ``bias_k``/``bias_v (1, 1, E)`` with ``add_bias_kv``; so a torch ``state_dict`` loads as is.

    ``forward(query, key, value, key_padding_mask=None, need_weights=True, attn_mask=None,
    average_attn_weights=True, is_causal=False)`` takes ``(L, N, E)`` inputs (``(N, L, E)``
    with ``batch_first``, ``(L, E)`` unbatched) and returns ``(output, weights)``: the weights
    ``(N, L, S)`` averaged over heads, ``(N, H, L, S)`` per head, or ``None`` without
    ``need_weights`` (which then runs the fused ``F.scaled_dot_product_attention``).
    Boolean masks mark with True the positions to *ignore* (PyTorch's convention here); float
    masks are added to the scores. ``is_causal`` is a hint that ``attn_mask`` is the causal mask.

    Example:
        >>> import chainrule as cr
        >>> mha = cr.nn.MultiheadAttention(8, 2, batch_first=True)
        >>> x = cr.randn(3, 5, 8)
        >>> out, w = mha(x, x, x)
        >>> out.shape, w.shape
        ((3, 5, 8), (3, 5, 5))
    """

    def __init__(
        self,
        embed_dim: int,
        num_heads: int,
        dropout: float = 0.0,
        bias: bool = True,
        add_bias_kv: bool = False,
        add_zero_attn: bool = False,
        kdim: int | None = None,
        vdim: int | None = None,
        batch_first: bool = False,
        device: Any = None,
        dtype: Any = None,
    ) -> None:
        super().__init__()
        if embed_dim <= 0 or num_heads <= 0:
            raise ValueError(
                f"MultiheadAttention: embed_dim and num_heads must be greater than 0, got "
                f"embed_dim={embed_dim} and num_heads={num_heads} instead"
            )
        if embed_dim % num_heads:
            raise ValueError(
                f"MultiheadAttention: embed_dim ({embed_dim}) must be divisible by num_heads "
                f"({num_heads})"
            )
        self.embed_dim = int(embed_dim)
        self.kdim = int(kdim) if kdim is not None else self.embed_dim
        self.vdim = int(vdim) if vdim is not None else self.embed_dim
        self._qkv_same_embed_dim = self.kdim == self.embed_dim and self.vdim == self.embed_dim
        self.num_heads = int(num_heads)
        self.dropout = float(dropout)
        self.batch_first = bool(batch_first)
        self.head_dim = self.embed_dim // self.num_heads
        e, kw = self.embed_dim, {"dtype": dtype, "device": device}
        if self._qkv_same_embed_dim:
            self.in_proj_weight = Parameter(empty(3 * e, e, **kw))
            self.register_parameter("q_proj_weight", None)
            self.register_parameter("k_proj_weight", None)
            self.register_parameter("v_proj_weight", None)
        else:
            self.q_proj_weight = Parameter(empty(e, e, **kw))
            self.k_proj_weight = Parameter(empty(e, self.kdim, **kw))
            self.v_proj_weight = Parameter(empty(e, self.vdim, **kw))
            self.register_parameter("in_proj_weight", None)
        if bias:
            self.in_proj_bias = Parameter(empty(3 * e, **kw))
        else:
            self.register_parameter("in_proj_bias", None)
        self.out_proj = Linear(e, e, bias=bias, **kw)
        if add_bias_kv:
            self.bias_k = Parameter(empty(1, 1, e, **kw))
            self.bias_v = Parameter(empty(1, 1, e, **kw))
        else:
            self.bias_k = self.bias_v = None
        self.add_zero_attn = bool(add_zero_attn)
        self._reset_parameters()

    def _reset_parameters(self) -> None:
        """PyTorch's initialization: Xavier-uniform projections, zero biases, Xavier-normal
        ``bias_k``/``bias_v``.

        Example:
            >>> import chainrule as cr
            >>> m = cr.nn.MultiheadAttention(4, 2); m._reset_parameters()
            >>> m.in_proj_bias.abs().sum().item()
            0.0
        """
        if self._qkv_same_embed_dim:
            init.xavier_uniform_(self.in_proj_weight)
        else:
            init.xavier_uniform_(self.q_proj_weight)
            init.xavier_uniform_(self.k_proj_weight)
            init.xavier_uniform_(self.v_proj_weight)
        if self.in_proj_bias is not None:
            init.constant_(self.in_proj_bias, 0.0)
            init.constant_(self.out_proj.bias, 0.0)
        if self.bias_k is not None:
            init.xavier_normal_(self.bias_k)
            init.xavier_normal_(self.bias_v)

    # ----- forward ---------------------------------------------------------------------------
    def _check(self, query: Tensor, key: Tensor, value: Tensor, kpm: Any, attn_mask: Any) -> bool:
        op = "MultiheadAttention"
        if query.ndim not in (2, 3):
            raise ValueError(
                f"{op}: query should be unbatched 2D or batched 3D, got shape {query.shape}"
            )
        batched = query.ndim == 3
        if key.ndim != query.ndim or value.ndim != query.ndim:
            raise ValueError(
                f"{op}: for a {query.ndim}-D query, key and value must be {query.ndim}-D too, got "
                f"{key.ndim}-D and {value.ndim}-D"
            )
        if kpm is not None and np.ndim(kpm) != (2 if batched else 1):
            raise ValueError(
                f"{op}: key_padding_mask must be {2 if batched else 1}-D for a "
                f"{'batched' if batched else 'unbatched'} query, got shape {np.shape(kpm)}"
            )
        if attn_mask is not None and np.ndim(attn_mask) not in (2, 3):
            raise ValueError(f"{op}: attn_mask must be 2-D or 3-D, got shape {np.shape(attn_mask)}")
        for name, t, d in (("query", query, self.embed_dim), ("key", key, self.kdim),
                           ("value", value, self.vdim)):  # fmt: skip
            if t.shape[-1] != d:
                raise ValueError(f"{op}: expected {name} with {d} features, got shape {t.shape}")
        if key.shape[:-1] != value.shape[:-1]:
            raise ValueError(
                f"{op}: key {key.shape} and value {value.shape} must agree in sequence and batch"
            )
        return batched

    def _project(self, query: Tensor, key: Tensor, value: Tensor, bf: bool) -> tuple:
        """q, k, v as ``(N, H, T, head_dim)`` from inputs in layout ``(N, T, E)`` (``bf``) or
        ``(T, N, E)``."""
        e, h, hd = self.embed_dim, self.num_heads, self.head_dim
        heads = (0, 2, 1, 3) if bf else (1, 2, 0, 3)
        b = self.in_proj_bias
        if self._qkv_same_embed_dim and query is key and key is value:  # one matmul
            proj = F.linear(query, self.in_proj_weight, b)
            proj = S.reshape(proj, (*proj.shape[:2], 3, h, hd))
            proj = S.permute(proj, (2, *(a if a < 2 else a + 1 for a in heads)))
            return proj[0], proj[1], proj[2]
        if self._qkv_same_embed_dim:
            w = self.in_proj_weight
            ws = (w[:e], w[e : 2 * e], w[2 * e :])
        else:
            ws = (self.q_proj_weight, self.k_proj_weight, self.v_proj_weight)
        bs = (None, None, None) if b is None else (b[:e], b[e : 2 * e], b[2 * e :])
        out = []
        for x, w, bias in zip((query, key, value), ws, bs):
            p = F.linear(x, w, bias)
            out.append(S.permute(S.reshape(p, (*p.shape[:2], h, hd)), heads))
        return tuple(out)

    def forward(
        self,
        query: Tensor,
        key: Tensor,
        value: Tensor,
        key_padding_mask: Any = None,
        need_weights: bool = True,
        attn_mask: Any = None,
        average_attn_weights: bool = True,
        is_causal: bool = False,
    ) -> tuple[Tensor, Tensor | None]:
        batched = self._check(query, key, value, key_padding_mask, attn_mask)
        bf = self.batch_first or not batched
        if not batched:
            query, key, value = (S.reshape(t, (1, *t.shape)) for t in (query, key, value))
            if key_padding_mask is not None:
                key_padding_mask = np.asarray(key_padding_mask)[None] if not isinstance(
                    key_padding_mask, Tensor) else S.reshape(key_padding_mask, (1, -1))  # fmt: skip
        n = query.shape[0 if bf else 1]
        tgt, src = query.shape[1 if bf else 0], key.shape[1 if bf else 0]
        h, dtype = self.num_heads, query.dtype
        kpm = canonical_mask(key_padding_mask, "key_padding_mask", dtype)
        if is_causal and attn_mask is None:
            raise RuntimeError(
                "MultiheadAttention: need attn_mask if specifying the is_causal hint; "
                "nn.Transformer.generate_square_subsequent_mask makes one"
            )
        causal = is_causal and kpm is None and not need_weights
        mask = None if causal else canonical_mask(attn_mask, "attn_mask", dtype)
        if mask is not None:  # to (N or 1, H or 1, L, S)
            want = (tgt, src) if mask.ndim == 2 else (n * h, tgt, src)
            if tuple(mask.shape) != want:
                raise ValueError(
                    f"MultiheadAttention: the shape of the {mask.ndim}D attn_mask is "
                    f"{tuple(mask.shape)}, but should be {want}"
                )
            mask = S.reshape(mask, (1, 1, tgt, src) if mask.ndim == 2 else (n, h, tgt, src))
        if kpm is not None:
            if tuple(kpm.shape) != (n, src):
                raise ValueError(
                    f"MultiheadAttention: expected key_padding_mask of shape {(n, src)}, got "
                    f"{tuple(kpm.shape)}"
                )
            kpm = S.reshape(kpm, (n, 1, 1, src))
        q, k, v = self._project(query, key, value, bf)
        if self.bias_k is not None:
            k = S.cat(k, S.expand(S.reshape(self.bias_k, (1, h, 1, -1)), (n, h, 1, self.head_dim)),
                      axis=2)  # fmt: skip
            v = S.cat(v, S.expand(S.reshape(self.bias_v, (1, h, 1, -1)), (n, h, 1, self.head_dim)),
                      axis=2)  # fmt: skip
            mask, kpm = _pad_key(mask), _pad_key(kpm)
        if self.add_zero_attn:
            zero = Tensor._wrap(np.zeros((n, h, 1, self.head_dim), k.dtype))
            k, v = S.cat(k, zero, axis=2), S.cat(v, zero, axis=2)
            mask, kpm = _pad_key(mask), _pad_key(kpm)
        if kpm is not None:
            mask = kpm if mask is None else mask + kpm
        p = self.dropout if self.training else 0.0
        if need_weights:
            scores = L.matmul(q * math.sqrt(1.0 / self.head_dim), S.mT(k))
            if mask is not None:
                scores = scores + mask
            weights = N.softmax(scores, axis=3)
            if p > 0.0:
                weights = F.dropout(weights, p)
            out = L.matmul(weights, v)
        else:
            out = F.scaled_dot_product_attention(q, k, v, mask, p, is_causal=causal)
            weights = None
        out = S.permute(out, (0, 2, 1, 3) if bf else (2, 0, 1, 3))
        out = self.out_proj(S.reshape(out, (*out.shape[:2], self.embed_dim)))
        if weights is not None and average_attn_weights:
            weights = S.sum(weights, (1,), False) / h
        if not batched:
            out = S.reshape(out, out.shape[1:])
            weights = None if weights is None else S.reshape(weights, weights.shape[1:])
        return out, weights


def _pad_key(mask: Any) -> Any:
    """One more key (a bias or zero key) that every query may attend: a 0 column."""
    return None if mask is None else S.pad(mask, ((0, 0),) * (mask.ndim - 1) + ((0, 1),), 0.0)
