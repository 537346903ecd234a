"""Resizing shared by the model and the metrics, so both see exactly the same pixels.

Antialiased bicubic in torch (the reference SinGAN uses its own MATLAB-style ``imresize``, also
antialiased bicubic), on whatever device the tensor lives on; the target sizes come from
:mod:`deblur.sizes`.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from deblur.sizes import capped_size, same_aspect, scaled_size  # noqa: F401  (their old home)


def resize_tensor(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Resize an (N, C, H, W) tensor to ``size`` = (h, w) with antialiased bicubic."""
    if tuple(x.shape[-2:]) == tuple(size):
        return x
    return F.interpolate(x, size=size, mode="bicubic", align_corners=False, antialias=True)


def resize_array(img: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Resize a float (H, W, C) image in [0, 1] to ``size`` = (h, w); result clipped to [0, 1]."""
    if img.shape[:2] == tuple(size):
        return img
    x = torch.from_numpy(np.ascontiguousarray(img, dtype=np.float32)).permute(2, 0, 1)[None]
    y = resize_tensor(x, size)[0].permute(1, 2, 0).clamp_(0.0, 1.0)
    return y.numpy()
