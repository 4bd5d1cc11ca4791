"""selrob probe on a model defined here (not a selrob model): the same numbers as measuring the
same weights through the Python API, the spec naming what was measured, and one clear line for
each kind of bad input with nothing written."""

from __future__ import annotations

import hashlib
import json
import pickle
from pathlib import Path

import pytest
import torch
from torch import nn

from selrob.cli import main
from selrob.config import EvalSpec
from selrob.experiment.probe import measure
from selrob.results import load_runs, summary_table

SOURCE = "experiment.test_probe:probe_net"  # this file, importable through tests/ on the path
UNITS = "features.1,features.3"
EVAL = ["--limit-test", "64", "--corruptions", "brightness,gaussian_noise", "--severities", "1,3",
        "--attacks", "fgsm,pgd", "--epsilons", "0,0.05", "--pgd-steps", "3",
        "--analyses", "dimensionality,gradients", "--analysis-samples", "32",
        "--gradient-samples", "8"]  # fmt: skip
EVAL_SPEC = EvalSpec(limit_test=64, corruptions=("brightness", "gaussian_noise"), severities=(1, 3),
                     attacks=("fgsm", "pgd"), epsilons=(0.0, 0.05), pgd_steps=3,
                     analyses=("dimensionality", "gradients"), analysis_samples=32,
                     gradient_samples=8)  # fmt: skip


class ProbeNet(nn.Module):
    """A user's network: no unit_layers, no Normalize; expects normalised input."""

    def __init__(self, classes: int = 10) -> None:
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(),
                                      nn.Conv2d(8, 8, 3, stride=2, padding=1), nn.ReLU())  # fmt: skip
        self.head = nn.Linear(8 * 14 * 14, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x).flatten(1))


def probe_net(classes: int = 10) -> nn.Module:
    return ProbeNet(classes)


def not_a_model() -> str:
    return "hello"


@pytest.fixture
def weights(idx_dir: Path, tmp_path: Path) -> Path:
    """A briefly trained ProbeNet saved inside a checkpoint dict, as users save them."""
    from selrob.data import load_dataset

    torch.manual_seed(3)
    model = probe_net()
    train = load_dataset("fashion-mnist", "train", str(idx_dir))
    x, y = (train.images.float() / 255 - 0.5) / 0.25, train.labels
    opt = torch.optim.SGD(model.parameters(), lr=0.02, momentum=0.9)
    for _ in range(4):
        for i in range(0, len(y), 64):
            loss = nn.functional.cross_entropy(model(x[i : i + 64]), y[i : i + 64])
            opt.zero_grad()
            loss.backward()
            opt.step()
    path = tmp_path / "weights.pt"
    torch.save({"state_dict": model.state_dict(), "epoch": 3}, path)
    return path


def _probe(idx_dir: Path, out: Path, *extra: str) -> int:
    return main(["probe", "--model", SOURCE, "--data-dir", str(idx_dir), "--out", str(out),
                 "--units", UNITS, "--normalize", "0.5,0.25", "--quiet", *EVAL, *extra])  # fmt: skip


def _strip(ev: dict) -> dict:
    return {k: v for k, v in ev.items() if k not in ("_done", "spec")}


