"""Character-level language models, makemore's path: :class:`Bigram`, :class:`MLP` (Bengio et
al. 2003), :class:`LSTM` (on ``chainrule.nn.LSTM``), :class:`GPT` (a decoder-only transformer,
nanoGPT's layout and parameter names).

Every model maps token ids ``idx`` of shape ``(B, T)`` to next-token logits ``(B, T, vocab)``
(position ``t`` predicts token ``t + 1`` from tokens ``<= t``), so one loss
(:func:`chainrule.train.lm.lm_loss`), one training loop and one sampler (:func:`generate`)
serve them all. ``model.config`` is a plain dict from which :func:`build_char_model` rebuilds the
model, which is how a checkpoint stores it.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .. import nn
from ..autograd.grad_mode import no_grad
from ..creation import multinomial, ones
from ..functions import cat, tril
from ..nn import functional as F
from ..random import Generator
from ..tensor import Tensor

__all__ = [
    "CHAR_MODELS", "Bigram", "MLP", "LSTM", "GPT", "Block", "CausalSelfAttention",
    "build_char_model", "generate",
]  # fmt: skip

CHAR_MODELS = ("bigram", "mlp", "lstm", "gpt")


class Bigram(nn.Module):
    """The bigram model: one table of logits, row ``i`` for the token after token ``i``
    (an ``Embedding(vocab_size, vocab_size)``; trained, it learns the log of the bigram counts).

    Example:
        >>> import chainrule as cr
        >>> Bigram(27)(cr.tensor([[0, 5, 13]])).shape
        (1, 3, 27)
    """

    def __init__(self, vocab_size: int) -> None:
        super().__init__()
        self.vocab_size = int(vocab_size)
        self.logits = nn.Embedding(self.vocab_size, self.vocab_size)
        with no_grad():
            self.logits.weight.zero_()  # start uniform: loss log(vocab_size)

    @property
    def config(self) -> dict[str, Any]:
        """The arguments that rebuild this model with :func:`build_char_model`."""
        return {"kind": "bigram", "vocab_size": self.vocab_size}

    def get_block_size(self) -> int:
        """How many past tokens the model reads: 1."""
        return 1

    def forward(self, idx: Tensor) -> Tensor:
        return self.logits(idx)


class MLP(nn.Module):
    """Bengio et al.'s MLP language model, as makemore part 2: the embeddings of the last
    ``block_size`` tokens (the boundary token ``0`` before the start), concatenated, through
    ``tanh`` hidden layers of widths ``hidden``, then a linear layer to the logits.

    Parameters: ``wte`` (the embedding table ``C``), ``hidden.<k>`` and ``lm_head``.

    Example:
        >>> import chainrule as cr
        >>> m = MLP(27, block_size=3, n_embd=10, hidden=(200,))
        >>> m(cr.tensor([[0, 5, 13, 13, 1]])).shape, sum(p.numel() for p in m.parameters())
        ((1, 5, 27), 11897)
    """

    def __init__(
        self, vocab_size: int, block_size: int = 3, n_embd: int = 10, hidden: Any = (200,)
    ) -> None:
        super().__init__()
        self.vocab_size, self.block_size, self.n_embd = (
            int(vocab_size),
            int(block_size),
            int(n_embd),
        )
        self.hidden_sizes = tuple(int(h) for h in hidden)
        self.wte = nn.Embedding(self.vocab_size, self.n_embd)
        width = self.block_size * self.n_embd
        layers: list[nn.Module] = []
        for h in self.hidden_sizes:
            layers.append(nn.Linear(width, h))
            width = h
        self.hidden = nn.ModuleList(layers)
        self.lm_head = nn.Linear(width, self.vocab_size)
        with no_grad():  # makemore part 3: a confident-but-wrong start costs steps; start flat
            self.lm_head.weight.mul_(0.1)
            self.lm_head.bias.zero_()

    @property
    def config(self) -> dict[str, Any]:
        """The arguments that rebuild this model with :func:`build_char_model`."""
        return {
            "kind": "mlp", "vocab_size": self.vocab_size, "block_size": self.block_size,
            "n_embd": self.n_embd, "hidden": list(self.hidden_sizes),
        }  # fmt: skip

    def get_block_size(self) -> int:
        """How many past tokens the model reads."""
        return self.block_size

    def forward(self, idx: Tensor) -> Tensor:
        B, T = idx.shape
        # pad on the left with the boundary token: position t sees tokens t-block_size+1 .. t
        padded = F.pad(idx, (self.block_size - 1, 0), value=0)
        emb = self.wte(padded)  # (B, T + block_size - 1, n_embd)
        x = cat([emb[:, k : k + T] for k in range(self.block_size)], dim=-1)
        for layer in self.hidden:
            x = layer(x).tanh()
        return self.lm_head(x)


class CausalSelfAttention(nn.Module):
    """Multi-head masked self-attention: ``softmax(q k^T / sqrt(head_size))`` with the future
    masked out (``masked_fill`` with ``-inf`` above the diagonal), times ``v``; heads
    concatenated, then a linear projection. nanoGPT's names: ``c_attn`` (q, k, v in one
    ``Linear``), ``c_proj``.

    Example:
        >>> import chainrule as cr
        >>> CausalSelfAttention(16, 4, block_size=8)(cr.randn(2, 5, 16)).shape
        (2, 5, 16)
    """

    def __init__(
        self, n_embd: int, n_head: int, block_size: int, dropout: float = 0.0, bias: bool = True
    ) -> None:
        super().__init__()
        if n_embd % n_head:
            raise ValueError(
                f"CausalSelfAttention: n_embd={n_embd} is not a multiple of n_head={n_head}"
            )
        self.n_embd, self.n_head = int(n_embd), int(n_head)
        self.c_attn = nn.Linear(n_embd, 3 * n_embd, bias=bias)
        self.c_proj = nn.Linear(n_embd, n_embd, bias=bias)
        self.attn_dropout = nn.Dropout(dropout)
        self.resid_dropout = nn.Dropout(dropout)
        future = ~tril(ones(block_size, block_size)).bool()  # True above the diagonal
        self.register_buffer("future", future.view(1, 1, block_size, block_size), persistent=False)

    def forward(self, x: Tensor) -> Tensor:
        B, T, C = x.shape
        hs = C // self.n_head
        q, k, v = self.c_attn(x).split(self.n_embd, dim=2)
        q = q.view(B, T, self.n_head, hs).transpose(1, 2)  # (B, nh, T, hs)
        k = k.view(B, T, self.n_head, hs).transpose(1, 2)
        v = v.view(B, T, self.n_head, hs).transpose(1, 2)
        att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(hs))  # (B, nh, T, T)
        att = att.masked_fill(self.future[:, :, :T, :T], float("-inf"))
        att = self.attn_dropout(F.softmax(att, dim=-1))
        y = (att @ v).transpose(1, 2).contiguous().view(B, T, C)
        return self.resid_dropout(self.c_proj(y))


class Block(nn.Module):
    """A pre-norm transformer block: ``x + attn(ln_1(x))``, then ``x + mlp(ln_2(x))`` with a
    GELU MLP (tanh form, as GPT-2) four times as wide (``mlp.c_fc``, ``mlp.c_proj``).

    Example:
        >>> import chainrule as cr
        >>> Block(16, 4, block_size=8)(cr.randn(2, 5, 16)).shape
        (2, 5, 16)
    """

    def __init__(
        self, n_embd: int, n_head: int, block_size: int, dropout: float = 0.0, bias: bool = True
    ) -> None:
        super().__init__()
        self.ln_1 = nn.LayerNorm(n_embd, bias=bias)
        self.attn = CausalSelfAttention(n_embd, n_head, block_size, dropout, bias)
        self.ln_2 = nn.LayerNorm(n_embd, bias=bias)
        self.mlp = nn.ModuleDict(
            {
                "c_fc": nn.Linear(n_embd, 4 * n_embd, bias=bias),
                "gelu": nn.GELU(approximate="tanh"),  # GPT-2's GELU
                "c_proj": nn.Linear(4 * n_embd, n_embd, bias=bias),
                "dropout": nn.Dropout(dropout),
            }
        )

    def forward(self, x: Tensor) -> Tensor:
        x = x + self.attn(self.ln_1(x))
        m = self.mlp
        return x + m["dropout"](m["c_proj"](m["gelu"](m["c_fc"](self.ln_2(x)))))


class GPT(nn.Module):
    """A small decoder-only transformer (GPT-2's shape, nanoGPT's parameter names): token and
    position embeddings ``transformer.wte``/``transformer.wpe``, ``n_layer`` :class:`Block`\\ s
    ``transformer.h.<i>``, a final LayerNorm ``transformer.ln_f`` and the head ``lm_head``
    (no bias, not tied). Weights start as GPT-2's: N(0, 0.02), the residual projections
    ``c_proj`` scaled by ``1/sqrt(2 n_layer)``, biases zero.

    Example:
        >>> import chainrule as cr
        >>> _ = cr.manual_seed(0)
        >>> m = GPT(27, block_size=16, n_layer=1, n_head=4, n_embd=16)
        >>> m(cr.tensor([[0, 5, 13]])).shape, sum(p.numel() for p in m.parameters())
        ((1, 3, 27), 4432)
    """

    def __init__(
        self, vocab_size: int, block_size: int = 16, n_layer: int = 2, n_head: int = 4,
        n_embd: int = 64, dropout: float = 0.0, bias: bool = True,
    ) -> None:  # fmt: skip
        super().__init__()
        self.vocab_size, self.block_size = int(vocab_size), int(block_size)
        self.n_layer, self.n_head, self.n_embd = int(n_layer), int(n_head), int(n_embd)
        self.dropout, self.bias = float(dropout), bool(bias)
        self.transformer = nn.ModuleDict(
            {
                "wte": nn.Embedding(vocab_size, n_embd),
                "wpe": nn.Embedding(block_size, n_embd),
                "drop": nn.Dropout(dropout),
                "h": nn.ModuleList(
                    [Block(n_embd, n_head, block_size, dropout, bias) for _ in range(n_layer)]
                ),
                "ln_f": nn.LayerNorm(n_embd, bias=bias),
            }
        )
        self.lm_head = nn.Linear(n_embd, vocab_size, bias=False)
        with no_grad():
            for name, p in self.named_parameters():
                if p.ndim == 1:
                    if name.endswith("bias"):
                        p.zero_()
                    continue  # LayerNorm weights stay 1
                std = 0.02 / math.sqrt(2 * n_layer) if name.endswith("c_proj.weight") else 0.02
                nn.init.normal_(p, 0.0, std)

    @property
    def config(self) -> dict[str, Any]:
        """The arguments that rebuild this model with :func:`build_char_model`."""
        return {
            "kind": "gpt", "vocab_size": self.vocab_size, "block_size": self.block_size,
            "n_layer": self.n_layer, "n_head": self.n_head, "n_embd": self.n_embd,
            "dropout": self.dropout, "bias": self.bias,
        }  # fmt: skip

    def get_block_size(self) -> int:
        """The longest context the model reads (the position table's length)."""
        return self.block_size

    def forward(self, idx: Tensor) -> Tensor:
        B, T = idx.shape
        if T > self.block_size:
            raise ValueError(
                f"GPT: a sequence of {T} tokens is longer than block_size={self.block_size}"
            )
        t = self.transformer
        pos = Tensor._wrap(np.arange(T, dtype=np.int64))
        x = t["drop"](t["wte"](idx) + t["wpe"](pos))
        for block in t["h"]:
            x = block(x)
        return self.lm_head(t["ln_f"](x))


class LSTM(nn.Module):
    """A character LSTM language model: ``wte`` embeddings through ``chainrule.nn.LSTM``
    (``n_layer`` layers of width ``n_embd``, ``batch_first``), then ``lm_head``. It reads the
    whole past, so its block size is unbounded (``get_block_size`` returns a large number).

    Needs ``chainrule.nn.LSTM``; building it without raises ``ImportError``.

    Example:
        >>> import chainrule as cr
        >>> m = LSTM(27, n_embd=16)
        >>> m(cr.tensor([[0, 5, 13]])).shape, sum(p.numel() for p in m.parameters())
        ((1, 3, 27), 3067)
    """

    def __init__(self, vocab_size: int, n_embd: int = 64, n_layer: int = 1) -> None:
        if not hasattr(nn, "LSTM"):
            raise ImportError(
                "the lstm model needs chainrule.nn.LSTM, which this version of chainrule lacks"
            )
        super().__init__()
        self.vocab_size, self.n_embd, self.n_layer = int(vocab_size), int(n_embd), int(n_layer)
        self.wte = nn.Embedding(self.vocab_size, self.n_embd)
        self.lstm = nn.LSTM(self.n_embd, self.n_embd, num_layers=self.n_layer, batch_first=True)
        self.lm_head = nn.Linear(self.n_embd, self.vocab_size)

    @property
    def config(self) -> dict[str, Any]:
        """The arguments that rebuild this model with :func:`build_char_model`."""
        return {
            "kind": "lstm", "vocab_size": self.vocab_size, "n_embd": self.n_embd,
            "n_layer": self.n_layer,
        }  # fmt: skip

    def get_block_size(self) -> int:
        """How many past tokens the model reads: all of them."""
        return 1 << 30

    def forward(self, idx: Tensor) -> Tensor:
        h, _ = self.lstm(self.wte(idx))
        return self.lm_head(h)


def build_char_model(kind: str, **config: Any) -> nn.Module:
    """The character model ``kind`` (one of :data:`CHAR_MODELS`, or ``"lstm"`` where
    ``chainrule.nn.LSTM`` exists) built from ``config`` (``model.config`` without ``kind``).

    Example:
        >>> m = build_char_model("mlp", vocab_size=27, block_size=3, n_embd=2, hidden=[8])
        >>> build_char_model(**m.config).config == m.config
        True
    """
    if kind == "bigram":
        return Bigram(**config)
    if kind == "mlp":
        return MLP(**config)
    if kind == "gpt":
        return GPT(**config)
    if kind == "lstm":
        return LSTM(**config)
    raise ValueError(f"unknown character model {kind!r}: choose one of {', '.join(CHAR_MODELS)}")


def generate(
    model: nn.Module, idx: Tensor, max_new_tokens: int, temperature: float = 1.0,
    top_k: int | None = None, generator: Generator | None = None,
) -> Tensor:  # fmt: skip
    """Extend each row of ``idx`` (``(B, T)`` ids) by ``max_new_tokens`` tokens sampled from
    ``model``'s next-token distribution, ``softmax(logits / temperature)`` (only the ``top_k``
    largest logits if given), reading at most ``model.get_block_size()`` tokens back.

    Example:
        >>> import chainrule as cr
        >>> g = cr.Generator().manual_seed(0)
        >>> generate(Bigram(27), cr.zeros(3, 1, dtype=cr.int64), 4, generator=g).shape
        (3, 5)
    """
    if (
        not (isinstance(temperature, (int, float)) and math.isfinite(temperature))
        or temperature <= 0
    ):
        raise ValueError(
            f"generate: temperature must be a finite positive number, got {temperature}"
        )
    if top_k is not None and top_k <= 0:
        raise ValueError(f"generate: top_k must be positive, got {top_k}")
    was_training = model.training
    model.eval()
    block = model.get_block_size()
    with no_grad():
        for _ in range(int(max_new_tokens)):
            context = idx if idx.shape[1] <= block else idx[:, -block:]
            logits = model(context)[:, -1, :] / temperature
            if top_k is not None and top_k < logits.shape[-1]:
                kth = np.sort(logits.numpy(), axis=-1)[:, -top_k][:, None]
                logits = logits.masked_fill(Tensor._wrap(logits.numpy() < kth), float("-inf"))
            probs = F.softmax(logits, dim=-1)
            nxt = multinomial(probs, 1, replacement=True, generator=generator)
            idx = cat([idx, nxt], dim=1)
    model.train(was_training)
    return idx
