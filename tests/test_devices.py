"""The device choice and the allocator setting of selrob's own processes."""

from __future__ import annotations

import platform
import subprocess
import sys

import pytest
import torch

from selrob.devices import keep_freed_memory, resolve_device
from selrob.errors import InvalidArgument

# A fresh process takes 15 SGD steps of the demo network (resnet20 width 0.5, batch 128, new
# batches each step, as in training) and prints the minor page faults per step of the last 10.
_STEPS = """
import resource, sys, torch
torch.set_num_threads(1)
if sys.argv[1] == "keep":
    from selrob.devices import keep_freed_memory
    assert keep_freed_memory()
from selrob.models import build_model
torch.manual_seed(0)
model = build_model("resnet20", 1, 10, width=0.5).to(memory_format=torch.channels_last)
opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
def step():
    x = torch.rand(128, 1, 28, 28).contiguous(memory_format=torch.channels_last)
    loss = torch.nn.functional.cross_entropy(model(x), torch.randint(0, 10, (128,)))
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
for _ in range(5):
    step()
f0 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(10):
    step()
print((resource.getrusage(resource.RUSAGE_SELF).ru_minflt - f0) / 10)
"""


def _faults_per_step(mode: str) -> float:
    out = subprocess.run([sys.executable, "-c", _STEPS, mode], capture_output=True, text=True,
                         check=True, timeout=300)  # fmt: skip
    return float(out.stdout.split()[-1])


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="glibc's allocator only")
def test_keep_freed_memory_stops_refaulting_activations() -> None:
    default, kept = _faults_per_step("default"), _faults_per_step("keep")
    # measured: 1,300-3,000 faults a step with glibc's defaults, 40-260 kept
    assert default > 500, default  # freed activations are unmapped and fault in again
    assert kept < default / 3, (kept, default)
    assert keep_freed_memory() is True and keep_freed_memory() is True  # idempotent


def test_resolve_device() -> None:
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device("auto").type in {"cpu", "cuda"}
    with pytest.raises(InvalidArgument, match="unknown device"):
        resolve_device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(InvalidArgument, match="CUDA is not available"):
            resolve_device("cuda")
