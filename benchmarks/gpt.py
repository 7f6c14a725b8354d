"""A small GPT training step, chainrule against PyTorch on the same weights.

    OPENBLAS_NUM_THREADS=1 python -m benchmarks.gpt [--config small|larger] [--threads 1]
        [--rounds 30] [--profile]
    python -m benchmarks.gpt memory chainrule|torch small|larger

The model is defined once (:func:`build_gpt`, given a library's ``nn`` namespace): token and
position embeddings, pre-norm blocks (LayerNorm, causal ``scaled_dot_product_attention``,
exact-erf GELU MLP four times as wide), a final LayerNorm and a linear head. A training step is
forward, cross-entropy over all positions, backward and an AdamW step. The ``memory`` form
prints, as JSON, how far the resident set of a fresh process rises during one step (Linux
VmHWM, as :mod:`benchmarks.memory`).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Callable
from typing import Any

import numpy as np

CONFIGS: dict[str, dict[str, int]] = {
    "small": {"n_layer": 2, "n_embd": 64, "n_head": 4, "block": 32, "batch": 32, "vocab": 65},
    "larger": {"n_layer": 4, "n_embd": 128, "n_head": 4, "block": 64, "batch": 16, "vocab": 65},
}

GPT_LABELS = {
    "small": "2 blocks d=64, T=32, b=32",
    "larger": "4 blocks d=128, T=64, b=16",
}

Step = Callable[[], Any]
Config = str | dict[str, int]


def _cfg(config: Config) -> dict[str, int]:
    return CONFIGS[config] if isinstance(config, str) else config


def build_gpt(lib: Any, cfg: dict[str, int], gelu: str = "none") -> Any:
    """The GPT of ``cfg`` written against ``lib`` (``torch`` or ``chainrule``: the same code)."""
    nn, F = lib.nn, lib.nn.functional
    d, heads = cfg["n_embd"], cfg["n_head"]

    class Block(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.ln_1 = nn.LayerNorm(d)
            self.c_attn = nn.Linear(d, 3 * d)
            self.c_proj = nn.Linear(d, d)
            self.ln_2 = nn.LayerNorm(d)
            self.c_fc = nn.Linear(d, 4 * d)
            self.gelu = nn.GELU(approximate=gelu)
            self.mlp_proj = nn.Linear(4 * d, d)

        def forward(self, x: Any) -> Any:
            B, T, C = x.shape
            q, k, v = self.c_attn(self.ln_1(x)).split(C, dim=2)
            q = q.view(B, T, heads, C // heads).transpose(1, 2)
            k = k.view(B, T, heads, C // heads).transpose(1, 2)
            v = v.view(B, T, heads, C // heads).transpose(1, 2)
            y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
            x = x + self.c_proj(y.transpose(1, 2).contiguous().view(B, T, C))
            return x + self.mlp_proj(self.gelu(self.c_fc(self.ln_2(x))))

    class GPT(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.wte = nn.Embedding(cfg["vocab"], d)
            self.wpe = nn.Embedding(cfg["block"], d)
            self.blocks = nn.ModuleList([Block() for _ in range(cfg["n_layer"])])
            self.ln_f = nn.LayerNorm(d)
            self.lm_head = nn.Linear(d, cfg["vocab"])

        def forward(self, idx: Any) -> Any:
            T = idx.shape[1]
            x = self.wte(idx) + self.wpe(lib.arange(T))
            for block in self.blocks:
                x = block(x)
            return self.lm_head(self.ln_f(x))

    return GPT()


def gpt_models(config: Config = "small", gelu: str = "none") -> tuple[Any, Any]:
    """``(chainrule_model, torch_model)`` of one config with identical weights."""
    import torch

    import chainrule as cr

    torch.manual_seed(0)
    tm = build_gpt(torch, _cfg(config), gelu)
    cm = build_gpt(cr, _cfg(config), gelu)
    state = {k: cr.tensor(v.detach().numpy().copy()) for k, v in tm.state_dict().items()}
    cm.load_state_dict(state)
    return cm, tm


def gpt_batch(config: Config = "small", seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Token ids ``(batch, block)`` and their next-token targets, int64."""
    c = _cfg(config)
    rng = np.random.default_rng(seed)
    ids = rng.integers(0, c["vocab"], (c["batch"], c["block"] + 1)).astype(np.int64)
    return ids[:, :-1].copy(), ids[:, 1:].copy()


