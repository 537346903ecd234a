"""How much memory an evaluate job needs: it grows with the frame size (every score is also
computed at full resolution), so a cluster job asks for an estimate from the sharp frame's
header instead of a fixed amount.

The estimate is ``base_mb + mb_per_megapixel * width * height / 1e6`` with the workflow's
``evaluate.mem_mb_base`` and ``evaluate.mem_mb_per_megapixel`` (config.yaml): measured peaks
with a margin (the measurement is in docs/bad-input.md).
"""

from __future__ import annotations

import errno
import math
import os
from pathlib import Path

from deblur.data.gopro import image_size
from deblur.errors import DeblurError


def evaluate_mem_mb(sharp: str | os.PathLike, base_mb: float, mb_per_megapixel: float) -> int:
    """Memory (MB) to request for evaluating a prediction against the frame ``sharp``.

    Reads only the image header.

    Raises
    ------
    FileNotFoundError
        If ``sharp`` is not written yet (a dataset an earlier job makes): Snakemake takes this
        as "to be determined" and evaluates the estimate again once the inputs exist.

    A frame whose header cannot be read gets ``base_mb``: the evaluate job itself then stops
    naming the file, while an error here would abort the whole run's scheduling (and cancel
    the jobs already running on a cluster).
    """
    if not Path(sharp).is_file():
        raise FileNotFoundError(errno.ENOENT, "not written yet", str(sharp))
    try:
        width, height = image_size(Path(sharp))
    except DeblurError:
        return math.ceil(base_mb)
    return math.ceil(base_mb + mb_per_megapixel * width * height / 1e6)
