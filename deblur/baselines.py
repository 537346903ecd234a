"""Classical deblurring baselines: functions that take an RGB float image and return one.

Every baseline maps a float (H, W, 3) image in [0, 1] to an image of the same shape and range, at
the input's resolution (the pipeline feeds the full-resolution blurry frame, so the ``full``
metric row of ``identity`` is exactly blurry-vs-sharp).

- ``identity``: the blurry input itself; the floor every deblurring method has to beat.
- ``unsharp``: :func:`skimage.filters.unsharp_mask` (sharpening, no blur model).
- ``richardson_lucy``: :func:`skimage.restoration.richardson_lucy` with a linear motion PSF
  estimated blindly from the blurry image by its cepstrum (:func:`estimate_motion_blur`).
- ``tv_blind``: total-variation blind deconvolution (:mod:`deblur.tvblind`): a free-form kernel
  estimated on the luminance by alternating image/kernel gradient steps over a pyramid, then a
  non-blind TV deconvolution per colour channel. :func:`run_baseline` can also return its kernel.
- ``oracle_tv``: the non-blind ceiling where the true kernel is known: a per-channel non-blind
  deconvolution with the true kernel (``run_baseline(..., kernel=...)``), TV by default or the
  hyper-Laplacian step (``nonblind``), so ``tv_blind``'s error over the oracle with the same
  step is the cost of estimating the kernel.

Parameters live in one frozen dataclass per kind (:data:`PARAMS`), so the defaults are in one
place and ``--param key=value`` on the command line is checked against the field names.
"""

from __future__ import annotations

