"""Image-size arithmetic shared by the model, the metrics and the workflow's planning.

Integers only (no torch, no numpy), so Snakemake's parse time can use it; the resizing itself
is in :mod:`deblur.resize`.
"""

from __future__ import annotations

import math


def scaled_size(h: int, w: int, scale: float) -> tuple[int, int]:
    """Size of an (h, w) image scaled by ``scale``, rounded up like the reference ``imresize``."""
    # the epsilon keeps exact products such as 1280 * (250 / 1280) from rounding up to 251
    return max(1, math.ceil(h * scale - 1e-9)), max(1, math.ceil(w * scale - 1e-9))


def capped_size(h: int, w: int, max_size: int) -> tuple[int, int]:
    """Size after downscaling so the longer side is at most ``max_size`` (never upscales).

    >>> capped_size(720, 1280, 250)
    (141, 250)
    """
    return scaled_size(h, w, min(max_size / max(h, w), 1.0))


def same_aspect(a: tuple[int, int], b: tuple[int, int]) -> bool:
    """True if sizes ``a`` and ``b`` = (h, w) can be one aspect ratio, each side rounded.

    Rounding a side of ``n`` px by less than a pixel (as :func:`scaled_size` and any resize
    do) moves its log by less than ``1 / (n - 1)``, so ``log(h / w)`` moves by less than
    ``1 / (h - 1) + 1 / (w - 1)``; ``a`` and ``b`` may both be rounded, so their log aspect
    ratios may differ by the sum of the two.

    >>> same_aspect((141, 250), (720, 1280)), same_aspect((250, 141), (720, 1280))
    (True, False)
    """

    def slack(h: int, w: int) -> float:
        return 1.0 / max(h - 1, 1) + 1.0 / max(w - 1, 1)

    (h1, w1), (h2, w2) = a, b
    return abs(math.log(h1 / w1) - math.log(h2 / w2)) <= slack(h1, w1) + slack(h2, w2)
