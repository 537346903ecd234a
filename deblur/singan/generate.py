"""Running a trained pyramid: the coarse-to-fine chain used in training, and deblurring (§4).

``draw_prev`` is the reference's ``draw_concat``: the image that scale s starts from, built by
all coarser generators with fresh noise (``"rand"``) or with the fixed reconstruction noise
``z_opt`` (``"rec"``), upsampled to scale s. ``deblur_image`` runs every inference reading
(:mod:`deblur.singan.readings`): the paper's, paint-to-image, super-resolution and a random
sample.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import torch

from deblur.resize import resize_array, resize_tensor, scaled_size
from deblur.singan.models import IMAGE_CHANNELS, Generator
from deblur.singan.pyramid import image_to_tensor, tensor_to_image
from deblur.singan.readings import (
    DEFAULT_MAX_OUTPUT_PIXELS,
    DEFAULT_SR_FACTOR,
    DEFAULT_SR_STEP,
    MODES,
    check_output_size,
    plan_sr,
)

if TYPE_CHECKING:
    from deblur.singan.checkpoint import SinGANModel

__all__ = ["MODES", "deblur_image", "draw_noise", "draw_prev", "sample_image"]


def draw_noise(
    size: Sequence[int],
    coarsest: bool,
    device: torch.device | str,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Standard normal noise of shape (1, 3, h, w).

    At the coarsest scale the reference draws one channel and broadcasts it to RGB (grey noise);
    above it draws each channel independently.
    """
    h, w = size
    if coarsest:
        z = torch.randn(1, 1, h, w, device=device, generator=generator)
        return z.expand(1, IMAGE_CHANNELS, h, w)
    return torch.randn(1, IMAGE_CHANNELS, h, w, device=device, generator=generator)


