"""Image I/O used everywhere: read any image as float RGB in [0, 1], write PNG atomically."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from deblur.atomic import atomic_path
from deblur.errors import DeblurError

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")


def is_image_file(path: str | os.PathLike) -> bool:
    """True if ``path`` has an image suffix we read (case-insensitive)."""
    return Path(path).suffix.lower() in IMAGE_SUFFIXES


def read_rgb(path: str | os.PathLike) -> np.ndarray:
    """Read an image as a float32 array of shape (H, W, 3) with values in [0, 1].

    Grayscale is replicated to RGB and an alpha channel is dropped (both logged); 16-bit images
    are scaled by 65535. Raises :class:`DeblurError` naming the file when it cannot be read.
    """
    path = Path(path)
    if not path.is_file():
        raise DeblurError(f"image not found: {path}; check the path (and dataset.root)")
    try:
        with Image.open(path) as im:
            im.load()
            mode = im.mode
            arr = np.asarray(im)
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise DeblurError(
            f"cannot read image {path}: {exc}; replace the file with a valid PNG/JPEG"
        ) from None
    if arr.dtype == np.uint8:
        img = arr.astype(np.float32) / 255.0
    elif arr.dtype in (np.uint16, np.int32) or mode.startswith("I"):
        img = arr.astype(np.float32) / 65535.0
    elif arr.dtype == bool:
        img = arr.astype(np.float32)
    else:
        img = np.clip(arr.astype(np.float32), 0.0, 1.0)
    if img.ndim == 2:
        log.info("%s is grayscale (%s); replicating it to RGB", path, mode)
        img = np.repeat(img[:, :, None], 3, axis=2)
    elif img.shape[2] == 2:  # LA: luminance + alpha
        log.info("%s has an alpha channel (%s); dropping alpha and replicating to RGB", path, mode)
        img = np.repeat(img[:, :, :1], 3, axis=2)
    elif img.shape[2] == 4:
        log.info("%s has an alpha channel (%s); dropping alpha", path, mode)
        img = img[:, :, :3]
    elif img.shape[2] != 3:
        raise DeblurError(f"cannot read image {path}: {img.shape[2]} channels; expected RGB")
    return np.ascontiguousarray(img, dtype=np.float32)


def to_uint8(img: np.ndarray) -> np.ndarray:
    """Float image in [0, 1] -> uint8, rounding to nearest (values outside are clipped)."""
    return (np.clip(img, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


def write_png(path: str | os.PathLike, img: np.ndarray) -> Path:
    """Write a float [0, 1] (or uint8) RGB/gray image as PNG, atomically. Returns the path."""
    path = Path(path)
    if img.dtype != np.uint8:
        if not np.all(np.isfinite(img)):
            raise ValueError(f"refusing to write {path}: image contains NaN or inf")
        img = to_uint8(img)
    with atomic_path(path, suffix=".png") as tmp:
        Image.fromarray(img).save(tmp, format="PNG")
    return path
