"""The dependency rule of docs/architecture.md, checked on the import graph of src/selrob.

Layers (an import may go to its own layer or a lower one, never up):

    0  _version, errors, enums, config, registry, paths, storage, seeds, presets, measures
       (no torch)
    1  data, models, units, selectivity, regularizer, devices           (torch)
    2  train, robust, perturb
    3  analysis
    4  experiment, sweep
    5  cli, results, report                       (results and report: no torch, no train)

The graph includes imports inside functions. Any import cycle fails, between packages and
between modules inside one package alike. ``selrob/__init__.py`` is the public facade above
every layer (it may name anything; its torch-backed names load lazily) and ``__main__`` runs
the CLI; nothing inside the package imports either.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Mapping
from pathlib import Path

import selrob

SRC = Path(selrob.__file__).parent
LAYERS: list[set[str]] = [
    {
        "_version",
        "errors",
        "enums",
        "config",
        "registry",
        "paths",
        "storage",
        "seeds",
        "presets",
        "measures",
        "probe_spec",
    },
    {"data", "models", "units", "selectivity", "regularizer", "devices"},
    {"train", "robust", "perturb"},
    {"analysis"},
    {"experiment", "sweep"},
    {"cli", "results", "report"},
]
NO_TORCH = {*LAYERS[0], "results", "report"}
NEVER = {("results", "train"), ("report", "train")}
FACADE = {"selrob", "selrob.__main__"}

Graph = Mapping[str, set[str]]


def module_name(path: Path) -> str:
    parts = path.relative_to(SRC.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def unit(module: str) -> str:
    """The top-level part of a selrob module: 'selrob.perturb.attacks.pgd' -> 'perturb'."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def imported(path: Path, known: set[str]) -> set[str]:
    """Every module ``path`` imports, anywhere in the file (selrob modules resolved, others kept)."""
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            subs = {f"{node.module}.{a.name}" for a in node.names} & known
            out |= subs  # `from pkg import submodule` imports the submodule...
            if len(subs) < len(node.names):  # ...and names defined in pkg import pkg itself
                out.add(node.module)
    return out


def module_graph(src: Path = SRC) -> dict[str, set[str]]:
    files = {module_name(p): p for p in src.rglob("*.py")}
    known = set(files)
    return {m: imported(p, known) for m, p in files.items()}


def _cycles(graph: Graph) -> list[list[str]]:
    """Strongly connected components with more than one node, or a node importing itself."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
            if w not in graph:
                continue
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1 or v in graph.get(v, ()):
                found.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def layer_of(name: str, layers: list[set[str]]) -> int | None:
    return next((i for i, names in enumerate(layers) if name in names), None)


def problems(graph: Graph, layers: list[set[str]], no_torch: Iterable[str],
             never: Iterable[tuple[str, str]] = (), facade: Iterable[str] = ()) -> list[str]:  # fmt: skip
    """Every violation of the rule in a module graph ``{module: imported modules}``."""
    no_torch, never, facade = set(no_torch), set(never), set(facade)
    inside = {m: {d for d in deps if d.split(".")[0] == "selrob"} for m, deps in graph.items()}
    out = []
    for m, deps in sorted(graph.items()):
        if m in facade:
            continue
        mine = layer_of(unit(m), layers)
        if mine is None:
            out.append(f"{m} is in no layer of the dependency rule")
            continue
        if unit(m) in no_torch and any(d == "torch" or d.startswith("torch.") for d in deps):
            out.append(f"{m} imports torch")
        for d in sorted(inside[m]):
            if d in facade:
                out.append(f"{m} imports the facade {d}")
                continue
            theirs = layer_of(unit(d), layers)
            if theirs is not None and theirs > mine:
                out.append(f"{m} (layer {mine}) imports {d} (layer {theirs})")
            if (unit(m), unit(d)) in never:
                out.append(f"{m} imports {d}, which it must never import")
    modules = {m: inside[m] - facade for m in graph if m not in facade}
    out += [f"import cycle between modules: {' -> '.join(c)}" for c in _cycles(modules)]
    units: dict[str, set[str]] = {}
    for m, deps in modules.items():
        units.setdefault(unit(m), set()).update(unit(d) for d in deps if unit(d) != unit(m))
    out += [f"import cycle between packages: {' -> '.join(c)}" for c in _cycles(units)]
    return out


def test_selrob_respects_the_dependency_rule() -> None:
    found = problems(module_graph(), LAYERS, NO_TORCH, NEVER, FACADE)
    assert not found, "\n".join(found)


def test_every_package_is_placed_in_one_layer() -> None:
    units = {unit(m) for m in module_graph() if m not in FACADE}
    placed = [name for layer in LAYERS for name in layer]
    assert len(placed) == len(set(placed))
    assert units == set(placed), units ^ set(placed)


def test_the_rule_catches_planted_cycles_and_upward_imports() -> None:
    """A synthetic graph: each planted violation is reported, a clean graph is not."""
    layers = [{"low"}, {"mid"}, {"top"}]
    clean = {"selrob.low.a": {"torch"}, "selrob.mid.b": {"selrob.low.a"},
             "selrob.top.c": {"selrob.mid.b", "selrob.low.a"}}  # fmt: skip
    assert problems(clean, layers, no_torch=["top"]) == []
    upward = {**clean, "selrob.low.a": {"selrob.top.c"}}
    assert any(
        "(layer 0) imports selrob.top.c (layer 2)" in p for p in problems(upward, layers, [])
    )
    module_cycle = {**clean, "selrob.mid.b": {"selrob.mid.d"}, "selrob.mid.d": {"selrob.mid.b"}}
    assert problems(module_cycle, layers, []) == [
        "import cycle between modules: selrob.mid.b -> selrob.mid.d"
    ]
    # a cycle between two packages of one layer, through different modules
    same_layer = {"selrob.low.a": {"selrob.peer.x"}, "selrob.peer.x": {"selrob.low.b"},
                  "selrob.low.b": set()}  # fmt: skip
    found = problems(same_layer, [{"low", "peer"}], [])
    assert found == ["import cycle between packages: low -> peer"]
    torch_up = problems(clean, layers, no_torch=["low"])
    assert torch_up == ["selrob.low.a imports torch"]
    assert problems({"selrob.x.y": set()}, layers, []) == [
        "selrob.x.y is in no layer of the dependency rule"
    ]