@torch.no_grad()
def draw_prev(
    generators: Sequence[Generator],
    noise_amps: Sequence[float],
    sizes: Sequence[tuple[int, int]],
    mode: str,
    z_opts: Sequence[torch.Tensor] | None = None,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Previous image for scale ``s = len(generators)``: G_0 .. G_{s-1}, upsampled to sizes[s].

    Parameters
    ----------
    generators, noise_amps : the trained coarser scales (``noise_amps`` as floats).
    sizes : sizes of all scales (at least ``s + 1`` of them), coarsest first.
    mode : ``"rand"`` (fresh noise at every scale) or ``"rec"`` (the fixed ``z_opts``).

    Each output is resized straight to the next scale's size; the reference upsamples by
    ``1 / r`` (rounding up) and crops the extra row/column, a sub-pixel difference.
    """
    if mode not in ("rand", "rec"):
        raise ValueError(f"mode must be 'rand' or 'rec', got {mode!r}")
    chain = CoarseChain(list(generators), list(noise_amps), list(sizes))
    device = _device_of(generators)
    zs = list(z_opts[: len(generators)]) if mode == "rec" else chain.draw_noise(device, generator)
    return chain.run([zs])


@dataclasses.dataclass
class CoarseChain:
    """The trained coarser scales of a scale being trained, run coarse to fine.

    :func:`draw_prev` split in two, so that several previous images can be made in one batch
    from noise drawn in the reference's order: :meth:`draw_noise` draws what one "rand" image
    needs, :meth:`run` runs the (frozen, eval-mode: batch-independent) generators on a batch.
    """

    generators: list[Generator]
    noise_amps: list  # floats, or per-image (1, 3N, 1, 1) tensors for grouped generators
    sizes: list[tuple[int, int]]  # of all scales up to at least the one being trained
    draws: object = None  # training: a deblur.singan.draws.BatchDraws (None: draw_noise)

    def draw_noise(
        self, device: torch.device | str, generator: torch.Generator | None = None
    ) -> list[torch.Tensor]:
        """One "rand" image's noise, coarsest scale first (nothing at scale 0)."""
        if self.draws is not None and generator is None:
            return [
                self.draws.noise(self.sizes[k], k == 0, device) for k in range(len(self.generators))
            ]
        return [
            draw_noise(self.sizes[k], coarsest=k == 0, device=device, generator=generator)
            for k in range(len(self.generators))
        ]

    @torch.no_grad()
    def run(self, noises: Sequence[Sequence[torch.Tensor]]) -> torch.Tensor:
        """The previous images (B, 3, h, w) made from B lists of :meth:`draw_noise` output."""
        params = next(self.generators[0].parameters()) if self.generators else torch.zeros(())
        images = self.generators[0].images if self.generators else 1
        x = params.new_zeros(len(noises), IMAGE_CHANNELS * images, *self.sizes[0])
        for k, G in enumerate(self.generators):
            z = noises[0][k] if len(noises) == 1 else torch.cat([zs[k] for zs in noises])
            x = G(self.noise_amps[k] * z, x)
            x = resize_tensor(x, self.sizes[k + 1])
        return x


def _device_of(generators: Sequence[Generator]) -> torch.device:
    if len(generators) == 0:
        return torch.device("cpu")
    return next(generators[0].parameters()).device


@torch.no_grad()
def deblur_image(
    model: SinGANModel,
    blurry: np.ndarray | None,
    steps: int = 1,
    mode: str = "g0",
    inject_scale: int | None = None,
    noise: bool = True,
    seed: int = 0,
    sr_factor: float | str = DEFAULT_SR_FACTOR,
    sr_step: str = DEFAULT_SR_STEP,
    max_output_pixels: int = DEFAULT_MAX_OUTPUT_PIXELS,
) -> np.ndarray:
    """Deblur one image with a trained pyramid (or, ``"sample"``, ignore it).

    ``"g0"`` (the paper): the blurry image at the finest scale's size is downscaled by
    ``r ** steps`` (r = the pyramid factor), then ``steps`` times upsampled by ``1 / r``
    (exactly to the finest size on the last step), given G_0's noise and passed through G_0,
    the finest generator; like the reference's super-resolution with an image that is already
    at the target size.

    ``"inject"`` (the reference's paint-to-image): the image resized to scale
    ``inject_scale - 1``, upsampled to scale ``inject_scale`` and passed through
    G_inject_scale .. G_finest with their noise (scales counted from the coarsest, 0; a
    negative ``inject_scale`` counts from the finest, -1 being the finest).

    ``"sr"`` (the reference's super-resolution, ``SR.py``): the image at the finest scale's
    size is upsampled pass by pass (:func:`deblur.singan.readings.plan_sr`: ``sr_factor``
    overall, ``sr_step`` rule) and each upsampled image, plus G_0's noise at G_0's trained
    amplitude, is passed through G_0. As in the reference the first pass draws one noise
    channel for all three (grey noise, as the reference does for the first generator of any
    chain), the later passes one per channel. Output: the model size times ``sr_factor``, or
    the blurry frame's own size for ``"full"``.

    ``"sample"``: :func:`sample_image`; ``blurry`` is not read and may be None.

    Parameters
    ----------
    model : SinGANModel
        From :func:`deblur.singan.checkpoint.load_model`.
    blurry : ndarray, shape (H, W, 3), float in [0, 1]
        Resized to the finest scale's size first (:func:`deblur.resize.resize_array`).
    steps : int
        Upsampling passes through G_0 in ``"g0"`` mode, 1 .. :func:`max_steps` (beyond it the
        downscaled image would be smaller than the coarsest scale).
    mode : {"g0", "inject", "sr", "sample"}
    inject_scale : int, optional
        Scale to inject at in ``"inject"`` mode, 1 .. num_scales - 1, or -(num_scales - 1)
        .. -1 counted from the finest (so one setting means the same on pyramids of any
        depth); default ``num_scales - 2`` (= -2), so the two finest generators run
        (``num_scales - 1`` would be ``"g0"`` with one step).
    noise : bool
        Add each generator's noise (amplitude from training); ``False`` gives zero noise.
    seed : int
        Seed of that noise (a private generator; the global RNG is untouched).
    sr_factor : float or "full"
        ``"sr"``: overall upsampling factor, >= 1 (default 4, the reference's), or ``"full"``
        (the blurry frame's original size).
    sr_step : {"reference", "pyramid"}
        ``"sr"``: the reference's 2^(1/3)-based rule or steps of 1 / r.
    max_output_pixels : int
        ``"sr"``: refuse an output larger than this (memory grows with it).

    Returns
    -------
    ndarray, shape (h, w, 3), float32 in [0, 1], at the finest scale's size (``"sr"``: the
    planned output size).
    """
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    if mode == "sample":
        return sample_image(model, noise=noise, seed=seed)
    if not (isinstance(blurry, np.ndarray) and blurry.ndim == 3 and blurry.shape[2] == 3):
        raise ValueError(
            f"blurry must be an (H, W, 3) array, got {getattr(blurry, 'shape', blurry)}"
        )
    device = model.device
    rng = torch.Generator(device=device).manual_seed(seed)
    sizes = model.sizes
    blurry = np.clip(blurry, 0.0, 1.0).astype(np.float32)
    x = image_to_tensor(resize_array(blurry, sizes[-1]), device)

    def run(scale: int, x: torch.Tensor) -> torch.Tensor:
        amp = model.noise_amps[scale] if noise else 0.0
        z = draw_noise(x.shape[-2:], coarsest=scale == 0, device=device, generator=rng)
        return model.generators[scale](amp * z, x)

    if mode == "g0":
        top = max_steps(len(sizes))
        if not 1 <= steps <= top:
            raise ValueError(
                f"steps must be in 1..{top} for this {len(sizes)}-scale model (more would "
                f"downscale the image below the coarsest scale, {sizes[0][1]}x{sizes[0][0]}), "
                f"got {steps}"
            )
        finest = len(sizes) - 1
        h, w = sizes[-1]
        x = resize_tensor(x, scaled_size(h, w, model.scale_factor**steps))
        for k in range(steps - 1, -1, -1):
            x = resize_tensor(x, scaled_size(h, w, model.scale_factor**k))
            x = run(finest, x)
    elif mode == "sr":
        plan = plan_sr(sizes[-1], model.scale_factor, sr_factor, sr_step, blurry.shape[:2])
        check_output_size(plan, max_output_pixels)
        finest = len(sizes) - 1
        amp = model.noise_amps[finest] if noise else 0.0
        for j, size in enumerate(plan.sizes):
            x = resize_tensor(x, size)
            z = draw_noise(size, coarsest=j == 0, device=device, generator=rng)
            x = model.generators[finest](amp * z, x)
    else:
        n = default_inject_scale(len(sizes)) if inject_scale is None else inject_scale
        if n < 0:
            n += len(sizes)
        if not 1 <= n <= len(sizes) - 1:
            top = len(sizes) - 1
            raise ValueError(
                f"inject_scale must be in 1..{top} (from the coarsest) or -{top}..-1 (from "
                f"the finest) for this {len(sizes)}-scale model, got {inject_scale}"
            )
        x = resize_tensor(resize_tensor(x, sizes[n - 1]), sizes[n])
        for scale in range(n, len(sizes)):
            x = resize_tensor(x, sizes[scale])
            x = run(scale, x)
    return tensor_to_image(x)


@torch.no_grad()
def sample_image(model: SinGANModel, noise: bool = True, seed: int = 0) -> np.ndarray:
    """A random sample of the trained pyramid, at the finest scale's size.

    The reference's ``SinGAN_generate`` from scale 0: a zero image at the coarsest size, then
    at every scale fresh noise at that scale's trained amplitude (grey at the coarsest) and its
    generator, the result upsampled to the next scale's size. No input image: the floor a
    method that ignores its input reaches. ``noise=False`` gives zero noise everywhere (one
    fixed, deterministic image).
    """
    device = model.device
    rng = torch.Generator(device=device).manual_seed(seed)
    sizes = model.sizes
    x = torch.zeros(1, IMAGE_CHANNELS, *sizes[0], device=device)
    for scale, G in enumerate(model.generators):
        x = resize_tensor(x, sizes[scale])
        amp = model.noise_amps[scale] if noise else 0.0
        z = draw_noise(sizes[scale], coarsest=scale == 0, device=device, generator=rng)
        x = G(amp * z, x)
    return tensor_to_image(x)


def max_steps(num_scales: int) -> int:
    """Largest g0 ``steps``: ``r ** (num_scales - 1)`` takes the finest size to the coarsest."""
    return max(1, num_scales - 1)


def default_inject_scale(num_scales: int) -> int:
    """Default injection scale: the one below the finest, so G_{N-2} and G_{N-1} run."""
    return max(1, num_scales - 2)
