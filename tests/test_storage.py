"""Atomic writes and JSON reads: all or nothing on disk, clear errors on damaged files."""

from __future__ import annotations

import json
import math
import os
import stat
from pathlib import Path

import pytest

from selrob import paths
from selrob.errors import MalformedData, OutputNotWritable
from selrob.storage import (
    atomic_write,
    read_json,
    read_json_object,
    write_atomic,
    write_bytes_atomic,
    write_json_atomic,
)


def test_write_replaces_whole_file_and_leaves_no_temp(tmp_path: Path) -> None:
    target = tmp_path / "a.bin"
    target.write_bytes(b"old")
    write_bytes_atomic(target, b"new contents")
    assert target.read_bytes() == b"new contents"
    assert [p.name for p in tmp_path.iterdir()] == ["a.bin"]


def test_failed_write_keeps_the_old_file_and_removes_the_temp(tmp_path: Path) -> None:
    target = tmp_path / "a.json"
    target.write_text("old")

    def broken(tmp: Path) -> None:
        tmp.write_text("half")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        write_atomic(target, broken)
    assert target.read_text() == "old"
    assert not any(paths.is_temp_file(p) for p in tmp_path.iterdir())


def test_permissions_follow_the_umask_not_mkstemp(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        write_bytes_atomic(tmp_path / "f", b"x")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "f").stat().st_mode) == 0o644


def test_json_nonfinite_becomes_null_and_reads_back(tmp_path: Path) -> None:
    path = tmp_path / "m.json"
    write_json_atomic(path, {"a": math.nan, "b": [1.0, math.inf], "c": {"d": -math.inf}, "e": 2})
    assert json.loads(path.read_text()) == {"a": None, "b": [1.0, None], "c": {"d": None}, "e": 2}
    assert read_json(path)["e"] == 2


def test_damaged_json_is_one_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "metrics.json"
    path.write_text('{"status": "compl')
    with pytest.raises(MalformedData, match="metrics.json: not valid JSON.*restore or delete"):
        read_json(path)
    assert read_json_object(path)[0] == {} and "unreadable" in read_json_object(path)[1]
    path.write_text("[1, 2]")
    assert read_json_object(path) == ({}, "metrics.json is not a JSON object")
    assert read_json_object(tmp_path / "nope.json") == ({}, "nope.json missing")


def test_unwritable_directory_is_output_not_writable(tmp_path: Path) -> None:
    with pytest.raises(OutputNotWritable, match="cannot write"):
        atomic_write(tmp_path / "no" / "such" / "dir" / "f.csv", lambda p: p.write_text("x"))
