"""The training loop: ``loss = CE - alpha * mu_SI`` (selectivity on the minibatch).

Short and linear on purpose (nanoGPT / open_lth style). Resumable: a checkpoint is written
atomically after every epoch with model, optimizer, epoch and RNG state; the data order of
epoch ``e`` comes from a generator seeded by ``(seed, e)``, so a resumed run replays exactly
the batches an uninterrupted run would have seen and ends with the same weights.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from tqdm.auto import tqdm

from selrob import paths
from selrob.config import TrainSpec
from selrob.data import ImageDataset, batches, dataset_info, load_dataset
from selrob.errors import InvalidArgument, RunFailed
from selrob.io import save_torch_atomic
from selrob.models import build_model
from selrob.models.common import eval_mode
from selrob.selectivity import SelectivityAccumulator, regularized_loss
from selrob.units import UnitRecorder

log = logging.getLogger(__name__)


def epoch_generator(seed: int, epoch: int) -> torch.Generator:
    """The generator that fixes data order and augmentation of one epoch."""
    return torch.Generator().manual_seed(seed * 1_000_003 + epoch)


def make_model(spec: TrainSpec, seed: int | None = None) -> torch.nn.Module:
    """Build the spec's model with initialisation fixed by the seed (global RNG forked, not touched)."""
    info = dataset_info(spec.dataset)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(spec.seed if seed is None else seed)
        return build_model(
            spec.model,
            info.channels,
            info.num_classes,
            width=spec.width,
            mean=info.mean,
            std=info.std,
        )


def lr_factor(spec: TrainSpec, epoch: int) -> float:
    """Multiplier of the peak lr during (0-based) ``epoch``: warm-up, then step or cosine."""
    if epoch < spec.warmup_epochs:
        return (epoch + 1) / (spec.warmup_epochs + 1)
    if spec.schedule == "cosine":
        span = max(1, spec.epochs - spec.warmup_epochs)  # type: ignore[operator]
        return 0.5 * (1 + math.cos(math.pi * (epoch - spec.warmup_epochs) / span))
    if spec.schedule == "step":
        return 0.1 ** sum(epoch >= m for m in (spec.milestones or ()))
    raise InvalidArgument(f"unknown schedule {spec.schedule!r}; choose step or cosine")


@torch.no_grad()
def evaluate_model(
    model: torch.nn.Module,
    ds: ImageDataset,
    batch_size: int,
    device: torch.device,
    units: str = "default",
) -> tuple[float, float, dict[str, float]]:
    """(accuracy, network selectivity, per-layer selectivity) over ``ds`` in eval mode."""
    acc = SelectivityAccumulator(ds.num_classes)
    correct = 0
    with eval_mode(model), UnitRecorder(model, units) as rec:
        for x, y in batches(ds, batch_size, device=device):
            correct += int((model(x).argmax(1) == y).sum())
            acc.update(rec.acts, y)
    mean, per_layer = acc.summary()
    return correct / len(ds), mean, per_layer


def train(
    spec: TrainSpec,
    run_dir: Path,
    device: torch.device,
    data_dir: str | None = None,
    progress: bool = False,
    on_epoch: Callable[[dict[str, Any]], None] | None = None,
    stop_after: int | None = None,
) -> list[dict[str, Any]]:
    """Train ``spec`` (resolved: no None fields) in ``run_dir``; resume from its checkpoint.

    ``on_epoch`` receives the epoch records so far after each epoch (the caller persists them);
    ``stop_after`` stops after that many epochs in total (used to test resumption).
    Raises RunFailed if the loss becomes non-finite.
    """
    train_ds = load_dataset(spec.dataset, "train", data_dir).subset(spec.limit_train)
    test_ds = load_dataset(spec.dataset, "test", data_dir).subset(spec.limit_test)
    model = make_model(spec).to(device)
    opt = torch.optim.SGD(
        model.parameters(), lr=spec.lr, momentum=spec.momentum, weight_decay=spec.weight_decay
    )  # type: ignore[arg-type]
    records: list[dict[str, Any]] = []
    start = 0
    ckpt_path = paths.checkpoint_file(run_dir)
    if ckpt_path.exists():
        ckpt = torch.load(ckpt_path, map_location=device, weights_only=True)
        model.load_state_dict(ckpt["model"])
        opt.load_state_dict(ckpt["optimizer"])
        start, records = int(ckpt["epoch"]), list(ckpt["records"])
        log.info("resuming %s from epoch %d", run_dir.name, start)
    end = spec.epochs if stop_after is None else min(spec.epochs, stop_after)  # type: ignore[type-var]
    bar = tqdm(
        range(start, end),
        desc=f"alpha={spec.alpha:g} seed={spec.seed}",
        unit="epoch",
        disable=not progress,
        initial=start,
        total=spec.epochs,
        leave=False,
    )
    for epoch in bar:
        t0 = time.perf_counter()
        for group in opt.param_groups:
            group["lr"] = spec.lr * lr_factor(spec, epoch)  # type: ignore[operator]
        gen = epoch_generator(spec.seed, epoch)
        model.train()
        sums = torch.zeros(4, dtype=torch.float64)  # loss, ce, si, correct
        n = 0
        with UnitRecorder(model, spec.units) as rec:
            for x, y in batches(
                train_ds,
                spec.batch_size,
                shuffle=True,
                augment=bool(spec.augment),
                generator=gen,
                device=device,
            ):  # type: ignore[arg-type]
                logits = model(x)
                loss, ce, si, _ = regularized_loss(logits, y, rec.acts, spec.alpha)
                if not torch.isfinite(loss):
                    raise RunFailed(
                        f"non-finite loss at epoch {epoch + 1} (alpha={spec.alpha}); lower |alpha| or the learning rate"
                    )
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                b = y.shape[0]
                sums += torch.tensor(
                    [
                        loss.item() * b,
                        ce.item() * b,
                        si.item() * b,
                        (logits.argmax(1) == y).sum().item(),
                    ],
                    dtype=torch.float64,
                )
                n += b
        test_acc, sel_mean, sel_layers = evaluate_model(model, test_ds, 512, device, spec.units)
        records.append(
            {
                "epoch": epoch + 1,
                "lr": opt.param_groups[0]["lr"],
                "train_loss": sums[0].item() / n,
                "train_ce": sums[1].item() / n,
                "selectivity_term": sums[2].item() / n,
                "train_accuracy": sums[3].item() / n,
                "test_accuracy": test_acc,
                "selectivity_per_layer": sel_layers,
                "mean_selectivity": sel_mean,
                "seconds": time.perf_counter() - t0,
            }
        )
        bar.set_postfix(acc=f"{test_acc:.3f}", si=f"{sel_mean:.3f}")
        state = {
            "model": model.state_dict(),
            "optimizer": opt.state_dict(),
            "epoch": epoch + 1,
            "records": records,
            "rng": torch.get_rng_state(),
        }
        save_torch_atomic(state, ckpt_path)
        if on_epoch is not None:
            on_epoch(records)
    bar.close()
    return records
