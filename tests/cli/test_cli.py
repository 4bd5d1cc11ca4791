"""The command table: every subcommand parses, --help needs no torch, errors are one line."""

from __future__ import annotations

import subprocess
import sys

import pytest

from selrob.cli import SUBCOMMANDS, build_parser, main

NAMES = ["train", "where", "evaluate", "probe", "demo", "sweep", "results", "report", "check", "corrupt",
         "show-corruptions"]  # fmt: skip


def test_the_table_holds_every_documented_subcommand_once() -> None:
    assert [c.name for c in SUBCOMMANDS] == NAMES
    assert all(c.help and c.help[0].islower() for c in SUBCOMMANDS)


@pytest.mark.parametrize("name", NAMES)
def test_every_subcommand_has_help(name: str, capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit) as exit_:
        build_parser().parse_args([name, "--help"])
    assert exit_.value.code == 0 and "usage: selrob " + name in capsys.readouterr().out


def test_help_does_not_import_torch() -> None:
    code = "import sys; from selrob.cli import main; sys.argv=['selrob','--help']\ntry:\n main()\nexcept SystemExit: pass\nsys.exit('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True).returncode == 0


def test_a_selrob_error_is_one_line_and_exit_2(tmp_path, capsys: pytest.CaptureFixture) -> None:
    assert main(["results", str(tmp_path / "none")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("selrob: error: RUNS_DIR")
