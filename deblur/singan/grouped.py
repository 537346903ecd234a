"""N images' networks as one grouped model, and the random draws of a batch.

A batch of N same-size images trains as one model whose tensors hold the images side by side
in the channel dimension: image ``i``'s RGB channels are ``3i .. 3i + 2`` of a ``(1, 3N, h, w)``
tensor, its hidden channels ``Ci .. C(i + 1) - 1``. Convolutions use ``groups=N`` (each image's
outputs see only its own inputs) and BatchNorm runs over the ``N x C`` channels (with one image
per group its statistics are per channel, so per image). Every parameter and buffer of the
grouped model is then the concatenation, along the first dimension, of the N single models'
(:func:`merge_states`, :func:`split_state`).

Where a batch's random numbers come from is :mod:`deblur.singan.draws`.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from deblur.singan.models import IMAGE_CHANNELS


def merge_states(states: Sequence[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    """The grouped model's state dict from N single models' (concatenated along dim 0).

    Scalars (BatchNorm's ``num_batches_tracked``) are shared by the group: they must agree.
    """
    merged = {}
    for key, first in states[0].items():
        values = [s[key] for s in states]
        if first.dim() == 0:
            if any(not torch.equal(v, first) for v in values):
                raise ValueError(f"{key} differs between the images of a batch: {values}")
            merged[key] = first.clone()
        else:
            merged[key] = torch.cat(values)
    return merged


def split_state(state: dict[str, torch.Tensor], images: int) -> list[dict[str, torch.Tensor]]:
    """The N single models' state dicts from the grouped model's (detached copies)."""
    parts: list[dict[str, torch.Tensor]] = [{} for _ in range(images)]
    for key, value in state.items():
        value = value.detach()
        chunks = [value] * images if value.dim() == 0 else value.chunk(images)
        for part, chunk in zip(parts, chunks, strict=True):
            part[key] = chunk.clone()
    return parts


def image_slice(x: torch.Tensor, i: int, channels: int = IMAGE_CHANNELS) -> torch.Tensor:
    """Image ``i``'s channels of a batched ``(B, N * channels, h, w)`` tensor (a view)."""
    return x[:, channels * i : channels * (i + 1)]


def per_image(values: Sequence[float], like: torch.Tensor) -> torch.Tensor:
    """One value per image as a ``(1, 3N, 1, 1)`` tensor that scales each image's channels."""
    v = torch.tensor(list(values), dtype=like.dtype, device=like.device)
    return v.repeat_interleave(IMAGE_CHANNELS).view(1, -1, 1, 1)
