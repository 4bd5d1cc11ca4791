"""Independent re-derivations used by more than one corruption test (numpy / scipy only)."""

from __future__ import annotations

import numpy as np
import scipy.ndimage as ndi


def scipy_clipped_zoom(img: np.ndarray, z: float) -> np.ndarray:
    """The published recipe for a square 2-D image: centre crop, scipy zoom, centre trim."""
    h = img.shape[0]
    ch = int(np.ceil(h / z))
    top = (h - ch) // 2
    zoomed = ndi.zoom(img[top : top + ch, top : top + ch], z, order=1)
    trim = (zoomed.shape[0] - h) // 2
    return zoomed[trim : trim + h, trim : trim + h]


def numpy_plasma(mapsize: int, decay: float, rng: np.random.Generator) -> np.ndarray:
    """Diamond-square on a torus, written with explicit neighbour indices."""
    m = np.zeros((mapsize, mapsize))
    step, wib = mapsize, 100.0
    while step >= 2:
        half = step // 2
        idx = np.arange(0, mapsize, step)
        for i in idx:
            for j in idx:
                i2, j2 = (i + step) % mapsize, (j + step) % mapsize
                s = m[i, j] + m[i2, j] + m[i, j2] + m[i2, j2]
                m[i + half, j + half] = s / 4 + wib * rng.uniform(-wib, wib)
        for i in idx:
            for j in idx:
                up, left = (i - half) % mapsize, (j - half) % mapsize
                top = m[i + half, j + half] + m[up, j + half] + m[i, j] + m[i, (j + step) % mapsize]
                m[i, j + half] = top / 4 + wib * rng.uniform(-wib, wib)
                side = (
                    m[i + half, j + half] + m[i + half, left] + m[i, j] + m[(i + step) % mapsize, j]
                )
                m[i + half, j] = side / 4 + wib * rng.uniform(-wib, wib)
        step, wib = half, wib / decay
    m -= m.min()
    return m / m.max()


def roughness(maps: np.ndarray) -> float:
    return float(np.abs(np.diff(maps, axis=-1)).mean())
