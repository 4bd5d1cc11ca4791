"""Severity tables of the 19 corruptions, per image size, as plain data.

Source: the published generators of Hendrycks & Dietterich (2019), "Benchmarking Neural
Network Robustness to Common Corruptions and Perturbations" (ICLR): CIFAR-10-C
(``make_cifar_c.py``, 32 px), Tiny-ImageNet-C (``make_tinyimagenet_c.py``, 64 px) and
ImageNet-C (``make_imagenet_c.py``, 224 px); ``docs/corruptions.md`` lists them with their
sources. Numbers only; the implementations are our own.

Each list is indexed by ``severity - 1``. A row is a float (one parameter) or a tuple:

- gaussian_noise: sigma on [0, 1].           shot_noise: Poisson rate lam, x -> Poisson(x lam)/lam.
- impulse_noise: salt-and-pepper amount.     speckle_noise: sigma, x -> x + x N(0, sigma^2).
- gaussian_blur: sigma in px.                defocus_blur: (disk radius px, alias-blur sigma px).
- glass_blur: (sigma px, max offset px (int), iterations (int)).
- motion_blur: (ImageMagick radius px, sigma px); angle drawn U(-45, 45) degrees in the function.
- zoom_blur: (end, step): zoom factors are the float ``numpy.arange(1, end, step)`` (quirk: at
  32/64 px severities 1-2 keep the end point, 3-5 drop it; see docs/corruptions.md).
- snow: (mean, std, zoom, threshold, motion-blur radius, motion-blur sigma, mix).
- frost: (image weight, frost weight, texture scale); texture scale is how much the published
  frost photographs were shrunk (0.2 at 32 px, 0.3 at 64 px, 1.0 = unscaled at 224 px).
- fog: (strength, wibble decay, plasma map size).
- spatter: (mean, std, sigma, threshold, intensity, mud (0 = water, 1 = mud)).
- contrast: factor about the per-channel mean.   brightness: added to V in HSV.
- saturate: (a, b): S -> S a + b in HSV.         jpeg_compression: Pillow quality (int).
- pixelate: scale; BOX down to ``int(size * scale)``, then BOX up (NEAREST up at 224 px).
- elastic_transform: (alpha, sigma, affine jitter) in px *at the table's nominal size*: the
  published code multiplies fractions by the image size (32 or 64; 244 at ImageNet scale, a
  known slip of the published code, kept). At 28 px the 32-px values are used unchanged, like
  every other pixel-unit parameter. The 224-px formulation differs (see ImageNet-C).

Table choice by image height H (``table_size``): the 32-px table for H <= 47 (so 28-px
Fashion-MNIST uses it), the 64-px table for 48 <= H <= 159, the 224-px table for H >= 160.
"""

from __future__ import annotations

from selrob.errors import InvalidArgument, UnknownName

Row = float | int | tuple[float, ...]

TABLE_SIZES: tuple[int, ...] = (32, 64, 224)

