"""The in-memory dataset type and the batch loader shared by every dataset.

Datasets are small enough (Fashion-MNIST, CIFAR-10, Tiny ImageNet: <= 1.1 GB as uint8) to be
held as one uint8 tensor; batches are converted to float [0, 1] on the target device, and the
paper's augmentation (random crop with 4-pixel zero padding + horizontal flip) runs batched in
torch with an explicit generator, so one seed fixes the data order and the augmentation.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import torch

from selrob.errors import InvalidArgument


@dataclass(frozen=True)
class ImageDataset:
    """images: (N, C, H, W) uint8; labels: (N,) int64; classes: class names; name: dataset name."""

    images: torch.Tensor
    labels: torch.Tensor
    classes: tuple[str, ...]
    name: str

    def __post_init__(self) -> None:
        if self.images.dtype != torch.uint8 or self.images.dim() != 4:
            raise InvalidArgument(
                f"{self.name}: images must be uint8 (N, C, H, W), got {self.images.dtype} {tuple(self.images.shape)}"
            )
        if self.labels.shape != (self.images.shape[0],):
            raise InvalidArgument(
                f"{self.name}: {self.images.shape[0]} images but {self.labels.shape[0]} labels"
            )

    def __len__(self) -> int:
        return int(self.images.shape[0])

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def shape(self) -> tuple[int, int, int]:
        """(C, H, W) of one image."""
        c, h, w = self.images.shape[1:]
        return int(c), int(h), int(w)

    def to(self, device: torch.device | str) -> ImageDataset:
        """The same dataset held on ``device`` (airbench style: one uint8 copy on the GPU, so
        batches are gathered there with no host-to-device copy per step)."""
        return ImageDataset(self.images.to(device), self.labels.to(device), self.classes, self.name)

    def subset(self, limit: int | None) -> ImageDataset:
        """The first ``limit`` examples (all when None)."""
        if limit is None or limit >= len(self):
            return self
        if limit < 1:
            raise InvalidArgument(f"limit must be >= 1, got {limit}")
        return ImageDataset(self.images[:limit], self.labels[:limit], self.classes, self.name)


def to_float(images: torch.Tensor, device: torch.device | str = "cpu") -> torch.Tensor:
    """uint8 (N, C, H, W) -> float32 in [0, 1] on ``device``."""
    return images.to(device, non_blocking=True).float().div_(255.0)


def augment_crop_flip(x: torch.Tensor, generator: torch.Generator, pad: int = 4) -> torch.Tensor:
    """Random crop with zero padding ``pad`` and random horizontal flip, per image, batched.

    x: (N, C, H, W) float; generator on x's device or CPU (draws are made on CPU).
    """
    n, _, h, w = x.shape
    dy = torch.randint(0, 2 * pad + 1, (n,), generator=generator)
    dx = torch.randint(0, 2 * pad + 1, (n,), generator=generator)
    flip = torch.rand(n, generator=generator) < 0.5
    padded = torch.nn.functional.pad(x, (pad, pad, pad, pad))
    rows = (dy.view(n, 1) + torch.arange(h).view(1, h)).to(x.device)  # (N, H)
    cols = (dx.view(n, 1) + torch.arange(w).view(1, w)).to(x.device)  # (N, W)
    cols = torch.where(flip.to(x.device).view(n, 1), cols.flip(1), cols)
    idx_n = torch.arange(n, device=x.device).view(n, 1, 1)
    out = padded.permute(0, 2, 3, 1)[idx_n, rows.view(n, h, 1), cols.view(n, 1, w)]  # (N, H, W, C)
    return out.permute(0, 3, 1, 2).contiguous()


def batches(
    ds: ImageDataset,
    batch_size: int,
    *,
    shuffle: bool = False,
    augment: bool = False,
    generator: torch.Generator | None = None,
    device: torch.device | str = "cpu",
    drop_last: bool = False,
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Yield ``(x float (B, C, H, W) in [0, 1], y int64 (B,))`` on ``device``.

    Shuffling and augmentation draw from ``generator`` (required when either is on), always on
    the CPU, so a dataset held on the device (:meth:`ImageDataset.to`) gives the same batches
    (order, crops, flips) as one in host memory.
    """
    if batch_size < 1:
        raise InvalidArgument(f"batch size must be >= 1, got {batch_size}")
    if (shuffle or augment) and generator is None:
        raise InvalidArgument("shuffle/augment need an explicit torch.Generator")
    n = len(ds)
    order = torch.randperm(n, generator=generator) if shuffle else torch.arange(n)
    stop = n - n % batch_size if drop_last and n >= batch_size else n
    for start in range(0, stop, batch_size):
        idx = order[start : start + batch_size].to(ds.images.device)  # gather where the data is
        x = to_float(ds.images[idx], device)
        if augment:
            x = augment_crop_flip(x, generator)  # type: ignore[arg-type]
        yield x, ds.labels[idx].to(device, non_blocking=True)


def rebatch(
    stream: Iterable[tuple[torch.Tensor, torch.Tensor]], size: int
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """The ``(x, y)`` batches of ``stream`` regrouped into batches of ``size`` examples, in
    order (the last may be smaller): draw in one block size, compute in another."""
    xs: list[torch.Tensor] = []
    ys: list[torch.Tensor] = []
    held = 0
    for x, y in stream:
        while x.shape[0]:
            take = min(size - held, x.shape[0])
            xs.append(x[:take])
            ys.append(y[:take])
            held += take
            x, y = x[take:], y[take:]
            if held == size:
                yield _joined(xs, ys)
                xs, ys, held = [], [], 0
    if held:
        yield _joined(xs, ys)


def _joined(xs: list[torch.Tensor], ys: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    return (xs[0], ys[0]) if len(xs) == 1 else (torch.cat(xs), torch.cat(ys))
