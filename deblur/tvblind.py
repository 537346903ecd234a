"""Total-variation blind deconvolution (Perrone & Favaro, CVPR 2014), numpy/scipy FFTs.

Model. A blurry image ``f`` (H, W) is the *valid* part of a sharp image ``u`` (H + kh - 1,
W + kw - 1) convolved with a kernel ``k`` (kh, kw): ``f = k * u`` with no boundary assumption
(``u`` is larger than ``f``, so nothing is invented outside the frame). The estimate minimises

    E(u, k) = 1/2 ||k * u - f||^2 + lam * TV(u),   k >= 0,  sum(k) = 1,

with ``TV(u) = sum sqrt(|grad u|^2 + eps^2)`` (isotropic, smoothed by ``eps`` so that it has a
gradient everywhere).

Algorithm (projected alternating minimisation, the paper's scheme), per pyramid level:

1. image step: ``u <- u - tau_u * (k (x) (k * u - f) - lam * div(grad u / |grad u|_eps))``,
   where ``(x)`` is the adjoint of the valid convolution (correlation, zero outside ``f``);
   ``tau_u = image_step / (1 + 8 lam / eps)`` (the inverse of the gradient's Lipschitz bound:
   ``||k||_1 = 1`` bounds the data term by 1, the smoothed TV by ``8 lam / eps``).
2. kernel step: a gradient step on the data term, then the projection the paper insists on,
   *in this order*: clip negatives to 0, then divide by the sum. Normalising after the step
   (not inside the energy) is the detail that keeps the iteration away from the no-blur
   solution. The kernel's data term is taken on image derivatives,
   ``1/2 sum_d ||k * D_d u - D_d f||^2``: the same minimiser (derivatives commute with
   convolution), but without the mean intensity, which would otherwise dominate the step size;
   ``tau_k = kernel_step / max |FFT(D_d u)|^2`` summed over ``d``.
3. ``lam <- max(lam * lambda_decay, lambda_min)``: a large weight first (a cartoon image with
   strong edges, which pulls the kernel away from a delta), decreasing so that details return.

Coarse to fine: the finest kernel is ``kernel_size`` px; each coarser level scales the image and
the kernel by ``scale_ratio`` until the kernel would drop below ``min_kernel_size``. The
coarsest level starts from a centred delta kernel and the blurry image; each finer level starts
from the coarser estimates upsampled (kernel clipped and renormalised), restarting ``lam`` at
``lambda_start``. After each level the kernel is re-centred on its centroid (whole pixels, the
image shifted to match), since the valid model leaves the blur's position ambiguous.

The kernel is estimated on the luminance (Rec. 601 weights); taps below ``kernel_threshold``
of its peak are then dropped (a common clean-up, not part of the paper's iteration). The colour
output is a non-blind TV deconvolution of each channel with the estimated kernel (same valid
model, weight ``final_lambda``, ``final_iterations`` accelerated gradient steps), cropped to the
input frame.

Defaults (:class:`TVBlindParams`): ``kernel_size`` 31, ``min_kernel_size`` 3,
``scale_ratio`` sqrt(1/2), ``iterations`` 400 per level, ``lambda_start`` 3e-2,
``lambda_decay`` 0.99, ``lambda_min`` 1e-3, ``tv_epsilon`` 1e-2, ``image_step`` and
``kernel_step`` 1, ``kernel_threshold`` 0.05, ``final_lambda`` 1e-3, ``final_iterations`` 200.

Assumes one spatially uniform blur; real camera shake with rotation or depth (GoPro) breaks it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import fft as sfft

from deblur.data.kernels import center_kernel

LUMA_WEIGHTS = (0.299, 0.587, 0.114)  # Rec. 601
TV_LIPSCHITZ = 8.0  # ||div grad||: 4 per axis for forward differences, 2 axes
MIN_IMAGE_SIDE = 8  # coarsest image side (px) a level may have


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
        Scale between consecutive pyramid levels, in (0, 1).
    iterations : int
        Alternating image/kernel steps per level.
    lambda_start, lambda_decay, lambda_min : float
        TV weight at the start of each level, its factor per iteration, and its floor.
    tv_epsilon : float
        Smoothing of the TV norm (intensity units; images are in [0, 1]).
    image_step, kernel_step : float
        Gradient steps as fractions of the inverse Lipschitz bounds (in (0, 2)).
    kernel_threshold : float
        Taps of the final kernel below this fraction of its peak are set to 0 (then the kernel
        is renormalised): the gradient steps leave a faint haze over the whole support that
        the non-blind step would otherwise treat as blur. 0 keeps every tap.
    final_lambda : float
        TV weight of the final non-blind deconvolution of each colour channel.
    final_iterations : int
        Accelerated gradient steps of that final deconvolution.
    """

    kernel_size: int = 31
    min_kernel_size: int = 3
    scale_ratio: float = math.sqrt(0.5)
    iterations: int = 400
    lambda_start: float = 3e-2
    lambda_decay: float = 0.99
    lambda_min: float = 1e-3
    tv_epsilon: float = 1e-2
    image_step: float = 1.0
    kernel_step: float = 1.0
    kernel_threshold: float = 0.05
    final_lambda: float = 1e-3
    final_iterations: int = 200

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
        checks = {
            "scale_ratio": 0 < self.scale_ratio < 1,
            "iterations": self.iterations >= 1,
            "lambda_start": self.lambda_start > 0,
            "lambda_decay": 0 < self.lambda_decay <= 1,
            "lambda_min": 0 < self.lambda_min <= self.lambda_start,
            "tv_epsilon": self.tv_epsilon > 0,
            "image_step": 0 < self.image_step < 2,
            "kernel_step": 0 < self.kernel_step < 2,
            "kernel_threshold": 0 <= self.kernel_threshold < 1,
            "final_lambda": self.final_lambda > 0,
            "final_iterations": self.final_iterations >= 1,
        }
        rules = {
            "scale_ratio": "in (0, 1)",
            "iterations": ">= 1",
            "lambda_start": "> 0",
            "lambda_decay": "in (0, 1]",
            "lambda_min": "in (0, lambda_start]",
            "tv_epsilon": "> 0",
            "image_step": "in (0, 2)",
            "kernel_step": "in (0, 2)",
            "kernel_threshold": "in [0, 1)",
            "final_lambda": "> 0",
            "final_iterations": ">= 1",
        }
        for name, ok in checks.items():
            if not ok:
                raise ValueError(f"{name} must be {rules[name]}, got {getattr(self, name)}")


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


