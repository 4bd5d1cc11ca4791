"""The CUDA paths, against the CPU ones (skipped without a CUDA device): the device-resident
training set, training, attacks, robustness training and the analyses."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from selrob.config import EvalSpec, Runtime, TrainSpec
from selrob.data import batches, load_dataset

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device"),
]


def test_device_resident_batches_equal_the_host_loaders(idx_dir: Path) -> None:
    ds = load_dataset("fashion-mnist", "train", str(idx_dir))
    host = batches(ds, 64, shuffle=True, augment=True, generator=torch.Generator().manual_seed(7))
    dev = batches(ds.to("cuda"), 64, shuffle=True, augment=True,
                  generator=torch.Generator().manual_seed(7), device="cuda")  # fmt: skip
    n = 0
    for (xh, yh), (xd, yd) in zip(host, dev, strict=True):
        assert xd.is_cuda and torch.equal(xh, xd.cpu()) and torch.equal(yh, yd.cpu())
        n += 1
    assert n == 8


def test_training_and_evaluation_on_cuda_match_the_cpu(idx_dir: Path, tmp_path: Path) -> None:
    from selrob.experiment import ensure_evaluated, ensure_trained

    spec = TrainSpec(model="small_cnn", epochs=2, batch_size=64, limit_test=64, alpha=1.0)
    ev = EvalSpec(limit_test=64, corruptions=("brightness", "gaussian_noise"), severities=(2,),
                  attacks=("pgd",), epsilons=(0.0, 0.05), analyses=("dimensionality", "gradients"),
                  analysis_samples=32, gradient_samples=8)  # fmt: skip
    out = {}
    for device in ("cpu", "cuda"):
        rt = Runtime(device=device, data_dir=str(idx_dir), quiet=True)
        run = ensure_trained(spec, tmp_path / device, rt)
        out[device] = (run.metrics, ensure_evaluated(run.run_dir, ev, rt))
    (m_cpu, e_cpu), (m_gpu, e_gpu) = out["cpu"], out["cuda"]
    # float rounding differs (cuDNN): the same network to a few points of accuracy
    assert abs(m_cpu["test_accuracy"] - m_gpu["test_accuracy"]) <= 0.1
    assert abs(e_cpu["clean_accuracy"] - e_gpu["clean_accuracy"]) <= 0.1
    assert set(e_cpu) == set(e_gpu)


@pytest.mark.parametrize("mode", ["adversarial", "noise", "corruptions"])
def test_robustness_training_runs_on_cuda(mode: str, idx_dir: Path, tmp_path: Path) -> None:
    from selrob.experiment import ensure_trained

    spec = TrainSpec(model="small_cnn", epochs=1, batch_size=64, limit_train=128, limit_test=32,
                     train_mode=mode)  # type: ignore[arg-type]  # fmt: skip
    run = ensure_trained(spec, tmp_path, Runtime(device="cuda", data_dir=str(idx_dir), quiet=True))
    assert run.status == "complete" and math.isfinite(run.metrics["epochs"][0]["train_loss"])


def test_pgd_on_cuda_equals_the_cpu_attack() -> None:
    from selrob.models import build_model
    from selrob.perturb.attacks import pgd

    torch.manual_seed(0)
    model = build_model("small_cnn", 1, 10).eval()
    g = torch.Generator().manual_seed(1)
    x, y = torch.rand(16, 1, 28, 28, generator=g), torch.randint(0, 10, (16,), generator=g)
    a = pgd(model, x, y, 0.05, 5, generator=torch.Generator().manual_seed(2))
    b = pgd(model.cuda(), x.cuda(), y.cuda(), 0.05, 5, generator=torch.Generator().manual_seed(2))
    assert float((b.cpu() - x).abs().max()) <= 0.05 + 1e-6
    # same start and steps: only coordinates whose gradient sign flips with rounding differ
    assert float(((a - b.cpu()).abs() > 1e-4).float().mean()) < 0.1


def test_runs_packed_on_one_gpu_equal_lone_runs(idx_dir: Path, tmp_path: Path) -> None:
    """Two worker processes sharing the GPU train the same networks as one run at a time."""
    from selrob.sweep import sweep_from_dict
    from selrob.sweep.executors import run_sweep

    grid = dict(dataset="fashion-mnist", model="small_cnn", epochs=2, batch_size=64, lr=0.05,
                limit_test=64, alphas=[-1.0, 1.0], seeds=1)  # fmt: skip
    rt = Runtime(device="cuda", data_dir=str(idx_dir), quiet=True)
    lone = run_sweep(sweep_from_dict(grid), tmp_path / "lone", rt, jobs=1)
    packed = run_sweep(sweep_from_dict(grid), tmp_path / "packed", rt, jobs=2)
    assert [r.status for r in packed.runs] == ["complete", "complete"]
    for a, b in zip(lone.runs, packed.runs, strict=True):
        wa = torch.load(a.run_dir / "checkpoint.pt", weights_only=True)["model"]
        wb = torch.load(b.run_dir / "checkpoint.pt", weights_only=True)["model"]
        for k in wa:  # same device, same kernels: equal to float tolerance
            torch.testing.assert_close(wa[k], wb[k], rtol=1e-3, atol=1e-4)


def test_bf16_autocast_training_on_cuda(idx_dir: Path, tmp_path: Path) -> None:
    from selrob.experiment import ensure_trained

    rt = Runtime(device="cuda", data_dir=str(idx_dir), quiet=True)
    acc = {}
    for precision in ("float32", "bfloat16"):
        spec = TrainSpec(model="small_cnn", epochs=2, batch_size=64, limit_test=128,
                         train_precision=precision)  # type: ignore[arg-type]  # fmt: skip
        acc[precision] = ensure_trained(spec, tmp_path, rt).metrics["test_accuracy"]
    assert abs(acc["float32"] - acc["bfloat16"]) <= 0.15
