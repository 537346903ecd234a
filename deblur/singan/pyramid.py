"""The image pyramid: the real image at each scale (sizes from :mod:`deblur.singan.scales`).

Follows the reference's ``creat_reals_pyramid`` (tamarott/SinGAN's ``functions.py``). Scales are
numbered from the coarsest (0) to the finest (N-1); every level is resized from the capped image
directly, in torch, on whatever device the image lives on.
"""

from __future__ import annotations

import numpy as np
import torch

from deblur.resize import resize_tensor
from deblur.singan.scales import pyramid_sizes  # noqa: F401  (its old home)


def image_to_tensor(img: np.ndarray, device: torch.device | str = "cpu") -> torch.Tensor:
    """(H, W, 3) float image in [0, 1] -> (1, 3, H, W) tensor in [-1, 1] on ``device``."""
    x = torch.from_numpy(np.ascontiguousarray(img, dtype=np.float32))
    return x.permute(2, 0, 1)[None].to(device) * 2.0 - 1.0


def tensor_to_image(x: torch.Tensor) -> np.ndarray:
    """(1, 3, H, W) tensor in [-1, 1] -> (H, W, 3) float32 image clipped to [0, 1]."""
    y = ((x.detach()[0] + 1.0) / 2.0).clamp(0.0, 1.0)
    return y.permute(1, 2, 0).to("cpu", torch.float32).numpy()


def build_pyramid(image: torch.Tensor, sizes: list[tuple[int, int]]) -> list[torch.Tensor]:
    """The real image at every size in ``sizes``, each resized from the finest one.

    ``image`` is the (1, 3, H, W) original; it is first capped to ``sizes[-1]``.
    """
    finest = resize_tensor(image, sizes[-1])
    return [resize_tensor(finest, size) for size in sizes]
