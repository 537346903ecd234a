"""Scale count and sizes of the pyramid (reference adjust_scales2image / creat_reals_pyramid)."""

import math
from pathlib import Path

import numpy as np
import pytest
import torch

from deblur.data.imageio import read_rgb
from deblur.errors import DeblurError
from deblur.resize import resize_tensor
from deblur.singan.config import SinGANConfig
from deblur.singan.pyramid import build_pyramid, image_to_tensor, tensor_to_image
from deblur.singan.scales import pyramid_sizes


def test_gopro_frame_gives_eight_scales_from_25x45_to_141x250():
    sizes, factor = pyramid_sizes(720, 1280, SinGANConfig())
    assert len(sizes) == 8  # the paper's "eight scales"
    assert sizes[0] == (25, 45) and sizes[-1] == (141, 250)
    assert factor == pytest.approx(0.781, abs=5e-4)
    assert factor == pytest.approx((25 / 141) ** (1 / 7))
    # every level is the capped image scaled by factor^(N-1-s), rounded up like imresize
    for s, (h, w) in enumerate(sizes):
        k = len(sizes) - 1 - s
        assert (h, w) == (math.ceil(141 * factor**k - 1e-9), math.ceil(250 * factor**k - 1e-9))
    assert all(a < b for a, b in zip(sizes, sizes[1:], strict=False))


def test_portrait_and_small_images():
    sizes, _ = pyramid_sizes(1280, 720, SinGANConfig())
    assert sizes[0] == (45, 25) and sizes[-1] == (250, 141)
    # smaller than max_size: never upscaled
    sizes, factor = pyramid_sizes(150, 200, SinGANConfig())
    assert sizes[-1] == (150, 200) and min(sizes[0]) == 25
    assert 0.75 <= factor < 1
    # uncapped: stop = n_all = ceil(log(25/150) / log .75) + 1 = 8, so 9 scales (reference)
    assert len(sizes) == math.ceil(math.log(25 / 150) / math.log(0.75)) + 2 == 9


def test_too_small_or_too_elongated_images_are_refused():
    with pytest.raises(DeblurError, match=r"too small: x\.png is 30x20, min_size is 25"):
        pyramid_sizes(20, 30, SinGANConfig(), name="x.png")
    with pytest.raises(DeblurError, match="elongated"):
        pyramid_sizes(40, 2000, SinGANConfig())


def test_tiny_config_pyramid():
    sizes, factor = pyramid_sizes(30, 40, SinGANConfig(min_size=16, max_size=40))
    assert sizes[0][0] == 16 and sizes[-1] == (30, 40) and len(sizes) == 5
    assert factor == pytest.approx((16 / 30) ** (1 / 4))


def test_build_pyramid_resizes_from_the_capped_image_in_torch():
    rng = np.random.default_rng(0)
    img = rng.random((60, 80, 3), dtype=np.float32)
    x = image_to_tensor(img)
    assert x.shape == (1, 3, 60, 80) and x.min() >= -1 and x.max() <= 1
    np.testing.assert_allclose(tensor_to_image(x), img, atol=1e-6)
    sizes, _ = pyramid_sizes(60, 80, SinGANConfig(min_size=16, max_size=40))
    reals = build_pyramid(x, sizes)
    assert [tuple(r.shape[-2:]) for r in reals] == sizes
    assert all(isinstance(r, torch.Tensor) and r.device == x.device for r in reals)
    capped = resize_tensor(x, sizes[-1])
    assert torch.equal(reals[-1], capped)
    assert torch.equal(reals[0], resize_tensor(capped, sizes[0]))


SHARED_SHARP = (
    Path(__file__).resolve().parents[1].parent
    / "shared/data/gopro_mini/test/flower/sharp/000001.png"
)


@pytest.mark.shared
def test_real_gopro_frame_pyramid():
    if not SHARED_SHARP.is_file():
        pytest.skip(f"{SHARED_SHARP} not found (../shared/data is only on the dev machine)")
    img = read_rgb(SHARED_SHARP)
    assert img.shape == (720, 1280, 3)
    sizes, _ = pyramid_sizes(*img.shape[:2], SinGANConfig(), name=str(SHARED_SHARP))
    reals = build_pyramid(image_to_tensor(img), sizes)
    assert [tuple(r.shape[-2:]) for r in reals] == sizes and len(reals) == 8
    # the finest level is the frame at 250x141: its mean colour is kept
    assert reals[-1].mean().item() == pytest.approx(image_to_tensor(img).mean().item(), abs=0.01)
