"""chainrule.viz.explore in a real browser: headless Chromium (Debian's ``chromium``) driven by
Playwright opens the saved page offline, steps through every forward and backward step, checks
each displayed value and gradient against PyTorch's, clicks a parameter and checks the
highlighted paths, and sees no console error. Skips, saying why, where there is no such browser
(``.ci/run`` installs it, so CI runs it)."""

import json
import os
import shutil
import struct

import numpy as np
import pytest
import torch

import chainrule as cr
from chainrule import Value, nn
from chainrule.viz import explore

ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip


def _chromium() -> str | None:
    for name in (os.environ.get("CHAINRULE_CHROMIUM"), "chromium", "chromium-browser"):
        path = name and shutil.which(name)
        if path:
            return path
    return None


def _skip_reason() -> str | None:
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the Playwright Python package is not installed (pip install '.[test]')"
    if _chromium() is None:
        return (
            "no Chromium browser found (Debian/Ubuntu: apt-get install chromium chromium-driver; "
            "or set CHAINRULE_CHROMIUM to a Chromium binary)"
        )
    return None


pytestmark = pytest.mark.skipif(_skip_reason() is not None, reason=str(_skip_reason()))


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    from playwright.sync_api import sync_playwright

    profile = tmp_path_factory.mktemp("chromium-profile")
    with sync_playwright() as p:
        ctx = p.chromium.launch_persistent_context(
            str(profile), executable_path=_chromium(), headless=True, args=ARGS,
            offline=True, viewport={"width": 1400, "height": 900},
        )  # fmt: skip
        yield ctx
        ctx.close()


class Page:
    """One explorer page open in the browser, with every console message and request kept."""

    def __init__(self, ctx, path):
        self.page = ctx.new_page()
        self.errors, self.requests = [], []
        self.page.on(
            "console", lambda m: m.type in ("error", "warning") and self.errors.append(m.text)
        )
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.on("request", lambda r: self.requests.append(r.url))
        self.page.goto(path.as_uri())
        self.page.wait_for_selector("#graph g.node")

    def attr(self, sel, name):
        return self.page.get_attribute(sel, name)

    def step(self):
        return int(self.page.evaluate("window.chainruleExplorer.current()"))

    def grad(self, i):
        return json.loads(self.attr(f'g.node[data-node="{i}"]', "data-grad"))

    def value(self, i):
        return json.loads(self.attr(f'g.node[data-node="{i}"]', "data-value"))


def _neuron():
    """Seed 003's sigmoid neuron, with w0 used twice so a gradient accumulates."""
    w0, w1, w2 = Value(2.0, label="w0"), Value(-3.0, label="w1"), Value(-3.0, label="w2")
    x0, x1 = Value(-1.0, label="x0"), Value(-2.0, label="x1")
    out = (w0 * x0 + w1 * x1 + w2).sigmoid() * w0
    t = {k: torch.tensor(v.data, dtype=torch.float64, requires_grad=True)
         for k, v in dict(w0=w0, w1=w1, w2=w2, x0=x0, x1=x1).items()}  # fmt: skip
    t_out = torch.sigmoid(t["w0"] * t["x0"] + t["w1"] * t["x1"] + t["w2"]) * t["w0"]
    t_out.backward()
    return out, {"w0": w0, "w1": w1, "w2": w2, "x0": x0, "x1": x1}, t, t_out


def _brute_paths(v, target, down=()):
    """Paths root -> target through ``_prev``, each as its tuple of (id(op result), slot)."""
    if v is target:
        return [down]
    out = []
    for slot, p in enumerate(v._prev):
        out += _brute_paths(p, target, down + ((id(v), slot),))
    return out


