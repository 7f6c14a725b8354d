"""makemore, part 1: the bigram character model of names, two ways (Karpathy's lecture, in
chainrule with PyTorch's spelling).

1. Counting: ``N[i, j] += 1`` for every pair of consecutive characters (``.`` marks a name's
   start and end), rows normalised to probabilities ``P`` (with +1 smoothing). Its average
   negative log-likelihood is the best any bigram model can do on this data.
2. A neural net: one-hot of the current character times a weight matrix ``W`` (27 x 27) gives
   logits; softmax, the NLL of the next character, ``backward()``, gradient descent. It learns
   ``W ~ log N`` and reaches the counting model's loss.

Both sample names with ``chainrule.multinomial``. The data: the 1990 US census first names
shipped in PyPI's ``names`` package (``chainrule.data.datasets.load_names``), nothing downloaded.

Run: python examples/makemore_bigram.py [steps]
"""

from __future__ import annotations

import sys

import chainrule as torch  # chainrule runs PyTorch's spelling
import chainrule.nn.functional as F
from chainrule.data.datasets import load_names


def main(steps: int = 100, lr: float = 50.0, verbose: bool = True) -> dict:
    say = print if verbose else (lambda *a, **k: None)
    words = load_names()
    chars = sorted(set("".join(words)))
    stoi = {s: i + 1 for i, s in enumerate(chars)}
    stoi["."] = 0
    itos = {i: s for s, i in stoi.items()}
    say(f"{len(words)} names, {len(stoi)} characters")

    # 1. counting
    N = torch.zeros((27, 27), dtype=torch.int32)
    xs, ys = [], []
    for w in words:
        chs = ["."] + list(w) + ["."]
        for ch1, ch2 in zip(chs, chs[1:]):
            ix1, ix2 = stoi[ch1], stoi[ch2]
            N[ix1, ix2] += 1
            xs.append(ix1)
            ys.append(ix2)
    P = (N + 1).float()
    P /= P.sum(1, keepdims=True)
    xs, ys = torch.tensor(xs), torch.tensor(ys)
    counts_nll = -P[xs, ys].log().mean().item()
    say(f"counting: {len(xs)} bigrams, average negative log-likelihood {counts_nll:.4f}")

    g = torch.Generator().manual_seed(2147483647)
    counts_samples = []
    for _ in range(5):
        out, ix = [], 0
        while True:
            ix = torch.multinomial(P[ix], num_samples=1, replacement=True, generator=g).item()
            if ix == 0:
                break
            out.append(itos[ix])
        counts_samples.append("".join(out))
    say("samples (counts): " + ", ".join(counts_samples))

    # 2. the same model as a one-layer neural net, trained by gradient descent
    g = torch.Generator().manual_seed(2147483647)
    W = torch.randn((27, 27), generator=g, requires_grad=True)
    xenc = F.one_hot(xs, num_classes=27).float()
    losses = []
    for _ in range(steps):
        logits = xenc @ W  # log-counts
        counts = logits.exp()
        probs = counts / counts.sum(1, keepdims=True)  # softmax
        loss = -probs[torch.arange(len(ys)), ys].log().mean() + 0.01 * (W**2).mean()
        W.grad = None
        loss.backward()
        W.data += -lr * W.grad
        losses.append(loss.item())
    with torch.no_grad():
        neural_nll = F.cross_entropy(xenc @ W, ys).item()
    say(f"neural net: loss {losses[0]:.4f} -> {losses[-1]:.4f} after {steps} steps; "
        f"average negative log-likelihood {neural_nll:.4f} (counting: {counts_nll:.4f})")  # fmt: skip
    neural_samples = []
    for _ in range(5):
        out, ix = [], 0
        while True:
            p = F.softmax(F.one_hot(torch.tensor([ix]), num_classes=27).float() @ W, dim=1)
            ix = torch.multinomial(p, num_samples=1, replacement=True, generator=g).item()
            if ix == 0:
                break
            out.append(itos[ix])
        neural_samples.append("".join(out))
    say("samples (neural): " + ", ".join(neural_samples))
    return {
        "n_words": len(words), "n_bigrams": len(xs), "counts": N, "counts_nll": counts_nll,
        "neural_nll": neural_nll, "losses": losses, "W": W.detach(),
        "samples": counts_samples + neural_samples,
    }  # fmt: skip


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 100)
