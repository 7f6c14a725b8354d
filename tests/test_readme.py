"""The README's Python examples run, and print what the README says they print."""

import re
from pathlib import Path

README = Path(__file__).resolve().parent.parent / "README.md"


def _blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)


def test_readme_python_blocks_run(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    blocks = _blocks()
    assert len(blocks) >= 3
    for block in blocks:
        exec(compile(block, str(README), "exec"), {})
    out = capsys.readouterr().out
    assert "0.7311\n0.3932 -0.5898\n-0.1966 -0.3932 0.1966\n" in out
    assert "tensor([ 0.3932, -0.5898]) tensor([-0.1966, -0.3932,  0.1966])" in out
    assert (tmp_path / "digits.crt").exists()


def test_readme_claims_match_the_seed_numbers():
    text = README.read_text()
    for number in ("0.7311", "-0.1966", "-0.3932"):
        assert number in text
