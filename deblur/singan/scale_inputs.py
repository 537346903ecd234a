"""What one scale's training iterations use besides its networks and optimizers.

:func:`prepare_scale` computes, from the frozen coarser scales, the reconstruction input, the
noise amplitude and the fixed reconstruction noise of a scale (the reference SinGAN's
``draw_concat`` and ``noise_amp`` logic); both training steps read them from a
:class:`ScaleInputs`. For a batch of N images (grouped networks) every tensor holds the N
images side by side in its channels and each image has its own noise amplitude.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import torch
import torch.nn.functional as F

from deblur.singan.config import SinGANConfig
from deblur.singan.draws import BatchDraws, scale_seed
from deblur.singan.generate import CoarseChain, draw_prev
from deblur.singan.grouped import image_slice, per_image
from deblur.singan.models import IMAGE_CHANNELS, Generator

__all__ = ["ScaleInputs", "prepare_scale", "scale_seed", "amplitude"]


@dataclasses.dataclass
class ScaleInputs:
    """What one scale's iterations use besides its networks and optimizers."""

    scale: int
    real: torch.Tensor  # (1, 3N, h, w) in [-1, 1]
    prev_rec: torch.Tensor  # upsampled reconstruction from the coarser scales (zeros at 0)
    z_opt: torch.Tensor  # reconstruction noise: fixed random at scale 0, zeros above
    noise_amp: float | torch.Tensor  # 1 at scale 0, else noise_amp * RMSE(real, prev_rec)
    draw_prev: Callable[[], torch.Tensor]  # a fresh "rand" previous image
    coarser: CoarseChain | None = None  # the same split in noise and generators (batchable)
    draws: BatchDraws | None = None  # where the random numbers come from (default: 1 image)
    amps: list[float] | None = None  # the noise amplitude of each image (default: noise_amp)

    def __post_init__(self):
        if self.draws is None:
            self.draws = BatchDraws(self.images)
        if self.amps is None:
            self.amps = [float(self.noise_amp)]

    @property
    def images(self) -> int:
        """How many images the tensors hold side by side."""
        return self.real.shape[1] // IMAGE_CHANNELS


def amplitude(amps: list[float], like: torch.Tensor) -> float | torch.Tensor:
    """Per-image noise amplitudes as a multiplier of ``(1, 3N, h, w)`` tensors: the float
    itself for one image, a ``(1, 3N, 1, 1)`` tensor for N."""
    return amps[0] if len(amps) == 1 else per_image(amps, like)


def prepare_scale(
    scale: int,
    reals: list[torch.Tensor],
    sizes: list[tuple[int, int]],
    coarser: list[Generator],
    noise_amps: list,
    z_opts: list[torch.Tensor],
    config: SinGANConfig,
    draws: BatchDraws | None = None,
) -> ScaleInputs:
    """Reconstruction input, noise amplitude and z_opt of ``scale``, from the coarser scales.

    ``noise_amps`` of the coarser scales as :func:`amplitude` gives them; ``draws`` defaults to
    the global RNG (:class:`~deblur.singan.draws.BatchDraws`)."""
    real = reals[scale]
    images = real.shape[1] // IMAGE_CHANNELS
    draws = BatchDraws(images) if draws is None else draws
    if scale == 0:
        zeros = torch.zeros_like(real)
        z_opt = draws.noise(sizes[0], coarsest=True, device=real.device).contiguous()
        return ScaleInputs(
            0, real, zeros, z_opt, 1.0, draw_prev=lambda: zeros, draws=draws, amps=[1.0] * images
        )
    prev_rec = draw_prev(coarser, noise_amps, sizes, "rec", z_opts)
    amps = [
        config.noise_amp
        * torch.sqrt(F.mse_loss(image_slice(prev_rec, i), image_slice(real, i))).item()
        for i in range(images)
    ]

    chain = CoarseChain(list(coarser), list(noise_amps[:scale]), list(sizes), draws)

    def rand_prev() -> torch.Tensor:
        return chain.run([chain.draw_noise(real.device)])

    return ScaleInputs(
        scale, real, prev_rec, torch.zeros_like(real), amplitude(amps, real), rand_prev, chain,
        draws, amps,
    )  # fmt: skip
