"""Luminance split for SelfDeblur: full-range BT.601 YCbCr, the conversion the reference's
colour script takes from OpenCV.

Only Y is deblurred; the chroma of the blurry image is kept. Because every row of the inverse
transform has a 1 on Y, putting a new Y back adds the change of Y to R, G and B alike.
"""

from __future__ import annotations

import numpy as np

LUMA = np.array([0.299, 0.587, 0.114])  # BT.601 weights of R, G, B in Y


def luminance(rgb: np.ndarray) -> np.ndarray:
    """Y of a float (H, W, 3) RGB image in [0, 1], as float32 (H, W)."""
    return (np.asarray(rgb, dtype=np.float64) @ LUMA).astype(np.float32)


def replace_luminance(rgb: np.ndarray, y: np.ndarray) -> np.ndarray:
    """``rgb`` with its Y replaced by ``y`` and its Cb, Cr kept; clipped to [0, 1]."""
    if y.shape != rgb.shape[:2]:
        raise ValueError(f"luminance is {y.shape}, image is {rgb.shape[:2]}")
    delta = y.astype(np.float64) - luminance(rgb)
    return np.clip(rgb + delta[..., None], 0.0, 1.0).astype(np.float32)
