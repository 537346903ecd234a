"""Non-blind deconvolution with a sparse derivative prior by IRLS (Levin et al., SIGGRAPH 2007).

The non-blind step behind Perrone & Favaro's published results ("Image and depth from a
conventional camera with a coded aperture": its sparse deconvolution, as their code's Levin
benchmark script names it). For a blurry image ``y`` and a known kernel ``k`` the estimate
approximately minimises

    ||M (k * x) - y||^2 + weight * scale * sum_j c_j sum_i |(D_j x)_i|^exponent,

with ``x`` larger than ``y`` by the kernel (``M`` keeps the observed pixels: the valid model, no
boundary assumption), ``D_j`` the derivative filters ``d/dx``, ``d/dy`` (``c_j`` = 1) and
``d2/dx2``, ``d2/dy2``, ``d2/dxdy`` (``c_j`` = ``second_order``).

Iteratively reweighted least squares, as the reference does it: a first quadratic solve with
every derivative weighted 1 (``weight * ||D_j x||^2``), then ``reweightings`` solves with the
per-pixel weights ``scale * c_j * max(|D_j x|, floor)^(exponent - 2)`` from the previous
solution (at a fixed point, ``w z^2 = scale |z|^exponent``). Each quadratic problem
``(K^T M K + weight sum_j D_j^T W_j D_j) x = K^T M y`` is solved by ``cg_iterations``
conjugate-gradient steps started, every time, from ``y`` edge-padded by the kernel.

Defaults (:class:`SparseDeconvSettings`), the reference code's: ``exponent`` 0.8, ``scale``
0.1, ``second_order`` 0.25, ``floor`` 0.01, ``reweightings`` 2, ``cg_iterations`` 200; and
``weight`` 0.0068, the value Perrone & Favaro's script gives it for their results on Levin et
al.'s uniform-blur set (images in [0, 1]).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from deblur.data.kernels import odd_kernel
from deblur.hyperlaplacian import MaskedGrid

TINY = 1e-300  # guards the conjugate-gradient ratios once the residual vanishes
# derivative filters as (row offset, column offset, coefficient) taps, and their order
FIRST_ORDER = (
    ((0, 0, 1.0), (0, 1, -1.0)),  # d/dx
    ((0, 0, 1.0), (1, 0, -1.0)),  # d/dy
)
SECOND_ORDER = (
    ((0, -1, -1.0), (0, 0, 2.0), (0, 1, -1.0)),  # d2/dx2
    ((-1, 0, -1.0), (0, 0, 2.0), (1, 0, -1.0)),  # d2/dy2
    ((0, 0, -1.0), (0, 1, 1.0), (1, 0, 1.0), (1, 1, -1.0)),  # d2/dxdy
)


@dataclass(frozen=True)
class SparseDeconvSettings:
    """Parameters of :func:`sparse_deconvolve` (defaults: see the module docstring).

    Attributes
    ----------
    weight : float
        Weight of the prior against the data term (larger: smoother; images in [0, 1]).
    exponent : float
        Exponent of the derivative prior, in (0, 2].
    scale : float
        Factor of the reweighted weights (the reference's ``w0``).
    second_order : float
        Relative weight of the second-derivative terms in the reweighted solves.
    floor : float
        Smallest derivative magnitude in a weight (keeps weights finite).
    reweightings : int
        Reweighted solves after the first (quadratic) one.
    cg_iterations : int
        Conjugate-gradient steps per solve.
    """

    weight: float = 0.0068
    exponent: float = 0.8
    scale: float = 0.1
    second_order: float = 0.25
    floor: float = 0.01
    reweightings: int = 2
    cg_iterations: int = 200

    def __post_init__(self):
        rules = {
            "weight": (self.weight > 0, "> 0"),
            "exponent": (0 < self.exponent <= 2, "in (0, 2]"),
            "scale": (self.scale > 0, "> 0"),
            "second_order": (self.second_order >= 0, ">= 0"),
            "floor": (self.floor > 0, "> 0"),
            "reweightings": (self.reweightings >= 0, ">= 0"),
            "cg_iterations": (self.cg_iterations >= 1, ">= 1"),
        }
        for name, (ok, rule) in rules.items():
            if not ok:
                value = getattr(self, name)
                raise ValueError(f"sparse deconvolution {name} must be {rule}, got {value}")


def apply_filter(x: np.ndarray, taps) -> np.ndarray:
    """``(D x)[i] = sum c x[i + offset]`` (circular on the grid's last two axes)."""
    return sum(c * np.roll(x, (-dy, -dx), axis=(-2, -1)) for dy, dx, c in taps)


def apply_adjoint(z: np.ndarray, taps) -> np.ndarray:
    """Adjoint of :func:`apply_filter`."""
    return sum(c * np.roll(z, (dy, dx), axis=(-2, -1)) for dy, dx, c in taps)


def sparse_deconvolve(
    y: np.ndarray, k: np.ndarray, settings: SparseDeconvSettings | None = None
) -> np.ndarray:
    """Non-blind deconvolution of ``y`` (..., H, W) by ``k`` with a sparse derivative prior.

    Parameters
    ----------
    y : ndarray
        Blurry image(s), float, last two axes the image (values about [0, 1]).
    k : ndarray
        Kernel, 2-D with odd sides, non-negative, summing to 1.
    settings : SparseDeconvSettings, optional
        Defaults as in the module docstring.

    Returns
    -------
    ndarray
        Float64 array of ``y``'s shape (not clipped).
    """
    s = settings or SparseDeconvSettings()
    y = np.asarray(y, dtype=np.float64)
    k = odd_kernel(k)
    pad = max(k.shape)
    grid = MaskedGrid(y.shape[-2:], k, pad)
    h, w = y.shape[-2:]
    widths = [(0, 0)] * (y.ndim - 2)
    widths += [(pad, grid.shape[0] - h - pad), (pad, grid.shape[1] - w - pad)]
    x0 = np.pad(y, widths, mode="edge")
    y_big = np.zeros(y.shape[:-2] + grid.shape)
    y_big[grid.inside] = y
    b = grid.ifft(np.conj(grid.k_hat) * grid.fft(y_big))
    filters = FIRST_ORDER + SECOND_ORDER
    weights = [1.0] * len(filters)  # the first solve: every derivative weighted 1
    x = _cg(grid, b, x0, filters, weights, s)
    for _ in range(s.reweightings):
        weights = []
        for j, taps in enumerate(filters):
            c = 1.0 if j < len(FIRST_ORDER) else s.second_order
            d = np.abs(apply_filter(x, taps))
            weights.append(s.scale * c * np.maximum(d, s.floor) ** (s.exponent - 2.0))
        x = _cg(grid, b, x0, filters, weights, s)
    return x[grid.inside]


def _cg(grid: MaskedGrid, b, x, filters, weights, s: SparseDeconvSettings) -> np.ndarray:
    """Conjugate gradients on ``(K^T M K + weight sum_j D_j^T W_j D_j) x = b`` from ``x``."""
    axes = (-2, -1)

    def normal(v):
        blurred = grid.mask * grid.ifft(grid.fft(v) * grid.k_hat)
        out = grid.ifft(np.conj(grid.k_hat) * grid.fft(blurred))
        for taps, wj in zip(filters, weights, strict=True):
            out = out + s.weight * apply_adjoint(wj * apply_filter(v, taps), taps)
        return out

    r = b - normal(x)
    p = r
    rr = np.sum(r * r, axis=axes, keepdims=True)
    for _ in range(s.cg_iterations):
        ap = normal(p)
        step = rr / np.maximum(np.sum(p * ap, axis=axes, keepdims=True), TINY)
        x = x + step * p
        r = r - step * ap
        rr_new = np.sum(r * r, axis=axes, keepdims=True)
        p = r + rr_new / np.maximum(rr, TINY) * p
        rr = rr_new
    return x
