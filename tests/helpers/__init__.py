"""Test helpers shared across the tree: data writers, images, models, oracles, fake runs."""
