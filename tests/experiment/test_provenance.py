"""meta.json's provenance record: versions, argv, device, git commit of the source."""

from __future__ import annotations

import subprocess
from pathlib import Path

import torch

import selrob
from selrob.experiment.provenance import git_sha, provenance


def test_provenance_names_versions_device_and_commit() -> None:
    meta = provenance(torch.device("cpu"))
    assert meta["selrob"] == selrob.__version__ and meta["torch"] == torch.__version__
    assert meta["device"] == "cpu" and meta["cuda_device"] is None and meta["threads"] >= 1
    src = Path(selrob.__file__).parent
    out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=src, capture_output=True, text=True)
    assert git_sha() == (out.stdout.strip() or None)
