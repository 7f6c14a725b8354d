"""A griffe extension for the API reference: chainrule's docstrings head their doctests with
``Example:`` (singular), which Google style reads as an admonition whose ``>>>`` lines Markdown
would turn into nested block quotes. This renames that heading to ``Examples:`` so griffe parses
the doctests as code (``pycon``), without editing the sources."""

from __future__ import annotations

import re
from typing import Any

import griffe

_EXAMPLE = re.compile(r"^(\s*)Example:\s*$", re.MULTILINE)


class ExampleSections(griffe.Extension):
    """Rename ``Example:`` section headings to ``Examples:`` in every docstring griffe loads."""

    def on_instance(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        if obj.docstring is not None:
            obj.docstring.value = _EXAMPLE.sub(r"\1Examples:", obj.docstring.value)
