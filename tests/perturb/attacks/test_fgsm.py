"""FGSM / the fast gradient method against foolbox 3.3.4 (exact), and one epsilon vs a sequence."""

from __future__ import annotations

import pytest
import torch
from helpers.models import EPS

from selrob.perturb.attacks import (
    BALLS,
    fgsm,
)


@pytest.mark.parametrize("norm", BALLS.names())
def test_fgsm_equals_foolbox(model, data, norm):
    """Our FGSM / FGM output equals foolbox's clipped output to float precision."""
    fb = pytest.importorskip("foolbox")
    x, y = data[2][:300], data[3][:300]
    fmodel = fb.PyTorchModel(model, bounds=(0, 1))
    ref_attack = fb.attacks.FGSM() if norm == "linf" else fb.attacks.FGM()
    for eps in (EPS[norm] / 2, EPS[norm]):
        _, ref, _ = ref_attack(fmodel, x, y, epsilons=eps)
        ours = fgsm(model, x, y, eps, norm=norm)
        assert BALLS.get(norm).norm(ours - x).min() > eps / 2  # every image did move
        torch.testing.assert_close(ours, ref, atol=1e-6, rtol=0)


def test_fgsm_sequence_equals_single_calls(model, data):
    x, y = data[2][:200], data[3][:200]
    for norm in BALLS.names():
        epsilons = [0.0, EPS[norm] / 2, EPS[norm]]
        multi = fgsm(model, x, y, epsilons, norm=norm)
        for eps in epsilons:
            assert torch.equal(multi[eps], fgsm(model, x, y, eps, norm=norm))
