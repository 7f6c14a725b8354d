"""The documentation site's sources: every page in mkdocs.yml's nav exists, every executed code
block of the tutorials and guides is valid Python, the snippets they include exist, and the API
pages name modules that import. The real check is `make docs` (mkdocs build --strict, run by CI),
which executes every block; this test is the fast part of it."""

from __future__ import annotations

import ast
import importlib
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
FENCE = re.compile(r"^```python ([^\n]*)\n(.*?)^```", re.MULTILINE | re.DOTALL)


def nav_pages() -> list[str]:
    """The .md files named in mkdocs.yml's nav (read without YAML: the test extra has none)."""
    text = (ROOT / "mkdocs.yml").read_text()
    nav = text[text.index("\nnav:") :]
    return re.findall(r"(?:-|:)\s+\"?([\w./-]+\.md)\"?\s*$", nav, re.MULTILINE)


def executed_blocks(page: Path) -> list[tuple[str, str]]:
    """(options, code) of the blocks markdown-exec runs (```python exec="on" ...)."""
    return [(o, c) for o, c in FENCE.findall(page.read_text()) if 'exec="on"' in o]


def test_nav_pages_exist():
    pages = nav_pages()
    assert len(pages) >= 20, pages
    missing = [p for p in pages if not (DOCS / p).is_file()]
    assert not missing, f"mkdocs.yml's nav names pages that do not exist: {missing}"
    assert len(set(pages)) == len(pages), "a page appears twice in the nav"


def test_every_page_is_in_the_nav():
    listed = set(nav_pages())
    pages = {p.relative_to(DOCS).as_posix() for p in DOCS.rglob("*.md")}
    assert pages <= listed, f"pages not in mkdocs.yml's nav: {sorted(pages - listed)}"


@pytest.mark.parametrize("page", sorted(p.relative_to(DOCS).as_posix() for p in DOCS.rglob("*.md")))
def test_executed_blocks_are_valid_python(page):
    for options, code in executed_blocks(DOCS / page):
        try:
            ast.parse(code)
        except SyntaxError as e:  # pragma: no cover - the message is the point
            pytest.fail(f"{page}: a block ({options}) does not parse: {e}\n{code}")


def test_tutorials_execute_code_and_use_the_examples():
    tutorials = DOCS / "tutorials"
    for name in ("seed000", "seed001", "seed002", "seed003"):
        (page,) = tutorials.glob(f"{name}-*.md")
        blocks = executed_blocks(page)
        assert len(blocks) >= 4, f"{page.name}: too few executed blocks"
        example = f"examples/{name}_"
        assert any(example in code for _, code in blocks), f"{page.name} does not run {example}*"
        assert re.search(rf'--8<-- "{example}\w+\.py"', page.read_text()), page.name
        # blocks that share names must share a session
        assert all('session="' in o for o, code in blocks if "pageutils" in code), page.name


def test_seed_tutorials_embed_the_explorer():
    for name in ("seed002", "seed003"):
        (page,) = (DOCS / "tutorials").glob(f"{name}-*.md")
        code = "\n".join(c for _, c in executed_blocks(page))
        assert "viz.explore(" in code and "embed(" in code, page.name


def test_snippets_exist():
    for page in DOCS.rglob("*.md"):
        for path in re.findall(r'--8<-- "([^"]+)"', page.read_text()):
            assert (ROOT / path).is_file(), f"{page.name} includes {path}, which does not exist"


def test_examples_run_by_the_pages_exist():
    for page in DOCS.rglob("*.md"):
        for path in re.findall(r'"(examples/[\w./]+\.py)"', page.read_text()):
            assert (ROOT / path).is_file(), f"{page.name} runs {path}, which does not exist"


def test_api_pages_name_importable_modules():
    identifiers = []
    for page in (DOCS / "api").glob("*.md"):
        identifiers += re.findall(r"^::: ([\w.]+)", page.read_text(), re.MULTILINE)
    assert len(identifiers) >= 15
    for ident in identifiers:
        module, _, attr = ident, "", ""
        try:
            importlib.import_module(ident)
        except ImportError:
            module, _, attr = ident.rpartition(".")
            assert hasattr(importlib.import_module(module), attr), ident


def test_site_builds_offline():
    config = (ROOT / "mkdocs.yml").read_text()
    assert re.search(r"^\s+font: false", config, re.MULTILINE), "Google Fonts must stay off"
    assert "strict: true" in config
    for page in DOCS.rglob("*.md"):
        assert not re.search(r"<script[^>]+src=\"https?:", page.read_text()), page.name
