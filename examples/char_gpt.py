"""A character-level GPT on names, trained in chainrule and, from the same starting weights and on
the same batches, in PyTorch: the two loss curves agree to float32 rounding.

chainrule's ``chainrule.models.GPT`` uses nanoGPT's parameter names, so its ``state_dict`` written
with ``chainrule.safetensors.save_file`` is read by ``safetensors.torch.load_file`` straight into
the PyTorch model below (the same architecture, written here in plain PyTorch); after training,
the PyTorch weights come back the same way and give the same validation loss in chainrule.

Run: python examples/char_gpt.py [steps]     (needs torch and safetensors)
"""

from __future__ import annotations

import math
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import safetensors.torch
import torch
import torch.nn.functional as TF

import chainrule as cr
from chainrule.data.datasets import load_names
from chainrule.data.text import CharTokenizer
from chainrule.models import GPT
from chainrule.safetensors import load_file, save_file
from chainrule.train.lm import evaluate_lm, lm_loss, sample_words


class TorchBlock(torch.nn.Module):
    """chainrule.models.Block in PyTorch: pre-norm attention and GELU MLP, nanoGPT's names."""

    def __init__(self, n_embd: int, n_head: int, block_size: int) -> None:
        super().__init__()
        self.n_head = n_head
        self.ln_1 = torch.nn.LayerNorm(n_embd)
        self.attn = torch.nn.Module()
        self.attn.c_attn = torch.nn.Linear(n_embd, 3 * n_embd)
        self.attn.c_proj = torch.nn.Linear(n_embd, n_embd)
        self.ln_2 = torch.nn.LayerNorm(n_embd)
        self.mlp = torch.nn.ModuleDict(
            {
                "c_fc": torch.nn.Linear(n_embd, 4 * n_embd),
                "gelu": torch.nn.GELU(approximate="tanh"),
                "c_proj": torch.nn.Linear(4 * n_embd, n_embd),
            }
        )
        mask = ~torch.tril(torch.ones(block_size, block_size, dtype=torch.bool))
        self.register_buffer("future", mask.view(1, 1, block_size, block_size), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, T, C = x.shape
        hs = C // self.n_head
        q, k, v = self.attn.c_attn(self.ln_1(x)).split(C, dim=2)
        q, k, v = (t.view(B, T, self.n_head, hs).transpose(1, 2) for t in (q, k, v))
        att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(hs))
        att = TF.softmax(att.masked_fill(self.future[:, :, :T, :T], float("-inf")), dim=-1)
        y = (att @ v).transpose(1, 2).contiguous().view(B, T, C)
        x = x + self.attn.c_proj(y)
        m = self.mlp
        return x + m["c_proj"](m["gelu"](m["c_fc"](self.ln_2(x))))


class TorchGPT(torch.nn.Module):
    """chainrule.models.GPT in PyTorch (same parameter names, so state dicts cross over)."""

    def __init__(self, vocab_size: int, block_size: int, n_layer: int, n_head: int, n_embd: int):
        super().__init__()
        self.transformer = torch.nn.ModuleDict(
            {
                "wte": torch.nn.Embedding(vocab_size, n_embd),
                "wpe": torch.nn.Embedding(block_size, n_embd),
                "h": torch.nn.ModuleList(
                    [TorchBlock(n_embd, n_head, block_size) for _ in range(n_layer)]
                ),
                "ln_f": torch.nn.LayerNorm(n_embd),
            }
        )
        self.lm_head = torch.nn.Linear(n_embd, vocab_size, bias=False)

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        t = self.transformer
        x = t["wte"](idx) + t["wpe"](torch.arange(idx.shape[1]))
        for block in t["h"]:
            x = block(x)
        return self.lm_head(t["ln_f"](x))


