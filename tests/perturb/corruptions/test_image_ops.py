"""spatter's OpenCV operations against plain-loop and scipy re-derivations."""

from __future__ import annotations

import numpy as np
import scipy.ndimage as ndi
import torch

from selrob.perturb.corruptions import (
    _image_ops,
)


def loop_canny(img: np.ndarray, low: float = 50, high: float = 150) -> np.ndarray:
    """OpenCV's Canny (aperture 3, L1 magnitude) written with plain loops."""
    h, w = img.shape
    p = np.pad(img.astype(np.int64), 1, mode="edge")
    gx = np.zeros((h, w), np.int64)
    gy = np.zeros((h, w), np.int64)
    for r in range(h):
        for c in range(w):
            win = p[r : r + 3, c : c + 3]
            gx[r, c] = (win[:, 2] - win[:, 0]) @ np.array([1, 2, 1])
            gy[r, c] = np.array([1, 2, 1]) @ (win[2] - win[0])
    mag = np.abs(gx) + np.abs(gy)
    mp = np.pad(mag, 1)
    state = np.zeros((h, w), np.int64)  # 0 none, 1 weak, 2 strong
    for r in range(h):
        for c in range(w):
            m, ax, ay = mag[r, c], abs(gx[r, c]), abs(gy[r, c]) << 15
            if m <= low:
                continue
            if ay < ax * 13573:
                ok = m > mp[r + 1, c] and m >= mp[r + 1, c + 2]
            elif ay > ax * 13573 + (ax << 16):
                ok = m > mp[r, c + 1] and m >= mp[r + 2, c + 1]
            else:
                s = -1 if (gx[r, c] < 0) != (gy[r, c] < 0) else 1
                ok = m > mp[r, c + 1 - s] and m > mp[r + 2, c + 1 + s]
            if ok:
                state[r, c] = 2 if m > high else 1
    stack = list(zip(*np.nonzero(state == 2), strict=True))
    while stack:
        r, c = stack.pop()
        for rr in range(max(r - 1, 0), min(r + 2, h)):
            for cc in range(max(c - 1, 0), min(c + 2, w)):
                if state[rr, cc] == 1:
                    state[rr, cc] = 2
                    stack.append((rr, cc))
    return state == 2


def liquid_layer(
    rng: np.random.Generator, size: int, mean: float, std: float, sigma: float, thr: float
) -> np.ndarray:
    liq = ndi.gaussian_filter(rng.normal(mean, std, (size, size)), sigma, mode="nearest")
    liq[liq < thr] = 0
    return np.minimum(np.floor(liq * 255), 255)


def test_canny_matches_loop_oracle() -> None:
    rng = np.random.default_rng(7)
    for i, params in enumerate(
        [(0.62, 0.1, 0.7, 0.7), (0.65, 0.3, 1.0, 0.69), (0.5, 0.3, 0.5, 0.0)] * 3
    ):
        img = liquid_layer(rng, 20 + i, *params)
        out = _image_ops.canny_edges(torch.from_numpy(img).float()[None, None])[0, 0].numpy()
        np.testing.assert_array_equal(out, loop_canny(img))


def test_canny_of_a_square_is_its_outline() -> None:
    img = torch.zeros(1, 1, 12, 12)
    img[..., 3:8, 4:9] = 200.0
    # Recorded from cv2.Canny(img, 50, 150) (OpenCV 5.0): left/top edges on the dry side,
    # right/bottom ones on the wet side, corners cut diagonally.
    rows = ["..ooo", ".o...o", "o....o", "o....o", "o....o", ".ooooo"]
    ring = torch.zeros(12, 12, dtype=torch.bool)
    for r, line in enumerate(rows):
        for c, ch in enumerate(line):
            ring[2 + r, 3 + c] = ch == "o"
    assert torch.equal(_image_ops.canny_edges(img)[0, 0], ring)


def loop_chamfer(edge: np.ndarray, cap: float = 20.0) -> np.ndarray:
    """OpenCV's two-pass 5 x 5 chamfer (1, 1.4, 2.1969) written with plain loops."""
    h, w = edge.shape
    d = np.full((h + 4, w + 4), 1e9)
    d[2:-2, 2:-2][edge] = 0.0
    a, b, c = 1.0, 1.4, 2.1969
    fwd = [
        (-2, -1, c),
        (-2, 1, c),
        (-1, -2, c),
        (-1, -1, b),
        (-1, 0, a),
        (-1, 1, b),
        (-1, 2, c),
        (0, -1, a),
    ]
    for mask, rows, cols in (
        (fwd, range(h), range(w)),
        ([(-r, -q, v) for r, q, v in fwd], range(h - 1, -1, -1), range(w - 1, -1, -1)),
    ):
        for r in rows:
            for q in cols:
                d[r + 2, q + 2] = min(
                    [d[r + 2, q + 2]] + [d[r + 2 + dr, q + 2 + dq] + v for dr, dq, v in mask]
                )
    return np.minimum(d[2:-2, 2:-2], cap)


def test_chamfer_distance_matches_loop_oracle() -> None:
    rng = np.random.default_rng(10)
    edge = rng.random((3, 26, 31)) < 0.015
    out = _image_ops.chamfer_distance(torch.from_numpy(edge)[:, None])[:, 0].numpy()
    for e, o in zip(edge, out, strict=True):
        np.testing.assert_allclose(o, loop_chamfer(e), atol=1e-5)


def test_box_and_emboss_match_scipy_correlate_reflect101() -> None:
    img = np.random.default_rng(11).integers(0, 256, (2, 1, 17, 19)).astype(np.float64)
    t = torch.from_numpy(img)
    emboss = np.array([[-2, -1, 0], [-1, 1, 1], [0, 1, 2]], dtype=np.float64)
    for kernel, got in (
        (np.full((3, 3), 1 / 9), _image_ops._box3(t)),
        (emboss, _image_ops._correlate3(t, tuple(map(tuple, emboss)), "reflect")),
    ):
        ref = np.stack([ndi.correlate(p[0], kernel, mode="mirror") for p in img])
        np.testing.assert_allclose(got[:, 0].numpy(), ref, atol=1e-9)


def test_chamfer_distance_close_to_euclidean() -> None:
    rng = np.random.default_rng(8)
    edge = rng.random((4, 32, 32)) < 0.01
    edge[:, 5, 7] = True
    ref = np.stack([ndi.distance_transform_edt(~e) for e in edge])
    out = _image_ops.chamfer_distance(torch.from_numpy(edge)[:, None])[:, 0].numpy()
    near = ref < 20
    assert np.all(np.abs(out - ref)[near] <= 0.03 * ref[near] + 1e-5)
    assert np.all(out[~near] >= 19.0) and out.max() <= 20
    empty = _image_ops.chamfer_distance(torch.zeros(1, 1, 8, 8, dtype=torch.bool))
    assert torch.all(empty == 20)


def test_equalize_hist_matches_cdf_formula() -> None:
    rng = np.random.default_rng(9)
    v = rng.integers(3, 21, (3, 16, 16))
    v[2] = 7  # constant image: unchanged
    out = _image_ops.equalize_hist(torch.from_numpy(v).float()[:, None])[:, 0].numpy()
    for img, res in zip(v[:2], out[:2], strict=True):
        hist = np.bincount(img.ravel(), minlength=256)
        cdf = np.cumsum(hist)
        first = hist[img.min()]
        lut = np.clip(np.round((cdf - first) * 255.0 / (img.size - first)), 0, 255)
        np.testing.assert_array_equal(res, lut[img])
    np.testing.assert_array_equal(out[2], v[2])