# name -> {nominal size -> five rows (severity 1..5)}
TABLES: dict[str, dict[int, list[Row]]] = {
    "gaussian_noise": {
        32: [0.04, 0.06, 0.08, 0.09, 0.10],
        64: [0.04, 0.08, 0.12, 0.15, 0.18],
        224: [0.08, 0.12, 0.18, 0.26, 0.38],
    },
    "shot_noise": {
        32: [500, 250, 100, 75, 50],
        64: [250, 100, 50, 30, 15],
        224: [60, 25, 12, 5, 3],
    },
    "impulse_noise": {
        32: [0.01, 0.02, 0.03, 0.05, 0.07],
        64: [0.01, 0.02, 0.05, 0.08, 0.14],
        224: [0.03, 0.06, 0.09, 0.17, 0.27],
    },
    "speckle_noise": {
        32: [0.06, 0.1, 0.12, 0.16, 0.2],
        64: [0.15, 0.2, 0.25, 0.3, 0.35],
        224: [0.15, 0.2, 0.35, 0.45, 0.6],
    },
    "gaussian_blur": {
        32: [0.4, 0.6, 0.7, 0.8, 1.0],
        64: [0.5, 0.75, 1.0, 1.25, 1.5],
        224: [1.0, 2.0, 3.0, 4.0, 6.0],
    },
    "glass_blur": {
        32: [(0.05, 1, 1), (0.25, 1, 1), (0.4, 1, 1), (0.25, 1, 2), (0.4, 1, 2)],
        64: [(0.1, 1, 1), (0.5, 1, 1), (0.6, 1, 2), (0.7, 2, 1), (0.9, 2, 2)],
        224: [(0.7, 1, 2), (0.9, 2, 1), (1.0, 2, 3), (1.1, 3, 2), (1.5, 4, 2)],
    },
    "defocus_blur": {
        32: [(0.3, 0.4), (0.4, 0.5), (0.5, 0.6), (1.0, 0.2), (1.5, 0.1)],
        64: [(0.5, 0.6), (1.0, 0.1), (1.5, 0.1), (2.5, 0.01), (3.0, 0.1)],
        224: [(3.0, 0.1), (4.0, 0.5), (6.0, 0.5), (8.0, 0.5), (10.0, 0.5)],
    },
    "motion_blur": {
        32: [(6, 1.0), (6, 1.5), (6, 2.0), (8, 2.0), (9, 2.5)],
        64: [(10, 1.0), (10, 1.5), (10, 2.0), (10, 2.5), (12, 3.0)],
        224: [(10, 3.0), (15, 5.0), (15, 8.0), (15, 12.0), (20, 15.0)],
    },
    "zoom_blur": {
        32: [(1.06, 0.01), (1.11, 0.01), (1.16, 0.01), (1.21, 0.01), (1.26, 0.01)],
        64: [(1.06, 0.01), (1.11, 0.01), (1.16, 0.01), (1.21, 0.01), (1.26, 0.01)],
        224: [(1.11, 0.01), (1.16, 0.01), (1.21, 0.02), (1.26, 0.02), (1.31, 0.03)],
    },
    "snow": {
        32: [
            (0.1, 0.2, 1.0, 0.6, 8, 3.0, 0.95),
            (0.1, 0.2, 1.0, 0.5, 10, 4.0, 0.9),
            (0.15, 0.3, 1.75, 0.55, 10, 4.0, 0.9),
            (0.25, 0.3, 2.25, 0.6, 12, 6.0, 0.85),
            (0.3, 0.3, 1.25, 0.65, 14, 12.0, 0.8),
        ],
        64: [
            (0.1, 0.2, 1.0, 0.6, 8, 3.0, 0.8),
            (0.1, 0.2, 1.0, 0.5, 10, 4.0, 0.8),
            (0.15, 0.3, 1.75, 0.55, 10, 4.0, 0.7),
            (0.25, 0.3, 2.25, 0.6, 12, 6.0, 0.65),
            (0.3, 0.3, 1.25, 0.65, 14, 12.0, 0.6),
        ],
        224: [
            (0.1, 0.3, 3.0, 0.5, 10, 4.0, 0.8),
            (0.2, 0.3, 2.0, 0.5, 12, 4.0, 0.7),
            (0.55, 0.3, 4.0, 0.9, 12, 8.0, 0.7),
            (0.55, 0.3, 4.5, 0.85, 12, 8.0, 0.65),
            (0.55, 0.3, 2.5, 0.85, 12, 12.0, 0.55),
        ],
    },
    "frost": {
        32: [
            (1.0, 0.2, 0.2),
            (1.0, 0.3, 0.2),
            (0.9, 0.4, 0.2),
            (0.85, 0.4, 0.2),
            (0.75, 0.45, 0.2),
        ],
        64: [
            (1.0, 0.3, 0.3),
            (0.9, 0.4, 0.3),
            (0.8, 0.45, 0.3),
            (0.75, 0.5, 0.3),
            (0.7, 0.55, 0.3),
        ],
        224: [
            (1.0, 0.4, 1.0),
            (0.8, 0.6, 1.0),
            (0.7, 0.7, 1.0),
            (0.65, 0.7, 1.0),
            (0.6, 0.75, 1.0),
        ],
    },
    "fog": {
        32: [(0.2, 3.0, 32), (0.5, 3.0, 32), (0.75, 2.5, 32), (1.0, 2.0, 32), (1.5, 1.75, 32)],
        64: [(0.4, 3.0, 64), (0.7, 3.0, 64), (1.0, 2.5, 64), (1.5, 2.0, 64), (2.0, 1.75, 64)],
        224: [(1.5, 2.0, 256), (2.0, 2.0, 256), (2.5, 1.7, 256), (2.5, 1.5, 256), (3.0, 1.4, 256)],
    },
    "spatter": {
        32: [
            (0.62, 0.1, 0.7, 0.7, 0.5, 0),
            (0.65, 0.1, 0.8, 0.7, 0.5, 0),
            (0.65, 0.3, 1.0, 0.69, 0.5, 0),
            (0.65, 0.1, 0.7, 0.69, 0.6, 1),
            (0.65, 0.1, 0.5, 0.68, 0.6, 1),
        ],
        64: [
            (0.62, 0.1, 0.7, 0.7, 0.6, 0),
            (0.65, 0.1, 0.8, 0.7, 0.6, 0),
            (0.65, 0.3, 1.0, 0.69, 0.6, 0),
            (0.65, 0.1, 0.7, 0.68, 0.6, 1),
            (0.65, 0.1, 0.5, 0.67, 0.6, 1),
        ],
        224: [
            (0.65, 0.3, 4.0, 0.69, 0.6, 0),
            (0.65, 0.3, 3.0, 0.68, 0.6, 0),
            (0.65, 0.3, 2.0, 0.68, 0.5, 0),
            (0.65, 0.3, 1.0, 0.65, 1.5, 1),
            (0.67, 0.4, 1.0, 0.65, 1.5, 1),
        ],
    },
    "contrast": {
        32: [0.75, 0.5, 0.4, 0.3, 0.15],
        64: [0.4, 0.3, 0.2, 0.1, 0.05],
        224: [0.4, 0.3, 0.2, 0.1, 0.05],
    },
    "brightness": {
        32: [0.05, 0.1, 0.15, 0.2, 0.3],
        64: [0.1, 0.2, 0.3, 0.4, 0.5],
        224: [0.1, 0.2, 0.3, 0.4, 0.5],
    },
    "saturate": {
        32: [(0.3, 0.0), (0.1, 0.0), (1.5, 0.0), (2.0, 0.1), (2.5, 0.2)],
        64: [(0.3, 0.0), (0.1, 0.0), (2.0, 0.0), (5.0, 0.1), (30.0, 0.2)],
        224: [(0.3, 0.0), (0.1, 0.0), (2.0, 0.0), (5.0, 0.1), (20.0, 0.2)],
    },
    "jpeg_compression": {
        32: [80, 65, 58, 50, 40],
        64: [65, 58, 50, 40, 25],
        224: [25, 18, 15, 10, 7],
    },
    "pixelate": {
        32: [0.95, 0.9, 0.85, 0.75, 0.65],
        64: [0.9, 0.8, 0.7, 0.6, 0.5],
        224: [0.6, 0.5, 0.4, 0.3, 0.25],
    },
    "elastic_transform": {
        32: [
            (32 * 0.0, 32 * 0.0, 32 * 0.08),
            (32 * 0.05, 32 * 0.2, 32 * 0.07),
            (32 * 0.08, 32 * 0.06, 32 * 0.06),
            (32 * 0.1, 32 * 0.04, 32 * 0.05),
            (32 * 0.1, 32 * 0.03, 32 * 0.03),
        ],
        64: [
            (64 * 0.0, 64 * 0.0, 64 * 0.08),
            (64 * 0.05, 64 * 0.3, 64 * 0.06),
            (64 * 0.1, 64 * 0.08, 64 * 0.06),
            (64 * 0.1, 64 * 0.03, 64 * 0.03),
            (64 * 0.16, 64 * 0.03, 64 * 0.02),
        ],
        224: [
            (244 * 2.0, 244 * 0.7, 244 * 0.1),
            (244 * 2.0, 244 * 0.08, 244 * 0.2),
            (244 * 0.05, 244 * 0.01, 244 * 0.02),
            (244 * 0.07, 244 * 0.01, 244 * 0.02),
            (244 * 0.12, 244 * 0.01, 244 * 0.02),
        ],
    },
}


def table_size(image_size: int) -> int:
    """Nominal table size (32, 64 or 224) for an image of height ``image_size`` px."""
    if not isinstance(image_size, int) or isinstance(image_size, bool) or image_size < 1:
        raise InvalidArgument(f"image_size must be a positive int, got {image_size!r}")
    if image_size <= 47:
        return 32
    if image_size <= 159:
        return 64
    return 224


def table_for(name: str, image_size: int) -> list[Row]:
    """The five severity rows of corruption ``name`` for images of height ``image_size`` px."""
    if name not in TABLES:
        valid = ", ".join(TABLES)
        raise UnknownName(f"unknown corruption {name!r}; choose one of: {valid}")
    return list(TABLES[name][table_size(image_size)])
