"""SelfDeblur settings: one dataclass whose fields are the reference code's defaults.

The values follow the reference implementation's Levin-set script (5000 iterations); where its
colour (YCbCr) script differs, the field's comment says so. :func:`kernel_size_for` gives the
default blur-kernel size, which depends on the working image size.
"""

from __future__ import annotations

import dataclasses
import math

# default kernel side as a fraction of the working image's longer side: the reference picks
# 11..27 px by hand for the 255 px Levin images (about 0.04..0.11) and 31..75 px for the larger
# Lai images; 0.1 covers the longer motions of both at their sizes
KERNEL_FRACTION = 0.1
MIN_KERNEL_SIZE = 3  # the smallest odd kernel that blurs at all


@dataclasses.dataclass(frozen=True)
class SelfDeblurConfig:
    """Every setting of one SelfDeblur run (defaults: the reference code's).

    Attributes
    ----------
    iterations : int
        Adam steps over both networks (5000; the colour script uses 2500).
    lr_image, lr_kernel : float
        Adam learning rates of the image and the kernel generator (0.01, 1e-4).
    milestones : tuple of int
        Iterations at which both learning rates are multiplied by ``gamma``
        (2000, 3000, 4000; the colour script uses 1600, 1900, 2200 of 2500).
    gamma : float
        Learning-rate factor at each milestone (0.5).
    mse_iterations : int
        Iterations with the MSE data term; 1 - SSIM after (1000; colour script 500).
    input_depth : int
        Channels of the image generator's fixed uniform-noise input (8).
    input_scale : float
        The fixed inputs are uniform on [0, input_scale) (0.1).
    reg_noise_std : float
        Std of the Gaussian perturbation added to the image input every iteration (0.001).
    channels_down, channels_up, channels_skip : tuple of int
        Per-level channels of the encoder, decoder and skip branches
        ((128,) * 5, (128,) * 5, (16,) * 5).
    nonlocal_from_level : int
        Levels with this 0-based index or deeper get a non-local (dot-product attention) block
        after their downsampling convolution, as in the reference network (2: the three
        deepest levels); ``len(channels_down)`` or more disables them.
    leaky_slope : float
        LeakyReLU negative slope (0.2).
    kernel_input_dim : int
        Length of the kernel generator's fixed uniform-noise input (200).
    kernel_hidden : int
        Hidden units of the kernel generator (1000).
    ssim_window, ssim_sigma : int, float
        Gaussian window of the SSIM loss (11 px, sigma 1.5).
    kernel_size : int or None
        Odd side of the square blur kernel in working pixels; None = :func:`kernel_size_for`.
    max_size : int
        The blurry image is downscaled (never upscaled) so its longer side is at most this
        before optimising; the output has that size (250, SinGAN's finest scale, the size
        the benchmark scores at).
    luminance : bool
        Deblur the Y channel of YCbCr and keep the blurry image's chroma, as the reference's
        colour script does (True); False deblurs R, G and B jointly with one kernel.
    seed : int
        Seeds network initialisation, the fixed inputs and the perturbations (0).
    checkpoint_every : int
        Iterations between checkpoints a killed run resumes from (500).
    """

    iterations: int = 5000
    lr_image: float = 0.01
    lr_kernel: float = 1e-4
    milestones: tuple[int, ...] = (2000, 3000, 4000)
    gamma: float = 0.5
    mse_iterations: int = 1000
    input_depth: int = 8
    input_scale: float = 0.1
    reg_noise_std: float = 0.001
    channels_down: tuple[int, ...] = (128,) * 5
    channels_up: tuple[int, ...] = (128,) * 5
    channels_skip: tuple[int, ...] = (16,) * 5
    nonlocal_from_level: int = 2
    leaky_slope: float = 0.2
    kernel_input_dim: int = 200
    kernel_hidden: int = 1000
    ssim_window: int = 11
    ssim_sigma: float = 1.5
    kernel_size: int | None = None
    max_size: int = 250
    luminance: bool = True
    seed: int = 0
    checkpoint_every: int = 500

    def __post_init__(self) -> None:
        positive = (
            "iterations", "input_depth", "kernel_input_dim", "kernel_hidden", "ssim_window",
            "max_size", "checkpoint_every",
        )  # fmt: skip
        for name in positive:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        for name in ("lr_image", "lr_kernel", "gamma", "input_scale", "ssim_sigma"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be > 0, got {getattr(self, name)!r}")
        if not self.reg_noise_std >= 0:
            raise ValueError(f"reg_noise_std must be >= 0, got {self.reg_noise_std!r}")
        if self.mse_iterations < 0:
            raise ValueError(f"mse_iterations must be >= 0, got {self.mse_iterations!r}")
        if self.seed < 0:
            raise ValueError(f"seed must be >= 0, got {self.seed!r}")
        levels = {len(self.channels_down), len(self.channels_up), len(self.channels_skip)}
        if len(levels) != 1 or not self.channels_down:
            raise ValueError(
                "channels_down, channels_up and channels_skip must have one equal, non-zero "
                f"length, got {len(self.channels_down)}, {len(self.channels_up)}, "
                f"{len(self.channels_skip)}"
            )
        if min(self.channels_down + self.channels_up) < 1 or min(self.channels_skip) < 0:
            raise ValueError("channels_down/up must be >= 1 and channels_skip >= 0")
        if self.ssim_window % 2 == 0:
            raise ValueError(f"ssim_window must be odd, got {self.ssim_window}")
        if self.kernel_size is not None:
            check_kernel_size(self.kernel_size)

    @property
    def levels(self) -> int:
        """Encoder-decoder levels (5)."""
        return len(self.channels_down)

    def min_padded_size(self) -> int:
        """Smallest side of the generator's input (image + kernel - 1) the levels allow: each
        level halves it (rounding up) and the deepest level's reflection padding and non-local
        pooling need at least 2 px after the last halving (33 for 5 levels)."""
        return 2**self.levels + 1

    def params(self) -> dict:
        """The settings as a flat JSON-ready dict (tuples as lists)."""
        return {
            k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(self).items()
        }

    @classmethod
    def field_names(cls) -> tuple[str, ...]:
        return tuple(f.name for f in dataclasses.fields(cls))


def check_kernel_size(size: int) -> int:
    """``size`` if it is an odd integer >= :data:`MIN_KERNEL_SIZE`, else a ValueError."""
    if isinstance(size, bool) or not isinstance(size, int) or size < MIN_KERNEL_SIZE:
        raise ValueError(f"kernel_size must be an odd integer >= {MIN_KERNEL_SIZE}, got {size!r}")
    if size % 2 == 0:
        raise ValueError(f"kernel_size must be odd (a centred kernel), got {size}")
    return size


def kernel_size_for(height: int, width: int) -> int:
    """Default kernel side for a working image of ``height`` x ``width``: the odd integer
    nearest to :data:`KERNEL_FRACTION` of the longer side, at least :data:`MIN_KERNEL_SIZE`.

    >>> kernel_size_for(141, 250), kernel_size_for(255, 255), kernel_size_for(24, 32)
    (25, 25, 3)
    """
    side = KERNEL_FRACTION * max(height, width)
    odd = 2 * math.floor(side / 2) + 1  # the odd integer in [side - 1, side + 1)
    return max(MIN_KERNEL_SIZE, odd)
