"""The per-iteration math of SinGAN training, written once.

Both training steps build their losses from these functions: the readable reference step
(:func:`deblur.singan.step.train_step`, autograd for the penalty's input gradient) and the
optimized one (:class:`deblur.singan.fast.FastStep`, the same gradient built explicitly). As in
the reference SinGAN: a WGAN-GP critic (scores of the real and the fake image plus a gradient
penalty on one random mix of them), and a generator trained on the adversarial loss plus
``alpha`` times the reconstruction MSE of the fixed reconstruction input.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from deblur.singan.models import Discriminator, Generator


def mix(real: torch.Tensor, fake: torch.Tensor, alpha: torch.Tensor) -> torch.Tensor:
    """The penalty's input: ``alpha * real + (1 - alpha) * fake`` (one weight per image)."""
    return alpha * real + (1 - alpha) * fake


def penalty_from_grad(grad: torch.Tensor, weight: float) -> torch.Tensor:
    """WGAN-GP term from the critic's input gradient: ``weight * mean((||grad||_2 - 1)^2)``,
    the norm over channels per pixel (the reference's)."""
    return weight * ((grad.norm(2, dim=1) - 1) ** 2).mean()


def critic_scores(D: Discriminator, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    """``-mean D(real) + mean D(fake)``, real first (the reference's running-statistics order)."""
    return -D(real).mean() + D(fake).mean()


def adversarial_loss(D: Discriminator, fake: torch.Tensor) -> torch.Tensor:
    """The generator's WGAN loss ``-mean D(fake)``."""
    return -D(fake).mean()


def reconstruction_loss(
    G: Generator,
    rec_input: torch.Tensor,
    prev_rec: torch.Tensor,
    real: torch.Tensor,
    alpha: float,
) -> torch.Tensor:
    """``alpha`` * MSE of G's reconstruction of ``real`` from ``rec_input`` and ``prev_rec``."""
    return alpha * F.mse_loss(G(rec_input, prev_rec), real)
