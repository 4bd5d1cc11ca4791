"""Severity is monotone (the change from clean grows with it) except where the published
parameters say otherwise; each exemption states its reason.
"""

from __future__ import annotations

import pytest
import torch
from helpers.images import (
    gen,
    load_fmnist,
    smooth_images,
)

from selrob.perturb import corruptions as C
from selrob.perturb.corruptions.tables import table_size

# Published parameters win over monotonicity (docs/corruptions.md): saturate desaturates at
# severities 1-2 and oversaturates at 3-5; elastic_transform's severity 1 at 32 px is a pure
# affine jitter that moves pixels more than severity 5's elastic field. glass_blur too: within
# each iteration count a larger sigma re-blurs the swapped pixels towards the clean image. With
# an independent numpy re-derivation of the published algorithm on 40 Fashion-MNIST test images
# (32-px table) the mean L2 distance per severity was 5.82, 5.80, 5.01, 6.95, 6.05.
# frost is x a + texture b with a falling and b nearly flat ((.9, .4), (.85, .4), (.75, .45) at
# 32 px), so wherever the frost brightens the image the change |(a - 1) x + b f| shrinks from
# severity 3 to 4 (and elsewhere, depending on image and texture brightness). spatter switches
# from water (noise std .3) at severity 3 to mud (std .1, so fewer pixels pass the same
# threshold) at 4; we saw the change drop there with part B's implementation at 28, 32, 64 px
# but have not re-derived the published spatter independently.
NON_MONOTONE = {"saturate", "elastic_transform", "glass_blur", "frost", "spatter"}


# pixelate follows Pillow's BOX (equal weights over the input pixels whose centres fall in the
# window, not area weights), so some size ratios pass many pixels through unchanged: on white
# noise at 32 px, 32 -> 30 -> 32 changes more than 32 -> 28 -> 32. It is monotone on real
# Fashion-MNIST (checked there) but not on every synthetic batch, so random images exempt it.
RANDOM_IMAGE_EXEMPT = {"pixelate"}


# motion_blur at 32 px: severities 3 and 4 are (radius 6, sigma 2) and (radius 8, sigma 2); the
# kernel taps beyond 6 px weigh exp(-36 / 8) of the first or less, so the two are ~equal.
TIES = {("motion_blur", 32): (3, 4)}


def _mean_l2(x: torch.Tensor, name: str, seed: int = 0) -> list[float]:
    out = []
    for s in range(1, 6):
        y = C.corrupt(x, name, s, gen(seed))
        out.append(float((y - x).flatten(1).norm(dim=1).mean()))
    return out


def _assert_monotone(x: torch.Tensor, channels: int, exempt: set[str]) -> None:
    failures = []
    for name in C.corruptions_for(channels):
        if name in exempt:
            continue
        d = _mean_l2(x, name)
        tie = TIES.get((name, table_size(x.shape[2])))
        for s in range(1, 5):
            ok = d[s] >= 0.999 * d[s - 1] if tie == (s, s + 1) else d[s] > d[s - 1]
            if not ok:
                failures.append((name, s, [round(v, 4) for v in d]))
    assert not failures, failures


@pytest.mark.parametrize(("size", "channels"), [(32, 3), (64, 3), (28, 1)])
def test_severity_monotone_random_images(size, channels):
    _assert_monotone(
        smooth_images(12, channels, size, seed=42), channels, NON_MONOTONE | RANDOM_IMAGE_EXEMPT
    )


@pytest.mark.data
def test_severity_monotone_fashion_mnist():
    _assert_monotone(load_fmnist(24), 1, NON_MONOTONE)


def test_saturate_is_not_monotone_as_published():
    d = _mean_l2(smooth_images(8, 3, 32, seed=1), "saturate")
    assert d[1] > d[2]  # severity 2 (S * 0.1) changes more than severity 3 (S * 1.5)
