"""The image pyramid: how many scales, their sizes, and the real image at each.

Follows the reference's ``adjust_scales2image`` / ``creat_reals_pyramid`` (tamarott/SinGAN's
``functions.py``). Scales are numbered from the coarsest (0) to the finest (N-1); every level is
resized from the capped image directly, in torch, on whatever device the image lives on.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from deblur.errors import DeblurError
from deblur.resize import capped_size, resize_tensor, scaled_size
from deblur.singan.config import SinGANConfig


def pyramid_sizes(
    height: int, width: int, config: SinGANConfig, name: str = "image"
) -> tuple[list[tuple[int, int]], float]:
    """Sizes (h, w) of every scale, coarsest first, and the recomputed scale factor.

    On the original H x W image: ``n_all = ceil(log(min_size / min(H, W)) / log r0) + 1`` and
    ``stop = n_all - ceil(log(min(max_size, max(H, W)) / max(H, W)) / log r0)``; there are
    ``stop + 1`` scales and the factor becomes ``(min_size / min(h, w)) ** (1 / stop)`` on the
    capped h x w image, so the coarsest short side is exactly ``min_size``.

    >>> sizes, r = pyramid_sizes(720, 1280, SinGANConfig())
    >>> len(sizes), sizes[0], sizes[-1], round(r, 3)
    (8, (25, 45), (141, 250), 0.781)
    """
    r0, min_size, max_size = config.scale_factor, config.min_size, config.max_size
    if min(height, width) < min_size:
        raise DeblurError(
            f"image too small: {name} is {width}x{height}, min_size is {min_size}; "
            f"use a larger image or lower singan.min_size"
        )
    h, w = capped_size(height, width, max_size)
    if min(h, w) < min_size:
        raise DeblurError(
            f"image too elongated: {name} is {width}x{height}; capped to max_size {max_size} "
            f"its short side is {min(h, w)} < min_size {min_size}; crop it or raise max_size"
        )
    n_all = math.ceil(math.log(min_size / min(height, width)) / math.log(r0)) + 1
    to_stop = math.ceil(
        math.log(min(max_size, max(height, width)) / max(height, width)) / math.log(r0)
    )
    stop = n_all - to_stop
    if stop < 1:
        raise DeblurError(
            f"{name} ({width}x{height}) gives a single-scale pyramid with min_size {min_size} "
            f"and max_size {max_size}; lower min_size or raise max_size"
        )
    factor = (min_size / min(h, w)) ** (1.0 / stop)
    sizes = [scaled_size(h, w, factor ** (stop - s)) for s in range(stop + 1)]
    return sizes, factor


def image_to_tensor(img: np.ndarray, device: torch.device | str = "cpu") -> torch.Tensor:
    """(H, W, 3) float image in [0, 1] -> (1, 3, H, W) tensor in [-1, 1] on ``device``."""
    x = torch.from_numpy(np.ascontiguousarray(img, dtype=np.float32))
    return x.permute(2, 0, 1)[None].to(device) * 2.0 - 1.0


def tensor_to_image(x: torch.Tensor) -> np.ndarray:
    """(1, 3, H, W) tensor in [-1, 1] -> (H, W, 3) float32 image clipped to [0, 1]."""
    y = ((x.detach()[0] + 1.0) / 2.0).clamp(0.0, 1.0)
    return y.permute(1, 2, 0).to("cpu", torch.float32).numpy()


def build_pyramid(image: torch.Tensor, sizes: list[tuple[int, int]]) -> list[torch.Tensor]:
    """The real image at every size in ``sizes``, each resized from the finest one.

    ``image`` is the (1, 3, H, W) original; it is first capped to ``sizes[-1]``.
    """
    finest = resize_tensor(image, sizes[-1])
    return [resize_tensor(finest, size) for size in sizes]