def test_probe_equals_the_python_api_and_names_what_it_measured(
    idx_dir: Path, tmp_path: Path, weights: Path
) -> None:
    out = tmp_path / "probes"
    assert _probe(idx_dir, out, "--weights", str(weights), "--weights-key", "state_dict") == 0
    (run,) = [p for p in out.iterdir() if p.is_dir()]
    spec = json.loads((run / "spec.json").read_text())
    assert spec["model_source"] == SOURCE and spec["units"] == UNITS
    assert spec["weights_sha256"] == hashlib.sha256(weights.read_bytes()).hexdigest()
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["status"] == "complete" and metrics["probe"] is True
    # the same weights, normalised by hand in a wrapper, measured through the Python API
    model = probe_net()
    model.load_state_dict(torch.load(weights, weights_only=True)["state_dict"])
    model.register_forward_pre_hook(lambda _m, a: ((a[0] - 0.5) / 0.25,))
    ev = measure(model, "fashion-mnist", EVAL_SPEC, units=UNITS, data_dir=str(idx_dir))
    assert _strip(metrics["evaluation"]) == json.loads(json.dumps(_strip(ev)))
    assert ev["clean_accuracy"] > 0.3  # a trained model: the comparison is not of constants
    assert {"clean_accuracy", "selectivity", "corruptions", "attack_measures", "dimensionality",
            "gradients"} <= set(ev)  # fmt: skip
    assert list(ev["selectivity"]["per_layer"]) == UNITS.split(",")
    # results and report list the probe by its model
    df = load_runs(out)
    assert df["train_mode"].tolist() == [f"probe: {SOURCE}"]
    assert summary_table(df)["n"].tolist() == [1]  # a probe has no alpha, and is kept
    # the same command again measures nothing new
    before = (run / "metrics.json").read_text()
    assert _probe(idx_dir, out, "--weights", str(weights), "--weights-key", "state_dict") == 0
    assert (
        json.loads((run / "metrics.json").read_text())["evaluation"]
        == json.loads(before)["evaluation"]
    )
    assert main(["check", str(out)]) == 0


class _Evil:
    def __init__(self, target: Path) -> None:
        self.target = str(target)

    def __reduce__(self):  # noqa: ANN204
        return (open, (self.target, "w"))


