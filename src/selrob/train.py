"""The training loop: ``loss = CE - alpha * mu_SI`` (selectivity on the minibatch).

Short and linear on purpose (nanoGPT / open_lth style): :func:`train` builds, resumes, runs the
epochs and saves. Resumable: a checkpoint (model, optimizer, epochs done, epoch records) is
written atomically after every epoch. No RNG state needs saving: the data order and
augmentation of epoch ``e`` come from a generator seeded by :func:`selrob.seeds.epoch_seed`,
so a resumed run replays exactly the batches an uninterrupted run would have seen and ends
with the same weights.
"""

from __future__ import annotations

import io
import logging
import math
import pickle
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from tqdm.auto import tqdm

from selrob import paths
from selrob.config import TrainSpec
from selrob.data import DATASETS, ImageDataset, batches, load_dataset
from selrob.enums import Precision, Schedule
from selrob.errors import DamagedRun, InvalidArgument, RunFailed
from selrob.models import build_model
from selrob.models.common import accuracy, load_tensors, peek, state_mismatch
from selrob.models.fold import frozen_for
from selrob.robust import BatchPerturbation
from selrob.seeds import epoch_seed, init_seed, train_perturbation_seed
from selrob.selectivity import SelectivityAccumulator, regularized_loss
from selrob.storage import write_bytes_atomic
from selrob.units import UnitRecorder

log = logging.getLogger(__name__)

EVAL_BATCH = 512  # batch size of the per-epoch test pass (no gradients: memory is small)


def make_model(spec: TrainSpec) -> torch.nn.Module:
    """The spec's model, initialised from :func:`~selrob.seeds.init_seed` (global RNG untouched)."""
    info = DATASETS.get(spec.dataset)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(init_seed(spec.seed))
        return build_model(spec.model, info.channels, info.num_classes, width=spec.width,
                           mean=info.mean, std=info.std)  # fmt: skip


def lr_factor(spec: TrainSpec, epoch: int) -> float:
    """Multiplier of the peak lr during (0-based) ``epoch``: warm-up, then step or cosine."""
    if epoch < spec.warmup_epochs:
        return (epoch + 1) / (spec.warmup_epochs + 1)
    if spec.schedule == Schedule.COSINE:
        span = max(1, int(spec.epochs or 1) - spec.warmup_epochs)
        return 0.5 * (1 + math.cos(math.pi * (epoch - spec.warmup_epochs) / span))
    if spec.schedule == Schedule.STEP:
        return 0.1 ** sum(epoch >= m for m in (spec.milestones or ()))
    raise InvalidArgument(f"unknown schedule {spec.schedule!r}; choose step or cosine")


@torch.no_grad()
def evaluate_model(
    model: torch.nn.Module, ds: ImageDataset, batch_size: int, device: torch.device,
    units: str = "default",
) -> tuple[float, float, dict[str, float]]:  # fmt: skip
    """(accuracy, network selectivity, per-layer selectivity) over ``ds``, in one eval pass."""
    acc = SelectivityAccumulator(ds.num_classes)
    first, data = peek(batches(ds, batch_size, device=device))
    net = frozen_for(model, first[0]) if first is not None else model  # BN folded, names kept
    with UnitRecorder(net, units) as rec:
        correct, _ = accuracy(net, data, observe=lambda _logits, y: acc.update(rec.acts, y))
    mean, per_layer = acc.summary()
    return correct, mean, per_layer


def save_checkpoint(path: Path, model: torch.nn.Module, opt: torch.optim.Optimizer,
                    epoch: int, records: list[dict[str, Any]]) -> None:  # fmt: skip
    """Atomically write weights, optimizer state, epochs done and their records."""
    buf = io.BytesIO()
    torch.save({"model": model.state_dict(), "optimizer": opt.state_dict(), "epoch": epoch,
                "records": records}, buf)  # fmt: skip
    write_bytes_atomic(path, buf.getvalue())


CHECKPOINT_KEYS = ("model", "optimizer", "epoch", "records")
_FIX = "delete the run directory (or rerun with --rerun) to retrain it"


def load_checkpoint(path: Path, device: torch.device | str) -> dict[str, Any]:
    """A checkpoint's contents, loaded with ``weights_only=True``: a file that asks to run code
    (a malicious pickle) is refused, never executed. DamagedRun names the file otherwise."""
    path = Path(path)
    if not path.is_file():
        raise DamagedRun(f"{path} is missing; {_FIX}")
    try:
        ckpt = load_tensors(path, device)
    except pickle.UnpicklingError as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise DamagedRun(f"{path}: refused to load ({first[:120]}); {_FIX}") from None
    except Exception as e:  # noqa: BLE001 - truncated zips, garbage bytes, foreign formats
        raise DamagedRun(f"{path}: not a readable checkpoint ({type(e).__name__}: "
                         f"{str(e)[:100]}); {_FIX}") from None  # fmt: skip
    if not isinstance(ckpt, dict) or not set(CHECKPOINT_KEYS) <= set(ckpt):
        raise DamagedRun(
            f"{path}: not a selrob checkpoint (it lacks {', '.join(CHECKPOINT_KEYS)}); {_FIX}"
        )
    return ckpt


def load_weights(model: torch.nn.Module, state: dict[str, Any], path: Path) -> None:
    """``model.load_state_dict(state)``; DamagedRun naming at most 5 missing, unexpected and
    mis-shaped tensors when the checkpoint does not fit the spec's model."""
    why = state_mismatch(model, state)
    if why:
        raise DamagedRun(f"{path} does not fit the spec's model ({why}); {_FIX}")
    model.load_state_dict(state)


