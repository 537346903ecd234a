"""What every figure shares: the theme, the paper's reference colour, seeded jitter of per-pair
points, boxes with points, and atomic PNG writing."""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # before pyplot: never needs a display

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import seaborn as sns  # noqa: E402

from deblur.atomic import atomic_path  # noqa: E402

log = logging.getLogger(__name__)

REFERENCE_COLOR = "#c0392b"  # the paper's reported values
JITTER = 0.22  # half-width of the per-pair points' horizontal jitter, in category widths
JITTER_SEED = 0


@contextlib.contextmanager
def seeded_jitter() -> Iterator[None]:
    """seaborn's stripplot jitters with numpy's global RNG: seed it inside the block (and put
    the caller's state back), so that the same tables give byte-identical figures."""
    state = np.random.get_state()  # noqa: NPY002 (the legacy global RNG is what seaborn uses)
    np.random.seed(JITTER_SEED)  # noqa: NPY002
    try:
        yield
    finally:
        np.random.set_state(state)  # noqa: NPY002


def boxes_and_points(box_linewidth: float | None = None, **common) -> None:
    """Box plot plus the jittered points themselves, per category (``common``: seaborn's
    data, axes, order and palette arguments, shared by both layers)."""
    box_kws = {} if box_linewidth is None else dict(linewidth=box_linewidth)
    sns.boxplot(**common, showfliers=False, width=0.55, boxprops=dict(alpha=0.45), **box_kws)
    with seeded_jitter():
        sns.stripplot(**common, jitter=JITTER, size=4, alpha=0.85, edgecolor="0.2", linewidth=0.4)


def theme() -> None:
    """The look every figure shares."""
    sns.set_theme(style="whitegrid", context="notebook", font_scale=0.95)


def save_figure(fig, path: str | os.PathLike, dpi: int) -> Path:
    """Write ``fig`` as a PNG atomically (no software tag: byte-identical reruns), close it."""
    path = Path(path)
    with atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, format="png", dpi=dpi, bbox_inches="tight", metadata={"Software": None})
    plt.close(fig)
    log.info("wrote %s", path)
    return path
