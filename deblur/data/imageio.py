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


# modes PIL converts to RGB itself, and what the log says about each
_PIL_MODES = {
    "RGB": None,
    "L": "grayscale (L); replicating it to RGB",
    "1": "grayscale (1, bilevel); replicating it to RGB",
    "P": "a palette image (P); converting its colours to RGB",
    "PA": "a palette image with an alpha channel (PA); dropping alpha, converting to RGB",
    "LA": "grayscale with an alpha channel (LA); dropping alpha and replicating to RGB",
    "RGBA": "an alpha channel (RGBA); dropping alpha",
    "RGBa": "a premultiplied alpha channel (RGBa); un-premultiplying and dropping alpha",
    "RGBX": "a padding channel (RGBX); dropping it",
    "CMYK": "CMYK; converting to RGB as PIL does",
    "YCbCr": "YCbCr; converting to RGB",
    "LAB": "CIELAB; converting to RGB as PIL does",
    "HSV": "HSV; converting to RGB",
}
# single-channel modes wider than 8 bits, scaled to [0, 1] here (PIL would clip them to 255)
_WIDE_MODES = ("I;16", "I;16L", "I;16B", "I;16N", "I", "F")
_UINT16_MAX = 65535.0


def read_rgb(path: str | os.PathLike) -> np.ndarray:
    """Read an image as a float32 array of shape (H, W, 3) with values in [0, 1].

    8-bit modes are converted by PIL's ``convert("RGB")`` (palette colours looked up, CMYK
    and YCbCr converted, grayscale replicated, alpha dropped; each logged). A 16-bit colour
    image is read at 8 bits per channel, as PIL decodes it, with a warning. Wider grayscale
    modes are replicated to RGB after scaling: 16-bit (``I;16*``) and 32-bit integer (``I``,
    which PIL uses for 16-bit data) are divided by 65535, and ``I`` values outside
    [0, 65535] are refused; float (``F``) is used as is and refused if any value is NaN or
    outside [0, 1] (clipping would silently change the image). Any other mode is refused.

    Raises
    ------
    DeblurError
        Naming the file (and the mode) when it is missing, cannot be decoded, or has a mode
        or values that cannot be read as RGB.
    """
    path = Path(path)
    if not path.is_file():
        raise DeblurError(f"image not found: {path}; check the path (and dataset.root)")
    try:
        with Image.open(path) as im:
            _warn_reduced_depth(im, path)
            im.load()
            img = _to_rgb(im, path)
    except Image.DecompressionBombError:
        raise too_large(path) from None
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise DeblurError(
            f"cannot read image {path}: {exc}; replace the file with a valid PNG/JPEG"
        ) from None
    return np.ascontiguousarray(img, dtype=np.float32)


def too_large(path: str | os.PathLike) -> DeblurError:
    """The one-line error for an image whose header claims more pixels than PIL decodes
    (:class:`PIL.Image.DecompressionBombError`: over twice ``PIL.Image.MAX_IMAGE_PIXELS``)."""
    limit = 2 * Image.MAX_IMAGE_PIXELS
    saved, Image.MAX_IMAGE_PIXELS = Image.MAX_IMAGE_PIXELS, None
    try:
        with Image.open(path) as im:  # the header only
            size = f"{im.size[0]}x{im.size[1]} = {im.size[0] * im.size[1]} pixels"
    except Exception:  # the size is a detail of the message
        size = "more pixels"
    finally:
        Image.MAX_IMAGE_PIXELS = saved
    return DeblurError(
        f"cannot read image {path}: its header claims {size}, over the {limit} pixels PIL "
        "decodes (a guard against decompression bombs); downscale the image"
    )


def _warn_reduced_depth(im: Image.Image, path: Path) -> None:
    """Log that PIL reduces a 16-bit colour image (RGB, RGBA, LA) to 8 bits per channel (it has
    no 16-bit colour mode; 16-bit grayscale is read at full depth). Call before ``load``."""
    rawmode = im.tile[0][3] if im.tile and len(im.tile[0]) > 3 else None
    if isinstance(rawmode, str) and ";16" in rawmode and im.mode not in _WIDE_MODES:
        log.warning(
            "%s is %s with 16 bits per channel (%s); PIL reads colour images at 8 bits, so "
            "it is used at 8 bits per channel (save it as 8-bit, or as 16-bit grayscale, to "
            "silence this)", path, im.mode, rawmode,
        )  # fmt: skip


def _to_rgb(im: Image.Image, path: Path) -> np.ndarray:
    """The loaded image ``im`` as float (H, W, 3) in [0, 1]; DeblurError for unusable modes."""
    mode = im.mode
    if mode in _WIDE_MODES:
        gray = _wide_gray(np.asarray(im), mode, path)
        log.info("%s is grayscale (%s); scaling and replicating it to RGB", path, mode)
        return np.repeat(gray[:, :, None], 3, axis=2)
    if mode not in _PIL_MODES:
        raise DeblurError(
            f"cannot read image {path}: unsupported PIL mode {mode}; save it as an 8-bit "
            "RGB or grayscale PNG"
        )
    if _PIL_MODES[mode]:
        log.info("%s is %s", path, _PIL_MODES[mode])
    return np.asarray(im.convert("RGB"), dtype=np.float32) / 255.0


def _wide_gray(arr: np.ndarray, mode: str, path: Path) -> np.ndarray:
    """A 16-bit, 32-bit integer or float gray image scaled to [0, 1] (see :func:`read_rgb`)."""
    if mode == "F":
        lo, hi, top = 0.0, 1.0, 1.0
    else:
        lo, hi, top = 0.0, _UINT16_MAX, _UINT16_MAX
    arr = arr.astype(np.float64)
    finite = bool(np.all(np.isfinite(arr)))
    if not finite or arr.min() < lo or arr.max() > hi:
        found = "NaN or inf" if not finite else f"values in [{arr.min():.6g}, {arr.max():.6g}]"
        raise DeblurError(
            f"cannot read image {path}: mode {mode} with {found}, expected [{lo:g}, {hi:g}]; "
            "save it as an 8- or 16-bit PNG"
        )
    return (arr / top).astype(np.float32)


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
