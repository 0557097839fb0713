"""stack/ without hidden cycles: every import at the top of its module, and no cycle among them.

An import inside a function is how a cycle hides: the modules only work because one of them
looks the other up late.  The cure is to move the function to where Linux keeps it (see
CONTRIBUTING.md), so the first test refuses any function-level import under ``stack/`` of our own
packages except the entries of :data:`ALLOWLIST`, each with its reason.  The second proves
what that buys: the graph of module-level imports between stack modules has no cycle, so any
module imports on its own, in any order.  (Importing each of them in a fresh interpreter
proves the same thing by execution; it takes about a minute here, so it is not a test.)

Both walk the AST; nothing is imported or executed.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
STACK = ROOT / "stack"
OURS = {"stack", "device", "driver", "ixsim", "firmware"}

# "path:function" -> why this import cannot be at the top of its module.  Keep it short.
ALLOWLIST: dict[str, str] = {}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _stack_modules() -> dict[str, Path]:
    return {_module_name(p): p for p in sorted(STACK.rglob("*.py"))}


def _absolute(node: ast.ImportFrom, module: str, is_package: bool) -> str:
    """The absolute module an ImportFrom names (relative levels resolved)."""
    if not node.level:
        return node.module or ""
    base = module.split(".")
    if not is_package:
        base.pop()
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def _function_level_imports(source: str, module: str, is_package: bool = False
                            ) -> list[tuple[str, int, str]]:
    """(function, line, imported module) for each of our imports inside a def."""
    tree = ast.parse(source)
    found: list[tuple[str, int, str]] = []

    def walk(node: ast.AST, func: str) -> None:
        for child in ast.iter_child_nodes(node):
            inner = func
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                inner = f"{func}.{child.name}" if func else child.name
            elif func and isinstance(child, ast.Import):
                found.extend((func, child.lineno, alias.name) for alias in child.names
                             if alias.name.split(".")[0] in OURS)
            elif func and isinstance(child, ast.ImportFrom):
                name = _absolute(child, module, is_package)
                if child.level or name.split(".")[0] in OURS:
                    found.append((func, child.lineno, name))
            walk(child, inner)

    walk(tree, "")
    return found


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _import_graph(mods: dict[str, Path]) -> dict[str, set[str]]:
    """Module -> the stack modules it needs while it is being imported.

    ``from pkg import sub`` needs the submodule ``pkg.sub``; ``from pkg import name`` needs
    ``pkg`` itself (its ``__init__`` must have defined ``name``).  Imports under
    ``if TYPE_CHECKING:`` and inside functions are not executed at import time.
    """
    graph: dict[str, set[str]] = {m: set() for m in mods}
    for module, path in mods.items():
        is_package = path.name == "__init__.py"

        def visit(body: list[ast.stmt], module: str = module, is_package: bool = is_package
                  ) -> None:
            for node in body:
                if isinstance(node, ast.If):
                    if not _is_type_checking(node):
                        visit(node.body)
                        visit(node.orelse)
                elif isinstance(node, ast.Try):
                    visit(node.body)
                    for handler in node.handlers:
                        visit(handler.body)
                    visit(node.orelse)
                    visit(node.finalbody)
                elif isinstance(node, ast.Import):
                    graph[module].update(a.name for a in node.names if a.name in mods)
                elif isinstance(node, ast.ImportFrom):
                    base = _absolute(node, module, is_package)
                    for alias in node.names:
                        sub = f"{base}.{alias.name}"
                        if sub in mods:
                            graph[module].add(sub)
                        elif base in mods:
                            graph[module].add(base)

        visit(ast.parse(path.read_text(), filename=str(path)).body)
        graph[module].discard(module)
    return graph


def _find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of the graph as a path of modules, or None (iterative DFS)."""
    WHITE, GREY, BLACK = 0, 1, 2
    colour = dict.fromkeys(graph, WHITE)
    for root in sorted(graph):
        if colour[root] != WHITE:
            continue
        stack = [(root, iter(sorted(graph[root])))]
        path = [root]
        colour[root] = GREY
        while stack:
            node, children = stack[-1]
            for child in children:
                if colour[child] == GREY:
                    return path[path.index(child):] + [child]
                if colour[child] == WHITE:
                    colour[child] = GREY
                    stack.append((child, iter(sorted(graph[child]))))
                    path.append(child)
                    break
            else:
                colour[node] = BLACK
                stack.pop()
                path.pop()
    return None


def test_no_function_level_imports_under_stack():
    problems = []
    seen = set()
    for path in sorted(STACK.rglob("*.py")):
        rel = path.relative_to(ROOT).as_posix()
        found = _function_level_imports(path.read_text(), _module_name(path),
                                        path.name == "__init__.py")
        for func, line, name in found:
            key = f"{rel}:{func}"
            seen.add(key)
            if key not in ALLOWLIST:
                problems.append(f"{rel}:{line}: {func}() imports {name}; move the function "
                                "to where Linux keeps it and import at the top")
    stale = sorted(set(ALLOWLIST) - seen)
    assert not problems, "\n".join(problems)
    assert not stale, f"ALLOWLIST entries with no import left: {stale}"


def test_allowlist_entries_say_why():
    for key, reason in ALLOWLIST.items():
        assert ":" in key and len(reason.split()) >= 4, key


def test_stack_module_level_imports_have_no_cycle():
    mods = _stack_modules()
    assert "stack.tcp.close" in mods and "stack.core.backlog" in mods  # the walk sees them
    cycle = _find_cycle(_import_graph(mods))
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def test_the_walks_see_what_they_look_for():
    """Guard the guards: a planted function-level import and a planted cycle are found."""
    src = ("import errno\n\n\ndef f():\n    from stack.tcp import output\n"
           "    class C:\n        def g(self):\n            from . import rcv\n"
           "            import json\n    return output\n")
    assert _function_level_imports(src, "stack.tcp.probe") == [
        ("f", 5, "stack.tcp"), ("f.g", 8, "stack.tcp")]
    assert _find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _find_cycle({"a": {"b"}, "b": set()}) is None
