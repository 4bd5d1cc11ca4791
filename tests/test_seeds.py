"""Every random stream of a run comes from selrob.seeds, and no two streams are seeded alike."""

from __future__ import annotations

import ast
from pathlib import Path

from selrob import seeds
from selrob.perturb.corruptions import CORRUPTIONS

SRC = Path(seeds.__file__).parent


def _all_streams(run_seeds: range, epochs: int, batches: int) -> dict[int, tuple]:
    streams: dict[int, tuple] = {}

    def add(value: int, *key: object) -> None:
        assert value not in streams, f"{key} is seeded like {streams.get(value)}"
        streams[value] = key

    for s in run_seeds:
        add(seeds.init_seed(s), "init", s)
        for e in range(epochs):
            add(seeds.epoch_seed(s, e), "epoch", s, e)
        for purpose in ("evaluation", "dimensionality"):
            add(seeds.attack_seed(s, purpose), "attack", s, purpose)
        add(seeds.gradient_units_seed(s), "gradient units", s)
        add(seeds.feature_subset_seed(s), "feature subset", s)
        for name in CORRUPTIONS:
            for sev in (1, 2, 3, 4, 5):
                for b in range(batches):
                    add(seeds.corruption_seed(s, name, sev, b), "corruption", s, name, sev, b)
                    add(
                        seeds.pooled_corruption_seed(s, name, sev, b * 64),
                        "pooled",
                        s,
                        name,
                        sev,
                        b,
                    )
    return streams


def test_streams_are_deterministic_and_distinct() -> None:
    a = _all_streams(range(4), epochs=12, batches=6)
    assert a == _all_streams(range(4), epochs=12, batches=6)
    assert all(0 <= v < 2**63 for v in a)


RUN_LEVEL = ["train.py", "experiment", "sweep", "cli", "perturb/corruptions/export.py",
             "analysis/corruption_robustness.py"]  # fmt: skip


def test_run_level_code_seeds_generators_only_from_seeds() -> None:
    """In the code that runs an experiment, every ``manual_seed(...)`` takes a selrob.seeds value.

    (Library functions called without a generator fall back to a documented seed 0; that is a
    default for users, not a stream of a run.)
    """
    offenders = []
    files = [p for entry in RUN_LEVEL for p in ([SRC / entry] if entry.endswith(".py")
                                                 else sorted((SRC / entry).rglob("*.py")))]  # fmt: skip
    for path in files:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "manual_seed":
                arg = node.args[0] if node.args else None
                ok = isinstance(arg, ast.Call) and isinstance(arg.func, ast.Attribute | ast.Name)
                name = ast.unparse(arg.func) if ok else ""
                if not (ok and name.endswith("_seed")):
                    offenders.append(f"{path.relative_to(SRC)}:{node.lineno} {ast.unparse(node)}")
    assert not offenders, offenders
