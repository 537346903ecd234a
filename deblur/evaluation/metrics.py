"""PSNR and SSIM of a deblurred image against its sharp frame, at the model and full resolution.

The convention is the one deblurring papers converge on, computed with scikit-image
on RGB float images in [0, 1] (in float64):

- PSNR: :func:`skimage.metrics.peak_signal_noise_ratio` with ``data_range=1``.
- SSIM: :func:`skimage.metrics.structural_similarity` with ``data_range=1``,
  ``gaussian_weights=True``, ``sigma=1.5``, ``use_sample_covariance=False``, ``channel_axis=-1``
  (the mean of the per-channel SSIM maps).

Two resolutions (:data:`RESOLUTIONS`):

- ``model``: the sharp frame resized to the model size ``capped_size(H, W, max_size)`` (the finest
  SinGAN scale; the paper's setting), the prediction resized to that size if it differs.
- ``full``: the prediction resized to the sharp frame's original H x W, against the original.

All resizing is :func:`deblur.resize.resize_array`, the antialiased bicubic the model uses.
The rows that combine these scores with the shift-tolerant ones are built in
:mod:`deblur.evaluation.scoring`, which imports this module (never the other way round).
"""

from __future__ import annotations

import numpy as np

from deblur.evaluation.settings import RESOLUTIONS
from deblur.resize import capped_size

SSIM_KWARGS = dict(
    data_range=1.0, gaussian_weights=True, sigma=1.5, use_sample_covariance=False, channel_axis=-1
)
PSNR_KWARGS = dict(data_range=1.0)

# recorded verbatim in every metrics row so a number can always be traced to how it was computed
METRIC_CONVENTION = (
    "skimage RGB float[0,1] float64; PSNR data_range=1; SSIM data_range=1 gaussian_weights=True "
    "sigma=1.5 use_sample_covariance=False channel_axis=-1 (channel mean); resize: antialiased "
    "bicubic (torch), clipped to [0,1]; model = sharp resized to capped_size(H,W,max_size)"
)

# the Gaussian SSIM window is 2 * int(3.5 * sigma + 0.5) + 1 = 11 px wide
SSIM_MIN_SIDE = 11


def check_image(img: np.ndarray, name: str) -> np.ndarray:
    """Validate an RGB float image and return it as float64.

    Raises ``ValueError`` naming ``name`` when the array is not (H, W, 3), holds NaN/inf, or lies
    outside [0, 1] (by more than float rounding).
    """
    if not isinstance(img, np.ndarray):
        raise ValueError(f"{name} must be a numpy array, got {type(img).__name__}")
    if img.ndim != 3 or img.shape[2] != 3:
        raise ValueError(f"{name} must have shape (H, W, 3), got {img.shape}")
    if min(img.shape[:2]) < SSIM_MIN_SIDE:
        raise ValueError(
            f"{name} is {img.shape[1]}x{img.shape[0]}; SSIM needs at least "
            f"{SSIM_MIN_SIDE}x{SSIM_MIN_SIDE} pixels"
        )
    if not np.issubdtype(img.dtype, np.floating):
        raise ValueError(f"{name} must be a float image in [0, 1], got dtype {img.dtype}")
    if not np.all(np.isfinite(img)):
        raise ValueError(f"{name} contains NaN or inf")
    if img.min() < -1e-6 or img.max() > 1 + 1e-6:
        raise ValueError(
            f"{name} must lie in [0, 1], got values in [{img.min():.4g}, {img.max():.4g}]"
        )
    return img.astype(np.float64, copy=False)


def _check_pair(pred: np.ndarray, ref: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    pred, ref = check_image(pred, "pred"), check_image(ref, "ref")
    if pred.shape != ref.shape:
        raise ValueError(f"pred {pred.shape} and ref {ref.shape} must have the same shape")
    return pred, ref


def psnr(pred: np.ndarray, ref: np.ndarray) -> float:
    """PSNR (dB) of ``pred`` against ``ref``, both (H, W, 3) float in [0, 1]; inf if equal."""
    from skimage.metrics import peak_signal_noise_ratio

    pred, ref = _check_pair(pred, ref)
    if np.array_equal(pred, ref):
        return float("inf")  # skimage divides by a zero MSE (and warns)
    return float(peak_signal_noise_ratio(ref, pred, **PSNR_KWARGS))


def ssim(pred: np.ndarray, ref: np.ndarray) -> float:
    """SSIM of ``pred`` against ``ref`` with the convention of :data:`SSIM_KWARGS`."""
    from skimage.metrics import structural_similarity

    pred, ref = _check_pair(pred, ref)
    return float(structural_similarity(ref, pred, **SSIM_KWARGS))


def target_size(sharp_hw: tuple[int, int], resolution: str, max_size: int) -> tuple[int, int]:
    """(h, w) at which ``resolution`` compares images, for a sharp frame of size ``sharp_hw``."""
    h, w = sharp_hw
    if resolution == "full":
        return int(h), int(w)
    if resolution == "model":
        if max_size < 1:
            raise ValueError(f"max_size must be a positive integer, got {max_size}")
        return capped_size(int(h), int(w), int(max_size))
    raise ValueError(f"resolution must be one of {RESOLUTIONS}, got {resolution!r}")