def _png_size(path):
    with open(path, "rb") as f:
        head = f.read(24)
    assert head[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", head[16:24])


def test_value_graph_every_step_and_paths(browser, tmp_path):
    out, leaves, t, t_out = _neuron()
    ex = explore(out, tmp_path / "neuron.html")
    d = ex.data
    names = d["names"]
    pg = Page(browser, tmp_path / "neuron.html")
    page = pg.page
    n_steps = len(d["steps"])
    assert int(page.get_attribute("#slider", "max")) == n_steps - 1
    # forward: each op's value appears when its step comes, not before
    for k, s in enumerate(d["steps"]):
        if k:
            page.click("#next")
        assert pg.step() == k
        if s["phase"] == "forward":
            i = s["node"]
            assert pg.value(i) is not None
            if k + 1 < len(d["steps"]) and d["steps"][k + 1]["phase"] == "forward":
                assert pg.value(d["steps"][k + 1]["node"]) is None  # not computed yet
            assert page.inner_text("#info .expr") == s["text"]
        if s["phase"] == "backward":
            break
    assert pg.value(d["root"]) == pytest.approx(t_out.item(), rel=1e-12)
    # backward: each step shows the row's numbers and lands the running total in the operand
    seen: dict[int, float] = {}
    for k, r in enumerate(d["rows"]):
        if k:
            page.click("#next")
        assert pg.attr("#info", "data-row") == str(k)
        info = page.inner_text("#info")
        assert r["note"] in info and r["product"] in info
        seen[r["operand"]] = seen.get(r["operand"], 0.0) + r["productNum"]
        assert pg.grad(r["operand"]) == pytest.approx(seen[r["operand"]], rel=1e-12)
        text = page.text_content(f'g.node[data-node="{r["operand"]}"] text.grad')
        assert text == f"grad {r['total']}"
        assert page.locator("#table tr.current td").first.inner_text() == str(k)
    assert pg.step() == n_steps - 1
    for name, tt in t.items():  # after the last step: every gradient is PyTorch's
        assert pg.grad(names.index(name)) == pytest.approx(tt.grad.item(), rel=1e-12)
    # keyboard and slider move the same stepper
    page.keyboard.press("ArrowLeft")
    assert pg.step() == n_steps - 2
    page.keyboard.press("Home")
    assert pg.step() == 0 and pg.grad(names.index("w0")) is None
    page.keyboard.press("End")
    assert pg.step() == n_steps - 1
    page.fill("#slider", "3")
    assert pg.step() == 3
    page.click("#prev")  # the focus is on a button now: Space plays and pauses, nothing else
    page.keyboard.press(" ")
    assert "pause" in page.inner_text("#play")
    page.keyboard.press(" ")
    assert "play" in page.inner_text("#play") and pg.step() == 2  # no extra "prev"
    page.keyboard.press("End")
    # click a parameter: every path to it lights up; the products sum to its gradient
    w0 = names.index("w0")
    page.click(f'g.node[data-node="{w0}"]')
    assert int(pg.attr("#paths", "data-node")) == w0
    brute = _brute_paths(out, leaves["w0"])
    assert int(pg.attr("#paths", "data-count")) == len(brute) == 2
    products = [float(p) for p in page.eval_on_selector_all(
        "#paths .path", "els => els.map(e => e.getAttribute('data-product'))")]  # fmt: skip
    assert sum(products) == pytest.approx(t["w0"].grad.item(), rel=1e-12)
    assert float(pg.attr("#paths", "data-sum")) == pytest.approx(t["w0"].grad.item(), rel=1e-12)
    # the highlighted edges are exactly those of the brute-force paths
    index_of = {id(n.obj): n.index for n in _walk(out)}
    want = set()
    for path in brute:
        for op_id, slot in path:
            want |= {f"e:{index_of[op_id]}:{slot}", f"r:{index_of[op_id]}"}
    lit = page.eval_on_selector_all(
        "#graph path.edge.onpath", "els => els.map(e => e.getAttribute('data-keys'))"
    )
    assert set(" ".join(lit).split()) == want
    assert page.locator("#graph g.node.selected").count() == 1
    shot = tmp_path / "explore.png"
    page.screenshot(path=str(shot), full_page=True)
    w, h = _png_size(shot)
    assert w >= 1000 and h >= 500
    page.keyboard.press("Escape")
    assert pg.attr("#paths", "data-node") is None
    assert page.locator("#graph path.edge.onpath").count() == 0
    assert pg.errors == []
    assert all(u.startswith(("file:", "data:", "about:")) for u in pg.requests)
    page.close()


def _walk(out):
    from chainrule.viz._walk import walk

    return walk(out)


def test_tensor_graph_modules_collapse_and_grads(browser, tmp_path):
    cr.manual_seed(1)
    model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    x = cr.randn(2, 3)
    y = cr.tensor([1, 0])
    loss = nn.functional.cross_entropy(model(x), y)
    ex = explore(loss, tmp_path / "mlp.html", params=model, collapse=True)
    d = ex.data
    tm = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.ReLU(), torch.nn.Linear(4, 2))
    with torch.no_grad():
        for p, q in zip(model.parameters(), tm.parameters()):
            q.copy_(torch.from_numpy(p.detach().numpy()))
    tl = torch.nn.functional.cross_entropy(
        tm(torch.from_numpy(x.numpy())), torch.from_numpy(y.numpy()).long()
    )
    tl.backward()
    pg = Page(browser, tmp_path / "mlp.html")
    page = pg.page
    assert page.locator("#graph .gnode").count() == 2  # both Linear layers start collapsed
    assert page.locator('g.node[data-name="0.weight"]').count() == 0
    page.keyboard.press("End")
    page.click('.gnode[data-group="0"]')
    page.click('.gnode[data-group="1"]')
    assert page.locator("#graph .gnode").count() == 0
    for name, q in tm.named_parameters():
        i = d["names"].index(name)
        np.testing.assert_allclose(pg.grad(i), q.grad.numpy().ravel(), rtol=1e-5, atol=1e-7)
        assert f"shape {tuple(q.shape)}".replace(",)", ")") in page.text_content(
            f'g.node[data-node="{i}"]'
        )
    page.click('g.node[data-name="2.bias"]')
    assert int(pg.attr("#paths", "data-count")) == 1
    page.click('text.group-title[data-group="0"]')
    assert page.locator("#graph .gnode").count() == 1
    page.screenshot(path=str(tmp_path / "mlp.png"), full_page=True)
    assert pg.errors == []
    page.close()


