"""Turning DOT text into SVG or PNG: Graphviz's own ``dot`` when it is installed and works, else
the layout program that ``pip install chainrule[viz]`` brings (``graphviz-pure``: a port of
Graphviz 16.1.0 to Rust, one static binary per platform with its fonts built in, so it writes
SVG and PNG with no system package).

One function does it, :func:`render_source`; ``graph.render`` and ``animate`` both go through
it. ``backend`` picks the program: ``'auto'`` (system ``dot``, else the bundled one), ``'dot'``
or ``'bundled'``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

BUNDLED = "graphviz-pure"
BACKENDS = ("auto", "dot", "bundled")
FORMATS = {"svg", "png", "pdf", "jpg", "jpeg", "json", "plain", "dot", "xdot"}
BUNDLED_FORMATS = FORMATS - {"pdf"}  # graphviz-pure writes no PDF yet


class GraphvizNotFoundError(RuntimeError):
    """Raised when a graph is rendered but no layout program can do it: neither Graphviz's
    ``dot`` nor the bundled ``graphviz-pure`` (the ``viz`` extra) is installed.

    Example:
        >>> issubclass(GraphvizNotFoundError, RuntimeError)
        True
    """


def _missing(fmt: str, tried: list[str]) -> str:
    why = "; ".join(tried) if tried else "neither is installed"
    return (
        f"cannot render the graph to {fmt}: no Graphviz layout program works here ({why}). "
        "Install chainrule's viz extra (`pip install 'chainrule[viz]'`, which brings the "
        "self-contained `graphviz-pure` renderer for SVG and PNG), or Graphviz's own `dot` "
        "(Debian/Ubuntu: `sudo apt-get install graphviz`; macOS: `brew install graphviz`; "
        "conda: `conda install -c conda-forge graphviz`). The DOT source is still available "
        "as `graph.source`."
    )


def find_dot() -> str | None:
    """The path of Graphviz's ``dot`` program on ``PATH``, or ``None``.

    Example:
        >>> p = find_dot()
        >>> p is None or os.path.basename(p).startswith("dot")
        True
    """
    return shutil.which("dot")


def find_bundled() -> str | None:
    """The path of the bundled ``graphviz-pure`` program, or ``None`` when the ``viz`` extra is
    not installed. Looked for on ``PATH``, then next to this Python (a virtual environment
    that is used without being activated), then in the user scripts folder (``pip --user``).

    Example:
        >>> p = find_bundled()
        >>> p is None or "graphviz-pure" in os.path.basename(p)
        True
    """
    found = shutil.which(BUNDLED)
    if found:
        return found
    exe = BUNDLED + (".exe" if os.name == "nt" else "")
    places = [sysconfig.get_path("scripts"), str(Path(sys.executable).parent)]
    try:
        places.append(sysconfig.get_path("scripts", scheme=sysconfig.get_preferred_scheme("user")))
    except (AttributeError, KeyError):  # Python 3.10 has no get_preferred_scheme
        places.append(sysconfig.get_path("scripts", f"{os.name}_user"))
    for place in places:
        p = Path(place) / exe
        if p.is_file() and os.access(p, os.X_OK):
            return str(p)
    return None


def _run(program: str, source: str, fmt: str, timeout: float) -> bytes:
    proc = subprocess.run(
        [program, f"-T{fmt}"], input=source.encode(), capture_output=True, timeout=timeout
    )
    if proc.returncode != 0 or not proc.stdout:
        err = proc.stderr.decode(errors="replace").strip() or f"exit status {proc.returncode}"
        raise subprocess.CalledProcessError(proc.returncode, program, stderr=err)
    return proc.stdout


def render_source(
    source: str, fmt: str = "svg", backend: str = "auto", timeout: float = 120.0
) -> tuple[bytes, str]:
    """Lay out DOT text and return ``(bytes of the picture, name of the program used)``.

    ``backend``: ``'auto'`` tries Graphviz's ``dot`` (when installed and it succeeds), then the
    bundled ``graphviz-pure``; ``'dot'`` or ``'bundled'`` use only that one. Raises
    :class:`GraphvizNotFoundError` (saying what to install) when no program is there, and
    ``RuntimeError`` with the program's message when the DOT text is wrong.

    Example:
        >>> try:
        ...     svg, used = render_source("digraph { a -> b }", "svg")
        ... except GraphvizNotFoundError:
        ...     svg, used = b"<svg", "none"              # nothing to render with here
        >>> b"<svg" in svg
        True
    """
    if backend not in BACKENDS:
        raise ValueError(f"render: backend must be one of {BACKENDS}, got {backend!r}")
    fmt = fmt.lower()
    if fmt not in FORMATS:
        raise ValueError(f"render: unsupported format {fmt!r}; use one of {sorted(FORMATS)}")
    candidates: list[tuple[str, str | None]] = []
    if backend in ("auto", "dot"):
        candidates.append(("dot", find_dot()))
    if backend in ("auto", "bundled"):
        candidates.append((BUNDLED, find_bundled()))
    tried: list[str] = []
    errors: list[str] = []
    for name, program in candidates:
        if program is None:
            tried.append(f"`{name}` not found")
            continue
        if name == BUNDLED and fmt not in BUNDLED_FORMATS:
            tried.append(f"`{name}` cannot write {fmt} (use svg or png, or install Graphviz)")
            continue
        try:
            return _run(program, source, fmt, timeout), name
        except (OSError, subprocess.SubprocessError) as e:
            msg = getattr(e, "stderr", None) or str(e)
            errors.append(f"`{name}` failed: {msg}")
    if errors:
        raise RuntimeError(
            f"render: the graph could not be rendered to {fmt}: " + "; ".join(errors)
        )
    raise GraphvizNotFoundError(_missing(fmt, tried))
