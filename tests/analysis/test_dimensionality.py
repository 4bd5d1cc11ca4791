"""PCA dimensionality: scikit-learn and planted-rank oracles, streaming, subsampling, layers."""

from __future__ import annotations

import gzip

import numpy as np
import pytest
import torch
from helpers.images import FMNIST
from helpers.low_rank import low_rank_plus_noise, sk_pca

from selrob.analysis.dimensionality import (
    components_for_variance,
    explained_variance,
    feature_subset,
    layer_dimensionality,
    participation_ratio,
    pca_dimensionality,
)
from selrob.errors import InvalidArgument
from selrob.models import build_model

FASHION_TEST = FMNIST / "t10k-images-idx3-ubyte.gz"


def sklearn_pr(x: np.ndarray) -> float:
    lam = sk_pca(x).explained_variance_
    return float(lam.sum() ** 2 / (lam**2).sum())


@pytest.mark.parametrize(("n", "d"), [(400, 30), (60, 200)])  # covariance route, Gram route
@pytest.mark.parametrize("threshold", [0.8, 0.95, 0.99])
def test_matches_sklearn_on_low_rank_plus_noise(n: int, d: int, threshold: float) -> None:
    x = low_rank_plus_noise(n, d, rank=8, noise=0.3, seed=n + d)
    pca = sk_pca(x, threshold)
    assert pca_dimensionality(torch.from_numpy(x), threshold) == pca.n_components_
    assert participation_ratio(torch.from_numpy(x)) == pytest.approx(sklearn_pr(x), rel=1e-9)
    full = sk_pca(x).explained_variance_
    np.testing.assert_allclose(
        explained_variance(torch.from_numpy(x)).numpy(), full, rtol=1e-8, atol=1e-10
    )


def test_known_rank_is_recovered_when_noise_is_small() -> None:
    x = low_rank_plus_noise(500, 40, rank=8, noise=1e-4, seed=1)
    assert pca_dimensionality(torch.from_numpy(x), 0.999) == 8


@pytest.mark.parametrize(("n", "d"), [(300, 50), (30, 80)])
def test_planted_equal_variance_dimensions_give_exactly_k(n: int, d: int) -> None:
    k = 7
    g = torch.Generator().manual_seed(3)
    z = torch.linalg.qr(torch.randn(n, k, generator=g, dtype=torch.float64))[0]
    z = z - z.mean(0)  # centred, then re-orthonormalised: equal sample variances on k axes
    z = torch.linalg.qr(z)[0] * 10.0
    basis = torch.linalg.qr(torch.randn(d, k, generator=g, dtype=torch.float64))[0].T  # (k, d)
    x = z @ basis + 2.0
    assert pca_dimensionality(x, 0.95) == k
    assert pca_dimensionality(x, 1.0) == k
    assert participation_ratio(x) == pytest.approx(k, rel=1e-9)
    assert pca_dimensionality(x, 0.5) == 4  # ceil(0.5 * 7) equal parts


def test_constant_representation_has_zero_dimensionality() -> None:
    x = torch.ones(20, 5)
    assert pca_dimensionality(x) == 0 and participation_ratio(x) == 0.0


def test_components_for_variance_threshold_rule() -> None:
    lam = torch.tensor([5.0, 3.0, 2.0])  # cumulative 0.5, 0.8, 1.0
    assert components_for_variance(lam, 0.5) == 1  # ">=" (sklearn's strict ">" would give 2)
    assert components_for_variance(lam, 0.81) == 3
    with pytest.raises(InvalidArgument):
        components_for_variance(lam, 0.0)


def test_bad_shapes_are_rejected() -> None:
    with pytest.raises(InvalidArgument):
        pca_dimensionality(torch.randn(10))
    with pytest.raises(InvalidArgument):
        pca_dimensionality(torch.randn(1, 5))


def _maps_by_hooks(
    model: torch.nn.Module, x: torch.Tensor, names: list[str]
) -> dict[str, torch.Tensor]:
    """Independent recording: plain forward hooks, no selrob.units."""
    out: dict[str, torch.Tensor] = {}
    mods = dict(model.named_modules())
    hs = [
        mods[n].register_forward_hook(lambda m, i, o, n=n: out.__setitem__(n, o.detach()))
        for n in names
    ]
    with torch.no_grad():
        model(x)
    for h in hs:
        h.remove()
    return out


@pytest.fixture(scope="module")
def small_model() -> torch.nn.Module:
    torch.manual_seed(0)
    m = build_model("small_cnn", 1, 10, width=0.25)
    for mod in m.modules():  # non-trivial running statistics, so eval vs train mode matters
        if isinstance(mod, torch.nn.BatchNorm2d):
            mod.running_mean.uniform_(-0.5, 0.5)
            mod.running_var.uniform_(0.5, 2.0)
    return m


