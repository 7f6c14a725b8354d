"""Seed 001: backpropagation from the derivative of a + b up to training a five-layer network.

Each section prints what the seed works out by hand and checks it against chainrule:
addition and multiplication gradients; f(x) = 3x^2 + 4x has gradient 16 at x = 2; the chain rule
on y = w1*x1 + w2*x2 (w1.grad = x1 * a.grad: multiply the gradients along the path); a ReLU
neuron; a layer of 32 neurons; a five-layer network; and gradient descent
w_i = w_i - lr * w_i.grad with a learning rate that starts large and decays.

Run: python examples/seed001_chain_rule.py
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

import chainrule as cr
from chainrule.scalar import Value
from chainrule.viz import explain


def central_difference(f: Any, x: float, h: float = 1e-6) -> float:
    """(f(x + h) - f(x - h)) / 2h: the derivative as "nudge the input, watch the output"."""
    return (f(x + h) - f(x - h)) / (2 * h)


def mlp_params(sizes: list[int], seed: int = 0) -> list[tuple[cr.Tensor, cr.Tensor]]:
    """(W, b) per layer, He-initialised, float64."""
    rng = np.random.default_rng(seed)
    return [
        (
            cr.tensor(rng.standard_normal((m, n)) * math.sqrt(2 / n), requires_grad=True),
            cr.tensor(np.zeros(m), requires_grad=True),
        )
        for n, m in zip(sizes[:-1], sizes[1:])
    ]


def network(params: list[tuple[cr.Tensor, cr.Tensor]], X: cr.Tensor) -> cr.Tensor:
    """NN(X) = L5(L4(L3(L2(L1(X))))): ReLU layers, a linear last layer."""
    for k, (W, b) in enumerate(params):
        X = X @ W.T + b
        if k < len(params) - 1:
            X = cr.relu(X)
    return X


def main(out_dir: str | Path | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {}

    # --- addition and multiplication ------------------------------------------------------------
    a, b = Value(2.0, label="a"), Value(-3.0, label="b")
    (a + b).backward()
    print(f"f = a + b:  a.grad = {a.grad}, b.grad = {b.grad}   (add 1 to a, f grows by 1)")
    assert a.grad == 1.0 and b.grad == 1.0
    a, b = Value(2.0, label="a"), Value(-3.0, label="b")
    (a * b).backward()
    print(f"f = a * b:  a.grad = {a.grad} = b, b.grad = {b.grad} = a")
    assert a.grad == b.data and b.grad == a.data
    out["add"], out["mul"] = (1.0, 1.0), (a.grad, b.grad)

    # --- f(x) = 3x^2 + 4x: f'(x) = 6x + 4, the gradient at x = 2 is 16 --------------------------
    x = Value(2.0, label="x")
    f = 3 * x**2 + 4 * x
    f.backward()
    fd = central_difference(lambda v: 3 * v**2 + 4 * v, 2.0)
    print(f"f(x) = 3x^2 + 4x at x = 2:  x.grad = {x.grad}, 6*2 + 4 = 16, nudging x: {fd:.6f}")
    assert x.grad == 6 * 2 + 4 == 16 and abs(fd - 16) < 1e-6
    out["dfdx"] = x.grad

    # --- the chain rule: y = w1*x1 + w2*x2 ------------------------------------------------------
    w1, x1 = Value(0.5, label="w1"), Value(2.0, label="x1")
    w2, x2 = Value(-1.0, label="w2"), Value(3.0, label="x2")
    pa = w1 * x1
    pa.label = "a"
    pb = w2 * x2
    pb.label = "b"
    y = pa + pb
    y.label = "y"
    steps = explain(y)
    y.backward()
    print("\nChain rule on y = a + b, a = w1*x1, b = w2*x2: multiply the gradients on the path")
    print(
        f"   a.grad = {pa.grad} (adding 1 to a adds 1 to y);  w1.grad = x1 * a.grad = "
        f"{x1.data} * {pa.grad} = {w1.grad}"
    )
    print(steps)
    assert pa.grad == 1.0 and w1.grad == x1.data * pa.grad and w2.grad == x2.data * pb.grad
    assert x1.grad == w1.data * pa.grad
    out["chain"] = {"a": pa.grad, "w1": w1.grad, "x1": x1.grad, "w2": w2.grad}

    # --- a ReLU neuron: N(X) = relu(w1*x1 + ... + wn*xn + b) ------------------------------------
    xs = [1.0, -2.0, 3.0]
    ws = [Value(v, label=f"w{i + 1}") for i, v in enumerate([0.2, -0.4, 0.1])]
    bias = Value(0.05, label="b")
    z = bias
    for wi, xi in zip(ws, xs):
        z = z + wi * xi
    neuron = z.relu()
    neuron.backward()
    active = 1.0 if z.data > 0 else 0.0  # relu'(z)
    print(
        f"\nReLU neuron: z = {z.data:.2f}, N = {neuron.data:.2f}; dN/dw_i = relu'(z) x_i = "
        f"{[round(w.grad, 4) for w in ws]}, dN/db = {bias.grad}"
    )
    assert all(abs(w.grad - active * xi) < 1e-12 for w, xi in zip(ws, xs))
    assert bias.grad == active
    out["neuron"] = {"z": z.data, "dw": [w.grad for w in ws], "db": bias.grad}

    # --- a layer of 32 neurons: L1(X) = (N1(X), ..., N32(X)) -------------------------------------
    rng = np.random.default_rng(0)
    X0 = rng.standard_normal(3)
    ((W, bl),) = mlp_params([3, 32], seed=1)
    layer = cr.relu(W @ cr.tensor(X0) + bl)
    layer.sum().backward()  # d(sum of the 32 outputs)/dW
    zl = W.detach().numpy() @ X0 + bl.detach().numpy()
    hand = np.outer(zl > 0, X0)  # neuron j: relu'(z_j) * x, its own row
    print(
        f"\nLayer of 32 ReLU neurons: {int((zl > 0).sum())} active; dW[j] = relu'(z_j) X "
        f"(hand) matches autograd: {np.allclose(W.grad.numpy(), hand)}"
    )
    assert np.allclose(W.grad.numpy(), hand, rtol=1e-12)
    out["layer_active"] = int((zl > 0).sum())

    # --- a five-layer network: gradients checked by nudging single weights -------------------
    sizes = [1, 32, 32, 32, 32, 1]
    params = mlp_params(sizes, seed=2)
    xd = np.linspace(-2, 2, 64)[:, None]
    yd = np.sin(2 * xd)
    Xt, Yt = cr.tensor(xd), cr.tensor(yd)

    def loss_fn() -> cr.Tensor:  # Loss(theta, D) = mean over D of (NN(X) - y)^2
        return ((network(params, Xt) - Yt) ** 2).mean()

    loss = loss_fn()
    loss.backward()
    checks = []
    for k in (0, 2, 4):  # in layers 1, 3, 5: the weight with the largest gradient
        Wk = params[k][0]
        i, j = np.unravel_index(np.argmax(np.abs(Wk.grad.numpy())), Wk.shape)
        old = Wk._data[i, j]
        Wk._data[i, j] = old + 1e-6
        up = loss_fn().item()
        Wk._data[i, j] = old - 1e-6
        down = loss_fn().item()
        Wk._data[i, j] = old
        checks.append(((up - down) / 2e-6, Wk.grad.numpy()[i, j]))
    n_params = sum(W.numel() + b.numel() for W, b in params)
    print(f"\nFive-layer network {sizes}: {n_params} parameters, one backward() for all of them")
    for k, (num, auto) in zip((1, 3, 5), checks):
        print(f"   a weight of layer {k}: nudging it {num: .6e}, autograd {auto: .6e}")
        assert abs(num - auto) <= 1e-6 * max(1.0, abs(auto))

    # --- training: w_i = w_i - lr * w_i.grad, lr large at first, then decaying --------------------
    steps, lr0, lr1 = 400, 0.1, 0.002
    first = loss.item()
    history = []
    for t in range(steps):
        lr = lr0 * (lr1 / lr0) ** (t / (steps - 1))  # exponential decay from lr0 to lr1
        for W, b in params:
            W.grad = b.grad = None
        loss = loss_fn()
        loss.backward()
        with cr.no_grad():
            for W, b in params:
                W -= lr * W.grad
                b -= lr * b.grad
        history.append((lr, loss.item()))
    final = loss_fn().item()
    print(f"\nTraining on y = sin(2x), {steps} steps, lr {lr0} -> {lr1}:")
    for t in (0, 100, 200, 300, steps - 1):
        print(f"   step {t:3d}  lr {history[t][0]:.4f}  loss {history[t][1]:.5f}")
    print(f"   final loss {final:.5f} (from {first:.4f})")
    assert final < 0.05 * first
    out.update(five_layer_checks=checks, loss_first=first, loss_final=final, lrs=history)
    return out


if __name__ == "__main__":
    main()
