"""A GPT-like block (pre-norm causal self-attention + GELU MLP) forward and backward, chainrule
against PyTorch on the same weights, one thread each, interleaved.

    OPENBLAS_NUM_THREADS=1 python -m benchmarks.bench_attention [--d 64 --heads 4 --t 32 --batch 32]
        [--activation gelu|relu]

Also times the fused ``scaled_dot_product_attention`` alone against torch's, and against the
same attention as a chain of chainrule primitives (matmul, masked_fill, softmax, matmul).
"""

from __future__ import annotations

import argparse

import numpy as np
import torch

import chainrule as cr
import chainrule.nn.functional as F
from benchmarks.common import interleave


def block_pair(d: int, heads: int, activation: str = "gelu") -> tuple:
    kw = dict(dim_feedforward=4 * d, dropout=0.0, activation=activation, batch_first=True,
              norm_first=True)  # fmt: skip
    t = torch.nn.TransformerEncoderLayer(d, heads, **kw)
    m = cr.nn.TransformerEncoderLayer(d, heads, **kw)
    m.load_state_dict({k: v.detach().numpy() for k, v in t.state_dict().items()})
    return m, t


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--d", type=int, default=64)
    p.add_argument("--heads", type=int, default=4)
    p.add_argument("--t", type=int, default=32)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--rounds", type=int, default=30)
    p.add_argument("--activation", default="gelu", choices=["gelu", "relu"])
    a = p.parse_args()
    torch.set_num_threads(1)
    m, t = block_pair(a.d, a.heads, a.activation)
    x = np.random.default_rng(0).standard_normal((a.batch, a.t, a.d)).astype(np.float32)
    mask_c = cr.nn.Transformer.generate_square_subsequent_mask(a.t)
    mask_t = torch.nn.Transformer.generate_square_subsequent_mask(a.t)
    xc, xt = cr.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)

    def step_cr() -> None:
        m.zero_grad()
        m(xc, src_mask=mask_c, is_causal=True).sum().backward()

    def step_torch() -> None:
        t.zero_grad()
        t(xt, src_mask=mask_t, is_causal=True).sum().backward()

    r = interleave({"chainrule": step_cr, "torch": step_torch}, a.rounds)
    print(
        f"GPT-like block d={a.d} heads={a.heads} T={a.t} batch={a.batch} {a.activation}, "
        "fwd+bwd, 1 thread:"
    )
    print(f"  chainrule {r['chainrule'] * 1e3:.2f} ms   torch {r['torch'] * 1e3:.2f} ms   "
          f"ratio {r['chainrule'] / r['torch']:.2f}")  # fmt: skip

    hd = a.d // a.heads
    rng = np.random.default_rng(1)
    qkv = [rng.standard_normal((a.batch, a.heads, a.t, hd)).astype(np.float32) for _ in range(3)]
    qc = [cr.tensor(v, requires_grad=True) for v in qkv]
    qt = [torch.tensor(v, requires_grad=True) for v in qkv]
    keep = cr.tensor(np.tri(a.t, dtype=bool))

    def sdpa_cr() -> None:
        F.scaled_dot_product_attention(*qc, is_causal=True).sum().backward()

    def chain_cr() -> None:
        s = (qc[0] @ qc[1].transpose(-2, -1)) * (1.0 / np.sqrt(hd))
        s = s.masked_fill(~keep, float("-inf"))
        (F.softmax(s, dim=-1) @ qc[2]).sum().backward()

    def sdpa_torch() -> None:
        torch.nn.functional.scaled_dot_product_attention(*qt, is_causal=True).sum().backward()

    r = interleave({"fused": sdpa_cr, "chain": chain_cr, "torch": sdpa_torch}, a.rounds)
    print("scaled_dot_product_attention alone (causal), fwd+bwd:")
    print(f"  chainrule fused {r['fused'] * 1e3:.2f} ms   chainrule chain of primitives "
          f"{r['chain'] * 1e3:.2f} ms   torch {r['torch'] * 1e3:.2f} ms   "
          f"fused/torch {r['fused'] / r['torch']:.2f}")  # fmt: skip


if __name__ == "__main__":
    main()
