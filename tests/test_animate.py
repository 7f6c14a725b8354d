"""viz.animate: one frame per backward step (explain's rows), the step's op, result, operand and
arrow highlighted, each box showing the gradient received so far; GIF, and MP4 where ffmpeg is."""

import importlib

import numpy as np
import pytest
from PIL import Image

import chainrule as cr
from chainrule import nn
from chainrule.scalar import Value
from chainrule.viz import animate, explain
from chainrule.viz._render import find_bundled
from chainrule.viz.graph import fmt

pytestmark = pytest.mark.skipif(find_bundled() is None, reason="graphviz-pure (viz extra) missing")
animate_module = importlib.import_module("chainrule.viz.animate")  # the name is the function


def _ab():
    a = cr.tensor(2.0, requires_grad=True)
    b = cr.tensor(-3.0, requires_grad=True)
    return a, b, a * b + a  # a feeds both ops: its grad accumulates (1 + -3)


def _frames(path):
    im = Image.open(path)
    out = []
    for k in range(im.n_frames):
        im.seek(k)
        out.append((im.convert("RGB"), im.info.get("duration")))
    return out


def test_gif_has_one_frame_per_explain_row_and_holds_the_last(tmp_path):
    a, b, f = _ab()
    rows = explain(f, params={"a": a, "b": b}).rows
    out = animate(f, tmp_path / "b.gif", params={"a": a, "b": b}, fps=4, hold=3, backend="bundled")
    assert out.read_bytes()[:6] == b"GIF89a"
    frames = _frames(out)
    assert len(frames) == len(rows) == 5  # seed, + -> t2, + -> a, * -> a, * -> b
    assert {im.size for im, _ in frames} == {frames[0][0].size}  # no frame changes size
    assert [d for _, d in frames] == [250] * 4 + [750]  # the last frame stays hold=3 frames
    for (prev, _), (cur, _) in zip(frames, frames[1:]):
        assert np.any(np.asarray(prev) != np.asarray(cur))  # every step changes the picture


def test_frames_follow_explains_rows_and_highlight_the_step():
    a, b, f = _ab()
    params = {"a": a, "b": b}
    rows = explain(f, params=params).rows
    sources, captions = animate_module._frame_sources(f, params, None, "LR", 4)
    assert len(sources) == len(rows)
    for row, g, cap in zip(rows, sources, captions):
        src = g.source
        # the operand's box is outlined red (penwidth 3), and shows its grad so far
        op_box = next(
            ln for ln in src.splitlines() if ln.strip().startswith(f"n{row.operand_index} ")
        )
        assert "penwidth=3" in op_box and f"grad {fmt(row.total)}" in op_box
        assert cap[0].startswith(f"step {row.step}/{len(rows) - 1}")
        assert row.note in cap[-1]
        if row.step:
            assert f"op{row.node_index} [" in src
            op_line = next(ln for ln in src.splitlines() if f"op{row.node_index} [" in ln)
            assert "#f5b041" in op_line  # the op of this step lights up
            assert f'n{row.operand_index} -> op{row.node_index} [color="#c0392b"' in src
            assert f"local {fmt(row.local)}  x  upstream {fmt(row.upstream)}" in cap[1]
    # before its own row, b has received nothing: no grad line in its box
    b_row = next(r for r in rows if r.operand == "b")
    early = sources[b_row.step - 1].source
    b_box = next(
        ln for ln in early.splitlines() if ln.strip().startswith(f"n{b_row.operand_index} ")
    )
    assert "grad" not in b_box
    # the accumulation shows: a's box has 1 after the + step, then 1 + -3 = -2
    a_rows = [r for r in rows if r.operand == "a"]
    assert [r.total for r in a_rows] == [1.0, -2.0]
    assert "a.grad = 1 + -3 = -2" in captions[a_rows[1].step][-1]


def test_tensor_animate_leaves_grad_alone_and_graph_usable(tmp_path):
    a, b, f = _ab()
    animate(f, tmp_path / "b.gif", params={"a": a, "b": b}, backend="bundled")
    assert a.grad is None and b.grad is None
    f.backward()  # the graph is still there
    assert a.grad.item() == -2.0 and b.grad.item() == 2.0


def test_value_graph_animates(tmp_path):
    x, w = Value(2.0, label="x"), Value(-3.0, label="w")
    y = (x * w + x).tanh()
    y.label = "y"
    rows = explain(y).rows
    out = animate(y, tmp_path / "v.gif", hold=1, backend="bundled")
    assert len(_frames(out)) == len(rows) == 6  # seed, tanh, + (2), * (2)
    sources, captions = animate_module._frame_sources(y, None, None, "LR", 4)
    last = sources[-1].source
    # the last frame shows the final gradients, the ones backward computes
    y.backward()
    for v in (x, w):
        line = next(ln for ln in last.splitlines() if f"<b>{v.label}</b>" in ln)
        assert f"grad {fmt(v.grad)}" in line


def test_mlp_tensor_graph_with_module_names(tmp_path):
    rng = np.random.default_rng(0)
    m = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    x = cr.tensor(rng.standard_normal((2, 3)).astype(np.float32))
    loss = nn.functional.cross_entropy(m(x), cr.tensor(np.array([0, 1])))
    rows = explain(loss, params=m).rows
    out = animate(loss, tmp_path / "m.gif", params=m, hold=1, backend="bundled")
    frames = _frames(out)
    assert len(frames) == len(rows)
    sources, captions = animate_module._frame_sources(loss, m, None, "LR", 4)
    assert any("0.weight.grad" in c[-1] for c in captions)
    loss.backward()
    w_line = next(ln for ln in sources[-1].source.splitlines() if "<b>0.weight</b>" in ln)
    from chainrule.viz.graph import summary

    assert f"grad {summary(m[0].weight.grad._data)}" in w_line


def test_non_scalar_output_needs_grad_like_explain(tmp_path):
    w = cr.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(ValueError, match="pass grad="):
        animate(w * 3, tmp_path / "x.gif")
    out = animate(w * 3, tmp_path / "x.gif", grad=np.ones(2), hold=1, backend="bundled")
    assert len(_frames(out)) == 2


def test_bad_arguments_are_named(tmp_path):
    a, b, f = _ab()
    with pytest.raises(ValueError, match=r"\.gif or \.mp4"):
        animate(f, tmp_path / "x.avi")
    with pytest.raises(ValueError, match="fps must be positive"):
        animate(f, tmp_path / "x.gif", fps=0)
    with pytest.raises(ValueError, match="hold must be at least 1"):
        animate(f, tmp_path / "x.gif", hold=0)


def test_mp4_without_ffmpeg_says_what_to_install(tmp_path, monkeypatch):
    monkeypatch.setattr(animate_module, "_ffmpeg", lambda: None)
    a, b, f = _ab()
    with pytest.raises(RuntimeError, match="needs ffmpeg"):
        animate(f, tmp_path / "x.mp4")
    assert not (tmp_path / "x.mp4").exists()


@pytest.mark.skipif(animate_module._ffmpeg() is None, reason="no ffmpeg here")
def test_mp4_where_ffmpeg_exists(tmp_path):
    a, b, f = _ab()
    out = animate(f, tmp_path / "x.mp4", params={"a": a, "b": b}, backend="bundled")
    assert out.read_bytes()[4:8] == b"ftyp"
