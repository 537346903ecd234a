"""Fast non-blind deconvolution with a hyper-Laplacian prior (Krishnan & Fergus, NIPS 2009).

Model. For a blurry image ``y`` and a known kernel ``k`` the estimate minimises

    lam / 2 ||k * x - y||^2 + sum_i |(D_x x)_i|^alpha + |(D_y x)_i|^alpha,

with ``D_x``, ``D_y`` first differences and ``0 < alpha <= 1`` (heavy-tailed gradients: natural
images fit ``alpha`` in 0.5-0.8). Half-quadratic splitting introduces ``w`` per derivative and
minimises ``lam / 2 ||k * x - y||^2 + beta / 2 ||D x - w||^2 + sum |w|^alpha`` alternately:

- ``x`` step: a quadratic problem. The paper assumes circular boundaries and solves it in one
  division in the Fourier domain::

      x = F^-1[(conj(F D_x) F w_x + conj(F D_y) F w_y + lam/beta conj(F k) F y)
               / (|F D_x|^2 + |F D_y|^2 + lam/beta |F k|^2)]

- ``w`` step: per pixel, ``min_w |w|^alpha + beta / 2 (w - v)^2`` with ``v = D x``
  (:func:`solve_w`). The paper solves it by the roots of a quartic (``alpha = 2/3``) or a cubic
  (``alpha = 1/2``), or by a lookup table; here the same minimiser is found by Newton's method
  on the stationarity equation, which holds for every ``alpha`` in (0, 1) (and soft
  thresholding for ``alpha = 1``).

``beta`` follows the paper's continuation: from ``beta_start`` multiplied by ``beta_rate``
while below ``beta_max``, ``inner`` alternations at each value.

Boundaries (the one departure from the paper's usage; ``boundary = "circular"`` gives the
reference's instead: ``y`` edge-padded by half the kernel and tapered four times by
:func:`edgetaper`, then the circular Fourier division, then cropped). A blurry frame holds
light from outside it, which a circular model gets wrong at the border. Here ``x`` is larger
than ``y`` by the kernel's side on each side (on an FFT grid) and the data term only counts
the observed pixels ``M``: ``lam / 2 ||M (k * x) - y||^2``, the same valid model as
:mod:`deblur.tvblind`. The x step's system ``(beta D^T D + lam K^T M K) x = beta D^T w +
lam K^T M y`` is then solved by ``cg_iterations`` preconditioned conjugate-gradient steps,
warm-started from the previous ``x``, the preconditioner being the paper's Fourier division
(exact where ``M = 1``). The first ``x`` is ``y`` mirror-padded with the padding blended
towards its blur by ``k``.

Defaults (:class:`HyperLaplacianSettings`) are the paper's: ``alpha`` 2/3, ``lam`` 2000 (images
in [0, 1] with about 1% noise), ``beta_start`` 1, ``beta_rate`` 2 sqrt(2), ``beta_max`` 256,
``inner`` 1 (the reference code's; its test script: ``lambda`` 2000 on images scaled to [0, 1]
blurred by a valid convolution with 1% Gaussian noise); ``cg_iterations`` 10 and ``boundary``
valid are this implementation's.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import fft as sfft

from deblur.data.kernels import odd_kernel

NEWTON_MAX_STEPS = 60  # Newton from the right of a convex increasing function: quadratic, few
NEWTON_TOLERANCE = 1e-12  # relative change at which the w step stops
TINY = 1e-300  # guards the conjugate-gradient ratios once the residual vanishes
BOUNDARIES = ("valid", "circular")  # this module's valid model, or the reference's usage
EDGETAPER_PASSES = 4  # the reference's usage tapers the padded image this many times


@dataclass(frozen=True)
class HyperLaplacianSettings:
    """Parameters of :func:`hyper_laplacian_deconvolve` (defaults: Krishnan & Fergus 2009).

    Attributes
    ----------
    lam : float
        Weight of the data term (larger: less regularisation; images in [0, 1]).
    alpha : float
        Exponent of the gradient prior, in (0, 1].
    beta_start, beta_rate, beta_max : float
        Continuation of the splitting weight: from ``beta_start``, times ``beta_rate`` while
        below ``beta_max``.
    inner : int
        Alternations of the ``w`` and ``x`` steps at each ``beta``.
    cg_iterations : int
        Conjugate-gradient steps of each ``x`` step (see the module docstring).
    boundary : str
        ``valid`` (the data term on the observed pixels only, this module's) or ``circular``
        (the reference code's usage: ``y`` edge-padded by half the kernel, tapered
        :data:`EDGETAPER_PASSES` times by :func:`edgetaper`, one Fourier division per ``x``
        step, the padding cropped).
    """

    lam: float = 2000.0
    alpha: float = 2.0 / 3.0
    beta_start: float = 1.0
    beta_rate: float = 2.0 * math.sqrt(2.0)
    beta_max: float = 256.0
    inner: int = 1
    cg_iterations: int = 10
    boundary: str = "valid"

    def __post_init__(self):
        rules = {
            "lam": (self.lam > 0, "> 0"),
            "alpha": (0 < self.alpha <= 1, "in (0, 1]"),
            "beta_start": (self.beta_start > 0, "> 0"),
            "beta_rate": (self.beta_rate > 1, "> 1"),
            "beta_max": (self.beta_max >= self.beta_start, ">= beta_start"),
            "inner": (self.inner >= 1, ">= 1"),
            "cg_iterations": (self.cg_iterations >= 1, ">= 1"),
            "boundary": (self.boundary in BOUNDARIES, f"one of {', '.join(BOUNDARIES)}"),
        }
        for name, (ok, rule) in rules.items():
            if not ok:
                value = getattr(self, name)
                raise ValueError(f"hyper-Laplacian {name} must be {rule}, got {value}")


def solve_w(v: np.ndarray, beta: float, alpha: float) -> np.ndarray:
    """Elementwise ``argmin_w |w|^alpha + beta / 2 (w - v)^2``.

    For ``alpha = 1`` soft thresholding. For ``alpha < 1`` and ``a = |v|``: the objective on
    ``w >= 0`` has derivative ``g(w) = alpha w^(alpha-1) + beta (w - a)``, convex, infinite at
    0, positive at ``a``, smallest at ``w* = (alpha (1 - alpha) / beta)^(1 / (2 - alpha))``.
    If ``g(w*) < 0`` its larger root (a local minimum, in ``(w*, a)``) is found by Newton's
    method from ``a`` (monotone for a convex increasing function) and kept where it beats
    ``w = 0``; elsewhere ``w = 0``. The sign is ``v``'s.
    """
    v = np.asarray(v, dtype=np.float64)
    if alpha == 1.0:
        return np.sign(v) * np.maximum(np.abs(v) - 1.0 / beta, 0.0)
    a = np.abs(v)
    w_min = (alpha * (1.0 - alpha) / beta) ** (1.0 / (2.0 - alpha))
    g_min = alpha * w_min ** (alpha - 1.0) + beta * (w_min - a)
    active = (a > w_min) & (g_min < 0)
    out = np.zeros_like(a)
    if not active.any():
        return out
    aa = a[active]
    w = aa.copy()
    for _ in range(NEWTON_MAX_STEPS):
        g = alpha * w ** (alpha - 1.0) + beta * (w - aa)
        dg = alpha * (alpha - 1.0) * w ** (alpha - 2.0) + beta
        step = g / dg
        w = np.maximum(w - step, w_min)
        if np.max(np.abs(step) / np.maximum(w, 1e-300)) < NEWTON_TOLERANCE:
            break
    better = w**alpha + 0.5 * beta * (w - aa) ** 2 < 0.5 * beta * aa**2
    out[active] = np.where(better, w, 0.0)
    return np.sign(v) * out


def _otf(k: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Real FFT of ``k`` on a ``shape`` grid with its centre moved to the origin (psf2otf)."""
    kh, kw = k.shape
    grid = np.zeros(shape)
    grid[:kh, :kw] = k
    grid = np.roll(grid, (-(kh // 2), -(kw // 2)), axis=(0, 1))
    return sfft.rfft2(grid, workers=-1)


def _taper_pad(y: np.ndarray, k: np.ndarray, pad: int) -> np.ndarray:
    """``y`` (..., H, W) mirror-padded by ``pad`` and blended towards its circular blur by ``k``
    across the padding (weight 1 at the image, 0 at the outer edge): nearly periodic."""
    widths = [(0, 0)] * (y.ndim - 2) + [(pad, pad), (pad, pad)]
    big = np.pad(y, widths, mode="symmetric")
    shape = big.shape[-2:]
    blurred = sfft.irfft2(sfft.rfft2(big, workers=-1) * _otf(k, shape), s=shape, workers=-1)
    ramp = np.ones(shape)
    for axis, n in ((0, shape[0]), (1, shape[1])):
        idx = np.arange(n)
        dist = np.minimum(idx, n - 1 - idx)  # distance from the outer edge
        weight = np.clip(dist / max(pad, 1), 0.0, 1.0)
        ramp *= weight[:, None] if axis == 0 else weight[None, :]
    return ramp * big + (1.0 - ramp) * blurred


def edgetaper(y: np.ndarray, k: np.ndarray) -> np.ndarray:
    """Blend ``y`` (..., H, W) towards its circular blur by ``k`` near the borders.

    The weight of the blurred image along each axis is the kernel's projection onto that axis
    autocorrelated circularly over the image's length and scaled to peak 1 (1 at the border,
    falling to 0 one kernel width inside); the 2-D weight of ``y`` is the product of the two
    axes' ``1 - weight`` (the usual ``edgetaper``). Makes ``y`` nearly periodic.
    """
    shape = y.shape[-2:]
    keep = np.ones(shape)
    for axis, n in ((0, shape[0]), (1, shape[1])):
        proj = k.sum(axis=1 - axis)
        z = np.real(np.fft.ifft(np.abs(np.fft.fft(proj, n - 1)) ** 2))
        z = np.append(z, z[0]) / z.max()
        w = 1.0 - z
        keep = keep * (w[:, None] if axis == 0 else w[None, :])
    blurred = sfft.irfft2(sfft.rfft2(y, workers=-1) * _otf(k, shape), s=shape, workers=-1)
    return keep * y + (1.0 - keep) * blurred


def _circular_deconvolve(y: np.ndarray, k: np.ndarray, s: HyperLaplacianSettings) -> np.ndarray:
    """The reference's usage: edge-pad by half the kernel, taper, circular splitting, crop."""
    ph, pw = k.shape[0] // 2, k.shape[1] // 2
    widths = [(0, 0)] * (y.ndim - 2) + [(ph, ph), (pw, pw)]
    yp = np.pad(y, widths, mode="edge")
    for _ in range(EDGETAPER_PASSES):
        yp = edgetaper(yp, k)
    shape = yp.shape[-2:]
    k_hat = _otf(k, shape)
    dx_hat = _otf(np.array([[1.0, -1.0, 0.0]]), shape)
    dy_hat = _otf(np.array([[1.0], [-1.0], [0.0]]), shape)
    kt_y = np.conj(k_hat) * sfft.rfft2(yp, workers=-1)
    dtd, ktk = np.abs(dx_hat) ** 2 + np.abs(dy_hat) ** 2, np.abs(k_hat) ** 2
    x, beta = yp, s.beta_start
    while beta < s.beta_max:
        for _ in range(s.inner):
            wx = solve_w(np.roll(x, -1, axis=-1) - x, beta, s.alpha)
            wy = solve_w(np.roll(x, -1, axis=-2) - x, beta, s.alpha)
            dtw = np.conj(dx_hat) * sfft.rfft2(wx, workers=-1)
            dtw = dtw + np.conj(dy_hat) * sfft.rfft2(wy, workers=-1)
            x_hat = (s.lam * kt_y + beta * dtw) / (s.lam * ktk + beta * dtd)
            x = sfft.irfft2(x_hat, s=shape, workers=-1)
        beta *= s.beta_rate
    return x[..., ph : ph + y.shape[-2], pw : pw + y.shape[-1]]


class MaskedGrid:
    """FFTs of the kernel and the differences on a padded grid, and the valid-region mask.

    The image (H, W) sits at offset ``pad`` of an FFT grid at least ``pad`` larger on each side;
    products on the grid are circular, but with ``pad`` at least half the kernel the blur of a
    masked (observed) pixel never wraps.
    """

    def __init__(self, image_shape: tuple[int, int], k: np.ndarray, pad: int):
        h, w = image_shape
        self.shape = (
            sfft.next_fast_len(h + 2 * pad, real=True),
            sfft.next_fast_len(w + 2 * pad, real=True),
        )
        self.inside = (..., slice(pad, pad + h), slice(pad, pad + w))
        self.mask = np.zeros(self.shape)
        self.mask[self.inside[1:]] = 1.0
        self.k_hat = _otf(k, self.shape)
        self.dx_hat = _otf(np.array([[1.0, -1.0, 0.0]]), self.shape)  # x[i+1] - x[i]
        self.dy_hat = _otf(np.array([[1.0], [-1.0], [0.0]]), self.shape)
        self.dtd = np.abs(self.dx_hat) ** 2 + np.abs(self.dy_hat) ** 2
        self.ktk = np.abs(self.k_hat) ** 2

    def fft(self, x: np.ndarray) -> np.ndarray:
        return sfft.rfft2(x, workers=-1)

    def ifft(self, x_hat: np.ndarray) -> np.ndarray:
        return sfft.irfft2(x_hat, s=self.shape, workers=-1)

    def normal(self, x: np.ndarray, beta: float, lam: float) -> np.ndarray:
        """``(beta D^T D + lam K^T M K) x``: the x step's matrix (M: the observed pixels)."""
        x_hat = self.fft(x)
        blurred = self.mask * self.ifft(x_hat * self.k_hat)
        return self.ifft(beta * self.dtd * x_hat + lam * np.conj(self.k_hat) * self.fft(blurred))

    def precondition(self, r: np.ndarray, beta: float, lam: float) -> np.ndarray:
        """The circular approximation's inverse (M = 1): exact away from the border."""
        return self.ifft(self.fft(r) / (beta * self.dtd + lam * self.ktk))


def hyper_laplacian_deconvolve(
    y: np.ndarray, k: np.ndarray, settings: HyperLaplacianSettings | None = None
) -> np.ndarray:
    """Non-blind deconvolution of ``y`` (..., H, W) by ``k`` with a hyper-Laplacian prior.

    Parameters
    ----------
    y : ndarray
        Blurry image(s), float, last two axes the image (values about [0, 1]).
    k : ndarray
        Kernel, 2-D with odd sides, non-negative, summing to 1.
    settings : HyperLaplacianSettings, optional
        Defaults as in the module docstring.

    Returns
    -------
    ndarray
        Float64 array of ``y``'s shape (not clipped).
    """
    s = settings or HyperLaplacianSettings()
    y = np.asarray(y, dtype=np.float64)
    k = odd_kernel(k)
    if s.boundary == "circular":
        return _circular_deconvolve(y, k, s)
    pad = max(k.shape)
    ops = MaskedGrid(y.shape[-2:], k, pad)
    y_big = np.zeros(y.shape[:-2] + ops.shape)
    y_big[ops.inside] = y
    kt_my = ops.fft(y_big) * np.conj(ops.k_hat)
    x = _taper_pad(y, k, pad)
    extra = (ops.shape[0] - x.shape[-2], ops.shape[1] - x.shape[-1])
    x = np.pad(x, [(0, 0)] * (y.ndim - 2) + [(0, extra[0]), (0, extra[1])], mode="edge")
    beta = s.beta_start
    while beta < s.beta_max:
        for _ in range(s.inner):
            wx = solve_w(np.roll(x, -1, axis=-1) - x, beta, s.alpha)
            wy = solve_w(np.roll(x, -1, axis=-2) - x, beta, s.alpha)
            rhs = np.conj(ops.dx_hat) * ops.fft(wx) + np.conj(ops.dy_hat) * ops.fft(wy)
            rhs = ops.ifft(beta * rhs + s.lam * kt_my)
            x = _pcg(ops, rhs, x, beta, s.lam, s.cg_iterations)
        beta *= s.beta_rate
    return x[ops.inside]


def _pcg(
    ops: MaskedGrid, b: np.ndarray, x: np.ndarray, beta: float, lam: float, iterations: int
) -> np.ndarray:
    """Preconditioned conjugate gradients on the x step from ``x`` (batched over leading axes)."""
    axes = (-2, -1)
    r = b - ops.normal(x, beta, lam)
    z = ops.precondition(r, beta, lam)
    p = z
    rz = np.sum(r * z, axis=axes, keepdims=True)
    for _ in range(iterations):
        ap = ops.normal(p, beta, lam)
        step = rz / np.maximum(np.sum(p * ap, axis=axes, keepdims=True), TINY)
        x = x + step * p
        r = r - step * ap
        z = ops.precondition(r, beta, lam)
        rz_new = np.sum(r * z, axis=axes, keepdims=True)
        p = z + rz_new / np.maximum(rz, TINY) * p
        rz = rz_new
    return x
