"""Differentiable SSIM for the SelfDeblur loss, as the reference computes it.

A Gaussian window (per channel, zero padding of half its width so the map keeps the image size),
the constants (0.01)^2 and (0.03)^2 for a data range of 1, and the mean over the whole map.
This differs slightly from the benchmark's metric (scikit-image, no padding); it is the loss.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

K1, K2 = 0.01, 0.03  # SSIM stabilisers, for images in [0, 1]


def gaussian_window(size: int, sigma: float, channels: int, like: torch.Tensor) -> torch.Tensor:
    """A normalised (channels, 1, size, size) Gaussian window on ``like``'s device and dtype."""
    x = torch.arange(size, dtype=torch.float64) - size // 2
    g = torch.exp(-(x**2) / (2 * sigma**2))
    g = g / g.sum()
    w = torch.outer(g, g).to(like)
    return w.expand(channels, 1, size, size).contiguous()


def ssim(a: torch.Tensor, b: torch.Tensor, window: int = 11, sigma: float = 1.5) -> torch.Tensor:
    """Mean SSIM of two (N, C, H, W) images in [0, 1] (a scalar tensor with gradients)."""
    if a.shape != b.shape:
        raise ValueError(f"ssim needs equal shapes, got {tuple(a.shape)} and {tuple(b.shape)}")
    c = a.shape[1]
    w = gaussian_window(window, sigma, c, a)

    def filt(x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, w, padding=window // 2, groups=c)

    mu_a, mu_b = filt(a), filt(b)
    var_a = filt(a * a) - mu_a**2
    var_b = filt(b * b) - mu_b**2
    cov = filt(a * b) - mu_a * mu_b
    c1, c2 = K1**2, K2**2
    num = (2 * mu_a * mu_b + c1) * (2 * cov + c2)
    den = (mu_a**2 + mu_b**2 + c1) * (var_a + var_b + c2)
    return (num / den).mean()
