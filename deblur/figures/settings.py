"""Settings of the figures (defaults in one place) and the metrics' axis labels.

Kept free of heavy imports (pandas, matplotlib) so the ``plot`` command can build its
``--help`` from these defaults quickly.
"""

from __future__ import annotations

from dataclasses import dataclass

from deblur.evaluation.settings import PaperSettings

METRIC_LABELS = {"psnr": "PSNR (dB)", "ssim": "SSIM"}
METRIC_LABELS |= {"psnr_aligned": "aligned PSNR (dB)", "ssim_aligned": "aligned SSIM"}


@dataclass(frozen=True)
class PlotSettings(PaperSettings):
    """Figure options (defaults in one place) besides what is compared (:class:`PaperSettings`:
    the paper's values drawn as reference lines, None for none; the reproduced and baseline
    methods shown last and first, the examples chosen along the reproduced method's PSNR; the
    resolution the example panels are shown and scored at).

    Attributes
    ----------
    n_examples : int
        Pairs (rows) in ``examples.png``.
    example_crop : float
        If > 0, show a centred crop of this fraction of each image (at the ``resolution``
        size) instead of the whole image.
    dpi : int
        Resolution of the PNGs.
    highlight : tuple of str
        Methods of the compact figures (examples, PSNR vs SSIM, per-sequence, paired box plot);
        empty = automatic, at most ``max_highlight``
        (:func:`deblur.evaluation.study.highlight_methods`).
    max_highlight : int
        At most this many automatically chosen methods.
    """

    n_examples: int = 4
    example_crop: float = 0.0
    dpi: int = 150
    highlight: tuple[str, ...] = ()
    max_highlight: int = 6
