"""One GPT, twice: on scalars (``chainrule.Value``, micrograd's engine, as Karpathy's microgpt)
and on tensors (chainrule's tensor engine), from the same weights; then the time per step of each.

The model is microgpt's shape: 1 layer, ``n_embd = 16``, 4 heads, block size 16, RMSNorm, a
ReLU MLP four times as wide, no biases; trained on names with Adam. The scalar version reads one
name at a time, one token at a time with a cache of keys and values; each sum of products (a row
of a matrix product, an attention score) is one fused ``dot`` node (``ops=PLAIN`` runs microgpt's
own code instead: every multiply and add a node of its own, on any Value class). The tensor
version computes all positions at once under a causal mask, for a batch of names. On the same name, both give the same loss and the same gradients (checked below); the
difference is speed.

Run: python examples/microgpt_scalar_vs_tensor.py [scalar_steps] [tensor_steps]
"""

from __future__ import annotations

import random
import sys
import time
from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np

import chainrule as cr
from chainrule.data.datasets import load_names
from chainrule.data.text import CharTokenizer
from chainrule.scalar import Value, dot
from chainrule.scalar import sum as value_sum

N_EMBD, N_HEAD, N_LAYER, BLOCK = 16, 4, 1, 16
HEAD_DIM = N_EMBD // N_HEAD


def init_weights(vocab_size: int, seed: int = 42) -> dict[str, np.ndarray]:
    """microgpt's weights: every matrix N(0, 0.08), shaped (out, in)."""
    rng = np.random.default_rng(seed)
    shapes = {"wte": (vocab_size, N_EMBD), "wpe": (BLOCK, N_EMBD), "lm_head": (vocab_size, N_EMBD)}
    for i in range(N_LAYER):
        for name in ("attn_wq", "attn_wk", "attn_wv", "attn_wo"):
            shapes[f"layer{i}.{name}"] = (N_EMBD, N_EMBD)
        shapes[f"layer{i}.mlp_fc1"] = (4 * N_EMBD, N_EMBD)
        shapes[f"layer{i}.mlp_fc2"] = (N_EMBD, 4 * N_EMBD)
    return {k: rng.normal(0.0, 0.08, s) for k, s in shapes.items()}


# ----- the scalar GPT: lists of Values (microgpt) ---------------------------------------------
class Sums(NamedTuple):
    """How the scalar model adds up: ``dot(a, b)`` (a sum of products) and ``total(values)``."""

    dot: Callable[[list, list], Any]
    total: Callable[[list], Any]


# chainrule's fused nodes: each sum, and each sum of products, one node with many operands
FUSED = Sums(dot, value_sum)
# microgpt's own code, for any Value class: every multiply and every add a node of its own
PLAIN = Sums(lambda a, b: sum(x * y for x, y in zip(a, b)), sum)


def linear(x: list, w: list, ops: Sums = FUSED) -> list:
    return [ops.dot(wo, x) for wo in w]


def softmax(logits: list, ops: Sums = FUSED) -> list:
    m = max(v.data for v in logits)
    exps = [(v - m).exp() for v in logits]
    total = ops.total(exps)
    return [e / total for e in exps]


def rmsnorm(x: list, ops: Sums = FUSED) -> list:
    scale = (ops.dot(x, x) / len(x) + 1e-5) ** -0.5
    return [xi * scale for xi in x]


def scalar_gpt(sd: dict, token: int, pos: int, keys: list, values: list, ops: Sums = FUSED) -> list:
    x = rmsnorm([t + p for t, p in zip(sd["wte"][token], sd["wpe"][pos])], ops)
    for li in range(N_LAYER):
        x_res = x
        x = rmsnorm(x, ops)
        q, k, v = (linear(x, sd[f"layer{li}.attn_w{n}"], ops) for n in "qkv")
        keys[li].append(k)
        values[li].append(v)
        x_attn = []
        for h in range(N_HEAD):
            s = slice(h * HEAD_DIM, (h + 1) * HEAD_DIM)
            logits = [ops.dot(q[s], kt[s]) / HEAD_DIM**0.5 for kt in keys[li]]
            w = softmax(logits, ops)
            x_attn += [ops.dot(w, [vt[s][j] for vt in values[li]]) for j in range(HEAD_DIM)]
        x = [a + b for a, b in zip(linear(x_attn, sd[f"layer{li}.attn_wo"], ops), x_res)]
        x_res = x
        x = [xi.relu() for xi in linear(rmsnorm(x, ops), sd[f"layer{li}.mlp_fc1"], ops)]
        x = [a + b for a, b in zip(linear(x, sd[f"layer{li}.mlp_fc2"], ops), x_res)]
    return linear(x, sd["lm_head"], ops)