def _small_graphs():
    a = Value(3.0, label="a")
    yield "one Value", Value(3.0, label="x")
    yield "a * a", a * a
    yield "constant tensor", cr.tensor(5.0)
    w = cr.tensor([2.0, -3.0, -3.0], requires_grad=True)
    x = cr.tensor([-1.0, -2.0])
    yield "seed 003 with tensors", cr.sigmoid(w[0] * x[0] + w[1] * x[1] + w[2])
    v = cr.tensor(0.0, requires_grad=True)
    yield "sqrt at 0 (inf)", cr.sqrt(v)


@pytest.mark.filterwarnings("ignore:divide by zero")  # sqrt's rule at 0 (torch: silent inf)
@pytest.mark.parametrize("name,out", list(_small_graphs()), ids=lambda s: str(s)[:20])
def test_small_and_odd_graphs_step_without_errors(browser, tmp_path, name, out):
    ex = explore(out, tmp_path / "g.html")
    pg = Page(browser, tmp_path / "g.html")
    pg.page.keyboard.press("End")
    assert pg.step() == len(ex.data["steps"]) - 1
    root = ex.data["root"]
    assert pg.grad(root) in (1.0, [1.0, 1.0]) or not ex.data["nodes"][root]["requiresGrad"]
    for i, info in ex.data["paths"].items():  # every path list opens, and its sum is the grad
        pg.page.click(f'g.node[data-node="{i}"]')
        assert pg.attr("#paths", "data-count") == str(info["count"])
        if info["sum"] is not None and isinstance(info["grad"], float):
            assert float(pg.attr("#paths", "data-sum")) == pytest.approx(info["grad"])
        pg.page.keyboard.press("Escape")
    pg.page.keyboard.press("Home")
    pg.page.select_option("#speed", "80")
    pg.page.click("#play")
    pg.page.wait_for_function(
        f"window.chainruleExplorer.current() === {len(ex.data['steps']) - 1}", timeout=30000
    )
    assert pg.errors == [], name
    pg.page.close()
