"""Every artefact name comes from selrob.paths; readers and writers agree on them."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from selrob import paths

SRC = Path(paths.__file__).parent


def test_names_of_one_run_and_of_a_runs_directory(tmp_path: Path) -> None:
    run = paths.run_dir(tmp_path, "0123456789abcdef")
    assert run == tmp_path / "0123456789abcdef"
    assert [p.name for p in (paths.spec_file(run), paths.checkpoint_file(run), paths.metrics_file(run),
                             paths.meta_file(run), paths.lock_file(run))] == [
        "spec.json", "checkpoint.pt", "metrics.json", "meta.json", ".lock"]  # fmt: skip
    assert paths.results_table(tmp_path, "attacks").name == "results_attacks.csv"
    assert paths.report_figure(paths.report_dir(tmp_path), 3, "corruptions") == (
        tmp_path / "report" / "fig3_corruptions.png"
    )
    assert paths.corrupted_npy(tmp_path, "fog").name == "fog.npy"
    assert paths.tinyimagenet_c_folder(tmp_path, "fog", 2) == tmp_path / "fog" / "2"


def test_temp_files_of_atomic_writes_are_recognised() -> None:
    assert paths.is_temp_file(Path(".metrics.json.abc123.tmp"))
    assert not paths.is_temp_file(Path("metrics.json")) and not paths.is_temp_file(Path(".lock"))


def test_no_module_builds_an_artefact_path_by_hand() -> None:
    """A string literal naming a file (``x / "name.ext"``) appears only in paths.py."""
    offenders = []
    for path in SRC.rglob("*.py"):
        if path.name == "paths.py":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Div):
                for side in (node.left, node.right):
                    if isinstance(side, ast.Constant | ast.JoinedStr):
                        text = ast.unparse(side)
                        if re.search(r"\.(json|pt|csv|parquet|png|npy|html)\b", text):
                            offenders.append(f"{path.relative_to(SRC)}:{node.lineno} {text}")
    assert not offenders, offenders