def scalar_loss(sd: dict, tokens: list[int], ops: Sums = FUSED) -> Any:
    """The mean loss over one name's tokens; ``sd`` holds lists of Values of any class that has
    microgpt's ops (``ops=PLAIN`` for one without chainrule's fused ``dot`` and ``sum``)."""
    n = min(BLOCK, len(tokens) - 1)
    keys, values = [[] for _ in range(N_LAYER)], [[] for _ in range(N_LAYER)]
    losses = []
    for pos in range(n):
        probs = softmax(scalar_gpt(sd, tokens[pos], pos, keys, values, ops), ops)
        losses.append(-probs[tokens[pos + 1]].log())
    return ops.total(losses) * (1.0 / n)


# ----- the tensor GPT: the same model, all positions and a batch at once ----------------------
def tensor_rmsnorm(x: cr.Tensor) -> cr.Tensor:
    return x * ((x * x).mean(dim=-1, keepdim=True) + 1e-5) ** -0.5


def tensor_gpt(sd: dict, idx: cr.Tensor) -> cr.Tensor:
    B, T = idx.shape
    x = tensor_rmsnorm(sd["wte"][idx] + sd["wpe"][cr.arange(T)])
    future = ~cr.tril(cr.ones(T, T)).bool()
    for li in range(N_LAYER):
        x_res = x
        h = tensor_rmsnorm(x)
        q, k, v = (
            (h @ sd[f"layer{li}.attn_w{n}"].T).view(B, T, N_HEAD, HEAD_DIM).transpose(1, 2)
            for n in "qkv"
        )
        att = (q @ k.transpose(-2, -1)) / HEAD_DIM**0.5
        att = cr.nn.functional.softmax(att.masked_fill(future, float("-inf")), dim=-1)
        y = (att @ v).transpose(1, 2).reshape(B, T, N_EMBD)
        x = y @ sd[f"layer{li}.attn_wo"].T + x_res
        x_res = x
        h = (tensor_rmsnorm(x) @ sd[f"layer{li}.mlp_fc1"].T).relu()
        x = h @ sd[f"layer{li}.mlp_fc2"].T + x_res
    return x @ sd["lm_head"].T


def tensor_loss(sd: dict, X: cr.Tensor, Y: cr.Tensor) -> cr.Tensor:
    """Mean over names of each name's mean per-token loss (as the scalar loss, per name)."""
    logits = tensor_gpt(sd, X)
    B, T, V = logits.shape
    per_token = cr.nn.functional.cross_entropy(
        logits.reshape(B * T, V), Y.reshape(B * T), ignore_index=-1, reduction="none"
    ).reshape(B, T)
    counts = (Y != -1).sum(dim=1)
    return (per_token.sum(dim=1) / counts).mean()


def adam(params: list, grads: list, state: dict, step: int, steps: int, lr: float = 0.01) -> None:
    """microgpt's Adam (beta1 0.85, beta2 0.99, linear decay), on arrays of values."""
    lr_t = lr * (1 - step / steps)
    for i, (p, g) in enumerate(zip(params, grads)):
        m, v = state.setdefault(i, (np.zeros_like(g), np.zeros_like(g)))
        m = 0.85 * m + 0.15 * g
        v = 0.99 * v + 0.01 * g * g
        state[i] = (m, v)
        p -= lr_t * (m / (1 - 0.85 ** (step + 1))) / (np.sqrt(v / (1 - 0.99 ** (step + 1))) + 1e-8)