@pytest.mark.parametrize(
    ("case", "match"),
    [
        ("unimportable", "cannot import no_such_pkg"),
        ("not callable", "has no callable 'nope'"),
        ("not a module", "returned a str, not an nn.Module"),
        ("weights mismatch", "do not fit the model (missing: head.weight, head.bias"),
        ("malicious weights", "not a state dict that loads with weights_only=True"),
        ("normalize count", "--normalize takes 1 means then 1 stds (2 numbers)"),
        ("wrong output", "not logits (2, 10)"),
        ("no units", "has no unit_layers; pass units as name globs, e.g. --units 'layer*'; candidates: features.1, features.3"),
        ("units match nothing", "matches units pattern 'layer*'; candidates: features.1"),
    ],
)  # fmt: skip
def test_bad_input_is_one_line_and_writes_nothing(
    case: str, match: str, idx_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    marker = tmp_path / "pwned"
    model, units, extra = SOURCE, UNITS, ["--normalize", "0.5,0.25"]
    if case == "unimportable":
        model = "no_such_pkg.nets:net"
    elif case == "not callable":
        model = "experiment.test_probe:nope"
    elif case == "not a module":
        model = "experiment.test_probe:not_a_model"
    elif case == "weights mismatch":
        bad = tmp_path / "w.pt"
        torch.save({k: v for k, v in probe_net().state_dict().items() if "head" not in k}, bad)
        extra += ["--weights", str(bad)]
    elif case == "malicious weights":
        bad = tmp_path / "w.pt"
        bad.write_bytes(pickle.dumps({"x": _Evil(marker)}))
        extra += ["--weights", str(bad)]
    elif case == "normalize count":
        extra = ["--normalize", "0.5,0.5,0.25,0.25"]
    elif case == "wrong output":
        extra += ["--model-kwargs", '{"classes": 3}']
    elif case == "no units":
        units = "default"
    elif case == "units match nothing":
        units = "layer*"
    out = tmp_path / "probes"
    code = main(["probe", "--model", model, "--units", units, "--data-dir", str(idx_dir),
                 "--out", str(out), "--quiet", "--limit-test", "16", *extra])  # fmt: skip
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and match in err[0], err
    assert not out.exists() and not marker.exists()


def _assert_close(a: object, b: object, path: str = "") -> None:
    """Nested JSON values equal, floats to 1e-5 relative (TorchScript may fuse kernels)."""
    if isinstance(a, dict) and isinstance(b, dict):
        assert a.keys() == b.keys(), path
        for k in a:
            _assert_close(a[k], b[k], f"{path}.{k}")
    elif isinstance(a, list) and isinstance(b, list):
        assert len(a) == len(b), path
        for i, (u, v) in enumerate(zip(a, b, strict=True)):
            _assert_close(u, v, f"{path}[{i}]")
    elif isinstance(a, float) and isinstance(b, float):
        assert a == pytest.approx(b, rel=1e-5, abs=1e-7), path
    else:
        assert a == b, path


@pytest.mark.parametrize("how", ["script", "trace"])
def test_torchscript_probe_equals_the_python_api(
    how: str, idx_dir: Path, tmp_path: Path, weights: Path
) -> None:
    """The same weights saved as TorchScript (scripted or traced): every metric equals the
    Python model's, units and input gradients included (models.scripted's stand-ins)."""
    model = probe_net()
    model.load_state_dict(torch.load(weights, weights_only=True)["state_dict"])
    model.eval()
    x = torch.rand(2, 1, 28, 28)
    scripted = torch.jit.script(model) if how == "script" else torch.jit.trace(model, x)
    file = tmp_path / "net.ts"
    scripted.save(str(file))
    out = tmp_path / "probes"
    assert main(["probe", "--torchscript", str(file), "--data-dir", str(idx_dir),
                 "--out", str(out), "--units", UNITS, "--normalize", "0.5,0.25", "--quiet",
                 *EVAL]) == 0  # fmt: skip
    (run,) = [p for p in out.iterdir() if p.is_dir()]
    spec = json.loads((run / "spec.json").read_text())
    sha = hashlib.sha256(file.read_bytes()).hexdigest()
    assert spec["model_source"] == "torchscript" and spec["weights_sha256"] == sha
    got = json.loads((run / "metrics.json").read_text())["evaluation"]
    model.register_forward_pre_hook(lambda _m, a: ((a[0] - 0.5) / 0.25,))
    want = measure(model, "fashion-mnist", EVAL_SPEC, units=UNITS, data_dir=str(idx_dir))
    assert list(got["selectivity"]["per_layer"]) == UNITS.split(",")
    _assert_close(_strip(got), json.loads(json.dumps(_strip(want))))
    assert load_runs(out)["train_mode"].tolist() == [f"probe: torchscript@{sha[:8]}"]
    # measure() takes the loaded ScriptModule itself
    again = torch.jit.load(str(file))
    again_ev = measure(again, "fashion-mnist", EvalSpec(limit_test=64), units=UNITS,
                       data_dir=str(idx_dir))  # fmt: skip
    assert again_ev["selectivity"]["per_layer"].keys() == got["selectivity"]["per_layer"].keys()


@pytest.mark.parametrize(
    ("case", "match"),
    [
        ("not torchscript", "is not a TorchScript file"),
        ("with weights", "a TorchScript file carries its model and weights"),
        ("missing", "no such file"),
        ("no units", "candidates: features.1, features.3"),
    ],
)
def test_bad_torchscript_input_is_one_line_and_writes_nothing(
    case: str, match: str, idx_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    file, units, extra = tmp_path / "net.ts", UNITS, ["--normalize", "0.5,0.25"]
    torch.jit.script(probe_net().eval()).save(str(file))
    if case == "not torchscript":
        torch.save(probe_net().state_dict(), file)
    elif case == "with weights":
        extra += ["--weights", str(file)]
    elif case == "missing":
        file = tmp_path / "nope.ts"
    elif case == "no units":
        units = "default"
    out = tmp_path / "probes"
    code = main(["probe", "--torchscript", str(file), "--units", units, "--data-dir",
                 str(idx_dir), "--out", str(out), "--quiet", "--limit-test", "16", *extra])  # fmt: skip
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and match in err[0], err
    assert not out.exists()
