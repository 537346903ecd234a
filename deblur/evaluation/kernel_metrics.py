"""Scores that need the true blur kernel: kernel error and the error ratio of Levin et al. (2009).

- ``kernel_error``: L1 distance between the estimated and the true kernel (both sum to 1, so it
  lies in [0, 2]) after zero-padding both to one odd side and shifting each by whole pixels so
  its centroid sits at the centre; the shift is not the method's fault (a blind estimate is
  defined up to a translation, which moves the image the other way). An estimate made on a
  downscaled image (SelfDeblur's working size) is compared with the true kernel resampled to
  that scale (:func:`resample_kernel`).
- ``error_ratio``: ``||x_est - x||^2 / ||x_oracle - x||^2`` with ``x`` the sharp frame and
  ``x_oracle`` the non-blind deconvolution with the true kernel by the same solver: 1 means the
  estimated kernel is as good as the true one; Levin et al. count ratios below about 3 as
  visually successful.
- ``error_ratio_aligned``: the same ratio after aligning each of the two images to the sharp
  frame (the shift-tolerant protocol of :mod:`deblur.evaluation.aligned`, on one interior), from
  their aligned PSNRs; Levin et al. compare images up to a shift too, since the kernel's centre
  is free and moves the output.
"""

from __future__ import annotations

import numpy as np

from deblur.data.kernels import center_kernel

# Levin et al. (2009) count a deblurred image with an error ratio up to about 3 as a success
SUCCESS_RATIO = 3.0


def _pad_to(k: np.ndarray, side: int) -> np.ndarray:
    rows, cols = side - k.shape[0], side - k.shape[1]
    return np.pad(k, ((rows // 2, rows - rows // 2), (cols // 2, cols - cols // 2)))


def resample_kernel(kernel: np.ndarray, scale: float) -> np.ndarray:
    """A kernel as it acts on an image resized by ``scale``: each side resized (antialiased
    bicubic) to the odd integer nearest ``scale`` times it (at least 1), clipped at 0, sum 1."""
    import torch

    from deblur.resize import resize_tensor

    k = np.asarray(kernel, dtype=np.float64)
    if k.ndim != 2 or k.min() < 0 or not k.sum() > 0:
        raise ValueError("kernel must be a non-negative 2-D kernel with a positive sum")
    if not scale > 0:
        raise ValueError(f"scale must be positive, got {scale}")
    side = [max(1, round(n * scale)) for n in k.shape]
    side = tuple(n + 1 - n % 2 for n in side)  # odd, so the kernel keeps a centre pixel
    if side == k.shape:
        return k / k.sum()
    x = torch.from_numpy(np.ascontiguousarray(k / k.sum()))[None, None]
    out = resize_tensor(x, side)[0, 0].clamp_(min=0.0).numpy()
    if not out.sum() > 0:  # a kernel thinner than a pixel after resizing: its mass in one tap
        out = np.zeros(side)
        out[side[0] // 2, side[1] // 2] = 1.0
    return out / out.sum()


def kernel_error(estimate: np.ndarray, truth: np.ndarray) -> float:
    """L1 distance of two kernels after padding to a common odd side and centring each."""
    kernels = []
    for name, k in (("estimate", estimate), ("truth", truth)):
        k = np.asarray(k, dtype=np.float64)
        if k.ndim != 2 or k.min() < 0 or not k.sum() > 0:
            raise ValueError(f"{name} must be a non-negative 2-D kernel with a positive sum")
        kernels.append(k / k.sum())
    side = max(max(k.shape) for k in kernels)
    side += 1 - side % 2  # odd, so there is a centre pixel
    a, b = (center_kernel(_pad_to(k, side))[0] for k in kernels)
    return float(np.abs(a - b).sum())


def error_ratio(pred: np.ndarray, oracle: np.ndarray, sharp: np.ndarray) -> float:
    """``||pred - sharp||^2 / ||oracle - sharp||^2`` (arrays of one shape; inf if the oracle is
    exact and the prediction is not)."""
    for name, a in (("pred", pred), ("oracle", oracle)):
        if np.shape(a) != np.shape(sharp):
            raise ValueError(f"{name} has shape {np.shape(a)}, sharp {np.shape(sharp)}")
    sharp = np.asarray(sharp, dtype=np.float64)
    err_pred = float(np.sum((np.asarray(pred, dtype=np.float64) - sharp) ** 2))
    err_oracle = float(np.sum((np.asarray(oracle, dtype=np.float64) - sharp) ** 2))
    if err_oracle == 0:
        return 1.0 if err_pred == 0 else float("inf")
    return err_pred / err_oracle


def aligned_error_ratio(psnr_pred: float, psnr_oracle: float) -> float:
    """The error ratio from the aligned PSNRs (``data_range`` 1) of a prediction and of the
    oracle, scored on the same interior: ``10 ** ((psnr_oracle - psnr_pred) / 10)``."""
    if np.isnan(psnr_pred) or np.isnan(psnr_oracle):
        return float("nan")
    if np.isinf(psnr_oracle):  # the oracle is exact there
        return 1.0 if np.isinf(psnr_pred) else float("inf")
    return float(10.0 ** ((psnr_oracle - psnr_pred) / 10.0))
