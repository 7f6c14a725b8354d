"""Screenshots of ``chainrule.viz.explore`` for the docs: seed 003's neuron at a forward step,
at a backward step where a gradient accumulates, and with the paths to one weight lit; and a
small MLP with its layers as boxes, one of them open.

    python scripts/explore_screenshots.py [--out docs]

Needs headless Chromium (Debian: ``apt-get install chromium``) and Playwright's Python package
(the ``test`` extra); no browser is downloaded.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
from pathlib import Path

import chainrule as cr
from chainrule import Value, nn
from chainrule.viz import explore

ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip


def neuron() -> Value:
    """Seed 003: sigmoid(w0 x0 + w1 x1 + w2), times w0 again so that w0's gradient is a sum."""
    w0, w1, w2 = Value(2.0, label="w0"), Value(-3.0, label="w1"), Value(-3.0, label="w2")
    x0, x1 = Value(-1.0, label="x0"), Value(-2.0, label="x1")
    z = w0 * x0 + w1 * x1
    z.label = "z"
    s = (z + w2).sigmoid()
    s.label = "s"
    out = s * w0
    out.label = "out"
    return out


def mlp() -> tuple:
    cr.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    loss = nn.functional.cross_entropy(model(cr.randn(2, 3)), cr.tensor([1, 0]))
    return loss, model


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default="docs")
    args = p.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp())
    ex = explore(neuron(), tmp / "neuron.html", title="Seed 003's neuron, step by step")
    loss, model = mlp()
    ex_mlp = explore(
        loss, tmp / "mlp.html", params=model, collapse=True, title="A small MLP's loss"
    )
    d = ex_mlp.data
    w2 = next(k for k, r in enumerate(d["rows"]) if d["names"][r["operand"]] == "2.weight")
    mlp_at = d["steps"].index({"phase": "backward", "row": w2})
    steps = ex.data["steps"]
    forward = [k for k, s in enumerate(steps) if s["phase"] == "forward"]
    acc = [k for k, r in enumerate(ex.data["rows"]) if r["accumulates"]]
    backward_at = steps.index({"phase": "backward", "row": acc[0]})
    from playwright.sync_api import sync_playwright

    browser_path = shutil.which("chromium") or shutil.which("chromium-browser")
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=browser_path, args=ARGS, headless=True)
        page = b.new_page(viewport={"width": 1360, "height": 860})
        page.goto((tmp / "neuron.html").as_uri())
        page.evaluate(f"window.chainruleExplorer.go({forward[len(forward) // 2]})")
        page.screenshot(path=str(out / "explore_forward.png"), full_page=True)
        page.evaluate(f"window.chainruleExplorer.go({backward_at})")
        page.screenshot(path=str(out / "explore_backward.png"), full_page=True)
        page.keyboard.press("End")
        page.click('g.node[data-name="w0"]')
        page.screenshot(path=str(out / "explore_paths.png"), full_page=True)
        page.goto((tmp / "mlp.html").as_uri())
        page.keyboard.press("End")
        page.click('.gnode[data-group="1"]')
        page.evaluate(f"window.chainruleExplorer.go({mlp_at})")
        page.screenshot(path=str(out / "explore_mlp.png"), full_page=True)
        b.close()
    for name in ("forward", "backward", "paths", "mlp"):
        print(out / f"explore_{name}.png")


if __name__ == "__main__":
    main()