def _train_epoch(model: torch.nn.Module, opt: torch.optim.Optimizer, spec: TrainSpec,
                 data: ImageDataset, epoch: int, device: torch.device,
                 perturb: BatchPerturbation) -> dict[str, float]:  # fmt: skip
    """One epoch; returns the means of loss, CE, minibatch selectivity and accuracy (on the
    batches as trained on: perturbed ones under robustness training).

    Sums stay on the device (one host sync per epoch, at the end), so a non-finite loss is
    detected at the end of its epoch, before any checkpoint of that epoch is written.
    """
    gen = torch.Generator().manual_seed(epoch_seed(spec.seed, epoch))
    perturb_gen = torch.Generator().manual_seed(train_perturbation_seed(spec.seed, epoch))
    sums = torch.zeros(4, dtype=torch.float64, device=device)  # b * (loss, ce, si), correct
    finite = torch.ones((), dtype=torch.bool, device=device)
    n = 0
    model.train()
    layout = torch.channels_last if spec.channels_last else torch.contiguous_format
    bf16 = spec.train_precision == Precision.BFLOAT16
    with UnitRecorder(model, spec.units) as rec:
        for x, y in batches(data, int(spec.batch_size or 1), shuffle=True,
                            augment=bool(spec.augment), generator=gen, device=device):  # fmt: skip
            x = perturb(model, x, y, perturb_gen)  # the clean batch unless robustness training
            with torch.autocast(device.type, torch.bfloat16, enabled=bf16):
                logits = model(x.contiguous(memory_format=layout))
            if bf16:  # loss and selectivity in float32 (the unit means are small differences)
                logits, acts = logits.float(), {k: a.float() for k, a in rec.acts.items()}
            else:
                acts = rec.acts
            loss, ce, si, _ = regularized_loss(logits, y, acts, spec.alpha)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            b = y.shape[0]
            finite &= torch.isfinite(loss.detach())
            terms = torch.stack([loss.detach(), ce.detach(), si.detach()]).double() * b
            sums[:3] += terms  # per-example sums in float64, as the mean over the epoch needs
            sums[3] += (logits.argmax(1) == y).sum()
            n += b
    if not bool(finite):  # the one host sync of the epoch
        raise RunFailed(f"non-finite loss at epoch {epoch + 1} (alpha={spec.alpha}); "
                        "lower |alpha| or the learning rate")  # fmt: skip
    loss_sum, ce_sum, si_sum, correct = (v / n for v in sums.tolist())
    return {"train_loss": loss_sum, "train_ce": ce_sum, "selectivity_term": si_sum,
            "train_accuracy": correct}  # fmt: skip


def train(spec: TrainSpec, run_dir: Path, device: torch.device, data_dir: str | None = None, *,
          progress: bool = False,
          on_epoch: Callable[[list[dict[str, Any]]], None] | None = None) -> list[dict[str, Any]]:  # fmt: skip
    """Train ``spec`` (resolved: no preset None left) in ``run_dir``, resuming from its checkpoint.

    ``on_epoch`` receives the epoch records so far after each epoch (the caller persists them).
    Raises RunFailed if the loss becomes non-finite.
    """
    train_ds = load_dataset(spec.dataset, "train", data_dir).subset(spec.limit_train)
    if device.type == "cuda":  # the training set lives on the GPU; batches are the same
        train_ds = train_ds.to(device)
    test_ds = load_dataset(spec.dataset, "test", data_dir).subset(spec.limit_test)
    perturb = BatchPerturbation(spec, train_ds.images.shape[1])
    model = make_model(spec).to(device)
    if spec.channels_last:  # the convolutions' fast layout on CPU (oneDNN); numerics differ
        model = model.to(memory_format=torch.channels_last)
    opt = torch.optim.SGD(model.parameters(), lr=float(spec.lr or 0), momentum=spec.momentum,
                          weight_decay=float(spec.weight_decay or 0))  # fmt: skip
    ckpt_path, start, records = paths.checkpoint_file(run_dir), 0, []
    if ckpt_path.exists():  # resume: weights, optimizer and the records of the epochs done
        ckpt = load_checkpoint(ckpt_path, device)
        load_weights(model, ckpt["model"], ckpt_path)
        opt.load_state_dict(ckpt["optimizer"])
        start, records = int(ckpt["epoch"]), list(ckpt["records"])
        log.info("resuming %s from epoch %d", run_dir.name, start)
    epochs = int(spec.epochs or 0)
    bar = tqdm(range(start, epochs), desc=f"alpha={spec.alpha:g} seed={spec.seed}", unit="epoch",
               disable=not progress, initial=start, total=epochs, leave=False)  # fmt: skip
    for epoch in bar:
        t0 = time.perf_counter()
        for group in opt.param_groups:
            group["lr"] = float(spec.lr or 0) * lr_factor(spec, epoch)
        stats = _train_epoch(model, opt, spec, train_ds, epoch, device, perturb)
        test_acc, sel_mean, sel_layers = evaluate_model(model, test_ds, EVAL_BATCH, device,
                                                        spec.units)  # fmt: skip
        records.append({"epoch": epoch + 1, "lr": opt.param_groups[0]["lr"], **stats,
                        "test_accuracy": test_acc, "selectivity_per_layer": sel_layers,
                        "mean_selectivity": sel_mean, "seconds": time.perf_counter() - t0})  # fmt: skip
        bar.set_postfix(acc=f"{test_acc:.3f}", si=f"{sel_mean:.3f}")
        save_checkpoint(ckpt_path, model, opt, epoch + 1, records)
        if on_epoch is not None:
            on_epoch(records)
    bar.close()
    return records