def test_layer_dimensionality_matches_in_memory_and_sklearn(small_model: torch.nn.Module) -> None:
    g = torch.Generator().manual_seed(1)
    x = torch.rand(90, 1, 12, 12, generator=g)
    y = torch.randint(0, 10, (90,), generator=g)
    batches = [(x[i : i + 32], y[i : i + 32]) for i in range(0, 90, 32)]
    small_model.train()

    def noise(a: torch.Tensor, _y: torch.Tensor) -> torch.Tensor:
        return (
            a
            + 0.2
            * torch.randn(a.shape, generator=torch.Generator().manual_seed(int(a.sum() * 1e3)))
        ).clamp(0, 1)

    recs = layer_dimensionality(
        small_model, batches, {"noise@1": ("corrupted", noise)}, max_features=None
    )
    assert small_model.training  # mode restored
    small_model.eval()
    names = small_model.unit_layers
    clean = _maps_by_hooks(small_model, x, names)
    pert = _maps_by_hooks(small_model, torch.cat([noise(b, yb) for b, yb in batches]), names)
    table = {
        (r["layer"], r["input_kind"], r["perturbation"], r["measure"]): r["value"] for r in recs
    }
    assert len(recs) == len(names) * 3 * 2
    for n in names:
        for kind, label, acts in (
            ("clean", "none", clean[n].flatten(1)),
            ("corrupted", "noise@1", pert[n].flatten(1)),
            ("change_corrupted", "noise@1", (pert[n] - clean[n]).flatten(1)),
        ):
            ref = sk_pca(acts.double().numpy(), 0.95).n_components_
            assert table[(n, kind, label, "pca95")] == ref
            assert table[(n, kind, label, "participation_ratio")] == pytest.approx(
                sklearn_pr(acts.double().numpy()), rel=1e-6
            )


def test_identity_perturbation_has_no_change_and_spatial_mean_features(
    small_model: torch.nn.Module,
) -> None:
    x = torch.rand(40, 1, 16, 16, generator=torch.Generator().manual_seed(2))
    batches = [
        (x[:25], torch.zeros(25, dtype=torch.long)),
        (x[25:], torch.zeros(15, dtype=torch.long)),
    ]
    recs = layer_dimensionality(
        small_model,
        batches,
        {"id": ("adversarial", lambda a, _y: a.clone())},
        features="spatial_mean",
        threshold=0.9,
        max_features=3,
    )
    small_model.eval()
    acts = {
        k: v.mean((2, 3))
        for k, v in _maps_by_hooks(small_model, x, small_model.unit_layers).items()
    }
    table = {(r["layer"], r["input_kind"], r["measure"]): r["value"] for r in recs}
    for n, a in acts.items():
        idx = feature_subset(a.shape[1], 3, None)  # the first draw of the default generator
        if n == small_model.unit_layers[0]:
            assert table[(n, "clean", "pca90")] == pca_dimensionality(a[:, idx], 0.9)
        assert (
            table[(n, "adversarial", "pca90")] == table[(n, "clean", "pca90")]
        )  # same coordinates
        assert table[(n, "change_adversarial", "pca90")] == 0.0
        assert table[(n, "change_adversarial", "participation_ratio")] == 0.0


def test_feature_subset_of_flattened_maps_matches_explicit_columns(
    small_model: torch.nn.Module,
) -> None:
    """Kept coordinates are gathered from the (channels_last) inference copy's maps: they must
    be the same (C, H, W)-order columns as flattening the original model's maps."""
    g = torch.Generator().manual_seed(4)
    x = torch.rand(60, 1, 12, 12, generator=g)
    y = torch.zeros(60, dtype=torch.long)
    shift = lambda a, _y: a * 0.7 + 0.1  # noqa: E731
    recs = layer_dimensionality(
        small_model, [(x[:35], y[:35]), (x[35:], y[35:])], {"s": ("corrupted", shift)},
        max_features=20, accumulate=torch.float64,
    )  # fmt: skip
    small_model.eval()
    names = small_model.unit_layers
    clean = _maps_by_hooks(small_model, x, names)
    pert = _maps_by_hooks(small_model, shift(x, y), names)
    table = {(r["layer"], r["input_kind"], r["measure"]): r["value"] for r in recs}
    draws = torch.Generator().manual_seed(0)  # layer_dimensionality's default generator
    for n in names:
        idx = feature_subset(clean[n][0].numel(), 20, draws)
        assert idx is not None
        for kind, acts in (
            ("clean", clean[n].flatten(1)[:, idx]),
            ("change_corrupted", (pert[n] - clean[n]).flatten(1)[:, idx]),
        ):
            assert table[(n, kind, "pca95")] == sk_pca(acts.double().numpy(), 0.95).n_components_
            assert table[(n, kind, "participation_ratio")] == pytest.approx(
                sklearn_pr(acts.double().numpy()), rel=1e-5
            )


def test_memory_budget_and_arguments_are_checked(small_model: torch.nn.Module) -> None:
    batches = [(torch.rand(4, 1, 16, 16), torch.zeros(4, dtype=torch.long))]
    with pytest.raises(InvalidArgument, match="max_features"):
        layer_dimensionality(small_model, batches, max_features=None, max_memory_gib=1e-6)
    with pytest.raises(InvalidArgument):
        layer_dimensionality(small_model, batches, features="pixels")
    with pytest.raises(InvalidArgument):
        layer_dimensionality(small_model, [])


@pytest.mark.data
@pytest.mark.skipif(not FASHION_TEST.exists(), reason="Fashion-MNIST not installed")
def test_real_activations_match_sklearn() -> None:
    with gzip.open(FASHION_TEST) as f:
        imgs = np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 1, 28, 28)[:200]
    x = torch.from_numpy(imgs.astype(np.float32) / 255.0)
    torch.manual_seed(0)
    model = build_model("resnet20", 1, 10, width=0.25).eval()
    acts = _maps_by_hooks(model, x, ["stem", "layer2.2"])
    for a in acts.values():
        flat = a.flatten(1).double().numpy()
        ref = sk_pca(flat, 0.95).n_components_
        assert pca_dimensionality(torch.from_numpy(flat)) == ref
        assert participation_ratio(torch.from_numpy(flat)) == pytest.approx(
            sklearn_pr(flat), rel=1e-6
        )
