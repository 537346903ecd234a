"""Blur kernels as PNG files: 16-bit grayscale scaled to the kernel's peak, read back normalised.

A kernel is a non-negative 2-D array summing to 1; its file stores ``k / max(k)`` in 16 bits
(the sum is restored on reading, so the scale is not needed and small taps keep 1/65535 of the
peak's precision), which also makes the file viewable as an image.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from PIL import Image

from deblur.atomic import atomic_path
from deblur.errors import DeblurError

UINT16_MAX = 65535


def kernel_path_for(out: str | os.PathLike) -> Path:
    """Where the kernel of output image ``out`` is written: ``<out stem>_kernel.png`` beside it."""
    out = Path(out)
    return out.with_name(f"{out.stem}_kernel.png")


def check_kernel(kernel: np.ndarray, what: str = "kernel") -> np.ndarray:
    """``kernel`` as float64 if it is 2-D, finite, non-negative and of positive sum."""
    k = np.asarray(kernel, dtype=np.float64)
    if k.ndim != 2 or min(k.shape) < 1:
        raise ValueError(f"{what} must be a non-empty 2-D array, got shape {k.shape}")
    if not np.all(np.isfinite(k)) or k.min() < 0 or not k.sum() > 0:
        raise ValueError(f"{what} must be finite and non-negative with a positive sum")
    return k


def write_kernel(path: str | os.PathLike, kernel: np.ndarray) -> Path:
    """Write ``kernel`` as a 16-bit grayscale PNG scaled to its peak, atomically."""
    k = check_kernel(kernel)
    data = np.round(k / k.max() * UINT16_MAX).astype(np.uint16)
    path = Path(path)
    with atomic_path(path, suffix=".png") as tmp:
        Image.fromarray(data).save(tmp, format="PNG")
    return path


def read_kernel(path: str | os.PathLike) -> np.ndarray:
    """Read a kernel PNG (any grayscale depth) as float64 normalised to sum 1."""
    path = Path(path)
    try:
        with Image.open(path) as im:
            im.load()
            wide = im.mode.startswith("I") or im.mode == "F"  # 16/32-bit or float gray
            arr = np.asarray(im if wide else im.convert("L"), dtype=np.float64)
    except Image.DecompressionBombError:
        from deblur.data.imageio import too_large

        raise too_large(path) from None
    except (FileNotFoundError, OSError, ValueError) as exc:
        raise DeblurError(f"cannot read kernel {path}: {exc}") from None
    try:
        k = check_kernel(arr, what=f"kernel {path}")
    except ValueError as exc:
        raise DeblurError(str(exc)) from None
    return k / k.sum()
