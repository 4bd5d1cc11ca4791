"""The norm balls against closed forms: uniform random starts, projections, ascent directions."""

from __future__ import annotations

import math

import pytest
import torch

from selrob.perturb.attacks import (
    L2Ball,
    LinfBall,
)


def test_linf_random_start_is_uniform_in_cube():
    g = torch.Generator().manual_seed(0)
    x0 = torch.full((4000, 1, 5, 5), 0.5)
    delta = LinfBall().random_start(x0, torch.tensor(0.1), g) - x0
    assert delta.abs().max() <= 0.1
    assert delta.mean().abs() < 2e-3
    assert delta.std().item() == pytest.approx(0.1 / math.sqrt(3), rel=0.02)  # uniform variance


def test_l2_random_start_is_uniform_in_ball():
    """In a d-ball, P(|delta| <= t * eps) = t^d and the direction averages to zero."""
    g = torch.Generator().manual_seed(0)
    x0 = torch.zeros(20000, 1, 1, 2)  # d = 2
    delta = L2Ball().random_start(x0, torch.tensor(0.5), g) - x0
    r = delta.flatten(1).norm(dim=1)
    assert r.max() <= 0.5 + 1e-6
    assert (r <= 0.25).float().mean().item() == pytest.approx(0.25, abs=0.015)
    assert delta.flatten(1).mean(0).abs().max() < 0.01


def test_projections_and_directions():
    x0 = torch.zeros(2, 1, 2, 2)
    x = torch.tensor([[3.0, 4.0, 0.0, 0.0], [0.1, 0.0, 0.0, 0.0]]).view(2, 1, 2, 2)
    p = L2Ball().project(x, x0, torch.tensor(1.0))
    torch.testing.assert_close(p[0].flatten(), torch.tensor([0.6, 0.8, 0.0, 0.0]))  # rescaled
    torch.testing.assert_close(p[1], x[1])  # inside: untouched
    q = LinfBall().project(x, x0, torch.tensor(0.5))
    torch.testing.assert_close(q.flatten(1)[0], torch.tensor([0.5, 0.5, 0.0, 0.0]))
    g = torch.tensor([[-2.0, 0.0, 3.0, 4.0]]).view(1, 1, 2, 2)
    torch.testing.assert_close(
        LinfBall().ascent_direction(g).flatten(), torch.tensor([-1.0, 0, 1, 1])
    )
    torch.testing.assert_close(L2Ball().ascent_direction(g).flatten().norm(), torch.tensor(1.0))
    assert torch.equal(L2Ball().ascent_direction(torch.zeros(1, 1, 2, 2)), torch.zeros(1, 1, 2, 2))
