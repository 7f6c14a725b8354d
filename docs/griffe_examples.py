"""A griffe extension for the API reference: chainrule's docstrings head their doctests with
``Example:`` (singular), which Google style reads as an admonition whose ``>>>`` lines Markdown
would turn into nested block quotes. This renames that heading to ``Examples:`` so griffe parses
the doctests as code (``pycon``), and turns the Sphinx roles some docstrings use
(``:class:`Parameter```, ``:func:`~chainrule.viz.explain```) into inline code, without editing the
sources."""

from __future__ import annotations

import re
from typing import Any

import griffe

_EXAMPLE = re.compile(r"^(\s*)Example:\s*$", re.MULTILINE)
_ROLE = re.compile(r":(?:class|func|meth|attr|mod|data|obj|exc):`(~?)([^`]+)`")


def _code(m: re.Match) -> str:
    """``:class:`~a.b.C``` -> `` `C` `` (Sphinx's ``~`` keeps the last name), else the target."""
    return f"`{m[2].rsplit('.', 1)[-1] if m[1] else m[2]}`"


class ExampleSections(griffe.Extension):
    """Rename ``Example:`` headings to ``Examples:`` and Sphinx roles to inline code in every
    docstring griffe loads."""

    def on_instance(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        if obj.docstring is not None:
            text = _EXAMPLE.sub(r"\1Examples:", obj.docstring.value)
            obj.docstring.value = _ROLE.sub(_code, text)
