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


def test_the_upsampling_mode_is_nearest_and_can_be_swapped_for_the_probe():
    """benchmarks/upsample_probe.py swaps the decoder's upsampling; the trained default stays nearest."""
    import torch

    from stylenets.transformer_net import UpsampleConv, build

    torch.manual_seed(0)
    net = build("johnson", width=4, res_blocks=1).eval()
    x = torch.rand(1, 3, 16, 16)
    layers = [m for m in net.modules() if isinstance(m, UpsampleConv)]
    assert len(layers) == 2 and all(m.mode == "nearest" for m in layers)
    with torch.no_grad():
        nearest = net(x)
        for m in layers:
            m.mode = "bilinear"
        bilinear = net(x)
    assert nearest.shape == bilinear.shape and not torch.allclose(nearest, bilinear)
