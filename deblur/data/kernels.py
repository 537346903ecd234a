"""Random camera-shake blur kernels from random motion trajectories.

In the spirit of Boracchi & Foi (2012), a kernel is the path of a point moving with inertia
during the exposure: a unit-speed particle whose direction is nudged at every step by Gaussian
jitter and a pull back towards where it started (hand tremor stays near its origin), with rare
abrupt turns (a shake). The path is scaled to fit a square support of odd side, centred on its
centroid (so a blurry frame stays aligned with its sharp frame on average), rasterised by
bilinear splatting and normalised to sum 1.

Also the kernel arithmetic that methods and evaluation share (:func:`pad_kernel`,
:func:`center_kernel`), so that evaluation never imports a method module.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class TrajectoryParams:
    """Shape of the random trajectories (their size is set by the kernel side).

    Attributes
    ----------
    steps : int
        Samples along the trajectory (fine enough for a smooth rasterised path).
    jitter : float
        Standard deviation of the Gaussian nudge of the direction per step (unit speed).
    pull : float
        Strength of the pull towards the start, per step and unit of distance travelled / steps.
    shake_prob : float
        Probability per step of an abrupt turn (by 90 to 270 degrees).
    """

    steps: int = 200
    jitter: float = 0.06
    pull: float = 0.003
    shake_prob: float = 0.004

    def __post_init__(self):
        if self.steps < 2:
            raise ValueError(f"steps must be >= 2, got {self.steps}")
        for name in ("jitter", "pull"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        if not 0 <= self.shake_prob <= 1:
            raise ValueError(f"shake_prob must be in [0, 1], got {self.shake_prob}")


def random_trajectory(rng: np.random.Generator, params: TrajectoryParams) -> np.ndarray:
    """Positions (steps,) as complex numbers of a unit-speed particle with inertia."""
    pos = np.zeros(params.steps, dtype=complex)
    velocity = np.exp(1j * rng.uniform(0, 2 * np.pi))
    nudges = rng.normal(size=(params.steps, 2)) @ np.array([1.0, 1j]) * params.jitter
    shakes = rng.uniform(size=params.steps) < params.shake_prob
    turns = np.exp(1j * rng.uniform(0.5 * np.pi, 1.5 * np.pi, size=params.steps))
    for t in range(1, params.steps):
        # the pull is relative to the path length so far, so it bends but never stops the path
        v = velocity + nudges[t] - params.pull * pos[t - 1] / max(1.0, t**0.5)
        if shakes[t]:
            v *= turns[t]
        velocity = v / abs(v) if abs(v) > 0 else velocity
        pos[t] = pos[t - 1] + velocity
    return pos


def rasterize(points: np.ndarray, size: int) -> np.ndarray:
    """Splat complex ``points`` bilinearly into a (size, size) kernel, centroid at the centre.

    The path is scaled so that no point lies further than ``size // 2 - 1`` px from the centroid
    along either axis (it fits with room for the bilinear splat); the result sums to 1.
    """
    if size < 3 or size % 2 == 0:
        raise ValueError(f"size must be an odd integer >= 3, got {size}")
    p = points - points.mean()
    reach = max(np.abs(p.real).max(), np.abs(p.imag).max())
    c = size // 2
    if reach > 0:
        p = p * ((c - 1) / reach)
    x, y = p.real + c, p.imag + c
    x0, y0 = np.floor(x).astype(int), np.floor(y).astype(int)
    fx, fy = x - x0, y - y0
    k = np.zeros((size, size))
    for dy, wy in ((0, 1 - fy), (1, fy)):
        for dx, wx in ((0, 1 - fx), (1, fx)):
            np.add.at(k, (y0 + dy, x0 + dx), wy * wx)
    return k / k.sum()


def random_shake_kernel(
    rng: np.random.Generator, size: int, params: TrajectoryParams | None = None
) -> np.ndarray:
    """A random camera-shake kernel of odd side ``size`` (non-negative, sum 1)."""
    return rasterize(random_trajectory(rng, params or TrajectoryParams()), size)


def odd_kernel(k: np.ndarray) -> np.ndarray:
    """``k`` as float64, checked to be 2-D with odd sides (a centre pixel); else ValueError."""
    k = np.asarray(k, dtype=np.float64)
    if k.ndim != 2 or k.shape[0] % 2 == 0 or k.shape[1] % 2 == 0:
        raise ValueError(f"kernel must be 2-D with odd sides, got shape {k.shape}")
    return k


def pad_kernel(k: np.ndarray, size: int) -> np.ndarray:
    """``k`` (odd side) zero-padded to a centred (size, size) kernel, ``size >= k`` and odd."""
    if size < k.shape[0] or (size - k.shape[0]) % 2:
        raise ValueError(f"size must be >= {k.shape[0]} with the same parity, got {size}")
    m = (size - k.shape[0]) // 2
    return np.pad(k, m)


def center_kernel(k: np.ndarray) -> tuple[np.ndarray, tuple[int, int]]:
    """Shift ``k`` by whole pixels so its centroid is nearest the centre; returns the shift.

    A blind estimate is defined only up to a translation; methods recentre their estimates with
    this and the kernel error compares kernels after it. The shifted kernel is renormalised to
    sum 1; if the shift would move all of its mass out of the support, ``k`` is returned as is
    with the shift (0, 0).
    """
    from scipy import ndimage

    c = k.shape[0] // 2
    rows, cols = np.indices(k.shape)
    dy = int(round(c - float((k * rows).sum())))
    dx = int(round(c - float((k * cols).sum())))
    shifted = ndimage.shift(k, (dy, dx), order=0, mode="constant")
    if not shifted.sum() > 0:
        return k, (0, 0)
    return shifted / shifted.sum(), (dy, dx)
