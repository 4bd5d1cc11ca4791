"""Accuracy under white-box attack as a function of epsilon (the paper's worst-case curves).

:func:`adversarial_accuracy` returns tidy records ``{"attack", "norm", "epsilon", "accuracy",
"n"}`` (the ``evaluation.attacks`` rows of docs/metrics-schema.md); it writes nothing.
:func:`default_epsilons` gives the epsilon grid per dataset and norm.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence

import torch
from torch import Tensor, nn

from selrob.data import DATASETS, to_float
from selrob.errors import InvalidArgument
from selrob.models.common import eval_mode, model_device
from selrob.models.fold import frozen_for
from selrob.perturb.attacks import ATTACKS, BALLS
from selrob.perturb.attacks import attack as run_attack

__all__ = ["adversarial_accuracy", "default_epsilons"]


def default_epsilons(dataset: str, norm: str) -> list[float]:
    """The epsilon grid (pixel units, ascending, starting at 0) for ``dataset`` and ``norm``.

    The grids live with the datasets (:data:`selrob.data.DATASETS`); ``docs/method.md`` gives
    their sources (the paper's small L-inf radii for CIFAR-10 / Tiny ImageNet, a measured grid
    for Fashion-MNIST). Raises UnknownName for an unknown dataset or norm.
    """
    grids = DATASETS.get(dataset).epsilons
    BALLS.get(norm)  # a bad norm gets its own message
    return list(grids[norm])


def _as_float_images(x: Tensor) -> Tensor:
    if x.dtype == torch.uint8:
        return to_float(x, x.device)
    if not x.is_floating_point():
        raise InvalidArgument(f"images have dtype {x.dtype}; pass uint8 or float in [0, 1]")
    return x


def _batches(
    data: tuple[Tensor, Tensor] | Iterable[tuple[Tensor, Tensor]], batch_size: int
) -> Iterator[tuple[Tensor, Tensor]]:
    """Yield (x float in [0, 1], y) batches from a pair of tensors or an iterable of batches."""
    if (
        isinstance(data, (tuple, list))
        and len(data) == 2
        and all(isinstance(t, Tensor) for t in data)
    ):
        x, y = data
        if x.dim() < 2 or y.dim() != 1 or x.shape[0] != y.shape[0]:
            raise InvalidArgument("pass (x (N, C, H, W), y (N,)) with matching N")
        for i in range(0, x.shape[0], batch_size):
            yield _as_float_images(x[i : i + batch_size]), y[i : i + batch_size]
        return
    for batch in data:
        x, y = batch[0], batch[1]
        yield _as_float_images(x), y


def _n_batches(data: object, batch_size: int) -> int | None:
    if (
        isinstance(data, (tuple, list))
        and len(data) == 2
        and all(isinstance(t, Tensor) for t in data)
    ):
        return -(-data[0].shape[0] // batch_size)
    try:
        return len(data)  # type: ignore[arg-type]
    except TypeError:
        return None


def adversarial_accuracy(
    model: nn.Module,
    data: tuple[Tensor, Tensor] | Iterable[tuple[Tensor, Tensor]],
    attack: str,
    epsilons: Sequence[float],
    norm: str = "linf",
    steps: int = 10,
    step_size: float | Sequence[float] | None = None,
    restarts: int = 1,
    batch_size: int = 256,
    generator: torch.Generator | None = None,
    device: torch.device | str | None = None,
    progress: bool = False,
) -> list[dict]:
    """Test accuracy under ``attack`` ("fgsm" or "pgd") at every epsilon, one record each.

    Args:
        model: classifier on (N, C, H, W) images in [0, 1] (normalisation inside the model).
        data: ``(x, y)`` tensors (x uint8 in [0, 255] or float in [0, 1]; split into
            ``batch_size`` batches) or an iterable of ``(x, y)`` batches (e.g. a DataLoader).
        epsilons: radii in pixel units (e.g. ``default_epsilons("cifar10", "linf")``).
        norm: "linf" or "l2".
        steps, step_size, restarts: PGD settings (ignored by FGSM); ``step_size=None`` is the
            relative rule 2.5 * eps / steps (Madry et al. 2018) per epsilon.
        generator: random starts of PGD (None: a fresh generator seeded with 0).
        device: where to run; None uses the device of the model's parameters.
        progress: show a tqdm bar (counts epsilon x batch units).
    Returns:
        ``[{"attack", "norm", "epsilon", "accuracy", "n"}, ...]`` in the order of ``epsilons``
        (duplicates dropped); accuracy is a fraction in [0, 1] over ``n`` examples.
    """
    ATTACKS.get(attack)
    BALLS.get(norm)
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise InvalidArgument(f"batch_size={batch_size!r} must be an integer >= 1")
    eps_list = list(dict.fromkeys(float(e) for e in epsilons))
    if device is None:
        device = model_device(model)
    if generator is None:
        generator = torch.Generator().manual_seed(0)
    correct = dict.fromkeys(eps_list, 0)
    total = 0
    net: nn.Module | None = None
    bar = None
    if progress:
        from tqdm.auto import tqdm

        n = _n_batches(data, batch_size)
        bar = tqdm(
            total=None if n is None else n * len(eps_list),
            desc=f"{attack}-{norm}",
            unit="eps-batch",
        )
    for x, y in _batches(data, batch_size):
        x, y = x.to(device), y.to(device)
        advs = run_attack(
            model,
            x,
            y,
            attack,
            eps_list,
            norm=norm,
            steps=steps,
            step_size=step_size,
            restarts=restarts,
            generator=generator,
        )
        if net is None:  # predictions only: a frozen BN-folded copy, built once
            net = frozen_for(model, x)
        with torch.no_grad(), eval_mode(net):
            pred = net(torch.cat([advs[e] for e in eps_list])).argmax(1).view(len(eps_list), -1)
        for k, e in enumerate(eps_list):
            correct[e] += int((pred[k] == y).sum())
        total += y.shape[0]
        if bar is not None:
            bar.update(len(eps_list))
    if bar is not None:
        bar.close()
    if total == 0:
        raise InvalidArgument("no examples to attack; pass a non-empty (x, y) or data loader")
    return [
        {"attack": attack, "norm": norm, "epsilon": e, "accuracy": correct[e] / total, "n": total}
        for e in eps_list
    ]
