"""The dependency rule of DESIGN.md, enforced by parsing every module's imports.

config, registry, paths, errors, io              (no torch)
data, models, units, selectivity                 (torch; nothing above)
train, perturb
analysis
experiment, evaluate, sweep, exports, provenance
cli, demo, results, stats, report                    (results, stats and report never import torch or train)
"""

from __future__ import annotations

import ast
from pathlib import Path

import selrob

SRC = Path(selrob.__file__).parent
LAYERS = [
    {"config", "registry", "paths", "errors", "io", "presets", "__init__"},
    {"data", "models", "units", "selectivity"},
    {"train", "perturb"},
    {"analysis"},
    {"experiment", "evaluate", "sweep", "sweep_exec", "exports", "provenance"},
    {"cli", "cli_more", "demo", "results", "stats", "report", "__main__"},
]
NO_TORCH = {"config", "registry", "paths", "errors", "io", "presets", "results", "stats", "report"}


def layer_of(top: str) -> int:
    for i, names in enumerate(LAYERS):
        if top in names:
            return i
    raise AssertionError(f"module selrob.{top} is not placed in a layer of the dependency rule")


def imports(path: Path) -> list[tuple[str, bool]]:
    """(imported module, at top level?) for every import in ``path``."""
    tree = ast.parse(path.read_text())
    out = []
    top_level = {id(n) for n in tree.body}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(a.name, id(node) in top_level) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.append((node.module, id(node) in top_level))
    return out


def test_every_module_respects_the_layers() -> None:
    bad = []
    for path in SRC.rglob("*.py"):
        rel = path.relative_to(SRC)
        top = rel.parts[0].removesuffix(".py")
        mine = layer_of(top)
        for mod, _ in imports(path):
            if mod == "torch" or mod.startswith("torch."):
                if top in NO_TORCH and not (top == "io" or top == "__init__"):
                    bad.append(f"{rel} imports torch")
            if mod.startswith("selrob."):
                other = mod.split(".")[1]
                if layer_of(other) > mine:
                    bad.append(f"{rel} (layer {mine}) imports {mod} (layer {layer_of(other)})")
    assert not bad, "\n".join(bad)


def test_io_imports_torch_only_lazily() -> None:
    assert all(not top for mod, top in imports(SRC / "io.py") if mod == "torch")
