"""Sweep files: parsing, errors that name the key and its line, the packaged sweeps."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from selrob.config import EvalSpec, TrainSpec
from selrob.errors import InvalidArgument, UnknownName
from selrob.sweep import (
    BUILTIN_SWEEPS,
    Sweep,
    builtin_sweep,
    load_sweep,
    resolve_sweep_path,
    sweep_from_dict,
)

# A tiny sweep: small_cnn on the 512-image synthetic Fashion-MNIST, clean evaluation only.


def _write(tmp_path: Path, body: str) -> Path:
    p = tmp_path / "grid.toml"
    p.write_text(textwrap.dedent(body).lstrip("\n"))
    return p


# The paper's alpha grids (Leavitt & Morcos 2020): ResNet20 / CIFAR-10 spans the widest range,
# ResNet18 / Tiny ImageNet the middle of it (docs/method.md).
ALPHAS_RESNET20_CIFAR10 = (
    -100.0, -30.0, -10.0, -5.0, -2.0, -1.0, -0.7, -0.4, -0.3, -0.2, -0.1,
    0.0, 0.1, 0.2, 0.3, 0.4, 0.7, 1.0, 2.0, 5.0, 10.0, 30.0, 100.0,
)  # fmt: skip
ALPHAS_RESNET18_TINYIMAGENET = (
    -2.0, -1.0, -0.7, -0.4, -0.3, -0.2, -0.1, 0.0, 0.1, 0.2, 0.3, 0.4, 0.7, 1.0, 2.0,
)  # fmt: skip


def test_valid_file_gives_seed_major_grid(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        """
        # a comment
        alphas = [-1, 0.5, 2]
        seeds = [3, 5]
        dataset = "fashion-mnist"
        model = "small_cnn"
        epochs = 4
        milestones = [1, 2]
        augment = true
        limit_test = 50
        corruptions = ["gaussian_noise", "fog"]
        severities = "1-3"
        attacks = "fgsm,pgd"
        epsilons = [0.0, 0.01]
        """,
    )
    sweep = load_sweep(path)
    assert sweep.name == "grid"
    assert [(s.seed, s.alpha) for s in sweep.runs()] == [
        (3, -1.0),
        (3, 0.5),
        (3, 2.0),
        (5, -1.0),
        (5, 0.5),
        (5, 2.0),
    ]
    spec = sweep.runs()[0]
    assert (
        isinstance(spec.alpha, float)
        and spec.epochs == 4
        and spec.milestones == (1, 2)
        and spec.augment is True
    )
    assert spec.limit_test == 50 and sweep.eval_spec.limit_test == 50  # limit_test sets both specs
    assert sweep.eval_spec == EvalSpec(
        limit_test=50,
        corruptions=("gaussian_noise", "fog"),
        severities=(1, 2, 3),
        attacks=("fgsm", "pgd"),
        epsilons=(0.0, 0.01),
    )
    assert sweep_from_dict(sweep.to_dict()) == sweep  # the sweep.json form round-trips


def test_seeds_as_int_and_defaults(tmp_path: Path) -> None:
    sweep = load_sweep(_write(tmp_path, 'name = "mine"\nalphas = [0]\nseeds = 3\n'))
    assert sweep.seeds == (0, 1, 2) and sweep.name == "mine"
    assert sweep.base == TrainSpec() and sweep.eval_spec == EvalSpec()
    assert [s.seed for s in sweep.runs()] == [0, 1, 2]


@pytest.mark.parametrize(
    "body,line,match",
    [
        ("alphas = [0]\nseeds = 1\n\nalpah = 3\n", 4, "unknown key 'alpah'; valid keys: alphas,"),
        (
            "alphas = [0]\nalpha = 1.0\nseeds = 1\n",
            2,
            "unknown key 'alpha' (a sweep takes 'alphas'",
        ),
        ('alphas = [0]\nseeds = 1\nepochs = "three"\n', 3, "key 'epochs' expects an integer"),
        ("alphas = [0]\nseeds = 1\n  epochs = 2.5\n", 3, "key 'epochs' expects an integer"),
        ("alphas = [0]\nseeds = 1\naugment = 1\n", 3, "key 'augment' expects true or false"),
        (
            "alphas = [0]\nseeds = 1\nattacks = [1, 2]\n",
            3,
            "key 'attacks' expects a list of strings",
        ),
        ("seeds = 1\nalphas = []\n", 2, "alpha grid is empty"),
        ("seeds = 1\nalphas = 0.5\n", 2, "key 'alphas' expects a list of numbers"),
        ('seeds = 1\nalphas = [0, "x"]\n', 2, "key 'alphas' expects finite numbers"),
        ("seeds = 1\nalphas = [1, 0, 1]\n", 2, "alphas lists 1.0 more than once"),
        ("alphas = [0]\nseeds = 0\n", 2, "seeds = 0 gives no runs"),
        ("alphas = [0]\nseeds = [-1]\n", 2, "non-negative integers"),
        ("alphas = [0]\nseeds = 1\n[train]\nepochs = 3\n", 3, "unknown key 'train'"),
    ],
)
def test_bad_entries_name_key_and_line(tmp_path: Path, body: str, line: int, match: str) -> None:
    path = _write(tmp_path, body)
    with pytest.raises(InvalidArgument) as e:
        load_sweep(path)
    msg = str(e.value)
    assert msg.startswith(f"{path}:{line}: "), msg
    assert match in msg and "\n" not in msg


def test_malformed_toml_missing_keys_and_missing_file(tmp_path: Path) -> None:
    with pytest.raises(InvalidArgument, match=r"not valid TOML: .*line 2, column"):
        load_sweep(_write(tmp_path, "alphas = [0]\nseeds = \n"))
    with pytest.raises(InvalidArgument, match="missing key 'seeds'; add e.g. seeds = 3"):
        load_sweep(_write(tmp_path, "alphas = [0]\n"))
    with pytest.raises(InvalidArgument, match="no sweep file .*built-in sweep"):
        load_sweep(tmp_path / "absent.toml")
    with pytest.raises(InvalidArgument, match="^sweep: unknown key 'bogus'"):
        sweep_from_dict({"alphas": [0], "seeds": 1, "bogus": 1})
    with pytest.raises(InvalidArgument, match="limit_test differs"):
        Sweep(TrainSpec(limit_test=5), EvalSpec(), (0.0,), (0,))


def test_builtin_sweeps() -> None:
    sweeps = {name: load_sweep(builtin_sweep(name)) for name in BUILTIN_SWEEPS}
    demo = sweeps["demo"]
    assert demo.base.dataset == "fashion-mnist" and demo.base.model == "resnet20"
    # the demo is a smoke test (docs/reproduction.md has the converged-scale run): the
    # baseline alpha = 0 and raised selectivity alpha = 2, two seeds for a confidence interval
    assert 0.0 in demo.alphas and 2.0 in demo.alphas
    assert demo.seeds == (0, 1) and demo.eval_spec.severities == (1, 2, 3, 4, 5)
    assert demo.eval_spec.attacks == ("fgsm", "pgd") and demo.eval_spec.corruptions == ("all",)
    assert demo.base.limit_test == demo.eval_spec.limit_test is not None  # both specs get it
    rep = sweeps["reproduce"]  # the converged-scale profile: issue-sized, checked here
    assert len(rep.alphas) >= 7 and min(rep.alphas) <= -5 and max(rep.alphas) >= 2
    assert len(rep.seeds) >= 4 and rep.base.limit_test is None  # clean + corruptions on all 10k
    assert rep.eval_spec.corruptions == ("all",) and rep.eval_spec.severities == (1, 2, 3, 4, 5)
    assert min(rep.eval_spec.attack_samples, rep.eval_spec.analysis_samples,
               rep.eval_spec.gradient_samples) >= 2000  # fmt: skip
    c10, tin = sweeps["paper-cifar10"], sweeps["paper-tinyimagenet"]
    assert c10.alphas == ALPHAS_RESNET20_CIFAR10 and len(c10.seeds) == 20 and c10.base.epochs == 200
    assert (c10.base.dataset, c10.base.model, c10.base.milestones) == (
        "cifar10",
        "resnet20",
        (100, 150),
    )
    assert (
        tin.alphas == ALPHAS_RESNET18_TINYIMAGENET and len(tin.seeds) == 5 and tin.base.epochs == 90
    )
    assert (tin.base.dataset, tin.base.model, tin.base.milestones) == (
        "tinyimagenet",
        "resnet18",
        (35, 50, 65),
    )
    for s in (c10, tin):
        assert s.eval_spec.limit_test is None and s.eval_spec.analyses == (
            "dimensionality",
            "gradients",
        )
    assert resolve_sweep_path("demo") == builtin_sweep("demo")
    with pytest.raises(UnknownName, match="choose one of: demo, paper-cifar10"):
        builtin_sweep("paper-imagenet")


def test_variants_cross_the_grid_and_round_trip(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        """
        alphas = [0.0, 1.0]
        seeds = 2
        model = "small_cnn"

        [[variants]]
        train_mode = "standard"

        [[variants]]
        train_mode = "adversarial"
        at_steps = 3

        [[variants]]
        train_mode = "corruptions"
        hold_out = ["noise"]
    """,
    )
    sweep = load_sweep(path)
    runs = sweep.runs()
    assert len(runs) == 2 * 2 * 3 and len({(r.train_mode, r.alpha, r.seed) for r in runs}) == 12
    assert [(r.train_mode, r.alpha) for r in runs[:6]] == [
        ("standard", 0.0), ("standard", 1.0), ("adversarial", 0.0), ("adversarial", 1.0),
        ("corruptions", 0.0), ("corruptions", 1.0)]  # fmt: skip
    assert all(r.seed == 0 for r in runs[:6]) and runs[2].at_steps == 3
    assert runs[4].hold_out == ("noise",) and runs[0].model == "small_cnn"
    assert sweep_from_dict(sweep.to_dict()) == sweep
    robust = load_sweep(builtin_sweep("robust-training"))
    assert {r.train_mode for r in robust.runs()} == {"standard", "adversarial", "corruptions"}
    assert len(robust.seeds) >= 2


@pytest.mark.parametrize(
    ("variants", "match"),
    [
        ("[[variants]]\ncorruptions = 'all'\n", "training fields only, not 'corruptions'"),
        ("[[variants]]\nalpha = 1.0\n", "training fields only, not 'alpha'"),
        ("variants = [1, 2]\n", "expects a list of non-empty tables"),
        ("[[variants]]\ntrain_mode = 'noise'\n[[variants]]\ntrain_mode = 'noise'\n",
         "two variants are the same recipe"),
        ("[[variants]]\ntrain_mode = 'mixup'\n", "train_mode"),
    ],
)  # fmt: skip
def test_bad_variants_are_one_clear_line(tmp_path: Path, variants: str, match: str) -> None:
    path = _write(tmp_path, "alphas = [0.0]\nseeds = 1\n" + variants)
    with pytest.raises(InvalidArgument, match=match):
        load_sweep(path)
