"""What one scale's training iterations use besides its networks and optimizers.

:func:`prepare_scale` computes, from the frozen coarser scales, the reconstruction input, the
noise amplitude and the fixed reconstruction noise of a scale (the reference SinGAN's
``draw_concat`` and ``noise_amp`` logic); both training steps read them from a
:class:`ScaleInputs`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import torch
import torch.nn.functional as F

from deblur.singan.config import SinGANConfig
from deblur.singan.generate import CoarseChain, draw_noise, draw_prev
from deblur.singan.models import Generator


@dataclasses.dataclass
class ScaleInputs:
    """What one scale's iterations use besides its networks and optimizers."""

    scale: int
    real: torch.Tensor  # (1, 3, h, w) in [-1, 1]
    prev_rec: torch.Tensor  # upsampled reconstruction from the coarser scales (zeros at 0)
    z_opt: torch.Tensor  # reconstruction noise: fixed random at scale 0, zeros above
    noise_amp: float  # 1 at scale 0, else noise_amp * RMSE(real, prev_rec)
    draw_prev: Callable[[], torch.Tensor]  # a fresh "rand" previous image
    coarser: CoarseChain | None = None  # the same split in noise and generators (batchable)


def scale_seed(seed: int, scale: int) -> int:
    """RNG seed of one scale: each scale is reproducible on its own, so resuming is exact."""
    return seed * 1000 + scale


def prepare_scale(
    scale: int,
    reals: list[torch.Tensor],
    sizes: list[tuple[int, int]],
    coarser: list[Generator],
    noise_amps: list[float],
    z_opts: list[torch.Tensor],
    config: SinGANConfig,
) -> ScaleInputs:
    """Reconstruction input, noise amplitude and z_opt of ``scale``, from the coarser scales."""
    real = reals[scale]
    if scale == 0:
        zeros = torch.zeros_like(real)
        z_opt = draw_noise(sizes[0], coarsest=True, device=real.device).contiguous()
        return ScaleInputs(scale, real, zeros, z_opt, 1.0, draw_prev=lambda: zeros)
    prev_rec = draw_prev(coarser, noise_amps, sizes, "rec", z_opts)
    noise_amp = config.noise_amp * torch.sqrt(F.mse_loss(prev_rec, real)).item()

    chain = CoarseChain(list(coarser), list(noise_amps[:scale]), list(sizes))

    def rand_prev() -> torch.Tensor:
        return chain.run([chain.draw_noise(real.device)])

    return ScaleInputs(scale, real, prev_rec, torch.zeros_like(real), noise_amp, rand_prev, chain)
