"""Dataset-level selectivity: histograms and means against a numpy recomputation."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from selrob.analysis.selectivity import dataset_selectivity, selectivity_histogram
from selrob.errors import InvalidArgument
from selrob.models import build_model


def numpy_si(acts: np.ndarray, labels: np.ndarray, num_classes: int) -> np.ndarray:
    """SI per unit from stored activations (N, U), straight from the definition (docs/method.md)."""
    present = [c for c in range(num_classes) if (labels == c).any()]
    means = np.stack([acts[labels == c].mean(0) for c in present])  # (C, U)
    mu_max = means.max(0)
    mu_rest = (means.sum(0) - mu_max) / (len(present) - 1)
    return (mu_max - mu_rest) / (mu_max + mu_rest + 1e-7)


@pytest.fixture(scope="module")
def setup() -> tuple[torch.nn.Module, torch.Tensor, torch.Tensor]:
    torch.manual_seed(0)
    model = build_model("small_cnn", 1, 10, width=0.5)
    g = torch.Generator().manual_seed(1)
    labels = torch.randint(0, 4, (70,), generator=g)  # 4 of the 10 classes present
    x = torch.rand(70, 1, 12, 12, generator=g) * 0.3 + 0.2 * labels.view(-1, 1, 1, 1)
    return model, x, labels


def stored_acts(model: torch.nn.Module, x: torch.Tensor) -> dict[str, np.ndarray]:
    out = {}
    mods = dict(model.named_modules())
    hs = [
        mods[n].register_forward_hook(lambda m, i, o, n=n: out.__setitem__(n, o.mean((2, 3))))
        for n in model.unit_layers
    ]
    model.eval()
    with torch.no_grad():
        model(x)
    for h in hs:
        h.remove()
    return {k: v.double().numpy() for k, v in out.items()}


def test_matches_numpy_recomputation(setup) -> None:  # noqa: ANN001
    model, x, y = setup
    model.train()
    res = dataset_selectivity(
        model, [(x[i : i + 16], y[i : i + 16]) for i in range(0, 70, 16)], 10, bins=8
    )
    assert model.training
    acts = stored_acts(model, x)
    layer_means = []
    for name, a in acts.items():
        si = numpy_si(a, y.numpy(), 10)
        np.testing.assert_allclose(res["per_unit"][name], si, rtol=1e-6, atol=1e-9)
        assert res["per_layer"][name] == pytest.approx(si.mean(), rel=1e-6)
        layer_means.append(si.mean())
        h = res["histograms"][name]
        assert sum(h["counts"]) == a.shape[1] == len(res["per_unit"][name])
        assert len(h["edges"]) == 9 and h["edges"][0] == 0.0 and h["edges"][-1] == 1.0
        np.testing.assert_array_equal(h["counts"], np.histogram(si, bins=8, range=(0, 1))[0])
    assert res["mean"] == pytest.approx(float(np.mean(layer_means)), rel=1e-6)
    assert max(layer_means) > 0.01  # the class-dependent inputs make the check non-trivial


def test_batching_does_not_change_the_result(setup) -> None:  # noqa: ANN001
    model, x, y = setup
    a = dataset_selectivity(model, [(x, y)], 10)
    b = dataset_selectivity(model, [(x[:7], y[:7]), (x[7:], y[7:])], 10)
    for name in a["per_unit"]:
        np.testing.assert_allclose(a["per_unit"][name], b["per_unit"][name], rtol=1e-6, atol=1e-9)


def test_histogram_clips_out_of_range_values_into_end_bins() -> None:
    h = selectivity_histogram(np.array([-0.1, 0.0, 0.5, 1.0, 1.2]), bins=4)
    assert h["counts"] == [2, 0, 1, 2]
    assert h["edges"] == [0.0, 0.25, 0.5, 0.75, 1.0]
    with pytest.raises(InvalidArgument):
        selectivity_histogram(np.zeros(3), bins=0)


def test_empty_input_is_rejected(setup) -> None:  # noqa: ANN001
    with pytest.raises(InvalidArgument):
        dataset_selectivity(setup[0], [], 10)