def tv_gradient(u: np.ndarray, eps: float) -> np.ndarray:
    """Gradient of the smoothed TV: ``-div(grad u / sqrt(|grad u|^2 + eps^2))``."""
    gx, gy = grad(u)
    norm = np.sqrt(gx * gx + gy * gy + eps * eps)
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


def odd(x: float) -> int:
    """Nearest odd integer >= 3."""
    return max(3, 2 * int(round((x - 1) / 2)) + 1)


def pyramid_levels(kernel_size: int, min_kernel_size: int, ratio: float) -> list[int]:
    """Kernel sides from the coarsest level to ``kernel_size`` (odd, strictly increasing)."""
    sizes = [kernel_size]
    while True:
        nxt = odd(sizes[-1] * ratio)
        if nxt < min_kernel_size or nxt >= sizes[-1]:
            break
        sizes.append(nxt)
    return sizes[::-1]


def resize(img: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Antialiased resize of a 2-D array to ``shape`` (rows, cols)."""
    from skimage.transform import resize as sk_resize

    return sk_resize(img, shape, order=1, anti_aliasing=True, mode="edge")


def estimate_level(
    f: np.ndarray, u: np.ndarray, k: np.ndarray, params: TVBlindParams
) -> tuple[np.ndarray, np.ndarray]:
    """Alternating image/kernel steps on one level; returns ``(u, k)``."""
    ks = k.shape[0]
    big = u.shape
    conv = ValidConv(big, (ks, ks))
    fx, fy = np.diff(f, axis=1), np.diff(f, axis=0)
    lam = params.lambda_start
    eps = params.tv_epsilon
    for _ in range(params.iterations):
        # image: gradient step on the data term plus lam * TV
        k_hat = conv.kernel_hat(k)
        r = conv.forward(conv.rfft(u), k_hat, big) - f
        g = conv.adjoint(r, k_hat, big) + lam * tv_gradient(u, eps)
        u = u - params.image_step / (1.0 + TV_LIPSCHITZ * lam / eps) * g
        # kernel: gradient step on the derivative data term, then clip and normalise
        ux, uy = np.diff(u, axis=1), np.diff(u, axis=0)
        gk = np.zeros_like(k)
        lipschitz = 0.0
        for ud, fd in ((ux, fx), (uy, fy)):
            ud_hat = conv.rfft(ud)
            rd = conv.forward(ud_hat, k_hat, ud.shape) - fd
            gk += conv.kernel_gradient(conv.rfft(conv.place(rd, ud.shape)), ud_hat)
            lipschitz += float(np.max(np.abs(ud_hat) ** 2))
        if lipschitz > 0:  # a flat image carries no information about the kernel
            k = project_kernel(k - params.kernel_step / lipschitz * gk)
        lam = max(lam * params.lambda_decay, params.lambda_min)
    k, (dy, dx) = center_kernel(k)
    # k'[j] = k[j - d] needs u'[m] = u[m + d] for the same blurry image
    u = np.roll(u, (-dy, -dx), axis=(0, 1))
    return u, k


def estimate_kernel(gray: np.ndarray, params: TVBlindParams) -> np.ndarray:
    """Blind kernel estimate (``kernel_size`` square, >= 0, sum 1) from an (H, W) image."""
    if gray.ndim != 2:
        raise ValueError(f"gray must be a 2-D array, got shape {gray.shape}")
    h, w = gray.shape
    sizes = pyramid_levels(params.kernel_size, params.min_kernel_size, params.scale_ratio)
    if min(h, w) < 2 * params.kernel_size:
        raise ValueError(
            f"image {w}x{h} too small for kernel_size {params.kernel_size}: the shorter side "
            f"must be at least {2 * params.kernel_size} px"
        )
    u = k = None
    for ks in sizes:
        scale = ks / params.kernel_size
        shape = (max(MIN_IMAGE_SIDE, round(h * scale)), max(MIN_IMAGE_SIDE, round(w * scale)))
        f = resize(gray, shape) if shape != gray.shape else gray
        big = (shape[0] + ks - 1, shape[1] + ks - 1)
        if k is None:
            k, u = delta_kernel(ks), pad_for_kernel(f, ks)
        else:
            k = project_kernel(resize(k, (ks, ks)))
            u = resize(u, big)
        u, k = estimate_level(f, u, k, params)
    return threshold_kernel(k, params.kernel_threshold)


def threshold_kernel(k: np.ndarray, fraction: float) -> np.ndarray:
    """Zero the taps below ``fraction`` of the peak, renormalise, re-centre."""
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
    k = estimate_kernel(luminance(img), params)
    channels = np.moveaxis(img, 2, 0)
    out = tv_deconvolve(
        channels, k, params.final_lambda, params.final_iterations, params.tv_epsilon
    )
    return np.clip(np.moveaxis(out, 0, 2), 0.0, 1.0).astype(np.float32), k
