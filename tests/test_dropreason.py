"""Drop reasons are declared once (stack/core/dropreason.py) and used by name everywhere."""

from __future__ import annotations

import ast
import pathlib

from stack.core.dropreason import SkbDropReason

ROOT = pathlib.Path(__file__).resolve().parent.parent
DROPPERS = {"kfree_skb", "purge", "kill"}


def test_reasons_read_as_their_linux_names():
    for reason in SkbDropReason:
        assert reason == reason.name and f"{reason}" == reason.name


def test_no_free_form_reason_in_library_code():
    """A string literal where a reason goes would count under a name nobody declared."""
    bad = []
    for path in sorted((ROOT / "stack").rglob("*.py")) + sorted((ROOT / "driver").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.Call):
                continue
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if name not in DROPPERS:
                continue
            for arg in node.args[1:] + [k.value for k in node.keywords]:
                if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                    bad.append(f"{path.relative_to(ROOT)}:{node.lineno}: {arg.value!r}")
            if name == "purge":
                for arg in node.args[:1]:
                    if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                        bad.append(f"{path.relative_to(ROOT)}:{node.lineno}: {arg.value!r}")
    assert not bad, "use SkbDropReason members:\n" + "\n".join(bad)


def test_reason_functions_return_members():
    """Functions that return a drop reason return a declared member, never a bare string."""
    bad = []
    for path in sorted((ROOT / "stack").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            value = getattr(node.value, "value", None) if isinstance(node, ast.Return) else None
            if isinstance(value, str) and value in SkbDropReason.__members__:
                bad.append(f"{path.relative_to(ROOT)}:{node.lineno}: {value!r}")
    assert not bad, "\n".join(bad)
