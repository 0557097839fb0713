"""Citations point into the repository: every ``docs/hardware.md §N`` names a real section.

Code and docs cite the hardware reference by section (``Spec: docs/hardware.md §2.7``) and
the other documents by path.  A renumbered section, a renamed document or a citation of a
file that lives outside the repository fails here, naming the file and line.
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SOURCES = ("device", "driver", "stack", "firmware", "ixsim", "fastpath", "tests",
           "docs")
HARDWARE = ROOT / "docs" / "hardware.md"

# "docs/hardware.md §2.1-§2.3, §2.10" or "docs/hardware.md §1.2-1.3": every number in the run.
CITATION = re.compile(r"docs/hardware\.md((?:(?:[ ,;]|-|and |step \d+)*§?\d+(?:\.\d+)*)+)")
NUMBER = re.compile(r"§?(\d+(?:\.\d+)*)")
DOC_PATH = re.compile(r"(?<![\w/.-])((?:docs/[\w-]+|CONTRIBUTING|README)\.md)")
GONE = re.compile(r"(?<![\w/])(spec/ixgb\.md|DESIGN\.md|STYLE\.md)")


def files():
    yield ROOT / "README.md"
    yield ROOT / "CONTRIBUTING.md"
    for top in SOURCES:
        for path in sorted((ROOT / top).rglob("*")):
            if path.suffix in (".py", ".md") and path.name != "test_docs.py":
                yield path


def sections() -> set[str]:
    return set(re.findall(r"^#+ §(\d+(?:\.\d+)*) ", HARDWARE.read_text(), re.M))


def test_every_cited_hardware_section_exists():
    known = sections()
    problems = []
    for path in files():
        for lineno, line in enumerate(path.read_text().splitlines(), 1):
            for run in CITATION.finditer(line):
                text = re.sub(r"step \d+", "", run.group(1))
                for number in NUMBER.findall(text):
                    if number not in known:
                        problems.append(f"{path.relative_to(ROOT)}:{lineno}: §{number}")
    assert not problems, "sections missing from docs/hardware.md:\n" + "\n".join(problems)


def test_cited_documents_exist_and_none_lives_outside_the_repository():
    problems = []
    for path in files():
        for lineno, line in enumerate(path.read_text().splitlines(), 1):
            where = f"{path.relative_to(ROOT)}:{lineno}"
            for name in DOC_PATH.findall(line):
                if not (ROOT / name).exists():
                    problems.append(f"{where}: {name} does not exist")
            for name in GONE.findall(line):
                problems.append(f"{where}: {name} is not in the repository")
    assert not problems, "\n".join(problems)
