"""SinGAN's per-scale generator and patch critic (reference ``SinGAN/models.py``).

Both are ``num_layer`` convolutions without padding: ``num_layer - 1`` blocks of
Conv -> BatchNorm -> LeakyReLU and a final Conv (to RGB + tanh in G, to 1 channel in D). All
hidden layers have the scale's channel count (the reference's ``nfc`` and ``min_nfc`` follow the
same schedule, so its per-layer halving never applies).

``images=N`` builds N such networks as one grouped network (batched training,
:mod:`deblur.singan.grouped`): inputs and outputs hold the N images' channels side by side
(``(1, 3N, h, w)``), every convolution has ``groups=N`` and BatchNorm runs over the ``N x C``
hidden channels, so each image's outputs depend on its own weights and inputs only.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from deblur.singan.config import SinGANConfig

IMAGE_CHANNELS = 3


def conv_body(config: SinGANConfig, channels: int, images: int = 1) -> nn.Sequential:
    """Head and body blocks shared by G and D: (num_layer - 1) x Conv -> BN -> LeakyReLU
    (``images`` networks side by side: grouped convolutions)."""
    layers = []
    c_in = IMAGE_CHANNELS
    for _ in range(config.num_layer - 1):
        layers += [
            nn.Conv2d(c_in * images, channels * images, config.ker_size, groups=images),
            nn.BatchNorm2d(channels * images),
            nn.LeakyReLU(config.leaky_slope, inplace=True),  # as the reference: a pass less
        ]
        c_in = channels
    return nn.Sequential(*layers)


def init_weights(module: nn.Module, std: float) -> None:
    """Reference init: conv weights N(0, std), BatchNorm weights N(1, std) and biases 0.

    Conv biases keep PyTorch's default init, as in the reference.
    """
    for m in module.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.normal_(m.weight, 0.0, std)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.normal_(m.weight, 1.0, std)
            nn.init.zeros_(m.bias)


class Generator(nn.Module):
    """Residual generator of one scale: ``G(z, prev) = prev + tanh(f(pad(z + prev)))``.

    ``z`` is the already scaled noise (``noise_amp * noise``) and ``prev`` the upsampled image
    from the coarser scale (zeros at scale 0); both have the scale's size. Zero-padding their
    sum by ``config.pad`` px (the reference pads each and adds: the same, padding is linear)
    makes the unpadded convolutions return exactly that size.
    """

    def __init__(self, config: SinGANConfig, channels: int, images: int = 1):
        super().__init__()
        self.pad = config.pad
        self.images = images
        self.body = conv_body(config, channels, images)
        tail = nn.Conv2d(channels * images, IMAGE_CHANNELS * images, config.ker_size, groups=images)
        self.tail = nn.Sequential(tail, nn.Tanh())
        init_weights(self, config.init_std)

    def forward(self, z: torch.Tensor, prev: torch.Tensor) -> torch.Tensor:
        x = F.pad(z + prev, [self.pad] * 4)
        return self.tail(self.body(x)) + prev


class Discriminator(nn.Module):
    """Patch critic (WGAN): a score map of size (h - 2 pad, w - 2 pad), one per 11x11 patch."""

    def __init__(self, config: SinGANConfig, channels: int, images: int = 1):
        super().__init__()
        self.images = images
        self.body = conv_body(config, channels, images)
        self.tail = nn.Conv2d(channels * images, images, config.ker_size, groups=images)
        init_weights(self, config.init_std)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.tail(self.body(x))
