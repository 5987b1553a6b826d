"""The packages are layers that only point down:

    stylestream (runtime)      trainers
              \\                /      \\
               \\              /      exports
                \\            /       /
                 stylenets (model library)

stylestream finds the trainers' commands through entry points and never imports them.
"""
from __future__ import annotations

import ast

import pytest

from conftest import ROOT

# Package → the packages of this project it may not import.
FORBIDDEN = {
    "stylenets": {"stylestream", "trainers", "exports"},
    "exports": {"stylestream", "trainers"},
    "trainers": {"stylestream"},
    "stylestream": {"trainers"},
}


def imported_packages(tree: ast.AST) -> set[tuple[str, int]]:
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {(alias.name.split(".")[0], node.lineno) for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add((node.module.split(".")[0], node.lineno))
    return found


def violations(package: str) -> list[str]:
    out = []
    for path in sorted((ROOT / package).rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        for name, line in sorted(imported_packages(tree)):
            if name in FORBIDDEN[package]:
                out.append(f"{path.relative_to(ROOT)}:{line} imports {name}")
    return out


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_layers_point_down(package):
    assert not violations(package), "\n".join(violations(package))


def test_the_walk_sees_imports_inside_functions():
    tree = ast.parse("def f():\n    from trainers.fast_nst import train\n    import stylestream.cli\n")
    assert {name for name, _ in imported_packages(tree)} == {"trainers", "stylestream"}
