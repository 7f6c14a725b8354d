"""Seed 000: "We already have the derivative of logistic regression, so what is backpropagation for?"

1. Logistic regression: autograd's gradient of the cross-entropy is exactly the hand formula
   dL/dW = mean((p - y) x), dL/dw0 = mean(p - y)  (the seed's (y - p) x is minus the gradient:
   the direction to step in). Gradient descent with either gives the same weights.
2. Once there is a hidden layer, the hand formula grows a term per layer (the chain rule applied
   layer by layer: that bookkeeping *is* backpropagation); autograd's code stays `loss.backward()`.

Run: python examples/seed000_logistic_regression.py
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

import chainrule as cr


def make_data(n: int = 100, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Two Gaussian blobs in 2-D, labels 0/1."""
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.5).astype(np.float64)
    X = rng.standard_normal((n, 2)) + np.where(y[:, None] == 1, 1.0, -1.0)
    return X, y


def bce(p: cr.Tensor, y: cr.Tensor) -> cr.Tensor:
    """L = -1/N sum y ln p + (1 - y) ln(1 - p), the seed's loss."""
    return -(y * cr.log(p) + (1 - y) * cr.log(1 - p)).mean()


def main(out_dir: str | Path | None = None) -> dict[str, Any]:
    X, y = make_data()
    rng = np.random.default_rng(1)
    W0, w00 = rng.standard_normal(2) * 0.1, 0.05

    # --- 1. one gradient: autograd vs the hand-derived formula ----------------------------------
    W = cr.tensor(W0, requires_grad=True)
    w0 = cr.tensor(w00, dtype=cr.float64, requires_grad=True)
    p = cr.sigmoid(w0 + cr.tensor(X) @ W)  # p(x_i) = 1 / (1 + e^-(w0 + x_i^T W))
    loss = bce(p, cr.tensor(y))
    loss.backward()

    p_hand = 1 / (1 + np.exp(-(w00 + X @ W0)))
    grad_W_hand = ((p_hand - y)[:, None] * X).mean(axis=0)
    grad_w0_hand = (p_hand - y).mean()
    print("1. Logistic regression, one gradient")
    print(f"   loss                          {loss.item():.6f}")
    print(f"   autograd   dL/dW  = {np.array2string(W.grad.numpy(), precision=6)}")
    print(f"   hand  mean((p-y)x) = {np.array2string(grad_W_hand, precision=6)}")
    print(f"   autograd   dL/dw0 = {w0.grad.item():.6f}   hand mean(p-y) = {grad_w0_hand:.6f}")
    assert np.allclose(W.grad.numpy(), grad_W_hand, rtol=1e-10, atol=0)
    assert np.isclose(w0.grad.item(), grad_w0_hand, rtol=1e-10)

    # --- gradient descent: plugging into the formula and calling backward() are the same loop ---
    lr, steps = 0.5, 50
    Wh, w0h = W0.copy(), w00
    Wa = cr.tensor(W0, requires_grad=True)
    w0a = cr.tensor(w00, dtype=cr.float64, requires_grad=True)
    Xt, yt = cr.tensor(X), cr.tensor(y)
    for _ in range(steps):
        ph = 1 / (1 + np.exp(-(w0h + X @ Wh)))
        Wh = Wh - lr * ((ph - y)[:, None] * X).mean(axis=0)
        w0h = w0h - lr * (ph - y).mean()
        Wa.grad = w0a.grad = None
        bce(cr.sigmoid(w0a + Xt @ Wa), yt).backward()
        with cr.no_grad():
            Wa -= lr * Wa.grad
            w0a -= lr * w0a.grad
    final_loss = bce(cr.sigmoid(w0a + Xt @ Wa), yt).item()
    accuracy = float(((X @ Wa.detach().numpy() + w0a.item() > 0) == (y == 1)).mean())
    print(
        f"   {steps} steps of gradient descent: hand W = {np.array2string(Wh, precision=4)}, "
        f"autograd W = {np.array2string(Wa.detach().numpy(), precision=4)}"
    )
    print(f"   loss {loss.item():.4f} -> {final_loss:.4f}, accuracy {accuracy:.0%}")
    assert np.allclose(Wa.detach().numpy(), Wh, rtol=1e-9) and np.isclose(
        w0a.item(), w0h, rtol=1e-9
    )

    # --- 2. one hidden layer: the hand formula grows, autograd's code does not -----------------
    H = 8
    W1_0, b1_0 = rng.standard_normal((H, 2)) * 0.5, np.zeros(H)
    w2_0, b2_0 = rng.standard_normal(H) * 0.5, 0.0
    W1 = cr.tensor(W1_0, requires_grad=True)
    b1 = cr.tensor(b1_0, requires_grad=True)
    w2 = cr.tensor(w2_0, requires_grad=True)
    b2 = cr.tensor(b2_0, dtype=cr.float64, requires_grad=True)
    h = cr.tanh(Xt @ W1.T + b1)
    loss2 = bce(cr.sigmoid(h @ w2 + b2), yt)
    loss2.backward()  # the same one line as before

    # by hand: the chain rule, layer by layer, from the loss back to the first layer
    N = len(y)
    h_n = np.tanh(X @ W1_0.T + b1_0)
    p_n = 1 / (1 + np.exp(-(h_n @ w2_0 + b2_0)))
    dz2 = (p_n - y) / N  # dL/dz2: the logistic-regression formula, now one step of many
    g_w2, g_b2 = h_n.T @ dz2, dz2.sum()
    dh = np.outer(dz2, w2_0)  # dL/dh = dL/dz2 * dz2/dh
    dz1 = dh * (1 - h_n**2)  # times tanh'(z1)
    g_W1, g_b1 = dz1.T @ X, dz1.sum(axis=0)
    print("\n2. One hidden layer (tanh, 8 units): the hand formula now has 5 lines, autograd 1")
    for name, auto, hand in [
        ("w2", w2, g_w2),
        ("b2", b2, g_b2),
        ("W1", W1, g_W1),
        ("b1", b1, g_b1),
    ]:
        err = float(np.max(np.abs(auto.grad.numpy() - hand)))
        print(f"   dL/d{name:<3} autograd vs hand: max difference {err:.1e}")
        assert np.allclose(auto.grad.numpy(), hand, rtol=1e-10, atol=1e-14)
    print("   Each extra layer adds two more hand-written lines (dL/dh, dL/dz); backward() stays.")
    return {
        "grad_W": W.grad.numpy(),
        "grad_W_hand": grad_W_hand,
        "grad_w0": w0.grad.item(),
        "grad_w0_hand": grad_w0_hand,
        "loss_before": loss.item(),
        "loss_after": final_loss,
        "accuracy": accuracy,
        "hidden_grad_W1": W1.grad.numpy(),
        "hidden_grad_W1_hand": g_W1,
    }


if __name__ == "__main__":
    main()
