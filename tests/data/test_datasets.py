"""The dataset registry, and every dataset-keyed table agreeing with it."""

from __future__ import annotations

import pytest

from selrob import paths, presets
from selrob.data import DATASETS, load_dataset
from selrob.errors import UnknownName
from selrob.perturb.attacks import BALLS


def test_registry_and_info() -> None:
    assert DATASETS.get("cifar10").augment and not DATASETS.get("fashion-mnist").augment
    with pytest.raises(UnknownName, match="fashion-mnist"):
        load_dataset("imagenet", "train")


def test_every_dataset_keyed_table_covers_the_registry():
    """Adding a dataset means one DatasetInfo; these tables must name exactly the same datasets."""
    names = set(DATASETS.names())
    assert names <= set(presets.RECIPES)
    assert names <= set(paths.DEFAULT_DATA_DIRS)
    for name in names:
        info = DATASETS.get(name)
        assert set(info.epsilons) == set(BALLS.names()), name
        assert callable(info.loader) and callable(info.load_corrupted)
        assert len(info.mean) == len(info.std) == info.channels