def gpt_steps(config: Config = "small", gelu: str = "none", lr: float = 1e-3) -> tuple[Step, Step]:
    """``(chainrule_step, torch_step)``: forward, cross-entropy, backward and AdamW, same
    weights and same batch, for :func:`benchmarks.common.interleave`."""
    import torch

    import chainrule as cr

    cm, tm = gpt_models(config, gelu)
    x, y = gpt_batch(config)
    vocab = _cfg(config)["vocab"]
    copt = cr.optim.AdamW(cm.parameters(), lr=lr, weight_decay=0.1)
    topt = torch.optim.AdamW(tm.parameters(), lr=lr, weight_decay=0.1)
    cx, cy = cr.tensor(x), cr.tensor(y)
    tx, ty = torch.from_numpy(x), torch.from_numpy(y)

    def chainrule_step() -> float:
        copt.zero_grad()
        loss = cr.nn.functional.cross_entropy(cm(cx).view(-1, vocab), cy.view(-1))
        loss.backward()
        copt.step()
        return loss.detach()

    def torch_step() -> float:
        topt.zero_grad()
        loss = torch.nn.functional.cross_entropy(tm(tx).view(-1, vocab), ty.view(-1))
        loss.backward()
        topt.step()
        return loss.detach()

    return chainrule_step, torch_step


def memory(lib: str, config: str = "small") -> dict:
    """Peak resident-set rise of one GPT training step of ``lib`` in this (fresh) process.

    One step of a one-sequence copy of the model runs first, so that code loaded on first use
    is not counted; the measured step is the first of a fresh model, its AdamW state included.
    """
    import torch

    from benchmarks.memory import bench_threads, rss_mb, step_peak_mb

    torch.set_num_threads(bench_threads())
    pick = 0 if lib == "chainrule" else 1
    gpt_steps(dict(CONFIGS[config], batch=1))[pick]()
    step = gpt_steps(config)[pick]
    peak = step_peak_mb(step)
    for _ in range(9):
        step()
    return {"lib": lib, "config": config, "step_peak_mb": peak, "rss_after_10_mb": rss_mb()}


def memory_subprocess(lib: str, config: str) -> dict:
    """:func:`memory` run in a fresh interpreter, at this process's thread settings (as
    ``benchmarks.memory`` for the MLP: ``benchmarks.run`` sets them per thread count)."""
    import subprocess

    out = subprocess.run(
        [sys.executable, "-m", "benchmarks.gpt", "memory", lib, config], capture_output=True,
        text=True, check=True,
    )  # fmt: skip
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "memory":
        print(json.dumps(memory(sys.argv[2], sys.argv[3] if len(sys.argv) > 3 else "small")))
        return
    p = argparse.ArgumentParser()
    p.add_argument("--config", default="small", choices=sorted(CONFIGS))
    p.add_argument("--gelu", default="none", choices=["none", "tanh"])
    p.add_argument("--threads", type=int, default=1, help="PyTorch threads (match BLAS's)")
    p.add_argument("--rounds", type=int, default=30)
    p.add_argument("--profile", action="store_true", help="pyinstrument the chainrule step")
    a = p.parse_args()
    import torch

    from benchmarks.common import interleave

    torch.set_num_threads(a.threads)
    cstep, tstep = gpt_steps(a.config, a.gelu)
    closs, tloss = float(cstep()), float(tstep())
    assert math.isclose(closs, tloss, rel_tol=1e-4), (closs, tloss)
    if a.profile:
        from pyinstrument import Profiler

        prof = Profiler(interval=0.0005)
        prof.start()
        for _ in range(a.rounds):
            cstep()
        prof.stop()
        print(prof.output_text(unicode=False, color=False, show_all=False))
        return
    t = interleave({"chainrule": cstep, "torch": tstep}, a.rounds)
    print(
        f"GPT {a.config} (gelu={a.gelu}), {a.threads} thread(s): chainrule "
        f"{t['chainrule'] * 1e3:.2f} ms, torch {t['torch'] * 1e3:.2f} ms, ratio "
        f"{t['chainrule'] / t['torch']:.2f}"
    )


if __name__ == "__main__":
    main()
