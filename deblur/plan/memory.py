"""Memory (MB) a job asks a scheduler for, estimated from the pixels it works on.

Jobs that work on the whole frame need memory that grows with it: evaluate (every score is
also computed at full resolution), the classical baselines (they deblur the frame at its own
size) and SinGAN's sr readings (their output is up to the frame's size). Their rules ask for
``base_mb + mb_per_megapixel * width * height / 1e6`` instead of a fixed amount, with the
coefficients of the workflow's configuration (measured peaks with a margin):
``evaluate.mem_mb_base`` and ``evaluate.mem_mb_per_megapixel``, ``baselines.mem_mb`` per kind,
``inference.mem_mb`` and ``inference.sr_mem_mb_per_megapixel``.
"""

from __future__ import annotations

import errno
import math
import os
from pathlib import Path

from deblur.data.gopro import image_size
from deblur.errors import DeblurError


def estimate_mem_mb(width: int, height: int, base_mb: float, mb_per_megapixel: float) -> int:
    """``base_mb + mb_per_megapixel`` per megapixel of a ``width`` x ``height`` image, in
    whole MB (rounded up).

    >>> estimate_mem_mb(1280, 720, 500, 250)
    731
    """
    return math.ceil(base_mb + mb_per_megapixel * width * height / 1e6)


def frame_mem_mb(image: str | os.PathLike, base_mb: float, mb_per_megapixel: float) -> int:
    """Memory (MB) to request for a job working on the frame ``image`` at its full size:
    :func:`estimate_mem_mb` of its size.

    Reads only the image header.

    Raises
    ------
    FileNotFoundError
        If ``image`` is not written yet (a dataset an earlier job makes): Snakemake takes this
        as "to be determined" and evaluates the estimate again once the inputs exist.

    A frame whose header cannot be read gets ``base_mb``: the job itself then stops naming
    the file, while an error here would abort the whole run's scheduling (and cancel the jobs
    already running on a cluster).
    """
    if not Path(image).is_file():
        raise FileNotFoundError(errno.ENOENT, "not written yet", str(image))
    try:
        width, height = image_size(Path(image))
    except DeblurError:
        return math.ceil(base_mb)
    return estimate_mem_mb(width, height, base_mb, mb_per_megapixel)
