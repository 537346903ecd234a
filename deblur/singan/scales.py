"""How many scales a SinGAN pyramid has and their sizes (integer arithmetic, no torch).

Follows the reference's ``adjust_scales2image`` (tamarott/SinGAN's ``functions.py``). Scales are
numbered from the coarsest (0) to the finest (N-1). Kept free of torch so the workflow can plan
pyramids at parse time; :mod:`deblur.singan.pyramid` builds the real images at these sizes.
"""

from __future__ import annotations

import math

from deblur.errors import DeblurError
from deblur.singan.config import SinGANConfig
from deblur.sizes import capped_size, scaled_size


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
