"""``animate``: the backward pass as a GIF (or MP4), one frame per chain-rule step.

The frames are the rows of :func:`~chainrule.viz.explain` (the same backward walk, the same
names), drawn on the picture of :func:`~chainrule.viz.draw_graph`: at each step the op being
differentiated lights up, its result box (holding the upstream gradient) and the operand box
the product lands in are outlined, the operand's arrow turns red, and a caption spells out
``local derivative x upstream = product -> operand.grad``. Each box shows the gradient it has
received *so far*, so a gradient that accumulates over two paths grows on screen.

Every frame is laid out with the same node sizes, so nothing moves between frames.
"""

from __future__ import annotations

import io
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

from ._render import render_source
from ._walk import is_value_graph, walk
from .explain import Row, _num, explain
from .graph import GRAD_COLOR, _digraph

_OP_ON = {"fillcolor": "#f5b041", "color": GRAD_COLOR, "penwidth": "2.5"}
_RESULT_ON = {"color": "#2e86c1", "penwidth": "2.5"}  # the box holding the upstream gradient
_OPERAND_ON = {"color": GRAD_COLOR, "penwidth": "3", "fillcolor": "#fadbd8"}
_EDGE_ON = {"color": GRAD_COLOR, "penwidth": "2.5"}
_LINE = 21  # pixels per caption line


def _caption(row: Row, n_steps: int) -> list[str]:
    if row.step == 0:
        return [f"step 0/{n_steps}: the seed, {row.formula}", f"-> {row.note}"]
    return [
        f"step {row.step}/{n_steps}: {row.expr}     local derivative {row.formula}",
        f"local {_num(row.local)}  x  upstream {_num(row.upstream)}  =  {_num(row.contribution)}",
        f"-> {row.note}",
    ]


def _font() -> Any:
    from PIL import ImageFont

    try:
        return ImageFont.load_default(size=15)
    except TypeError:  # Pillow < 10.1: the bitmap font only
        return ImageFont.load_default()


def _frame_sources(output: Any, params: Any, grad: Any, rankdir: str, max_elems: int) -> tuple:
    """(DOT text of each frame, caption lines of each frame)."""
    rows = explain(output, params=params, grad=grad).rows
    nodes = walk(output, params)
    values = is_value_graph(output)
    n_steps = len(rows) - 1
    grads: dict[int, Any] = {}
    sources, captions = [], []
    for row in rows:
        grads[row.operand_index] = row.total
        node_attrs: dict[str, dict] = {f"n{row.operand_index}": _OPERAND_ON}
        edge_attrs: dict[tuple[str, str], dict] = {}
        if row.step > 0:
            op = f"op{row.node_index}"
            node_attrs[op] = _OP_ON
            node_attrs[f"n{row.node_index}"] = _RESULT_ON
            edge_attrs[(f"n{row.operand_index}", op)] = _EDGE_ON
            edge_attrs[(op, f"n{row.node_index}")] = _RESULT_ON
        g = _digraph(
            nodes, values, [], False, rankdir=rankdir, max_elems=max_elems,
            grads=dict(grads), node_attrs=node_attrs, edge_attrs=edge_attrs,
        )  # fmt: skip
        sources.append(g)
        captions.append(_caption(row, n_steps))
    return sources, captions


def _node_sizes(sources: list, backend: str) -> dict[str, tuple[float, float]]:
    """The largest width and height (inches) each node takes in any frame, from ``-Tplain``."""
    sizes: dict[str, tuple[float, float]] = {}
    for g in sources:
        plain, _ = render_source(g.source, "plain", backend)
        for line in plain.decode().splitlines():
            parts = line.split()
            if len(parts) >= 6 and parts[0] == "node":
                w0, h0 = sizes.get(parts[1], (0.0, 0.0))
                sizes[parts[1]] = (max(w0, float(parts[4])), max(h0, float(parts[5])))
    return sizes


