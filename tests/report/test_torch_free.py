"""results and report never import torch, statically or at run time."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src" / "selrob"


TORCH_FREE = [*sorted((SRC / "results").glob("*.py")), *sorted((SRC / "report").glob("*.py"))]


ALLOWED_SELROB = {"selrob", "selrob.errors", "selrob.storage", "selrob.enums", "selrob.measures", "selrob.paths", "selrob.config", "selrob.probe_spec", "selrob.results",
                  "selrob.report.stats"}  # fmt: skip


def _imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names |= {f"{node.module}.{a.name}" for a in node.names if node.module == "selrob"}
    return names


@pytest.mark.parametrize("path", TORCH_FREE, ids=lambda p: str(p.relative_to(SRC)))
def test_no_torch_import(path: Path) -> None:
    names = _imports(path)
    assert not {n for n in names if n == "torch" or n.startswith("torch.")}
    selrob = {n for n in names if n.startswith("selrob")}
    bad = {
        n
        for n in selrob
        if n not in ALLOWED_SELROB and not n.startswith(("selrob.report", "selrob.results"))
    }
    assert not bad, f"{path.name} imports {bad}, which may pull in torch"


def test_importing_report_does_not_load_torch() -> None:
    code = ("import sys, selrob.results, selrob.report.stats, selrob.report; "
            "sys.exit('torch' in sys.modules)")  # fmt: skip
    env_path = str(SRC.parent)
    proc = subprocess.run([sys.executable, "-c", code], env={"PYTHONPATH": env_path},
                          capture_output=True, text=True, timeout=60)  # fmt: skip
    assert proc.returncode == 0, proc.stderr or "torch was imported (check selrob/__init__.py)"
