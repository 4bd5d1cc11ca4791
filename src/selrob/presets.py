"""Named default settings: per dataset/model training recipes, and sweep profiles.

Training recipes (PAPER.md, recalled from the companion paper's appendix, Leavitt & Morcos
2020b "Selectivity considered harmful", Appendix A.1; the *(check)* items could not be verified
against the text from here and are the standard recipes for these models):

* ResNet20 / CIFAR-10: SGD momentum 0.9, lr 0.1, batch 256, 200 epochs, lr x0.1 at epochs 100
  and 150, weight decay 5e-4 *(check)*, crop + flip augmentation.
* ResNet18 / Tiny ImageNet: SGD momentum 0.9, lr 0.1, 90 epochs, lr x0.1 at 35, 50, 65, weight
  decay 1e-4, crop + flip. The paper used large batches (up to 4096) with warm-up on many GPUs;
  our default is batch 256 with no warm-up, which fits one GPU (set ``batch_size`` and
  ``warmup_epochs`` to match the paper on a cluster).
* Fashion-MNIST / MNIST (selrob's offline default, not in the paper): 5 epochs, batch 128,
  lr 0.05, cosine schedule, weight decay 5e-4, no augmentation -- about 91% test accuracy for
  resnet20 on 2 CPU cores in minutes.
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

# The alpha grids the paper reports (PAPER.md): ResNet20/CIFAR-10 spans the widest range;
# ResNet18/Tiny ImageNet the middle of it.
ALPHAS_RESNET20_CIFAR10 = (
    -100.0, -30.0, -10.0, -5.0, -2.0, -1.0, -0.7, -0.4, -0.3, -0.2, -0.1,
    0.0, 0.1, 0.2, 0.3, 0.4, 0.7, 1.0, 2.0, 5.0, 10.0, 30.0, 100.0,
)  # fmt: skip
ALPHAS_RESNET18_TINYIMAGENET = (
    -2.0,
    -1.0,
    -0.7,
    -0.4,
    -0.3,
    -0.2,
    -0.1,
    0.0,
    0.1,
    0.2,
    0.3,
    0.4,
    0.7,
    1.0,
    2.0,
)


def resolve(spec: TrainSpec) -> TrainSpec:
    """Fill every ``None`` field of ``spec`` from the dataset's recipe."""
    recipe = RECIPES.get(spec.dataset, _FAST)
    updates = {k: v for k, v in recipe.items() if getattr(spec, k) is None}
    if spec.schedule == "cosine" and spec.milestones is None:
        updates["milestones"] = ()
    return dataclasses.replace(spec, **updates)