def _with_caption(png: bytes, lines: list[str], size: tuple[int, int], font: Any) -> Any:
    from PIL import Image, ImageDraw

    graph = Image.open(io.BytesIO(png)).convert("RGB")
    frame = Image.new("RGB", size, "white")
    draw = ImageDraw.Draw(frame)
    for k, text in enumerate(lines):
        draw.text((10, 8 + _LINE * k), text, fill="#222222" if k == 0 else GRAD_COLOR, font=font)
    top = 8 + _LINE * len(lines) + 4
    frame.paste(graph, (max(0, (size[0] - graph.width) // 2), top))
    return frame


def _ffmpeg() -> str | None:
    try:
        import imageio_ffmpeg
    except ImportError:
        return shutil.which("ffmpeg")
    try:
        return imageio_ffmpeg.get_ffmpeg_exe()
    except RuntimeError:
        return shutil.which("ffmpeg")


def animate(
    output: Any,
    path: str | os.PathLike,
    *,
    params: Any = None,
    grad: Any = None,
    fps: float = 1.0,
    hold: int = 3,
    rankdir: str = "LR",
    max_elems: int = 4,
    backend: str = "auto",
) -> Path:
    """Write the backward pass of ``output`` (a ``Value`` or a ``Tensor``) as an animation.

    One frame per row of :func:`~chainrule.viz.explain` (the seed, then one chain-rule step
    per (op, operand) edge, in the order backward takes them): the op of the step is orange,
    the box of its result (upstream gradient) blue, the operand's box and arrow red, each box
    shows the gradient received so far, and a caption reads ``local x upstream = product ->
    operand.grad = ...``. ``params`` names the parameters (a Module or a dict), ``grad`` seeds
    a non-scalar output, as for ``explain``. The last frame stays ``hold`` frames long.

    ``path`` ending in ``.gif`` writes a looping GIF (Pillow); ``.mp4`` an H.264 video through
    ``ffmpeg`` (the system one, or ``imageio-ffmpeg``'s), with a clear error where there is
    none. The graph is drawn by :func:`~chainrule.viz.render`'s programs (``backend``).
    A Tensor graph must still be in memory (call before ``backward()`` or after
    ``backward(retain_graph=True)``); nothing is written to any ``.grad``.

    Example:
        >>> import chainrule as cr, tempfile, os
        >>> from chainrule.viz import GraphvizNotFoundError
        >>> a = cr.tensor(2.0, requires_grad=True)
        >>> b = cr.tensor(-3.0, requires_grad=True)
        >>> path = os.path.join(tempfile.mkdtemp(), "backward.gif")
        >>> try:
        ...     out = animate(a * b + a, path, params={"a": a, "b": b})
        ... except GraphvizNotFoundError:
        ...     out = None                           # no renderer is installed here
        >>> out is None or out.read_bytes()[:6] == b"GIF89a"
        True
        >>> a.grad is None                           # animate leaves .grad alone
        True
    """
    path = Path(path)
    kind = path.suffix.lower().lstrip(".")
    if kind not in ("gif", "mp4"):
        raise ValueError(f"animate: path must end in .gif or .mp4, got {str(path)!r}")
    if not fps > 0:
        raise ValueError(f"animate: fps must be positive, got {fps!r}")
    if hold < 1:
        raise ValueError(f"animate: hold must be at least 1, got {hold!r}")
    ffmpeg = None
    if kind == "mp4":
        ffmpeg = _ffmpeg()
        if ffmpeg is None:
            raise RuntimeError(
                "animate: writing .mp4 needs ffmpeg, which was not found (install it, e.g. "
                "`sudo apt-get install ffmpeg`, or `pip install imageio-ffmpeg`); a .gif needs "
                "nothing more"
            )
    try:
        from PIL import Image
    except ImportError:
        raise ImportError(
            "animate needs Pillow to draw frames: `pip install 'chainrule[viz]'` (or pillow)"
        ) from None

    sources, captions = _frame_sources(output, params, grad, rankdir, max_elems)
    sizes = _node_sizes(sources, backend)
    pngs = []
    for g in sources:  # the same node sizes in every frame: the same layout, nothing jumps
        for name, (w, h) in sizes.items():
            g.node(name, width=f"{w:.4f}", height=f"{h:.4f}", fixedsize="true")
        pngs.append(render_source(g.source, "png", backend)[0])
    graphs = [Image.open(io.BytesIO(p)) for p in pngs]
    font = _font()
    text_w = max(font.getlength(t) for c in captions for t in c)
    width = int(max(max(im.width for im in graphs), text_w + 20, 600))
    height = max(im.height for im in graphs) + 8 + _LINE * max(map(len, captions)) + 12
    width, height = width + width % 2, height + height % 2  # H.264 wants even sizes
    frames = [_with_caption(p, c, (width, height), font) for p, c in zip(pngs, captions)]
    frames += [frames[-1]] * (hold - 1)
    path.parent.mkdir(parents=True, exist_ok=True)
    if kind == "gif":
        ms = round(1000 / fps)
        frames[0].save(path, save_all=True, append_images=frames[1:], duration=ms, loop=0)
        return path
    cmd = [ffmpeg, "-y", "-loglevel", "error", "-f", "rawvideo", "-pix_fmt", "rgb24",
           "-s", f"{width}x{height}", "-r", f"{fps:g}", "-i", "-", "-c:v", "libx264",
           "-pix_fmt", "yuv420p", str(path)]  # fmt: skip
    raw = b"".join(f.tobytes() for f in frames)
    proc = subprocess.run(cmd, input=raw, capture_output=True)
    if proc.returncode != 0:
        raise RuntimeError(f"animate: ffmpeg failed: {proc.stderr.decode(errors='replace')}")
    return path
