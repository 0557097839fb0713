"""The README's "Two hosts in a test" example runs as printed."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_readme_two_hosts_example_runs(tmp_path, monkeypatch, capsys):
    text = (ROOT / "README.md").read_text()
    section = text.split("## Two hosts in a test", 1)[1]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    monkeypatch.chdir(tmp_path)
    exec(compile(code, "README.md", "exec"), {})
    assert "STATUS=0x00000002 [LU]" in capsys.readouterr().out
    assert (tmp_path / "ab.pcap").stat().st_size > 100
