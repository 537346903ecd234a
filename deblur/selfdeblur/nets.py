"""The two generators of SelfDeblur: a deep-image-prior "skip" encoder-decoder for the sharp
image and a fully connected network for the blur kernel.

The image network mirrors the reference's layer order: per level, a skip branch (1x1 conv, BN,
LeakyReLU) beside a deeper branch (stride-2 3x3 conv, BN, LeakyReLU, [non-local block], 3x3
conv, BN, LeakyReLU, the next level, bilinear x2 upsampling); the two are centre-cropped to a
common size, concatenated, batch-normalised and merged by a 3x3 and a 1x1 conv (each with BN and
LeakyReLU). A final 1x1 conv and a sigmoid give the image. Every conv pads by reflection.
"""

from __future__ import annotations

import torch
from torch import nn

from deblur.selfdeblur.config import SelfDeblurConfig

CONV_SIZE = 3  # the 3x3 convolutions of the down and up paths
POOL = 2  # the non-local block subsamples its keys and values by this factor


def conv(in_ch: int, out_ch: int, size: int, stride: int = 1) -> nn.Sequential:
    """A convolution keeping the size (or halving it with ``stride`` 2) by reflection padding."""
    return nn.Sequential(
        nn.ReflectionPad2d((size - 1) // 2), nn.Conv2d(in_ch, out_ch, size, stride, bias=True)
    )


def conv_bn_act(in_ch: int, out_ch: int, size: int, slope: float, stride: int = 1) -> list:
    return [conv(in_ch, out_ch, size, stride), nn.BatchNorm2d(out_ch), nn.LeakyReLU(slope)]


class NonLocal(nn.Module):
    """Dot-product non-local block: ``x + W(softmax-free attention(x))`` with half the channels
    inside, keys and values max-pooled by 2, the attention divided by its length, and ``W``'s
    BatchNorm initialised to zero so the block starts as the identity."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        inner = max(1, channels // 2)
        self.inner = inner
        self.theta = nn.Conv2d(channels, inner, 1)
        self.phi = nn.Sequential(nn.Conv2d(channels, inner, 1), nn.MaxPool2d(POOL))
        self.g = nn.Sequential(nn.Conv2d(channels, inner, 1), nn.MaxPool2d(POOL))
        self.W = nn.Sequential(nn.Conv2d(inner, channels, 1), nn.BatchNorm2d(channels))
        nn.init.zeros_(self.W[1].weight)
        nn.init.zeros_(self.W[1].bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n = x.shape[0]
        theta = self.theta(x).view(n, self.inner, -1).transpose(1, 2)  # (n, HW, c)
        phi = self.phi(x).view(n, self.inner, -1)  # (n, c, hw)
        g = self.g(x).view(n, self.inner, -1).transpose(1, 2)  # (n, hw, c)
        f = theta @ phi
        y = (f / f.shape[-1]) @ g  # (n, HW, c)
        y = y.transpose(1, 2).reshape(n, self.inner, *x.shape[2:])
        return x + self.W(y)


def centre_crop(x: torch.Tensor, h: int, w: int) -> torch.Tensor:
    top, left = (x.shape[2] - h) // 2, (x.shape[3] - w) // 2
    return x[:, :, top : top + h, left : left + w]


class Level(nn.Module):
    """One encoder-decoder level: skip and deeper branches, cropped, concatenated, merged."""

    def __init__(self, cfg: SelfDeblurConfig, i: int, in_ch: int, inner: nn.Module | None):
        super().__init__()
        down, up, skip = cfg.channels_down[i], cfg.channels_up[i], cfg.channels_skip[i]
        slope = cfg.leaky_slope
        self.skip = nn.Sequential(*conv_bn_act(in_ch, skip, 1, slope)) if skip else None
        deeper = conv_bn_act(in_ch, down, CONV_SIZE, slope, stride=2)
        if i >= cfg.nonlocal_from_level:
            deeper.append(NonLocal(down))
        deeper += conv_bn_act(down, down, CONV_SIZE, slope)
        if inner is not None:
            deeper.append(inner)
        deeper.append(nn.Upsample(scale_factor=2, mode="bilinear"))
        self.deeper = nn.Sequential(*deeper)
        deep_ch = down if inner is None else cfg.channels_up[i + 1]
        merged = skip + deep_ch
        self.merge = nn.Sequential(
            nn.BatchNorm2d(merged),
            *conv_bn_act(merged, up, CONV_SIZE, slope),
            *conv_bn_act(up, up, 1, slope),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        deep = self.deeper(x)
        if self.skip is None:
            return self.merge(deep)
        skip = self.skip(x)
        # stride 2 rounds odd sizes up, so the upsampled branch can be a pixel larger
        h, w = min(skip.shape[2], deep.shape[2]), min(skip.shape[3], deep.shape[3])
        return self.merge(torch.cat([centre_crop(skip, h, w), centre_crop(deep, h, w)], 1))


class ImageGenerator(nn.Module):
    """The skip encoder-decoder: (1, input_depth, H, W) noise -> (1, channels, H, W) in (0, 1)."""

    def __init__(self, cfg: SelfDeblurConfig, channels: int) -> None:
        super().__init__()
        inner = None
        for i in reversed(range(cfg.levels)):
            in_ch = cfg.input_depth if i == 0 else cfg.channels_down[i - 1]
            inner = Level(cfg, i, in_ch, inner)
        self.body = inner
        self.head = nn.Sequential(nn.Conv2d(cfg.channels_up[0], channels, 1), nn.Sigmoid())

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(z))


class KernelGenerator(nn.Module):
    """Fully connected: (kernel_input_dim,) noise -> hidden ReLU6 -> softmax over k*k values,
    returned as a (1, 1, k, k) kernel that is non-negative and sums to one."""

    def __init__(self, cfg: SelfDeblurConfig, kernel_size: int) -> None:
        super().__init__()
        self.kernel_size = kernel_size
        self.net = nn.Sequential(
            nn.Linear(cfg.kernel_input_dim, cfg.kernel_hidden),
            nn.ReLU6(),
            nn.Linear(cfg.kernel_hidden, kernel_size * kernel_size),
            nn.Softmax(dim=-1),
        )

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        k = self.kernel_size
        return self.net(z).view(1, 1, k, k)


def blur(image: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
    """Valid convolution of each channel of ``image`` (1, C, H+k-1, W+k-1) with ``kernel``
    (1, 1, k, k): the modelled blurry image, (1, C, H, W)."""
    c = image.shape[1]
    return nn.functional.conv2d(image, kernel.expand(c, 1, -1, -1), groups=c)