def main(
    steps: int = 300, batch_size: int = 32, n_layer: int = 2, n_head: int = 4, n_embd: int = 32,
    lr: float = 3e-3, seed: int = 0, out_dir: str | Path | None = None, verbose: bool = True,
    torch_threads: int = 1,
) -> dict:  # fmt: skip
    """Train both for ``steps``; PyTorch on ``torch_threads`` threads (1: a like-for-like time
    beside chainrule, and no thread contention on a busy machine)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(torch_threads)
    try:
        return _run(steps, batch_size, n_layer, n_head, n_embd, lr, seed, out_dir, verbose)
    finally:
        torch.set_num_threads(threads)


def _run(
    steps: int, batch_size: int, n_layer: int, n_head: int, n_embd: int, lr: float, seed: int,
    out_dir: str | Path | None, verbose: bool,
) -> dict:  # fmt: skip
    say = print if verbose else (lambda *a, **k: None)
    words = load_names()
    tok = CharTokenizer.from_texts(words)
    X, Y = tok.training_pairs(words)
    Xtr, Xval, Ytr, Yval = cr.data.datasets.split_train_test(X, Y, test_fraction=500, seed=seed)
    cr.manual_seed(seed)
    model = GPT(tok.vocab_size, X.shape[1], n_layer=n_layer, n_head=n_head, n_embd=n_embd)
    tmodel = TorchGPT(tok.vocab_size, X.shape[1], n_layer, n_head, n_embd)

    # the same starting weights: chainrule -> safetensors file -> PyTorch
    folder = Path(out_dir or tempfile.mkdtemp())
    save_file(model.state_dict(), folder / "init.safetensors", metadata={"arch": "char-gpt"})
    result = tmodel.load_state_dict(safetensors.torch.load_file(folder / "init.safetensors"))
    assert not result.missing_keys and not result.unexpected_keys, result

    opt = cr.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01)
    topt = torch.optim.AdamW(tmodel.parameters(), lr=lr, weight_decay=0.01)
    Xt, Yt = torch.from_numpy(Xtr.numpy()), torch.from_numpy(Ytr.numpy())
    rng = np.random.default_rng(seed)
    losses, tlosses = [], []
    t_cr = t_torch = 0.0
    say(f"GPT: {n_layer} layers, {n_head} heads, n_embd={n_embd}, block {X.shape[1]}, "
        f"{sum(p.numel() for p in model.parameters()):,} parameters; {steps} steps of {batch_size}")  # fmt: skip
    for step in range(1, steps + 1):
        ix = rng.integers(0, len(Xtr), batch_size)  # the same batch for both
        t0 = time.perf_counter()
        loss = lm_loss(model(Xtr[cr.tensor(ix)]), Ytr[cr.tensor(ix)])
        opt.zero_grad()
        loss.backward()
        opt.step()
        t1 = time.perf_counter()
        logits = tmodel(Xt[ix])
        tloss = TF.cross_entropy(
            logits.view(-1, logits.shape[-1]), Yt[ix].view(-1), ignore_index=-1
        )
        topt.zero_grad()
        tloss.backward()
        topt.step()
        t2 = time.perf_counter()
        t_cr, t_torch = t_cr + t1 - t0, t_torch + t2 - t1
        losses.append(loss.item())
        tlosses.append(tloss.item())
        if step % max(steps // 10, 1) == 0 or step == 1:
            say(f"step {step:4d}  chainrule {losses[-1]:.6f}  torch {tlosses[-1]:.6f}  "
                f"diff {abs(losses[-1] - tlosses[-1]):.2e}")  # fmt: skip

    # the trained PyTorch weights back into chainrule: PyTorch -> safetensors file -> chainrule
    safetensors.torch.save_file(tmodel.state_dict(), folder / "trained.safetensors")
    back = GPT(tok.vocab_size, X.shape[1], n_layer=n_layer, n_head=n_head, n_embd=n_embd)
    back.load_state_dict(load_file(folder / "trained.safetensors"))
    val = evaluate_lm(model, Xval, Yval)
    val_torch_weights = evaluate_lm(back, Xval, Yval)
    max_weight_diff = max(
        float(np.abs(p.detach().numpy() - tp.detach().numpy()).max())
        for p, tp in zip(model.parameters(), tmodel.parameters())
    )
    say(f"after {steps} steps: chainrule loss {losses[-1]:.6f}, torch loss {tlosses[-1]:.6f}; "
        f"largest weight difference {max_weight_diff:.2e}")  # fmt: skip
    say(f"validation loss: chainrule weights {val:.6f}, torch weights (loaded back) "
        f"{val_torch_weights:.6f}")  # fmt: skip
    say(
        f"time per step: chainrule {t_cr / steps * 1e3:.1f} ms, torch {t_torch / steps * 1e3:.1f} ms"
    )
    samples = sample_words(model, tok, 10, temperature=0.8, generator=cr.Generator().manual_seed(0))
    say("samples: " + ", ".join(samples))
    return {
        "losses": losses, "torch_losses": tlosses, "val_loss": val,
        "val_loss_torch_weights": val_torch_weights, "max_weight_diff": max_weight_diff,
        "ms_per_step": t_cr / steps * 1e3, "torch_ms_per_step": t_torch / steps * 1e3,
        "samples": samples,
    }  # fmt: skip


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 300)
