"""Seed 003: CS231n's sigmoid neuron f(w, x) = 1 / (1 + e^-(w0*x0 + w1*x1 + w2)), gate by gate.

w = [2, -3, -3], x = [-1, -2]. Forward: f = 0.73. Backward: dx = [0.39, -0.59],
dw = [-0.2, -0.39, 0.2]. The seed's puzzle, "why 1 * activation for w2?": w2 enters through an
addition gate, whose local derivative is 1, so w2's gradient is 1 * (the gradient arriving at the
sum) = 0.2, while w0's is x0 * 0.2 (a multiplication gate's local derivative is the other input).

Then the same neuron with the sigmoid as *one* gate whose local derivative is sigma * (1 - sigma),
written with ``chainrule.autograd.Function``.

Run: python examples/seed003_sigmoid_neuron.py [out_dir]   (writes the picture when `dot` exists)
"""

from __future__ import annotations

import math
import sys
from pathlib import Path
from typing import Any

import chainrule as cr
from chainrule.autograd import Function
from chainrule.scalar import Value
from chainrule.viz import GraphvizNotFoundError, draw_graph, explain, render

W = [2.0, -3.0, -3.0]
X = [-1.0, -2.0]


def build_neuron() -> tuple[Value, dict[str, Value]]:
    """The neuron as CS231n draws it: *, *, +, +, *-1, exp, +1, 1/x; every gate labelled."""

    def named(v: Value, label: str) -> Value:
        v.label = label
        return v

    w0, w1, w2 = (Value(w, label=f"w{i}") for i, w in enumerate(W))
    x0, x1 = (Value(x, label=f"x{i}") for i, x in enumerate(X))
    w0x0 = named(w0 * x0, "w0*x0")
    w1x1 = named(w1 * x1, "w1*x1")
    s = named(w0x0 + w1x1, "s")
    dot = named(s + w2, "dot")  # w0*x0 + w1*x1 + w2
    neg = named(dot * -1, "-dot")
    e = named(neg.exp(), "exp")
    d = named(e + 1, "1+exp")
    f = named(d**-1, "f")
    gates = {"w0": w0, "x0": x0, "w1": w1, "x1": x1, "w2": w2, "w0*x0": w0x0, "w1*x1": w1x1,
             "s": s, "dot": dot, "-dot": neg, "exp": e, "1+exp": d, "f": f}  # fmt: skip
    return f, gates


class Sigmoid(Function):
    """sigma(x) as one gate: forward 1 / (1 + e^-x), local derivative sigma * (1 - sigma)."""

    formula = "d sigma(x)/dx = sigma(x)*(1 - sigma(x))"

    @staticmethod
    def forward(ctx: Any, x: cr.Tensor) -> cr.Tensor:
        s = 1 / (1 + cr.exp(-x))
        ctx.save_for_backward(s)
        return s

    @staticmethod
    def backward(ctx: Any, grad_output: cr.Tensor) -> cr.Tensor:
        (s,) = ctx.saved_tensors
        return grad_output * s * (1 - s)


def main(out_dir: str | Path | None = None) -> dict[str, Any]:
    # --- gate by gate, with the scalar engine ---------------------------------------------------
    f, gates = build_neuron()
    table = explain(f)  # explains from the graph alone; .grad is untouched
    f.backward()
    print("Gate by gate (forward value, then the gradient backward() left in .grad)")
    for name, v in gates.items():
        print(f"   {name:>6}  value {v.data:8.4f}   grad {v.grad:8.4f}")
    dx = [gates["x0"].grad, gates["x1"].grad]
    dw = [gates["w0"].grad, gates["w1"].grad, gates["w2"].grad]

    # by hand, as CS231n does it: sigma'(dot) = f (1 - f), then one multiplication per input
    dot = W[0] * X[0] + W[1] * X[1] + W[2]
    fh = 1 / (1 + math.exp(-dot))
    ddot = (1 - fh) * fh
    dx_hand = [W[0] * ddot, W[1] * ddot]
    dw_hand = [X[0] * ddot, X[1] * ddot, 1.0 * ddot]  # the "1 * activation": the + gate's 1
    print(
        f"\n   f = {f.data:.2f}, dx = {[round(g, 2) for g in dx]}, dw = {[round(g, 2) for g in dw]}"
    )
    print(f"   by hand: ddot = (1 - f) f = {ddot:.4f}; dx = w*ddot, dw = [x0, x1, 1]*ddot")
    assert abs(f.data - fh) < 1e-12
    assert all(abs(a - b) < 1e-12 for a, b in zip(dx + dw, dx_hand + dw_hand))

    print("\nThe backward pass, step by step (chainrule.viz.explain):\n")
    print(table)

    picture = None
    if out_dir is not None:
        try:
            picture = render(draw_graph(f), Path(out_dir) / "seed003_graph.svg")
            print(f"\nThe graph with values and gradients: {picture}")
        except GraphvizNotFoundError as err:
            print(f"\n(no picture: {err})")

    # --- the sigmoid as one gate: Value.sigmoid and a chainrule.autograd.Function ------------
    w = [Value(v, label=f"w{i}") for i, v in enumerate(W)]
    x = [Value(v, label=f"x{i}") for i, v in enumerate(X)]
    f1 = (w[0] * x[0] + w[1] * x[1] + w[2]).sigmoid()
    f1.backward()
    wt = cr.tensor(W, dtype=cr.float64, requires_grad=True)
    xt = cr.tensor(X, dtype=cr.float64, requires_grad=True)
    ft = Sigmoid.apply(wt[0] * xt[0] + wt[1] * xt[1] + wt[2])
    one_gate = explain(ft, params={"w": wt, "x": xt})
    ft.backward()
    print("\nThe sigmoid as one gate (local derivative sigma*(1 - sigma)):")
    print(
        f"   {one_gate.rows[1].formula}: {one_gate.rows[1].local:.4f} = {fh:.4f} * (1 - {fh:.4f})"
    )
    print(
        f"   Value.sigmoid: dw = {[round(v.grad, 4) for v in w]};  Function: dw = "
        f"{[round(g, 4) for g in wt.grad.tolist()]}"
    )
    assert abs(one_gate.rows[1].local - ddot) < 1e-12
    for a, b, c in zip(dw, [v.grad for v in w], wt.grad.tolist()):
        assert abs(a - b) < 1e-12 and abs(a - c) < 1e-12
    return {
        "f": f.data,
        "dx": dx,
        "dw": dw,
        "ddot": ddot,
        "rows": table.rows,
        "one_gate_dw": wt.grad.tolist(),
        "one_gate_dx": xt.grad.tolist(),
        "picture": picture,
    }


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else None)
