"""makemore, part 2: Bengio et al.'s (2003) MLP language model on names, as in Karpathy's lecture.

Each example is the last ``block_size`` characters (``.``-padded at the start) and the next one.
The characters are looked up in an embedding table ``C`` (27 x ``n_embd``), concatenated, put
through a ``tanh`` hidden layer and a linear layer to 27 logits; cross-entropy; minibatch SGD
with a learning-rate drop. Train/dev/test splits are 80/10/10 of the names. It beats the bigram
(about 2.34 nats per character on this data) because it sees three characters back.

``chainrule.models.MLP`` is the same model packaged (``chainrule train --dataset names
--model mlp``).

Run: python examples/makemore_mlp.py [steps]
"""

from __future__ import annotations

import random
import sys
import time

import chainrule as torch
import chainrule.nn.functional as F
from chainrule.data.datasets import load_names


def build_dataset(words: list[str], stoi: dict[str, int], block_size: int) -> tuple:
    X, Y = [], []
    for w in words:
        context = [0] * block_size
        for ch in w + ".":
            ix = stoi[ch]
            X.append(context)
            Y.append(ix)
            context = context[1:] + [ix]
    return torch.tensor(X), torch.tensor(Y)


def main(
    steps: int = 10000, block_size: int = 3, n_embd: int = 10, n_hidden: int = 200,
    batch_size: int = 32, seed: int = 42, verbose: bool = True,
) -> dict:  # fmt: skip
    say = print if verbose else (lambda *a, **k: None)
    words = load_names()
    chars = sorted(set("".join(words)))
    stoi = {s: i + 1 for i, s in enumerate(chars)}
    stoi["."] = 0
    itos = {i: s for s, i in stoi.items()}
    random.seed(seed)
    random.shuffle(words)
    n1, n2 = int(0.8 * len(words)), int(0.9 * len(words))
    Xtr, Ytr = build_dataset(words[:n1], stoi, block_size)
    Xdev, Ydev = build_dataset(words[n1:n2], stoi, block_size)
    Xte, Yte = build_dataset(words[n2:], stoi, block_size)
    say(
        f"{len(words)} names: {Xtr.shape[0]} train, {Xdev.shape[0]} dev, {Xte.shape[0]} test examples"
    )

    g = torch.Generator().manual_seed(2147483647)
    C = torch.randn((27, n_embd), generator=g)
    W1 = (
        torch.randn((block_size * n_embd, n_hidden), generator=g)
        * (5 / 3)
        / (block_size * n_embd) ** 0.5
    )
    b1 = torch.randn(n_hidden, generator=g) * 0.01
    W2 = torch.randn((n_hidden, 27), generator=g) * 0.01  # small logits at start: loss ~ log(27)
    b2 = torch.zeros(27)
    parameters = [C, W1, b1, W2, b2]
    for p in parameters:
        p.requires_grad = True
    say(f"{sum(p.numel() for p in parameters)} parameters")

    def forward(X: torch.Tensor) -> torch.Tensor:
        emb = C[X]  # (N, block_size, n_embd)
        h = torch.tanh(emb.view(emb.shape[0], -1) @ W1 + b1)
        return h @ W2 + b2

    losses = []
    t0 = time.perf_counter()
    for i in range(steps):
        ix = torch.randint(0, Xtr.shape[0], (batch_size,), generator=g)
        loss = F.cross_entropy(forward(Xtr[ix]), Ytr[ix])
        for p in parameters:
            p.grad = None
        loss.backward()
        lr = 0.1 if i < steps // 2 else 0.01
        for p in parameters:
            p.data += -lr * p.grad
        losses.append(loss.item())
        if verbose and i % max(steps // 10, 1) == 0:
            say(f"{i:6d}/{steps}: {loss.item():.4f}")
    seconds = time.perf_counter() - t0
    with torch.no_grad():
        split = {n: F.cross_entropy(forward(X), Y).item()
                 for n, X, Y in (("train", Xtr, Ytr), ("dev", Xdev, Ydev), ("test", Xte, Yte))}  # fmt: skip
    say(
        f"after {steps} steps ({seconds:.1f} s): "
        + ", ".join(f"{k} {v:.4f}" for k, v in split.items())
    )

    samples = []
    with torch.no_grad():
        for _ in range(10):
            out, context = [], [0] * block_size
            while True:
                probs = F.softmax(forward(torch.tensor([context])), dim=1)
                ix = torch.multinomial(probs, num_samples=1, generator=g).item()
                context = context[1:] + [ix]
                if ix == 0:
                    break
                out.append(itos[ix])
            samples.append("".join(out))
    say("samples: " + ", ".join(samples))
    return {"losses": losses, "seconds": seconds, "samples": samples, **split}


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 10000)
