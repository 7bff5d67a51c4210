"""Enforce docs/architecture.md's import table with an AST walk over every module of our packages."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
OURS = ("search", "latency", "deploy", "android_bench", "phonenas")

# package -> our packages it may import (itself always allowed)
ALLOWED: dict[str, set[str]] = {
    "search.arch": set(),
    "search": {"search.arch"},
    "latency": {"search", "search.arch", "deploy", "android_bench"},
    "deploy": {"search", "search.arch"},
    "android_bench": set(),
    "phonenas": {"search", "search.arch", "latency", "deploy", "android_bench"},
}
STDLIB_ONLY = {"search.arch"}
NO_TORCH = {"android_bench", "search.arch"}


def _owner(module: str) -> str:
    return "search.arch" if module.startswith("search.arch") else module.split(".")[0]


def _imports(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.append(node.module)
    return names


def _modules() -> list[tuple[str, Path]]:
    out = []
    for pkg in OURS:
        for path in sorted((ROOT / pkg).rglob("*.py")):
            rel = path.relative_to(ROOT).with_suffix("")
            out.append((".".join(rel.parts), path))
    return out


@pytest.mark.parametrize("module,path", _modules(), ids=lambda v: v if isinstance(v, str) else "")
def test_imports_follow_design_table(module: str, path: Path) -> None:
    owner = _owner(module)
    for name in _imports(path):
        top = name.split(".")[0]
        if top in OURS:
            target = _owner(name)
            assert target == owner or target in ALLOWED[owner], (
                f"{module} imports {name}: {owner} may not import {target}"
            )
        if owner in NO_TORCH:
            assert top not in ("torch", "torchvision", "executorch"), (
                f"{module} imports {name}; {owner} must stay torch-free"
            )
    if owner in STDLIB_ONLY:
        import sys

        for name in _imports(path):
            top = name.split(".")[0]
            assert top in sys.stdlib_module_names or top == "__future__" or name.startswith("search.arch"), (
                f"{module} imports {name}; search.arch is stdlib only"
            )


def test_search_never_imports_latency() -> None:
    bad = [
        (m, n)
        for m, p in _modules()
        if _owner(m) in ("search", "search.arch")
        for n in _imports(p)
        if n.split(".")[0] == "latency"
    ]
    assert not bad, f"search must ask the CostModel protocol, not import latency: {bad}"
