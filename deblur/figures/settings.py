"""Settings of the figures (defaults in one place) and the metrics' axis labels.

Kept free of heavy imports (pandas, matplotlib) so the ``plot`` command can build its
``--help`` from these defaults quickly.
"""

from __future__ import annotations

from dataclasses import dataclass

from deblur.evaluation.settings import REPORTED_PSNR, REPORTED_SSIM

METRIC_LABELS = {"psnr": "PSNR (dB)", "ssim": "SSIM"}
METRIC_LABELS |= {"psnr_aligned": "aligned PSNR (dB)", "ssim_aligned": "aligned SSIM"}


@dataclass(frozen=True)
class PlotSettings:
    """Figure options (defaults in one place).

    Attributes
    ----------
    reported_psnr, reported_ssim : float or None
        The paper's values drawn as reference lines (None: no line).
    reproduced_method, baseline_method : str
        Methods shown last / first; the examples are chosen along the reproduced method's PSNR.
    resolution : str
        Resolution the example panels are shown and scored at (``model``: every panel at the
        finest SinGAN scale, as the metrics compare them; ``full``: at the original frame size).
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

    reported_psnr: float | None = REPORTED_PSNR
    reported_ssim: float | None = REPORTED_SSIM
    reproduced_method: str = "singan"
    baseline_method: str = "identity"
    resolution: str = "model"
    n_examples: int = 4
    example_crop: float = 0.0
    dpi: int = 150
    highlight: tuple[str, ...] = ()
    max_highlight: int = 6

    def reported(self, metric: str) -> float | None:
        return {"psnr": self.reported_psnr, "ssim": self.reported_ssim}[metric]
