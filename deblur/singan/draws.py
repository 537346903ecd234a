"""Where a training run's random numbers come from, for one image or a batch of N.

Training draws, per scale after seeding: the networks' initial weights (fresh scales), the
scale-0 reconstruction noise ``z_opt``, and per iteration the noise map, the coarser scales'
noise of each "rand" previous image and the gradient penalty's mixing weight. The trainer
and both steps make every draw through one of these objects:

- :class:`BatchDraws` (training): each kind of draw once for all N images of a batch, from
  the global RNG seeded per scale. With one image its calls are exactly those the
  single-image trainer always made. With N images the noise has the same distribution per
  image as N single runs, but it is not the same sample (the random stream is shared).
- :class:`SeparateStreams` (checks): each image's part from that image's own stream, the
  global RNG state its single run would have, switched in for each of its draws: a batch then
  makes, per image, the random numbers of a single run in the same order, so that batched and
  single training can be compared number for number (CPU).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence

import torch

from deblur.singan.generate import draw_noise
from deblur.singan.models import IMAGE_CHANNELS


def scale_seed(seed: int, scale: int) -> int:
    """RNG seed of one scale: each scale is reproducible on its own, so resuming is exact."""
    return seed * 1000 + scale


class BatchDraws:
    """A batch's draws, each made once for all ``images`` from the global RNG (see the module
    docstring); ``seed`` is the run's seed."""

    def __init__(self, images: int = 1, seed: int = 0):
        self.images = images
        self.seed = seed

    def start_scale(self, scale: int) -> None:
        """Seed the global RNG for ``scale`` (:func:`scale_seed`)."""
        torch.manual_seed(scale_seed(self.seed, scale))

    @contextlib.contextmanager
    def image(self, i: int) -> Iterator[None]:
        """Draws made inside the block (initial weights) belong to image ``i`` alone; here they
        simply come from the shared stream, image after image."""
        yield

    def noise(self, size: Sequence[int], coarsest: bool, device) -> torch.Tensor:
        """Standard normal noise ``(1, 3N, h, w)``; grey (one channel repeated) per image at
        the coarsest scale, as the reference draws it."""
        if self.images == 1:
            return draw_noise(size, coarsest, device)
        h, w = size
        if coarsest:
            grey = torch.randn(1, self.images, h, w, device=device)
            return grey.repeat_interleave(IMAGE_CHANNELS, dim=1)
        return torch.randn(1, IMAGE_CHANNELS * self.images, h, w, device=device)

    def mix_weight(self, device) -> torch.Tensor:
        """The gradient penalty's mixing weight per image: ``(1, 1, 1, 1)`` for one image,
        ``(1, 3N, 1, 1)`` (each image's weight on its 3 channels) for N."""
        if self.images == 1:
            return torch.rand(1, 1, 1, 1, device=device)
        weight = torch.rand(1, self.images, 1, 1, device=device)
        return weight.repeat_interleave(IMAGE_CHANNELS, dim=1)


class SeparateStreams(BatchDraws):
    """Each image's draws from its own stream (see the module docstring): image ``i``'s stream
    is the global RNG seeded with ``scale_seed(seeds[i], scale)`` at each scale; the global
    RNG outside the draws is left as it was."""

    def __init__(self, seeds: Sequence[int]):
        super().__init__(len(seeds))
        self.seeds = list(seeds)
        self.states: list[torch.Tensor] = []

    def start_scale(self, scale: int) -> None:
        with torch.random.fork_rng(devices=[]):
            self.states = []
            for seed in self.seeds:
                torch.manual_seed(scale_seed(seed, scale))
                self.states.append(torch.get_rng_state())

    @contextlib.contextmanager
    def image(self, i: int) -> Iterator[None]:
        outer = torch.get_rng_state()
        torch.set_rng_state(self.states[i])
        try:
            yield
        finally:
            self.states[i] = torch.get_rng_state()
            torch.set_rng_state(outer)

    def _each(self, draw) -> torch.Tensor:
        parts = []
        for i in range(self.images):
            with self.image(i):
                parts.append(draw())
        return torch.cat(parts, dim=1)

    def noise(self, size, coarsest, device) -> torch.Tensor:
        return self._each(lambda: draw_noise(size, coarsest, device))

    def mix_weight(self, device) -> torch.Tensor:
        if self.images == 1:
            return self._each(lambda: torch.rand(1, 1, 1, 1, device=device))
        weights = self._each(lambda: torch.rand(1, 1, 1, 1, device=device))
        return weights.repeat_interleave(IMAGE_CHANNELS, dim=1)