import dataclasses
import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from deblur.tvblind import (
    MIN_TV_EPSILON,
    NONBLIND_KINDS,
    TVBlindParams,
    deconvolve_image,
    hyper_laplacian_settings,
    tv_blind_deconvolution,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class IdentityParams:
    """``identity`` has no parameters."""


@dataclass(frozen=True)
class UnsharpParams:
    """Parameters of :func:`unsharp`, passed to :func:`skimage.filters.unsharp_mask`.

    Attributes
    ----------
    radius : float
        Standard deviation (px) of the Gaussian whose residual is added back.
    amount : float
        Gain of the residual (0 returns the input).
    """

    radius: float = 2.0
    amount: float = 1.0

    def __post_init__(self):
        if not self.radius > 0:
            raise ValueError(f"unsharp radius must be > 0, got {self.radius}")


@dataclass(frozen=True)
class RichardsonLucyParams:
    """Parameters of :func:`richardson_lucy`.

    Attributes
    ----------
    num_iter : int
        Richardson-Lucy iterations. Few by default: noise and the error of an estimated PSF are
        amplified as iterations grow.
    psf_size : int
        Side (px, odd) of the square PSF support; blur lengths up to ``psf_size - 2`` are searched.
    min_length : float
        Shortest blur length (px) the estimator considers; shorter cepstral lags are dominated by
        the image's own spectrum.
    length, angle : float or None
        Fix the blur length (px) / angle (degrees) instead of estimating it; both ``None`` (the
        default) makes the baseline blind.
    """

    num_iter: int = 10
    psf_size: int = 41
    min_length: float = 3.0
    length: float | None = None
    angle: float | None = None

    def __post_init__(self):
        if self.num_iter < 1:
            raise ValueError(f"num_iter must be >= 1, got {self.num_iter}")
        if self.psf_size < 5 or self.psf_size % 2 == 0:
            raise ValueError(f"psf_size must be an odd integer >= 5, got {self.psf_size}")
        if not 1 <= self.min_length <= self.psf_size - 2:
            raise ValueError(f"min_length must be in [1, psf_size - 2], got {self.min_length}")
        if self.length is not None and not 0 <= self.length <= self.psf_size - 2:
            raise ValueError(f"length must be in [0, psf_size - 2], got {self.length}")


@dataclass(frozen=True)
class MotionBlur:
    """A uniform linear motion blur: ``length`` px along ``angle`` degrees.

    The angle is measured counter-clockwise from the image's +x axis (to the right, with y up as
    displayed), in [0, 180) since a motion and its reverse blur identically. ``score`` is the
    cepstral dip that selected it (more negative: clearer evidence; ``nan`` when not estimated).
    """

    length: float
    angle: float
    score: float = math.nan


def identity(image: np.ndarray, params: IdentityParams | None = None) -> np.ndarray:
    """Return a copy of the blurry input (the no-op baseline)."""
    return _check_image(image).copy()


def unsharp(image: np.ndarray, params: UnsharpParams | None = None) -> np.ndarray:
    """Unsharp masking with :func:`skimage.filters.unsharp_mask`, clipped to [0, 1]."""
    from skimage.filters import unsharp_mask

    params = params or UnsharpParams()
    image = _check_image(image)
    # channel_axis=2, not -1: skimage unsharp_mask mis-slices negative axes (scikit-image#7264)
    out = unsharp_mask(image, radius=params.radius, amount=params.amount, channel_axis=2)
    return np.clip(out, 0.0, 1.0).astype(np.float32)


def linear_motion_psf(length: float, angle: float, size: int) -> np.ndarray:
    """A normalized (size, size) PSF of a straight motion of ``length`` px along ``angle`` deg.

    The segment is centred on the kernel's centre pixel and rasterized by splatting densely
    sampled points bilinearly, so non-integer lengths and arbitrary angles are anti-aliased.
    A length below 1 px gives a delta.
    """
    if size < 1 or size % 2 == 0:
        raise ValueError(f"size must be a positive odd integer, got {size}")
    if not 0 <= length <= size - 2:
        raise ValueError(f"length must be in [0, size - 2] = [0, {size - 2}], got {length}")
    psf = np.zeros((size, size), dtype=np.float64)
    c = size // 2
    if length < 1:
        psf[c, c] = 1.0
        return psf
    t = np.linspace(-length / 2, length / 2, int(math.ceil(length * 20)) + 1)
    theta = math.radians(angle)
    x = c + t * math.cos(theta)
    y = c - t * math.sin(theta)  # rows grow downwards, the angle is measured with y up
    x0, y0 = np.floor(x).astype(int), np.floor(y).astype(int)
    fx, fy = x - x0, y - y0
    for dy, wy in ((0, 1 - fy), (1, fy)):
        for dx, wx in ((0, 1 - fx), (1, fx)):
            np.add.at(psf, (y0 + dy, x0 + dx), wy * wx)
    return psf / psf.sum()


def estimate_motion_blur(
    image: np.ndarray, min_length: float = 3.0, max_length: float = 39.0
) -> MotionBlur:
    """Estimate a linear motion blur's length and angle from the blurry image alone.

    The classic cepstral method (Cannon 1976; Rom 1977): a uniform linear motion of length L
    multiplies the image spectrum by a sinc whose zeros repeat every 1/L along the motion
    direction, so log|F| carries a ripple of period 1/L and the cepstrum
    ``C = real(ifft2(log|fft2(g)|))`` has a strong *negative* peak at distance L from the origin
    in the direction of motion, while a natural image's smooth log-spectrum only contributes near
    the origin. Steps:

    1. ``g``: luminance (mean of RGB), mean removed, times a 2-D Hann window (suppresses the
       border discontinuity, whose cross-shaped spectrum would otherwise dominate).
    2. ``C`` as above, with ``log(|F| + 1e-8 max|F|)``; centred with fftshift.
    3. Sample ``C`` bilinearly on a polar grid, angle 0..179.5 deg in 0.5 deg steps and radius
       ``min_length..max_length`` in 0.25 px steps; the minimum gives (angle, length).
       ``C`` is point-symmetric, so angles in [0, 180) cover all directions.

    Assumes spatially uniform, straight, constant-speed motion; real camera shake (GoPro) is
    neither, so on real data this is a first-order estimate and the deconvolution a baseline,
    not a state-of-the-art method. Short blurs (about 5 px or less) leave a shallow dip that the
    image's own structure can outrank, and a spurious longer blur is returned (``score`` is then
    weak, around -0.02 instead of -0.04 to -0.09 for clear cases on 320x180 test images).

    Parameters
    ----------
    image : ndarray
        (H, W) or (H, W, C) float image.
    min_length, max_length : float
        Range of blur lengths (px) searched.

    Returns
    -------
    MotionBlur
        The estimate, with ``score`` the value of the cepstral dip (more negative: clearer).
    """
    gray = image.mean(axis=-1) if image.ndim == 3 else image
    if gray.ndim != 2:
        raise ValueError(f"image must be (H, W) or (H, W, C), got shape {image.shape}")
    if not 1 <= min_length <= max_length:
        raise ValueError(f"need 1 <= min_length <= max_length, got {min_length}, {max_length}")
    if min(gray.shape) < 2 * max_length + 3:
        raise ValueError(
            f"image {gray.shape[1]}x{gray.shape[0]} too small to search blur lengths up to "
            f"{max_length} px; lower max_length (psf_size)"
        )
    g = gray.astype(np.float64) - gray.mean()
    g *= np.outer(np.hanning(g.shape[0]), np.hanning(g.shape[1]))
    mag = np.abs(np.fft.fft2(g))
    cep = np.fft.fftshift(np.real(np.fft.ifft2(np.log(mag + 1e-8 * mag.max() + 1e-30))))
    cy, cx = cep.shape[0] // 2, cep.shape[1] // 2
    angles = np.arange(0.0, 180.0, 0.5)
    radii = np.arange(min_length, max_length + 1e-9, 0.25)
    theta = np.deg2rad(angles)[:, None]
    rows = cy - radii[None, :] * np.sin(theta)
    cols = cx + radii[None, :] * np.cos(theta)
    vals = ndimage.map_coordinates(cep, [rows.ravel(), cols.ravel()], order=1)
    vals = vals.reshape(rows.shape)
    i, j = np.unravel_index(np.argmin(vals), vals.shape)
    return MotionBlur(length=float(radii[j]), angle=float(angles[i]), score=float(vals[i, j]))


def motion_blur_for(image: np.ndarray, params: RichardsonLucyParams) -> MotionBlur:
    """The blur :func:`richardson_lucy` uses: fixed by ``params`` where given, else estimated."""
    if params.length is not None and params.angle is not None:
        return MotionBlur(length=float(params.length), angle=float(params.angle) % 180.0)
    # cepstral lags must stay below half the image side: small images search shorter blurs
    max_length = min(params.psf_size - 2, (min(image.shape[:2]) - 3) // 2)
    if max_length < params.psf_size - 2:
        log.info(
            "image %dx%d: searching blur lengths up to %d px only",
            image.shape[1],
            image.shape[0],
            max_length,
        )
    if max_length < params.min_length:
        raise ValueError(
            f"image {image.shape[1]}x{image.shape[0]} too small to estimate a blur of at least "
            f"{params.min_length} px; give length and angle"
        )
    est = estimate_motion_blur(image, params.min_length, max_length)
    return MotionBlur(
        length=est.length if params.length is None else float(params.length),
        angle=est.angle if params.angle is None else float(params.angle) % 180.0,
        score=est.score,
    )


def richardson_lucy(
    image: np.ndarray,
    params: RichardsonLucyParams | None = None,
    blur: MotionBlur | None = None,
) -> np.ndarray:
    """Blind Richardson-Lucy deconvolution with a linear motion PSF.

    The PSF is ``linear_motion_psf(blur.length, blur.angle, params.psf_size)`` with ``blur`` from
    :func:`motion_blur_for` unless given (it searches lengths up to ``psf_size - 2`` px, fewer on
    images whose shorter side is below ``2 * psf_size``). The image is reflect-padded by
    ``psf_size`` on every side before :func:`skimage.restoration.richardson_lucy` (all channels
    at once, the PSF broadcast over channels) and cropped back, so the zero boundary of its
    ``'same'`` convolution does not darken and ring the borders. The result is clipped to [0, 1].
    """
    from skimage.restoration import richardson_lucy as skimage_rl

    params = params or RichardsonLucyParams()
    image = _check_image(image)
    blur = blur or motion_blur_for(image, params)
    log.info("richardson_lucy: blur length %.2f px, angle %.1f deg", blur.length, blur.angle)
    psf = linear_motion_psf(blur.length, blur.angle, params.psf_size)[:, :, None]
    p = params.psf_size
    padded = np.pad(image, ((p, p), (p, p), (0, 0)), mode="reflect")
    out = skimage_rl(padded, psf.astype(np.float32), num_iter=params.num_iter, clip=True)
    return np.clip(out[p:-p, p:-p], 0.0, 1.0).astype(np.float32)


@dataclass(frozen=True)
class OracleTVParams:
    """Parameters of :func:`oracle_tv`; the defaults are ``tv_blind``'s final step's.

    Attributes
    ----------
    nonblind : str
        The non-blind step: ``tv`` (accelerated gradient steps on the TV-regularised valid
        model) or ``hyper_laplacian`` (Krishnan & Fergus 2009, :mod:`deblur.hyperlaplacian`).
    tv_lambda : float
        TV weight of the ``tv`` step.
    iterations : int
        Accelerated gradient steps of the ``tv`` step.
    tv_epsilon : float
        Smoothing of the TV norm.
    hl_lambda, hl_alpha : float
        Data weight and gradient exponent of the ``hyper_laplacian`` step.
    irls_weight : float
        Prior weight of the ``sparse_irls`` step (Levin et al. 2007, :mod:`deblur.sparsedeconv`).
    """

    nonblind: str = "tv"
    tv_lambda: float = TVBlindParams.final_lambda
    iterations: int = TVBlindParams.final_iterations
    tv_epsilon: float = TVBlindParams.final_epsilon
    hl_lambda: float = TVBlindParams.hl_lambda
    hl_alpha: float = TVBlindParams.hl_alpha
    irls_weight: float = TVBlindParams.irls_weight

    def __post_init__(self):
        if self.nonblind not in NONBLIND_KINDS:
            raise ValueError(
                f"nonblind must be one of {', '.join(NONBLIND_KINDS)}, got {self.nonblind}"
            )
        if not self.tv_lambda > 0:
            raise ValueError(f"tv_lambda must be > 0, got {self.tv_lambda}")
        if self.iterations < 1:
            raise ValueError(f"iterations must be >= 1, got {self.iterations}")
        if not self.tv_epsilon >= MIN_TV_EPSILON:
            raise ValueError(f"tv_epsilon must be >= {MIN_TV_EPSILON:.3g}, got {self.tv_epsilon}")
        hyper_laplacian_settings(self.hl_lambda, self.hl_alpha)  # checks both
        if not self.irls_weight > 0:
            raise ValueError(f"irls_weight must be > 0, got {self.irls_weight}")


def oracle_tv(
    image: np.ndarray, params: OracleTVParams | None = None, kernel: np.ndarray | None = None
) -> np.ndarray:
    """Non-blind deconvolution of each channel with the true ``kernel``, clipped to [0, 1]."""
    from deblur.kernelio import check_kernel

    params = params or OracleTVParams()
    image = _check_image(image)
    if kernel is None:
        raise ValueError("oracle_tv needs the true kernel (the pair's kernel/ PNG)")
    k = check_kernel(kernel)
    if k.shape[0] != k.shape[1] or k.shape[0] % 2 == 0:
        raise ValueError(f"kernel must be square with an odd side, got shape {k.shape}")
    if min(image.shape[:2]) < k.shape[0]:
        raise ValueError(f"image {image.shape[1]}x{image.shape[0]} is smaller than the kernel")
    return deconvolve_image(
        image.astype(np.float64),
        k / k.sum(),
        params.nonblind,
        tv_lambda=params.tv_lambda,
        tv_iterations=params.iterations,
        tv_epsilon=params.tv_epsilon,
        hl_lambda=params.hl_lambda,
        hl_alpha=params.hl_alpha,
        irls_weight=params.irls_weight,
    )


def tv_blind(image: np.ndarray, params: TVBlindParams | None = None) -> np.ndarray:
    """Blind TV deconvolution (:func:`deblur.tvblind.tv_blind_deconvolution`), image only."""
    return tv_blind_deconvolution(_check_image(image), params)[0]


# kind -> (function, parameter dataclass); the CLI and the workflow use exactly these names
BASELINES: dict[str, tuple[Callable[..., np.ndarray], type]] = {
    "identity": (identity, IdentityParams),
    "unsharp": (unsharp, UnsharpParams),
    "richardson_lucy": (richardson_lucy, RichardsonLucyParams),
    "tv_blind": (tv_blind, TVBlindParams),
    "oracle_tv": (oracle_tv, OracleTVParams),
}
METHOD_KINDS = tuple(BASELINES)
KERNEL_KINDS = ("tv_blind",)  # kinds that estimate a free-form kernel (written beside the output)
ORACLE_KINDS = ("oracle_tv",)  # kinds that need the true kernel


def parse_params(kind: str, pairs: Sequence[str]) -> object:
    """Build the parameter dataclass of ``kind`` from ``["key=value", ...]`` strings.

    Values are converted to the field's type (``none`` gives ``None`` for optional fields).
    Raises ``ValueError`` naming the bad key or value and listing the valid keys.
    """
    if kind not in BASELINES:
        raise ValueError(f"unknown baseline kind {kind!r}; choose one of {', '.join(BASELINES)}")
    cls = BASELINES[kind][1]
    fields = {f.name: f for f in dataclasses.fields(cls)}
    values: dict[str, object] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        key = key.strip()
        if not sep or key not in fields:
            valid = ", ".join(fields) or "none"
            raise ValueError(f"bad parameter {pair!r} for {kind}: use key=value, key in {valid}")
        values[key] = _convert(raw.strip(), fields[key].type, f"{kind} parameter {key}")
    return cls(**values)


def params_dict(params: object) -> dict[str, object]:
    """A baseline's parameters as a plain dict (for logs and provenance)."""
    return dataclasses.asdict(params)


def run_baseline(
    kind: str,
    image: np.ndarray,
    params: object | None = None,
    *,
    with_kernel: bool = False,
    kernel: np.ndarray | None = None,
):
    """Run baseline ``kind`` on ``image``; returns ``(output, info)``.

    ``info`` is a flat dict for provenance: ``kind``, the parameters (prefixed ``param_``), and
    for ``richardson_lucy`` the blur used (``psf_length``, ``psf_angle``, ``psf_score``).
    With ``with_kernel``, returns ``(output, info, kernel)``: the estimated kernel for
    :data:`KERNEL_KINDS`, else ``None``. ``kernel`` is the true kernel, which
    :data:`ORACLE_KINDS` need and the others refuse.
    """
    if kind not in BASELINES:
        raise ValueError(f"unknown baseline kind {kind!r}; choose one of {', '.join(BASELINES)}")
    fn, cls = BASELINES[kind]
    params = params if params is not None else cls()
    info: dict[str, object] = {"kind": kind}
    info.update({f"param_{k}": v for k, v in params_dict(params).items()})
    if kernel is not None and kind not in ORACLE_KINDS:
        raise ValueError(f"{kind} is blind and takes no kernel")
    if kind in ORACLE_KINDS:
        out = fn(image, params, kernel)
        return (out, info, None) if with_kernel else (out, info)
    if kind == "tv_blind":
        out, kernel = tv_blind_deconvolution(_check_image(image), params)
        return (out, info, kernel) if with_kernel else (out, info)
    out, info = _run_other(kind, fn, image, params, info)
    return (out, info, None) if with_kernel else (out, info)


def _run_other(kind, fn, image, params, info):
    if kind == "richardson_lucy":
        image = _check_image(image)
        blur = motion_blur_for(image, params)
        score = None if math.isnan(blur.score) else blur.score  # NaN is not valid JSON
        info.update(psf_length=blur.length, psf_angle=blur.angle, psf_score=score)
        return richardson_lucy(image, params, blur), info
    return fn(image, params), info


def _convert(raw: str, annotation: object, what: str) -> object:
    text = str(annotation)
    if raw.lower() in ("none", "null") and "None" in text:
        return None
    try:
        if text.startswith("int"):
            return int(raw)
        if text.startswith("float"):
            value = float(raw)
            if not math.isfinite(value):
                raise ValueError(f"{what} must be a finite number, got {raw!r}")
            return value
    except ValueError as exc:
        if "finite" in str(exc):
            raise
        kind = "an integer" if text.startswith("int") else "a number"
        raise ValueError(f"{what} must be {kind}, got {raw!r}") from None
    return raw


def _check_image(image: np.ndarray) -> np.ndarray:
    if not isinstance(image, np.ndarray) or image.ndim != 3 or image.shape[2] != 3:
        shape = getattr(image, "shape", None)
        raise ValueError(f"image must be a float (H, W, 3) array, got shape {shape}")
    if not np.all(np.isfinite(image)):
        raise ValueError("image contains NaN or inf")
    return image.astype(np.float32, copy=False)