def main(
    scalar_steps: int = 20, tensor_steps: int = 200, batch_size: int = 32, seed: int = 42,
    verbose: bool = True,
) -> dict:  # fmt: skip
    say = print if verbose else (lambda *a, **k: None)
    words = load_names()
    random.Random(seed).shuffle(words)
    words = [w for w in words if len(w) < BLOCK]
    tok = CharTokenizer.from_texts(words)
    w0 = init_weights(tok.vocab_size, seed)
    say(f"microgpt: {N_LAYER} layer, n_embd {N_EMBD}, {N_HEAD} heads, block {BLOCK}, "
        f"{sum(a.size for a in w0.values())} parameters, {len(words)} names")  # fmt: skip

    # the same name through both: the same loss and the same gradients
    tokens = [0, *tok.encode(words[0]), 0]
    sd_s = {k: [[Value(float(x)) for x in row] for row in a] for k, a in w0.items()}
    loss_s = scalar_loss(sd_s, tokens)
    loss_s.backward()
    grads_s = {k: np.array([[x.grad for x in row] for row in rows]) for k, rows in sd_s.items()}
    sd_t = {k: cr.tensor(a, requires_grad=True) for k, a in w0.items()}  # float64, as Value
    X, Y = tok.training_pairs(words[:1])
    loss_t = tensor_loss(sd_t, X, Y)
    loss_t.backward()
    grad_diff = max(float(np.abs(sd_t[k].grad.numpy() - grads_s[k]).max()) for k in w0)
    say(f"one name ({words[0]!r}): scalar loss {loss_s.data:.12f}, tensor loss "
        f"{loss_t.item():.12f}; largest gradient difference {grad_diff:.1e}")  # fmt: skip

    # training, scalar: one name per step
    state: dict = {}
    t0 = time.perf_counter()
    scalar_losses = []
    for step in range(scalar_steps):
        w = words[step % len(words)]
        loss = scalar_loss(sd_s, [0, *tok.encode(w), 0])
        for rows in sd_s.values():
            for row in rows:
                for x in row:
                    x.grad = 0.0
        loss.backward()
        params = [np.array([[x.data for x in row] for row in rows]) for rows in sd_s.values()]
        grads = [np.array([[x.grad for x in row] for row in rows]) for rows in sd_s.values()]
        adam(params, grads, state, step, scalar_steps)
        for rows, p in zip(sd_s.values(), params):
            for row, prow in zip(rows, p):
                for x, value in zip(row, prow):
                    x.data = float(value)
        scalar_losses.append(loss.data)
    scalar_ms = (time.perf_counter() - t0) / scalar_steps * 1e3

    # training, tensors: a batch of names per step, float32 as usual
    sd = {k: cr.tensor(a, dtype=cr.float32, requires_grad=True) for k, a in w0.items()}
    Xall, Yall = tok.training_pairs(words)
    state = {}
    rng = np.random.default_rng(seed)
    tensor_losses = []
    t0 = time.perf_counter()
    for step in range(tensor_steps):
        ix = cr.tensor(rng.integers(0, len(words), batch_size))
        loss = tensor_loss(sd, Xall[ix], Yall[ix])
        for p in sd.values():
            p.grad = None
        loss.backward()
        params = [p.detach().numpy().copy() for p in sd.values()]
        adam(params, [p.grad.numpy() for p in sd.values()], state, step, tensor_steps)
        with cr.no_grad():
            for p, new in zip(sd.values(), params):
                p.copy_(cr.tensor(new))
        tensor_losses.append(loss.item())
    tensor_ms = (time.perf_counter() - t0) / tensor_steps * 1e3
    say(f"scalar (Value), 1 name per step:      {scalar_ms:8.1f} ms per step, "
        f"loss {np.mean(scalar_losses[:5]):.3f} -> {np.mean(scalar_losses[-5:]):.3f} over {scalar_steps} steps")  # fmt: skip
    say(f"tensor, {batch_size} names per step: {tensor_ms:8.1f} ms per step, "
        f"loss {np.mean(tensor_losses[:5]):.3f} -> {np.mean(tensor_losses[-5:]):.3f} over {tensor_steps} steps")  # fmt: skip
    say(f"per name: scalar {scalar_ms:.1f} ms, tensor {tensor_ms / batch_size:.3f} ms "
        f"({scalar_ms / (tensor_ms / batch_size):,.0f}x)")  # fmt: skip
    return {
        "scalar_loss": loss_s.data, "tensor_loss": loss_t.item(), "grad_diff": grad_diff,
        "scalar_ms": scalar_ms, "tensor_ms": tensor_ms, "scalar_losses": scalar_losses,
        "tensor_losses": tensor_losses,
    }  # fmt: skip


if __name__ == "__main__":
    args = [int(a) for a in sys.argv[1:3]]
    main(*args)
