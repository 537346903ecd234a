"""Total-variation blind deconvolution (Perrone & Favaro, CVPR 2014), numpy/scipy FFTs.

Model. A blurry image ``f`` (H, W) is the *valid* part of a sharp image ``u`` (H + kh - 1,
W + kw - 1) convolved with a kernel ``k`` (kh, kw): ``f = k * u`` with no boundary assumption
(``u`` is larger than ``f``, so nothing is invented outside the frame). The estimate minimises

    E(u, k) = 1/2 ||k * u - f||^2 + lam * TV(u),   k >= 0,  sum(k) = 1,

with ``TV(u) = sum |grad u|`` (isotropic, forward differences); its gradient divides by
``max(eps, |grad u|)`` as the reference code does (``tv_smoothing = "sqrt"``:
``sqrt(|grad u|^2 + eps^2)``, the gradient of a smoothed TV).

Algorithm (projected alternating gradient descent, the paper's scheme as in the authors'
reference code), per pyramid level at a fixed TV weight ``lam``, ``iterations`` times:

1. image step: ``g = k (x) (k * u - f) - lam * div(grad u / |grad u|_eps)``, where ``(x)`` is
   the adjoint of the valid convolution (correlation, zero outside ``f``);
   ``u <- u - image_step * max(u) / max|g| * g`` (a normalised step: no pixel moves by more
   than ``image_step`` of the image's peak).
2. kernel step: ``h = u (x) (k * u - f)`` on the kernel support,
   ``k <- k - kernel_step * max(k) / max|h| * h``, then the projection the paper insists on,
   *in this order*: clip negatives to 0, then divide by the sum. Normalising after the step
   (not inside the energy) is the detail that keeps the iteration away from the no-blur
   solution.

The level ends with ``iterations`` non-blind image steps (step 1 with the level's final kernel)
from the level's starting image, as the reference does. The kernel is not re-centred between
levels (the reference's; ``centering = "level"`` re-centres kernel and image on the kernel's
centroid after every level, whole pixels: the valid model leaves the blur's position free).

Coarse to fine: the finest level has the kernel side ``kernel_size`` and the weight
``tv_lambda``; each coarser level divides the kernel side by ``1 / scale_ratio`` (made odd and
at least 2 px smaller) and scales the image alike, and multiplies the weight by
``lambda_growth``, while the weight stays below ``lambda_max`` and the side above
``min_kernel_size``. The coarsest level starts from a uniform kernel and the blurry image
edge-padded by half a kernel; each finer level from the coarser estimates resized (bicubic;
the kernel clipped and renormalised).

The kernel is estimated on the luminance (Rec. 601 weights); taps below ``kernel_threshold``
of its peak are then dropped (a common clean-up, not in the reference code: the kernel support
here is the longest expected blur, not the true kernel's size as in the paper's experiments,
and the spare support collects faint streaks). The colour output is a non-blind deconvolution
of each channel with the estimated kernel, cropped to the input frame:
``nonblind = hyper_laplacian`` (Krishnan & Fergus 2009, :mod:`deblur.hyperlaplacian`;
``hl_lambda``, ``hl_alpha``), ``sparse_irls`` (Levin et al. 2007's IRLS, the step behind the
paper's published results, :mod:`deblur.sparsedeconv`; ``irls_weight``), or ``tv`` (same
valid model as the blind step, weight ``final_lambda``, ``final_iterations`` accelerated
gradient steps, smoothing ``final_epsilon``).

Defaults (:class:`TVBlindParams`), the reference code's unless noted: ``kernel_size`` 31 (this
project's; the longest blur it expects), ``min_kernel_size`` 3, ``scale_ratio`` 1/1.1,
``iterations`` 1000, ``tv_lambda`` 1e-3 (the authors give 3e-4 to 6e-4 for clean images and
1e-3 to 3e-3 for noisy ones; this project's synthetic blur carries 1% noise),
``lambda_growth`` 1.9, ``lambda_max`` 0.11, ``tv_epsilon`` 1e-3, ``tv_smoothing`` max,
``centering`` none, ``image_step`` 5e-3, ``kernel_step`` 1e-3, ``kernel_threshold`` 0.05
(this project's), ``nonblind`` hyper_laplacian (this project's choice; ``hl_lambda`` 2000,
``hl_alpha`` 2/3: Krishnan & Fergus's), ``irls_weight`` 0.0068 (the authors' for their final
step), and for the ``tv`` final step ``final_lambda`` 1e-3, ``final_iterations`` 200,
``final_epsilon`` 1e-2 (this project's).

Assumes one spatially uniform blur; real camera shake with rotation or depth (GoPro) breaks it.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import numpy as np
from scipy import fft as sfft

from deblur.data.kernels import center_kernel
from deblur.hyperlaplacian import HyperLaplacianSettings, hyper_laplacian_deconvolve
from deblur.sparsedeconv import SparseDeconvSettings, sparse_deconvolve

# The smallest TV smoothing that keeps ``eps**2`` (and ``1 / eps``) a normal float64: below it
# the smoothed norm underflows to 0 and the TV gradient becomes 0 / 0.
MIN_TV_EPSILON = float(np.sqrt(np.finfo(np.float64).tiny))

LUMA_WEIGHTS = (0.299, 0.587, 0.114)  # Rec. 601
TV_LIPSCHITZ = 8.0  # ||div grad||: 4 per axis for forward differences, 2 axes
MIN_IMAGE_SIDE = 8  # coarsest image side (px) a level may have
NONBLIND_KINDS = ("hyper_laplacian", "tv", "sparse_irls")  # final non-blind steps
TV_SMOOTHINGS = ("sqrt", "max")  # |grad u| smoothed as sqrt(|grad u|^2 + eps^2) or max(eps, .)
CENTERINGS = ("level", "none")  # re-centre the kernel after every level, or never
TINY = 1e-31  # guards the normalised steps against a zero gradient


@dataclass(frozen=True)
class TVBlindParams:
    """Parameters of :func:`tv_blind_deconvolution` (see the module docstring).

    Attributes
    ----------
    kernel_size : int
        Side (px, odd) of the square kernel support at full resolution: the longest blur.
    min_kernel_size : int
        Kernel side (px, odd) of the coarsest pyramid level.
    scale_ratio : float
        Kernel (and image) scale between consecutive pyramid levels, in (0, 1).
    iterations : int
        Alternating image/kernel steps per level (and steps of the non-blind image refinement
        that closes each level).
    tv_lambda : float
        TV weight at the finest level; it should grow with the noise (see the module
        docstring).
    lambda_growth : float
        Factor (> 1) of the TV weight per coarser level.
    lambda_max : float
        Largest TV weight: the pyramid stops before a level would exceed it.
    tv_epsilon : float
        Smoothing of the TV norm (intensity units; images are in [0, 1]).
    tv_smoothing : str
        How ``tv_epsilon`` smooths ``|grad u|`` in the blind step's TV gradient: ``sqrt``
        (``sqrt(|grad u|^2 + eps^2)``, differentiable) or ``max`` (``max(eps, |grad u|)``, the
        reference code's).
    centering : str
        ``level``: kernel and image re-centred on the kernel's centroid after every pyramid
        level; ``none``: never during the estimate (the reference code). The final kernel is
        centred either way.
    image_step, kernel_step : float
        Step of each gradient update as a fraction of the largest current value over the
        largest gradient entry (the update moves no pixel by more than this fraction of the
        image's peak, no tap by more than this fraction of the kernel's peak).
    kernel_threshold : float
        Taps of the final kernel below this fraction of its peak are set to 0 (then the kernel
        is renormalised and re-centred). 0 keeps every tap.
    nonblind : str
        Final non-blind deconvolution of each colour channel: ``hyper_laplacian``
        (:mod:`deblur.hyperlaplacian`), ``tv`` (:func:`tv_deconvolve`) or ``sparse_irls``
        (:mod:`deblur.sparsedeconv`).
    final_lambda, final_iterations, final_epsilon : float, int, float
        TV weight, accelerated gradient steps and TV smoothing of the ``tv`` final step.
    hl_lambda, hl_alpha : float
        Data weight and gradient exponent of the ``hyper_laplacian`` final step.
    irls_weight : float
        Prior weight of the ``sparse_irls`` final step.
    """

    kernel_size: int = 31
    min_kernel_size: int = 3
    scale_ratio: float = 1.0 / 1.1
    iterations: int = 1000
    tv_lambda: float = 1e-3
    lambda_growth: float = 1.9
    lambda_max: float = 0.11
    tv_epsilon: float = 1e-3
    tv_smoothing: str = "max"
    centering: str = "none"
    image_step: float = 5e-3
    kernel_step: float = 1e-3
    kernel_threshold: float = 0.05
    nonblind: str = "hyper_laplacian"
    final_lambda: float = 1e-3
    final_iterations: int = 200
    final_epsilon: float = 1e-2
    hl_lambda: float = HyperLaplacianSettings.lam
    hl_alpha: float = HyperLaplacianSettings.alpha
    irls_weight: float = SparseDeconvSettings.weight

    def __post_init__(self):
        for name in ("kernel_size", "min_kernel_size"):
            value = getattr(self, name)
            if value < 3 or value % 2 == 0:
                raise ValueError(f"{name} must be an odd integer >= 3, got {value}")
        if self.min_kernel_size > self.kernel_size:
            raise ValueError(
                f"min_kernel_size must be <= kernel_size ({self.kernel_size}), "
                f"got {self.min_kernel_size}"
            )
        rules = {
            "scale_ratio": (0 < self.scale_ratio < 1, "in (0, 1)"),
            "iterations": (self.iterations >= 1, ">= 1"),
            "tv_lambda": (self.tv_lambda > 0, "> 0"),
            "lambda_growth": (self.lambda_growth > 1, "> 1"),
            "lambda_max": (self.lambda_max >= self.tv_lambda, ">= tv_lambda"),
            "tv_epsilon": (self.tv_epsilon >= MIN_TV_EPSILON, f">= {MIN_TV_EPSILON:.3g}"),
            "tv_smoothing": (
                self.tv_smoothing in TV_SMOOTHINGS,
                f"one of {', '.join(TV_SMOOTHINGS)}",
            ),
            "centering": (self.centering in CENTERINGS, f"one of {', '.join(CENTERINGS)}"),
            "image_step": (0 < self.image_step < 1, "in (0, 1)"),
            "kernel_step": (0 < self.kernel_step < 1, "in (0, 1)"),
            "kernel_threshold": (0 <= self.kernel_threshold < 1, "in [0, 1)"),
            "nonblind": (self.nonblind in NONBLIND_KINDS, f"one of {', '.join(NONBLIND_KINDS)}"),
            "final_lambda": (self.final_lambda > 0, "> 0"),
            "final_iterations": (self.final_iterations >= 1, ">= 1"),
            "final_epsilon": (self.final_epsilon >= MIN_TV_EPSILON, f">= {MIN_TV_EPSILON:.3g}"),
        }
        for name, (ok, rule) in rules.items():
            if not ok:
                raise ValueError(f"{name} must be {rule}, got {getattr(self, name)}")
        hyper_laplacian_settings(self.hl_lambda, self.hl_alpha)  # checks both
        SparseDeconvSettings(weight=self.irls_weight)  # checks it


def hyper_laplacian_settings(lam: float, alpha: float) -> HyperLaplacianSettings:
    """The paper's hyper-Laplacian settings with ``lam`` and ``alpha`` replaced."""
    return dataclasses.replace(HyperLaplacianSettings(), lam=lam, alpha=alpha)


class ValidConv:
    """Valid 2-D convolution by a small kernel and its adjoints, through one real FFT grid.

    ``u`` has shape ``big`` = (H + kh - 1, W + kw - 1) (or one less along an axis, for a
    derivative); the grid is at least ``big``, so the circular products used here never wrap
    into the valid region (see the index arguments in the method docstrings).
    """

    def __init__(self, big: tuple[int, int], ksize: tuple[int, int]):
        self.ksize = ksize
        self.grid = tuple(sfft.next_fast_len(n, real=True) for n in big)

    def rfft(self, x: np.ndarray) -> np.ndarray:
        """FFT of ``x`` zero-padded to the grid (last two axes)."""
        return sfft.rfft2(x, s=self.grid, workers=-1)

    def irfft(self, x_hat: np.ndarray) -> np.ndarray:
        return sfft.irfft2(x_hat, s=self.grid, workers=-1)

    def forward(self, u_hat: np.ndarray, k_hat: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
        """``valid(k * u)`` for ``u`` of ``shape``: output rows ``kh-1 .. shape[0]-1`` of the
        circular product, where ``i - j`` stays inside ``u`` (no wrap)."""
        kh, kw = self.ksize
        full = self.irfft(u_hat * k_hat)
        return full[..., kh - 1 : shape[0], kw - 1 : shape[1]]

    def adjoint(self, r: np.ndarray, k_hat: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
        """Adjoint of :meth:`forward` on residual ``r``: correlate ``r`` (placed where it came
        from) with ``k``; wrapped indices land below ``kh-1`` where ``r`` is zero."""
        return self.irfft(self.rfft(self.place(r, shape)) * np.conj(k_hat))[
            ..., : shape[0], : shape[1]
        ]

    def place(self, r: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
        kh, kw = self.ksize
        out = np.zeros(r.shape[:-2] + tuple(shape), dtype=r.dtype)
        out[..., kh - 1 :, kw - 1 :] = r
        return out

    def kernel_gradient(self, r_hat: np.ndarray, u_hat: np.ndarray) -> np.ndarray:
        """``g[j] = sum_i r[i] u[i - j]`` on the kernel support (``i >= kh-1 >= j``: no wrap)."""
        kh, kw = self.ksize
        return self.irfft(r_hat * np.conj(u_hat))[:kh, :kw]

    def kernel_hat(self, k: np.ndarray) -> np.ndarray:
        return self.rfft(k)


def grad(u: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Forward differences along x and y (zero at the far border: Neumann)."""
    gx = np.zeros_like(u)
    gy = np.zeros_like(u)
    gx[..., :, :-1] = u[..., :, 1:] - u[..., :, :-1]
    gy[..., :-1, :] = u[..., 1:, :] - u[..., :-1, :]
    return gx, gy


def div(px: np.ndarray, py: np.ndarray) -> np.ndarray:
    """Divergence, the negative adjoint of :func:`grad`."""
    d = np.zeros_like(px)
    d[..., :, 0] = px[..., :, 0]
    d[..., :, 1:-1] = px[..., :, 1:-1] - px[..., :, :-2]
    d[..., :, -1] = -px[..., :, -2]
    d[..., 0, :] += py[..., 0, :]
    d[..., 1:-1, :] += py[..., 1:-1, :] - py[..., :-2, :]
    d[..., -1, :] -= py[..., -2, :]
    return d


def tv_gradient(u: np.ndarray, eps: float, smoothing: str = "sqrt") -> np.ndarray:
    """Gradient of the smoothed TV: ``-div(grad u / |grad u|_eps)``, where ``|grad u|_eps`` is
    ``sqrt(|grad u|^2 + eps^2)`` (``smoothing="sqrt"``) or ``max(eps, |grad u|)`` (``"max"``)."""
    gx, gy = grad(u)
    sq = gx * gx + gy * gy
    norm = np.sqrt(sq + eps * eps) if smoothing == "sqrt" else np.maximum(eps, np.sqrt(sq))
    return -div(gx / norm, gy / norm)


def project_kernel(k: np.ndarray) -> np.ndarray:
    """Clip negatives to 0, then normalise to sum 1 (a delta if nothing positive is left)."""
    k = np.maximum(k, 0.0)
    total = k.sum()
    if not total > 0:
        return delta_kernel(k.shape[0])
    return k / total


def delta_kernel(size: int) -> np.ndarray:
    k = np.zeros((size, size))
    k[size // 2, size // 2] = 1.0
    return k


def luminance(image: np.ndarray) -> np.ndarray:
    """Rec. 601 luma of an (H, W, 3) image."""
    return image @ np.asarray(LUMA_WEIGHTS)


def pad_for_kernel(f: np.ndarray, ksize: int) -> np.ndarray:
    """Initial sharp estimate for blurry ``f``: ``f`` edge-padded by half a kernel each side."""
    h = ksize // 2
    pad = [(0, 0)] * (f.ndim - 2) + [(h, h), (h, h)]
    return np.pad(f, pad, mode="edge")


def pyramid_levels(params: TVBlindParams) -> list[tuple[int, float]]:
    """``(kernel side, TV weight)`` per level, coarsest first, ending at the full resolution.

    Each coarser level divides the kernel side by ``1 / scale_ratio`` (rounded, made odd, at
    least 2 px smaller than the finer one, at least ``min_kernel_size``) and multiplies the TV
    weight by ``lambda_growth``; levels are added while the finer side exceeds
    ``min_kernel_size`` and the next weight stays below ``lambda_max``.
    """
    levels = [(params.kernel_size, params.tv_lambda)]
    while True:
        side, lam = levels[-1]
        if side <= params.min_kernel_size or lam * params.lambda_growth >= params.lambda_max:
            break
        nxt = int(round(side * params.scale_ratio))
        nxt -= 1 - nxt % 2  # odd
        nxt = min(nxt, side - 2)
        levels.append((max(nxt, params.min_kernel_size), lam * params.lambda_growth))
    return levels[::-1]


def resize(img: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Antialiased bicubic resize of a 2-D array to ``shape`` (rows, cols)."""
    from skimage.transform import resize as sk_resize

    return sk_resize(img, shape, order=3, anti_aliasing=True, mode="edge")


def _normalised_step(x: np.ndarray, g: np.ndarray, fraction: float) -> float:
    """``fraction * max(x) / max|g|``: the largest entry of ``x`` moves by ``fraction`` of it."""
    return fraction * float(np.max(x)) / max(TINY, float(np.max(np.abs(g))))


def image_gradient(
    conv: ValidConv,
    u: np.ndarray,
    k_hat: np.ndarray,
    f: np.ndarray,
    lam: float,
    eps: float,
    smoothing: str = "sqrt",
) -> tuple[np.ndarray, np.ndarray]:
    """Gradient in ``u`` of ``1/2 ||k * u - f||^2 + lam TV(u)`` and the residual ``k * u - f``."""
    big = u.shape
    u_hat = conv.rfft(u)
    r = conv.forward(u_hat, k_hat, big) - f
    return conv.adjoint(r, k_hat, big) + lam * tv_gradient(u, eps, smoothing), r


def estimate_level(
    f: np.ndarray, u: np.ndarray, k: np.ndarray, lam: float, params: TVBlindParams
) -> tuple[np.ndarray, np.ndarray]:
    """Alternating image/kernel steps on one level at TV weight ``lam``; returns ``(u, k)``.

    ``iterations`` times: a normalised gradient step on ``u``, then one on ``k`` followed by
    the projection (clip negatives, then normalise). Then the level's image is recomputed by
    ``iterations`` non-blind steps with the final kernel from the level's starting image, and
    with ``centering = "level"``, kernel and image are re-centred on the kernel's centroid.
    """
    ks = k.shape[0]
    big = u.shape
    conv = ValidConv(big, (ks, ks))
    eps = params.tv_epsilon
    u0 = u
    for _ in range(params.iterations):
        k_hat = conv.kernel_hat(k)
        g, _ = image_gradient(conv, u, k_hat, f, lam, eps, params.tv_smoothing)
        u = u - _normalised_step(u, g, params.image_step) * g
        u_hat = conv.rfft(u)
        r = conv.forward(u_hat, k_hat, big) - f
        gk = conv.kernel_gradient(conv.rfft(conv.place(r, big)), u_hat)
        k = project_kernel(k - _normalised_step(k, gk, params.kernel_step) * gk)
    u = tv_refine(conv, f, u0, conv.kernel_hat(k), lam, params)
    if params.centering == "none":
        return u, k
    k, (dy, dx) = center_kernel(k)
    # k'[j] = k[j - d] needs u'[m] = u[m + d] for the same blurry image
    u = np.roll(u, (-dy, -dx), axis=(-2, -1))
    return u, k


def tv_refine(
    conv: ValidConv,
    f: np.ndarray,
    u: np.ndarray,
    k_hat: np.ndarray,
    lam: float,
    params: TVBlindParams,
) -> np.ndarray:
    """``iterations`` normalised gradient steps of non-blind TV deconvolution from ``u``."""
    for _ in range(params.iterations):
        g, _ = image_gradient(conv, u, k_hat, f, lam, params.tv_epsilon, params.tv_smoothing)
        u = u - _normalised_step(u, g, params.image_step) * g
    return u


def estimate_kernel(gray: np.ndarray, params: TVBlindParams) -> np.ndarray:
    """Blind kernel estimate (``kernel_size`` square, >= 0, sum 1) from an (H, W) image.

    The coarsest level starts from a uniform kernel and the blurry image edge-padded by half a
    kernel; each finer level from the coarser estimates resized (bicubic; the kernel clipped
    and renormalised). No threshold is applied (see :func:`threshold_kernel`).
    """
    if gray.ndim != 2:
        raise ValueError(f"gray must be a 2-D array, got shape {gray.shape}")
    h, w = gray.shape
    if min(h, w) < 2 * params.kernel_size:
        raise ValueError(
            f"image {w}x{h} too small for kernel_size {params.kernel_size}: the shorter side "
            f"must be at least {2 * params.kernel_size} px"
        )
    u = k = None
    for ks, lam in pyramid_levels(params):
        scale = ks / params.kernel_size
        shape = (max(MIN_IMAGE_SIDE, round(h * scale)), max(MIN_IMAGE_SIDE, round(w * scale)))
        f = resize(gray, shape) if shape != gray.shape else gray
        big = (shape[0] + ks - 1, shape[1] + ks - 1)
        if k is None:
            k, u = np.full((ks, ks), 1.0 / ks**2), pad_for_kernel(f, ks)
        else:
            k = project_kernel(resize(k, (ks, ks)))
            u = resize(u, big)
        u, k = estimate_level(f, u, k, lam, params)
    return k


def threshold_kernel(k: np.ndarray, fraction: float) -> np.ndarray:
    """Zero the taps below ``fraction`` of the peak, renormalise, re-centre."""
    if fraction <= 0:
        return k
    return center_kernel(project_kernel(np.where(k >= fraction * k.max(), k, 0.0)))[0]


def tv_deconvolve(
    f: np.ndarray, k: np.ndarray, lam: float, iterations: int, eps: float
) -> np.ndarray:
    """Non-blind TV deconvolution of ``f`` (..., H, W) with ``k``; returns (..., H, W).

    Same valid model as the blind step (the estimate is larger than ``f`` by the kernel, then
    cropped to the frame), minimised by Nesterov-accelerated gradient steps (the problem is
    convex once ``k`` is fixed).
    """
    ks = k.shape[0]
    half = ks // 2
    big = (f.shape[-2] + ks - 1, f.shape[-1] + ks - 1)
    conv = ValidConv(big, (ks, ks))
    k_hat = conv.kernel_hat(k)
    step = 1.0 / (1.0 + TV_LIPSCHITZ * lam / eps)
    x = pad_for_kernel(f, ks)
    y, t = x.copy(), 1.0
    for _ in range(iterations):
        r = conv.forward(conv.rfft(y), k_hat, big) - f
        x_new = y - step * (conv.adjoint(r, k_hat, big) + lam * tv_gradient(y, eps))
        t_new = (1.0 + math.sqrt(1.0 + 4.0 * t * t)) / 2.0
        y = x_new + (t - 1.0) / t_new * (x_new - x)
        x, t = x_new, t_new
    return x[..., half : half + f.shape[-2], half : half + f.shape[-1]]


def nonblind_deconvolve(
    f: np.ndarray,
    k: np.ndarray,
    nonblind: str,
    *,
    tv_lambda: float,
    tv_iterations: int,
    tv_epsilon: float,
    hl_lambda: float,
    hl_alpha: float,
    irls_weight: float = SparseDeconvSettings.weight,
) -> np.ndarray:
    """Non-blind deconvolution of ``f`` (..., H, W) by ``k`` with the step named ``nonblind``.

    ``tv``: :func:`tv_deconvolve` (``tv_lambda``, ``tv_iterations``, ``tv_epsilon``);
    ``hyper_laplacian``: :func:`deblur.hyperlaplacian.hyper_laplacian_deconvolve` with the
    paper's continuation and ``hl_lambda``, ``hl_alpha``; ``sparse_irls``:
    :func:`deblur.sparsedeconv.sparse_deconvolve` with prior weight ``irls_weight``. Returns
    (..., H, W), not clipped.
    """
    if nonblind == "tv":
        return tv_deconvolve(f, k, tv_lambda, tv_iterations, tv_epsilon)
    if nonblind == "hyper_laplacian":
        return hyper_laplacian_deconvolve(f, k, hyper_laplacian_settings(hl_lambda, hl_alpha))
    if nonblind == "sparse_irls":
        return sparse_deconvolve(f, k, SparseDeconvSettings(weight=irls_weight))
    raise ValueError(f"nonblind must be one of {', '.join(NONBLIND_KINDS)}, got {nonblind!r}")


def deconvolve_image(image: np.ndarray, k: np.ndarray, nonblind: str, **settings) -> np.ndarray:
    """Each channel of (H, W, C) ``image`` deconvolved by ``k`` with :func:`nonblind_deconvolve`
    (``settings``: its keyword arguments), clipped to [0, 1], as float32."""
    out = nonblind_deconvolve(np.moveaxis(image, 2, 0), k, nonblind, **settings)
    return np.clip(np.moveaxis(out, 0, 2), 0.0, 1.0).astype(np.float32)


def final_deconvolution(image: np.ndarray, k: np.ndarray, params: TVBlindParams) -> np.ndarray:
    """tv_blind's last step: each channel of (H, W, C) ``image`` deconvolved by ``k``."""
    return deconvolve_image(
        image,
        k,
        params.nonblind,
        tv_lambda=params.final_lambda,
        tv_iterations=params.final_iterations,
        tv_epsilon=params.final_epsilon,
        hl_lambda=params.hl_lambda,
        hl_alpha=params.hl_alpha,
        irls_weight=params.irls_weight,
    )


def tv_blind_deconvolution(
    image: np.ndarray, params: TVBlindParams | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Blind TV deconvolution of an RGB image; returns ``(deblurred, kernel)``.

    Parameters
    ----------
    image : ndarray
        Float (H, W, 3) image in [0, 1].
    params : TVBlindParams, optional
        Defaults as in the module docstring.

    Returns
    -------
    deblurred : ndarray
        Float32 (H, W, 3) in [0, 1].
    kernel : ndarray
        Float64 (kernel_size, kernel_size), non-negative, summing to 1.
    """
    params = params or TVBlindParams()
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"image must be (H, W, 3), got shape {image.shape}")
    img = image.astype(np.float64)
    k = threshold_kernel(estimate_kernel(luminance(img), params), params.kernel_threshold)
    return final_deconvolution(img, k, params), k
