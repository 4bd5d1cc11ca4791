"""Golden test: each corruption's mean L2 distance from clean per severity, within 10%.

The golden table ``golden_l2.json`` (beside this file) was measured once with this
module's :func:`measure` on fixed seeded synthetic batches (smooth random images, 32 x 32 RGB
and 28 x 28 grey). A change that moves any entry by more than 10% fails here: if the change is
intended, regenerate with ``SELROB_REGEN_GOLDEN=1 pytest tests/perturb/corruptions/test_golden.py`` (or
``python tests/perturb/corruptions/test_golden.py``) and commit the JSON with the change.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from selrob.perturb import corruptions as C

GOLDEN = Path(__file__).with_name("golden_l2.json")


REL_TOL = 0.10


BATCHES = {"rgb32": (3, 32), "gray28": (1, 28)}  # name -> (channels, size)


N_IMAGES = 8


IMAGE_SEED = 20201015


NOISE_SEED = 7


def golden_batch(channels: int, size: int) -> torch.Tensor:
    """(8, C, size, size) smooth images in [0, 1]: bilinear upsampling of seeded 7x7 noise."""
    g = torch.Generator().manual_seed(IMAGE_SEED + channels * 1000 + size)
    small = torch.rand(N_IMAGES, channels, 7, 7, generator=g, dtype=torch.float64)
    x = F.interpolate(small, size=(size, size), mode="bilinear", align_corners=False)
    return x.float()


def measure(name: str, channels: int, size: int) -> list[float]:
    """Mean over the golden batch of ||corrupt(x) - x||_2 (per image, [0, 1] units), sev 1..5."""
    x = golden_batch(channels, size)
    out = []
    for s in C.SEVERITIES:
        y = C.corrupt(x, name, s, torch.Generator().manual_seed(NOISE_SEED + s))
        out.append(round(float((y - x).double().flatten(1).norm(dim=1).mean()), 6))
    return out


def regenerate(path: Path = GOLDEN) -> dict:
    """Measure every available corruption on every golden batch and write the JSON table."""
    table: dict = {
        "description": "mean L2 distance from clean per severity 1..5; see "
        "tests/perturb/corruptions/test_golden.py",
        "torch": torch.__version__,
        "batches": {},
    }
    for batch, (channels, size) in BATCHES.items():
        table["batches"][batch] = {
            name: measure(name, channels, size) for name in C.corruptions_for(channels)
        }
    path.write_text(json.dumps(table, indent=1, sort_keys=True) + "\n")
    return table


def _cases():
    for batch, (channels, _) in BATCHES.items():
        for name in C.corruptions_for(channels):
            yield pytest.param(batch, name, id=f"{batch}-{name}")


@pytest.fixture(scope="module")
def golden() -> dict:
    if os.environ.get("SELROB_REGEN_GOLDEN") == "1":
        return regenerate()
    return json.loads(GOLDEN.read_text())


@pytest.mark.parametrize(("batch", "name"), list(_cases()))
def test_matches_golden(golden, batch, name):
    stored = golden["batches"][batch].get(name)
    assert stored is not None, (
        f"no golden values for {name} on {batch}; run SELROB_REGEN_GOLDEN=1 pytest {__file__}"
    )
    channels, size = BATCHES[batch]
    got = measure(name, channels, size)
    for s, (g, w) in enumerate(zip(got, stored, strict=True), start=1):
        assert g == pytest.approx(w, rel=REL_TOL), f"{name} severity {s}: {got} vs {stored}"


def test_golden_covers_all_corruptions(golden):
    assert set(golden["batches"]["rgb32"]) == set(C.CORRUPTIONS)
    assert set(golden["batches"]["gray28"]) == set(C.corruptions_for(1))


if __name__ == "__main__":
    regenerate()
    sys.stdout.write(f"wrote {GOLDEN}\n")
