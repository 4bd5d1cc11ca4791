"""Training recipes per dataset: the values a ``TrainSpec`` field left at ``None`` takes.

Where each recipe comes from, and which of its settings could not be verified against the
paper, is in ``docs/method.md`` ("Training recipes"). In short: the CIFAR-10 and Tiny
ImageNet recipes are the companion paper's (Leavitt & Morcos 2020b, Appendix A.1) as far as
it could be checked, with batch 256 and no warm-up for Tiny ImageNet so it fits one GPU; the
Fashion-MNIST / MNIST recipe is selrob's own offline default (5 epochs, batch 128, lr 0.05,
cosine, weight decay 5e-4, no augmentation). The paper's alpha grids live in the packaged
sweeps (``sweep/builtin/paper-*.toml``).
"""

from __future__ import annotations

import dataclasses
from typing import Any

from selrob.config import TrainSpec

_FAST = {
    "epochs": 5,
    "batch_size": 128,
    "lr": 0.05,
    "weight_decay": 5e-4,
    "schedule": "cosine",
    "milestones": (),
    "augment": False,
}
RECIPES: dict[str, dict[str, Any]] = {
    "fashion-mnist": _FAST,
    "mnist": _FAST,
    "cifar10": {
        "epochs": 200,
        "batch_size": 256,
        "lr": 0.1,
        "weight_decay": 5e-4,
        "schedule": "step",
        "milestones": (100, 150),
        "augment": True,
    },
    "tinyimagenet": {
        "epochs": 90,
        "batch_size": 256,
        "lr": 0.1,
        "weight_decay": 1e-4,
        "schedule": "step",
        "milestones": (35, 50, 65),
        "augment": True,
    },
}


AT_EPS: dict[str, float] = {"fashion-mnist": 0.1, "mnist": 0.3, "cifar10": 8 / 255,
                            "tinyimagenet": 4 / 255}  # fmt: skip
"""Default L-inf radius of adversarial training per dataset (Madry et al. 2018 used 0.3 on
MNIST and 8/255 on CIFAR-10; 0.1 on Fashion-MNIST is a common choice; 4/255 for Tiny ImageNet).
An L2 run gets 8x the radius (``at_eps`` sets it explicitly)."""


def resolve(spec: TrainSpec) -> TrainSpec:
    """Fill every ``None`` field of ``spec`` from the dataset's recipe."""
    recipe = RECIPES.get(spec.dataset, _FAST)
    updates = {k: v for k, v in recipe.items() if getattr(spec, k) is None}
    if spec.schedule == "cosine" and spec.milestones is None:
        updates["milestones"] = ()
    if spec.train_mode == "adversarial" and spec.at_eps is None:  # only then: others keep None
        eps = AT_EPS.get(spec.dataset, 8 / 255)
        updates["at_eps"] = eps * 8 if spec.at_norm == "l2" else eps
    return dataclasses.replace(spec, **updates)
