"""Training iterations as objects: what the training loop asks of a step, the readable
reference step, and the choice between it and the optimized one.

A step is called once per iteration, ``step(G, D, opt_g, opt_d, inputs, config)``, and returns
the last (err_d, err_g, rec_loss), detached. Besides the math it carries what the loop must do
around it, so that :mod:`deblur.singan.train` never asks which step it runs:

- ``precision``: "fp32" or "bf16" (part of the run's identity);
- ``memory_format``: the layout of the networks and tensors (:meth:`Step.prepare` puts a
  scale's networks and inputs in it; frozen coarser generators are converted with it, so that
  a resumed run computes exactly what an uninterrupted one did);
- ``fused_adam``: whether the optimizers use PyTorch's single-kernel Adam;
- :meth:`Step.settings`: what ``model.json`` records about the step.

:class:`ReferenceStep` (:func:`train_step`) is the straightforward iteration; the optimized
:class:`~deblur.singan.fast.FastStep` has the same math. :func:`make_step` picks one from the
command line's options.
"""

from __future__ import annotations

from typing import Protocol

import torch

from deblur.errors import DeblurError
from deblur.singan.config import SinGANConfig
from deblur.singan.device import check_precision
from deblur.singan.fast import BRANCH_MAX_CHANNELS, FastStep
from deblur.singan.losses import (
    adversarial_loss,
    critic_scores,
    images_of,
    mix,
    no_loss,
    penalty_from_grad,
    reconstruction_loss,
    total,
)
from deblur.singan.models import Discriminator, Generator
from deblur.singan.scale_inputs import ScaleInputs

Losses = tuple[torch.Tensor, torch.Tensor, torch.Tensor]


class Step(Protocol):
    """What the training loop needs from an iteration (see the module docstring)."""

    precision: str
    memory_format: torch.memory_format
    fused_adam: bool

    def prepare(self, G: Generator, D: Discriminator, inputs: ScaleInputs) -> None:
        """Put a scale's networks and inputs in the step's layout (in place)."""

    def settings(self) -> dict[str, object]:
        """The step's settings as ``model.json`` records them."""

    def __call__(
        self,
        G: Generator,
        D: Discriminator,
        opt_g: torch.optim.Optimizer,
        opt_d: torch.optim.Optimizer,
        inputs: ScaleInputs,
        config: SinGANConfig,
    ) -> Losses: ...


def gradient_penalty(
    D: Discriminator,
    real: torch.Tensor,
    fake: torch.Tensor,
    weight: float,
    alpha: torch.Tensor | None = None,
) -> torch.Tensor:
    """WGAN-GP with one mixing weight per image (``alpha``; drawn here if None), the input
    gradient by autograd (of the sum of all images' scores: each image's part of it is its
    own gradient, the networks being block-diagonal)."""
    a = torch.rand(1, 1, 1, 1, device=real.device) if alpha is None else alpha
    x = mix(real, fake, a).requires_grad_(True)
    (grad,) = torch.autograd.grad(D(x).sum(), x, create_graph=True)
    return penalty_from_grad(grad, weight, images_of(real))


def train_step(
    G: Generator,
    D: Discriminator,
    opt_g: torch.optim.Optimizer,
    opt_d: torch.optim.Optimizer,
    inputs: ScaleInputs,
    config: SinGANConfig,
) -> Losses:
    """One training iteration; returns the last (err_d, err_g, rec_loss), detached (scalars,
    or one value per image for a batch).

    As in the reference: one noise map per iteration; ``d_steps`` critic updates, each with a
    fresh "rand" image from the coarser scales; then ``g_steps`` generator updates on the last
    of those. The fake is regenerated in every G step (the reference reuses a stale graph,
    which crashes on torch >= 1.5; detaching it instead would silently drop G's adversarial
    gradient).
    """
    real = inputs.real
    noise = inputs.noise_amp * inputs.draws.noise(real.shape[-2:], inputs.scale == 0, real.device)

    for _ in range(config.d_steps):
        prev = inputs.draw_prev()
        with torch.no_grad():  # D's loss does not reach G
            fake = G(noise, prev)
        opt_d.zero_grad(set_to_none=True)
        alpha = inputs.draws.mix_weight(real.device)
        gp = gradient_penalty(D, real, fake, config.lambda_grad, alpha)
        err_d = critic_scores(D, real, fake) + gp
        total(err_d).backward()
        opt_d.step()

    rec_input = inputs.noise_amp * inputs.z_opt
    for _ in range(config.g_steps):
        opt_g.zero_grad(set_to_none=True)
        err_g = adversarial_loss(D, G(noise, prev))
        rec_loss = no_loss(inputs.images, real.device)
        if config.alpha > 0:
            rec_loss = reconstruction_loss(G, rec_input, inputs.prev_rec, real, config.alpha)
        total(err_g + rec_loss).backward()
        opt_g.step()

    return err_d.detach(), err_g.detach(), rec_loss.detach()


class ReferenceStep:
    """:func:`train_step` as a step: fp32, contiguous (NCHW) layout, the plain Adam loop."""

    precision = "fp32"
    memory_format = torch.contiguous_format
    fused_adam = False

    def prepare(self, G: Generator, D: Discriminator, inputs: ScaleInputs) -> None:
        """Nothing to do: modules and tensors are created contiguous."""

    def settings(self) -> dict[str, object]:
        return dict(step="reference", compile=False, branch_max_channels=0)

    def __call__(self, G, D, opt_g, opt_d, inputs, config) -> Losses:
        return train_step(G, D, opt_g, opt_d, inputs, config)


def make_step(
    reference_step: bool = False,
    precision: str = "fp32",
    compile: bool = False,
    branch_max_channels: int = BRANCH_MAX_CHANNELS,
) -> Step:
    """The iteration to train with: :class:`ReferenceStep`, or the optimized
    :class:`~deblur.singan.fast.FastStep` (the default; it also carries the precision).

    Raises DeblurError on an unknown precision, bf16 with the reference step, or a negative
    ``branch_max_channels``."""
    check_precision(precision)
    if reference_step and precision != "fp32":
        raise DeblurError("the reference step runs in fp32 only; drop --reference-step for bf16")
    if branch_max_channels < 0:
        raise DeblurError(f"--branch-max-channels must be >= 0, got {branch_max_channels}")
    if reference_step:
        return ReferenceStep()
    return FastStep(compile, precision, branch_max_channels)
