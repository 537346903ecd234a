"""Settings of the evaluation side (paper numbers, bootstrap, alignment) and the names every
table and figure shares (metrics, their printed digits, resolutions). The figures' own settings
are in :mod:`deblur.figures.settings`.

Kept free of heavy imports (pandas, torch, matplotlib) so the CLI can build its ``--help`` from
these defaults quickly.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

# metric resolutions, in table order (see deblur.evaluation.metrics)
RESOLUTIONS = ("model", "full")
METRICS = ("psnr", "ssim")
# the shift-tolerant scores (deblur.evaluation.aligned), summarised like METRICS where present
ALIGNED_METRICS = ("psnr_aligned", "ssim_aligned")
DIGITS = {"psnr": 2, "ssim": 3, "psnr_aligned": 2, "ssim_aligned": 3}  # Markdown decimals
# the paper's numbers (its Section 4: "around 100" random GoPro test images), written once
REPORTED_PSNR, REPORTED_SSIM = 15.3, 0.52
CI_METHODS = ("percentile", "BCa", "basic")  # scipy.stats.bootstrap's interval methods


@dataclass(frozen=True)
class PaperSettings:
    """What is compared with the paper: declared once here, for the tables, the figures and
    the workflow (config ``paper`` and ``evaluate.resolution``; omitted keys take these).

    Attributes
    ----------
    reported_psnr, reported_ssim : float or None
        The paper's numbers (§4: "around 100" random GoPro test images); None (figures only):
        no reference line.
    reproduced_method : str
        The metrics ``method`` compared with the paper (SinGAN G_0).
    baseline_method : str
        The method paired differences are taken against (the blurry input).
    resolution : str
        Resolution of the primary table and verdict, and of the example panels (``model``: the
        paper's setting, the finest SinGAN scale; ``full``: the original frame size).
    """

    reported_psnr: float | None = REPORTED_PSNR
    reported_ssim: float | None = REPORTED_SSIM
    reproduced_method: str = "singan"
    baseline_method: str = "identity"
    resolution: str = "model"

    def __post_init__(self):
        if self.resolution not in RESOLUTIONS:
            raise ValueError(f"resolution must be one of {RESOLUTIONS}, got {self.resolution!r}")

    def reported(self, metric: str) -> float | None:
        return {"psnr": self.reported_psnr, "ssim": self.reported_ssim}[metric]


@dataclass(frozen=True)
class ReportSettings(PaperSettings):
    """The paper table's settings: what it compares (:class:`PaperSettings`) and its statistics.

    Attributes
    ----------
    n_boot : int
        Bootstrap resamples for every confidence interval.
    seed : int
        Seed of the bootstrap generator (the same resampling indices for every group of equal n).
    confidence : float
        Confidence level of the intervals.
    ci_method : str
        Bootstrap interval of :func:`scipy.stats.bootstrap`: ``percentile`` (the default: the
        interval every measured table in docs/ reports), ``BCa`` (bias-corrected and
        accelerated; NaN on constant data) or ``basic``.
    """

    n_boot: int = 10_000
    seed: int = 0
    confidence: float = 0.95
    ci_method: str = "percentile"

    def __post_init__(self):
        super().__post_init__()
        for metric in ("psnr", "ssim"):
            if self.reported(metric) is None:
                raise ValueError(f"the paper table needs reported_{metric}, got None")
        if self.ci_method not in CI_METHODS:
            raise ValueError(f"ci_method must be one of {CI_METHODS}, got {self.ci_method!r}")
        if self.n_boot < 1:
            raise ValueError(f"n_boot must be >= 1, got {self.n_boot}")
        if not 0 < self.confidence < 1:
            raise ValueError(f"confidence must be in (0, 1), got {self.confidence}")


@dataclass(frozen=True)
class StudySettings(ReportSettings):
    """Settings of the ablation study (:mod:`deblur.evaluation.study`): those of the paper
    table plus which methods the compact figures and the per-sequence table show.

    Attributes
    ----------
    highlight : tuple of str
        Methods shown in the per-sequence table and the compact figures; empty = automatic
        (:func:`deblur.evaluation.study.highlight_methods`).
    max_highlight : int
        At most this many automatically chosen methods.
    """

    highlight: tuple[str, ...] = ()
    max_highlight: int = 6

    def __post_init__(self):
        super().__post_init__()
        if self.max_highlight < 2:
            raise ValueError(f"max_highlight must be >= 2, got {self.max_highlight}")


@dataclass(frozen=True)
class AlignSettings:
    """The shift-tolerant protocol's window (defaults in one place).

    Attributes
    ----------
    max_shift : int
        Largest shift searched along each axis, in full-resolution pixels; 0 turns the aligned
        scores off.
    crop : int
        Border removed before scoring, in full-resolution pixels (on top of ``max_shift``, so
        no shifted-in pixel is ever scored).
    """

    max_shift: int = 8
    crop: int = 8

    def __post_init__(self):
        for name in ("max_shift", "crop"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 0:
                raise ValueError(f"{name} must be a non-negative integer, got {value!r}")

    @property
    def enabled(self) -> bool:
        return self.max_shift > 0

    def at_scale(
        self, factor: float, shorter_side: int | None = None, min_interior: int = 1
    ) -> tuple[int, int]:
        """(max_shift, crop) in pixels of an image ``factor`` times the full-resolution size.

        With ``shorter_side`` (of that image), both shrink together where their sum would
        exceed a quarter of it, so at least half of each side is scored, or would leave fewer
        than ``min_interior`` pixels across (tiny frames). (0, 0) where not even a 1 px shift
        fits: the frame is too small to align."""
        if not factor > 0:
            raise ValueError(f"factor must be positive, got {factor}")
        shift = max(1, math.ceil(self.max_shift * factor - 1e-9))
        crop = math.ceil(self.crop * factor - 1e-9)
        if shorter_side is None:
            return shift, crop
        limit = min(shorter_side / 4, (shorter_side - min_interior) // 2)
        if limit < 1:
            return 0, 0
        if shift + crop > limit:
            fit = limit / (shift + crop)
            shift, crop = max(1, math.floor(shift * fit)), math.floor(crop * fit)
        return shift, crop

    def convention(self, shift: int, crop: int) -> str:
        """The protocol in words with the window used (``at_scale``'s pixels), recorded
        verbatim in every row that has aligned scores."""
        return (
            f"aligned: best integer shift within +-{shift} px by interior MSE, parabolic "
            f"subpixel refinement, cubic-spline shift, border of {crop} + {shift} px cropped "
            f"(settings: +-{self.max_shift} px and {self.crop} px at full resolution, scaled "
            "to this resolution, at most a quarter of the shorter side); plain PSNR/SSIM "
            "convention otherwise"
        )
