"""docs/design.md's import rules, checked by walking every module's imports (AST, no execution)."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OURS = {"device", "driver", "stack", "firmware", "ixsim", "fastpath"}

# layer -> top-level packages of ours it may import (besides itself)
ALLOWED = {
    "fastpath": set(),
    "firmware": {"device", "fastpath"},  # device.spec only (the NVM word map), see below
    "device": {"fastpath"},
    "stack": {"fastpath"},
    "driver": {"stack", "device", "fastpath"},  # stack.core/uapi, device.spec only: see below
    "ixsim": OURS,
}
BANNED_BELOW_IXSIM = {"time", "random", "socket", "select", "selectors", "threading"}
REAL_IO_BACKENDS = {"device/backends"}


def imports_of(path: Path) -> list[tuple[str, int]]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.extend((alias.name, node.lineno) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.module, node.lineno))
    return found


def modules(layer: str):
    return sorted((ROOT / layer).rglob("*.py"))


def test_layers_import_only_what_design_allows():
    problems = []
    for layer, allowed in ALLOWED.items():
        for path in modules(layer):
            rel = path.relative_to(ROOT)
            for name, line in imports_of(path):
                top = name.split(".")[0]
                if top not in OURS or top == layer:
                    continue
                if top not in allowed:
                    problems.append(f"{rel}:{line}: {layer}/ must not import {name}")
                if (layer in ("driver", "firmware") and top == "device"
                        and not name.startswith("device.spec")):
                    problems.append(f"{rel}:{line}: {layer}/ may only import device.spec")
                # a driver is written against the kernel's driver API (stack.core) and the
                # ABI numbers every kernel file may include (stack.uapi: IPPROTO_TCP, ETH_P_IP)
                if layer == "driver" and top == "stack" and not (
                        name.startswith("stack.core") or name == "stack.uapi"):
                    problems.append(f"{rel}:{line}: driver/ may only import stack.core, stack.uapi")
    assert not problems, "\n".join(problems)


def test_device_spec_stands_alone():
    """device.spec is what the driver and firmware import: it may import nothing else of ours."""
    problems = []
    for path in sorted((ROOT / "device" / "spec").rglob("*.py")):
        rel = path.relative_to(ROOT)
        for name, line in imports_of(path):
            if name.split(".")[0] in OURS and not name.startswith("device.spec"):
                problems.append(f"{rel}:{line}: device/spec/ must not import {name}")
    assert not problems, "\n".join(problems)


def test_no_wall_clock_sleep_or_unseeded_random_below_ixsim():
    problems = []
    for layer in ("device", "driver", "stack", "firmware", "fastpath"):
        for path in modules(layer):
            rel = path.relative_to(ROOT)
            if any(str(rel).startswith(b) for b in REAL_IO_BACKENDS):
                continue
            for name, line in imports_of(path):
                if name.split(".")[0] in BANNED_BELOW_IXSIM:
                    problems.append(f"{rel}:{line}: imports {name}")
    assert not problems, "\n".join(problems)


def test_the_layering_test_sees_every_layer():
    for layer in ("device", "driver", "stack", "firmware", "ixsim"):
        assert (ROOT / layer / "__init__.py").exists(), layer
