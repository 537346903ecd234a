"""The per-iteration math of SinGAN training, written once.

Both training steps build their losses from these functions: the readable reference step
(:func:`deblur.singan.step.train_step`, autograd for the penalty's input gradient) and the
optimized one (:class:`deblur.singan.fast.FastStep`, the same gradient built explicitly). As in
the reference SinGAN: a WGAN-GP critic (scores of the real and the fake image plus a gradient
penalty on one random mix of them), and a generator trained on the adversarial loss plus
``alpha`` times the reconstruction MSE of the fixed reconstruction input.

A grouped network of N images (``images=N``, :mod:`deblur.singan.models`) gets each loss per
image, a vector of N values, each a mean over its own image's pixels (:func:`image_means`);
the loss that is backpropagated is their sum (:func:`total`), so each image's parameters get
exactly their own gradient. With one image every function computes what it always did (a
scalar, the same operations).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from deblur.singan.models import IMAGE_CHANNELS, Discriminator, Generator


def images_of(x: torch.Tensor) -> int:
    """How many images a ``(B, 3N, h, w)`` tensor holds side by side."""
    return x.shape[1] // IMAGE_CHANNELS


def image_means(x: torch.Tensor, images: int) -> torch.Tensor:
    """Mean of each image's part of ``x`` (its channels ``k * i .. k * (i + 1) - 1`` of
    ``(B, k * images, h, w)``): a scalar for one image (``x.mean()``), else ``(images,)``."""
    if images == 1:
        return x.mean()
    return x.unflatten(1, (images, -1)).mean((0, 2, 3, 4))


def total(loss: torch.Tensor) -> torch.Tensor:
    """The sum of per-image losses, what a batch backpropagates (a scalar is itself)."""
    return loss if loss.dim() == 0 else loss.sum()


def no_loss(images: int, device) -> torch.Tensor:
    """A zero loss per image (the reconstruction loss when ``alpha`` is 0)."""
    return torch.zeros(() if images == 1 else (images,), device=device)


def mix(real: torch.Tensor, fake: torch.Tensor, alpha: torch.Tensor) -> torch.Tensor:
    """The penalty's input: ``alpha * real + (1 - alpha) * fake`` (one weight per image)."""
    return alpha * real + (1 - alpha) * fake


def penalty_from_grad(grad: torch.Tensor, weight: float, images: int = 1) -> torch.Tensor:
    """WGAN-GP term from the critic's input gradient: ``weight * mean((||grad||_2 - 1)^2)``,
    the norm over each image's 3 channels per pixel (the reference's), the mean per image."""
    if images == 1:
        return weight * ((grad.norm(2, dim=1) - 1) ** 2).mean()
    norms = grad.unflatten(1, (images, -1)).norm(2, dim=2)  # (B, images, h, w)
    return weight * image_means((norms - 1) ** 2, images)


def critic_scores(D: Discriminator, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    """``-mean D(real) + mean D(fake)``, real first (the reference's running-statistics order)."""
    images = images_of(real)
    return -image_means(D(real), images) + image_means(D(fake), images)


def adversarial_loss(D: Discriminator, fake: torch.Tensor) -> torch.Tensor:
    """The generator's WGAN loss ``-mean D(fake)``."""
    return -image_means(D(fake), images_of(fake))


def reconstruction_loss(
    G: Generator,
    rec_input: torch.Tensor,
    prev_rec: torch.Tensor,
    real: torch.Tensor,
    alpha: float,
) -> torch.Tensor:
    """``alpha`` * MSE of G's reconstruction of ``real`` from ``rec_input`` and ``prev_rec``."""
    images = images_of(real)
    if images == 1:
        return alpha * F.mse_loss(G(rec_input, prev_rec), real)
    return alpha * image_means((G(rec_input, prev_rec) - real) ** 2, images)
