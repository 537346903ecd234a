"""Shift-tolerant PSNR and SSIM: the scores after aligning the output to the sharp frame.

A blind method's kernel is defined only up to a translation, which moves its output the other
way, and plain PSNR punishes even a one-pixel shift heavily. Benchmarks that score blind methods
(Köhler et al., ECCV 2012; Lai et al., CVPR 2016) therefore align before scoring. Here, for a
prediction ``p`` and a sharp frame ``s`` of one size (H, W):

1. integer search: every shift (dy, dx) with ``|dy|, |dx| <= max_shift``, scored by the MSE of
   the channel means of ``s`` and of ``p`` displaced by (dy, dx) over one fixed interior, the
   frame minus a border of ``crop + max_shift`` pixels (every candidate on the same pixels);
2. subpixel refinement: per axis, the vertex of the parabola through the MSE at the best integer
   shift and its two neighbours (where the best is not on the window's edge), at most half a
   pixel away;
3. ``p`` shifted by the result with a cubic spline (:func:`scipy.ndimage.shift`, clipped to
   [0, 1]) and scored on the same interior with the plain convention's PSNR and SSIM
   (:mod:`deblur.evaluation.metrics`); if the subpixel shift scores a lower PSNR than the best
   integer shift, the integer shift is kept.

``max_shift`` and ``crop`` are given in pixels of the full-resolution frame and scaled to the
resolution being scored (rounded up, the shift at least 1 px; both shrunk together where they
would take more than a quarter of the shorter side). The paper table keeps the plain
convention; these scores are extra columns (``psnr_aligned``, ``ssim_aligned``, ``align_dy``,
``align_dx``, ``aligned_convention``).
"""

from __future__ import annotations

import numpy as np

from deblur.evaluation.metrics import SSIM_MIN_SIDE, check_image, psnr, ssim
from deblur.evaluation.settings import AlignSettings

__all__ = ["AlignSettings", "aligned_scores"]


def _interior(img: np.ndarray, border: int, dy: int = 0, dx: int = 0) -> np.ndarray:
    """``img`` without a ``border``-px frame, the window displaced by (dy, dx)."""
    h, w = img.shape[:2]
    return img[border + dy : h - border + dy, border + dx : w - border + dx]


def _interior_mse(pred: np.ndarray, sharp: np.ndarray, border: int, shift: int) -> np.ndarray:
    """(2 shift + 1)^2 MSEs of ``sharp``'s interior against ``pred`` displaced by (dy, dx)."""
    # on the channel means in float32: the search only ranks shifts, the scores are float64 RGB
    pred, sharp = pred.mean(axis=2, dtype=np.float32), sharp.mean(axis=2, dtype=np.float32)
    ref = _interior(sharp, border)
    side = 2 * shift + 1
    mse = np.empty((side, side))
    for i, dy in enumerate(range(-shift, shift + 1)):
        for j, dx in enumerate(range(-shift, shift + 1)):
            diff = _interior(pred, border, dy, dx) - ref
            mse[i, j] = float(np.vdot(diff, diff)) / diff.size
    return mse


def _parabola_offset(left: float, centre: float, right: float) -> float:
    """Vertex of the parabola through (-1, left), (0, centre), (1, right), within [-0.5, 0.5]."""
    curvature = left - 2 * centre + right
    if not curvature > 0:
        return 0.0
    return float(np.clip(0.5 * (left - right) / curvature, -0.5, 0.5))


def _shifted(pred: np.ndarray, dy: float, dx: float) -> np.ndarray:
    """``pred`` displaced so that pixel (y, x) holds pred(y + dy, x + dx)."""
    from scipy.ndimage import shift

    # per channel: a 3-D call also spline-filters along the channel axis, 10x the time
    channels = [shift(pred[..., c], (-dy, -dx), order=3, mode="nearest") for c in range(3)]
    return np.clip(np.stack(channels, axis=-1), 0.0, 1.0)


def aligned_scores(
    pred: np.ndarray, sharp: np.ndarray, max_shift: int, crop: int
) -> dict[str, float]:
    """PSNR and SSIM of ``pred`` against ``sharp`` at their best alignment (module docstring).

    Parameters
    ----------
    pred, sharp : ndarray
        (H, W, 3) float images in [0, 1] of one size.
    max_shift : int
        Largest shift along each axis, in pixels of these images (>= 1).
    crop : int
        Border removed before scoring, in pixels, on top of ``max_shift``.

    Returns
    -------
    dict
        ``psnr_aligned``, ``ssim_aligned`` and the shift ``align_dy``, ``align_dx`` (pixels:
        the prediction's content sits that far down and right of the sharp frame's).
    """
    pred, sharp = check_image(pred, "pred"), check_image(sharp, "sharp")
    if pred.shape != sharp.shape:
        raise ValueError(f"pred {pred.shape} and sharp {sharp.shape} must have the same shape")
    if max_shift < 1 or crop < 0:
        raise ValueError(f"max_shift must be >= 1 and crop >= 0, got {max_shift} and {crop}")
    border = crop + max_shift
    h, w = sharp.shape[:2]
    if min(h, w) - 2 * border < SSIM_MIN_SIDE:
        raise ValueError(
            f"a {w}x{h} image leaves less than {SSIM_MIN_SIDE} px after cropping {border} px "
            "per side; lower max_shift or crop"
        )
    mse = _interior_mse(pred, sharp, border, max_shift)
    i, j = np.unravel_index(int(np.argmin(mse)), mse.shape)
    iy, ix = int(i) - max_shift, int(j) - max_shift
    fy = (
        _parabola_offset(mse[i - 1, j], mse[i, j], mse[i + 1, j])
        if 0 < i < mse.shape[0] - 1
        else 0.0
    )
    fx = (
        _parabola_offset(mse[i, j - 1], mse[i, j], mse[i, j + 1])
        if 0 < j < mse.shape[1] - 1
        else 0.0
    )
    ref = _interior(sharp, border)
    best = (float(iy), float(ix), _interior(pred, border, iy, ix))
    if fy or fx:
        sub = _interior(_shifted(pred, iy + fy, ix + fx), border)
        if psnr(sub, ref) > psnr(best[2], ref):
            best = (iy + fy, ix + fx, sub)
    return dict(
        psnr_aligned=psnr(best[2], ref),
        ssim_aligned=ssim(best[2], ref),
        align_dy=best[0],
        align_dx=best[1],
    )
