"""The README's "From Python" section runs as written."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # trains models or starts subprocesses

README = Path(__file__).resolve().parent.parent / "README.md"


def python_section() -> str:
    text = README.read_text()
    section = text.split("## From Python", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```python\n(.*?)```", section, re.S)
    assert blocks, "the README's From Python section has no python block"
    return "\n".join(blocks)


@pytest.mark.slow
def test_readme_python_section_runs(tmp_path, capsys):
    code = python_section()
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        exec(compile(code, str(README), "exec"), {"__name__": "readme"})
    finally:
        os.chdir(cwd)
    out = capsys.readouterr().out
    assert "OOF accuracy 0." in out and "test accuracy 0." in out and "(297, 10)" in out
    assert (tmp_path / "runs" / "demo-quick" / "summary.json").is_file()
    assert (tmp_path / "submissions" / "demo-quick.csv").is_file()
