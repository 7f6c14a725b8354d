"""Seed 002: the cost is a function of the weights, and the weights are nodes of the graph.

1. C(W, b; x) = 1/2 sum_j (y_j - a^L_j)^2 with x fixed: a function R^(#W + #b) -> R of one vector
   theta, all the weights and biases unrolled (``nn.utils.parameters_to_vector``). Its gradient is
   a vector of the same length; nudging single coordinates of theta checks it.
2. The layer-by-layer equation dL/dz^(l-1)_j = f'(z^(l-1)_j) sum_i W^(l)_ij dL/dz^(l)_i, run by
   hand in NumPy from the last layer back, beside autograd's dL/dz (they agree), and the weight
   gradients dC/dW^(l) = dL/dz^(l) (a^(l-1))^T that the equation leads to.
3. The graph after the seed's "surgery": the weights are nodes (``draw_graph(C, params=model)``
   labels them ``layers.0.weight``...), written to ``out_dir`` when Graphviz's ``dot`` exists.

Run: python examples/seed002_weights_as_nodes.py [out_dir]
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import numpy as np

import chainrule as cr
from chainrule import nn
from chainrule.nn.utils import parameters_to_vector, vector_to_parameters
from chainrule.viz import GraphvizNotFoundError, draw_graph, render


class Net(nn.Module):
    """Sigmoid layers 3 -> 4 -> 2, as in the seed's network (L = 3: input, hidden, output)."""

    def __init__(self) -> None:
        super().__init__()
        self.layers = nn.Sequential(nn.Linear(3, 4), nn.Sigmoid(), nn.Linear(4, 2), nn.Sigmoid())

    def forward(self, x: cr.Tensor) -> cr.Tensor:
        return self.layers(x)


def cost(model: nn.Module, x: cr.Tensor, y: cr.Tensor) -> cr.Tensor:
    """C(W, b; x) = 1/2 sum_j (y_j - a^L_j)^2."""
    return 0.5 * ((y - model(x)) ** 2).sum()


def main(out_dir: str | Path | None = None) -> dict[str, Any]:
    cr.manual_seed(0)
    model = Net().double()
    x = cr.tensor([0.5, -1.0, 2.0], dtype=cr.float64)  # fixed: C is a function of theta only
    y = cr.tensor([1.0, 0.0], dtype=cr.float64)
    params = list(model.parameters())

    # --- 1. C : R^(#W + #b) -> R ----------------------------------------------------------------
    theta = parameters_to_vector(params).detach().numpy().copy()
    n_w = sum(p.numel() for n, p in model.named_parameters() if n.endswith("weight"))
    n_b = sum(p.numel() for n, p in model.named_parameters() if n.endswith("bias"))

    def C(vec: np.ndarray) -> float:  # the cost as a plain function of one vector
        with cr.no_grad():
            vector_to_parameters(cr.tensor(vec), params)
            return cost(model, x, y).item()

    c = cost(model, x, y)
    c.backward(retain_graph=True)  # keep the graph to draw it below
    grad = parameters_to_vector([p.grad for p in params]).numpy()
    print(
        f"1. C(W, b; x): #W = {n_w}, #b = {n_b}, so C : R^{n_w + n_b} -> R; C(theta) = "
        f"{c.item():.6f}"
    )
    print(f"   dC/dtheta has {grad.size} entries; nudging coordinates of theta checks them:")
    fd = []
    for k in (0, n_w // 2, theta.size - 1):
        e = np.zeros_like(theta)
        e[k] = 1e-6
        fd.append((C(theta + e) - C(theta - e)) / 2e-6)
        print(
            f"   theta[{k:2d}]: (C(theta+h) - C(theta-h))/2h = {fd[-1]: .8f}   "
            f"autograd {grad[k]: .8f}"
        )
        assert abs(fd[-1] - grad[k]) < 1e-8
    C(theta)  # put the parameters back

    # --- 2. dL/dz^(l-1) = f'(z^(l-1)) * W^(l)^T dL/dz^(l), by hand beside autograd -------------
    lin1, lin2 = model.layers[0], model.layers[2]
    model.zero_grad()
    z1 = lin1(x)
    z1.retain_grad()
    a1 = cr.sigmoid(z1)
    z2 = lin2(a1)
    z2.retain_grad()
    a2 = cr.sigmoid(z2)
    (0.5 * ((y - a2) ** 2).sum()).backward()

    W1, b1 = lin1.weight.detach().numpy(), lin1.bias.detach().numpy()
    W2, b2 = lin2.weight.detach().numpy(), lin2.bias.detach().numpy()
    xn, yn = x.numpy(), y.numpy()

    def sig(v: np.ndarray) -> np.ndarray:
        return 1 / (1 + np.exp(-v))

    z1n = W1 @ xn + b1
    a1n = sig(z1n)
    z2n = W2 @ a1n + b2
    a2n = sig(z2n)
    dz2 = (a2n - yn) * a2n * (1 - a2n)  # dL/dz^(L) = (a^L - y) f'(z^L)
    dz1 = a1n * (1 - a1n) * (W2.T @ dz2)  # the seed's equation: f'(z^(l-1)) sum_i W_ij dL/dz_i
    print("\n2. Back through the layers, by hand (NumPy) and by autograd:")
    print(f"   dL/dz2 hand     {np.array2string(dz2, precision=6)}")
    print(f"   dL/dz2 autograd {np.array2string(z2.grad.numpy(), precision=6)}")
    print(f"   dL/dz1 hand     {np.array2string(dz1, precision=6)}")
    print(f"   dL/dz1 autograd {np.array2string(z1.grad.numpy(), precision=6)}")
    np.testing.assert_allclose(z2.grad.numpy(), dz2, rtol=1e-12)
    np.testing.assert_allclose(z1.grad.numpy(), dz1, rtol=1e-12)
    # the separate step the seed mentions: from dL/dz to the weights, dC/dW = dL/dz a_prev^T
    dW2, dW1 = np.outer(dz2, a1n), np.outer(dz1, xn)
    np.testing.assert_allclose(lin2.weight.grad.numpy(), dW2, rtol=1e-12)
    np.testing.assert_allclose(lin1.weight.grad.numpy(), dW1, rtol=1e-12)
    print("   then the weights: dC/dW(l) = dL/dz(l) a(l-1)^T, by hand == autograd's .grad")

    # --- 3. the weights as nodes of the graph -----------------------------------------------
    graph = draw_graph(c, params=model, rankdir="LR")
    names = [n for n, _ in model.named_parameters()]
    print(f"\n3. The graph with the weights as nodes: {', '.join(names)}")
    picture = None
    if out_dir is not None:
        try:
            picture = render(graph, Path(out_dir) / "seed002_graph.svg")
            print(f"   written to {picture}")
        except GraphvizNotFoundError as err:
            print(f"   (no picture: {err})")
    return {
        "n_weights": n_w,
        "n_biases": n_b,
        "grad_theta": grad,
        "finite_differences": fd,
        "dz1": z1.grad.numpy(),
        "dz1_hand": dz1,
        "dz2": z2.grad.numpy(),
        "dz2_hand": dz2,
        "dot_source": graph.source,
        "picture": picture,
    }


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else None)
