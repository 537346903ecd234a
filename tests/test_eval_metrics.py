"""Metric conventions (against direct scikit-image calls) and the model/full resolutions."""

from __future__ import annotations

import numpy as np
import pytest
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from deblur.evaluation.metrics import METRIC_CONVENTION, psnr, ssim, target_size
from deblur.evaluation.scoring import evaluate_images
from deblur.resize import capped_size, resize_array


def smooth_image(h, w, seed=0):
    """A smooth random RGB image in [0, 1] (sums of low-frequency sinusoids)."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w] / max(h, w)
    img = np.zeros((h, w, 3))
    for _ in range(6):
        fy, fx, phase = rng.uniform(0.5, 6, 2).tolist() + [rng.uniform(0, 6.3)]
        img += rng.uniform(0.2, 1, 3) * np.sin(2 * np.pi * (fy * y + fx * x) + phase)[..., None]
    img = (img - img.min()) / (img.max() - img.min())
    return img.astype(np.float32)


def noisy(img, sigma, seed=1):
    rng = np.random.default_rng(seed)
    return np.clip(img + rng.normal(0, sigma, img.shape), 0, 1).astype(np.float32)


def test_psnr_and_ssim_match_direct_skimage_calls():
    ref = smooth_image(48, 64)
    pred = noisy(ref, 0.05)
    a, b = ref.astype(np.float64), pred.astype(np.float64)
    assert psnr(pred, ref) == peak_signal_noise_ratio(a, b, data_range=1.0)
    expected = structural_similarity(
        a,
        b,
        data_range=1.0,
        gaussian_weights=True,
        sigma=1.5,
        use_sample_covariance=False,
        channel_axis=-1,
    )
    assert ssim(pred, ref) == expected
    # the convention is the channel mean, and differs from skimage's default settings
    per_channel = [
        structural_similarity(
            a[..., c],
            b[..., c],
            data_range=1.0,
            gaussian_weights=True,
            sigma=1.5,
            use_sample_covariance=False,
        )
        for c in range(3)
    ]
    assert ssim(pred, ref) == pytest.approx(np.mean(per_channel), abs=1e-12)
    default = structural_similarity(a, b, data_range=1.0, channel_axis=-1)
    assert abs(default - expected) > 1e-4
    for word in (
        "data_range=1",
        "gaussian_weights=True",
        "sigma=1.5",
        "use_sample_covariance=False",
    ):
        assert word in METRIC_CONVENTION


def test_psnr_orders_quality_and_is_inf_for_equal_images():
    ref = smooth_image(32, 32)
    assert psnr(noisy(ref, 0.01), ref) > psnr(noisy(ref, 0.1), ref)
    assert ssim(noisy(ref, 0.01), ref) > ssim(noisy(ref, 0.1), ref)
    assert psnr(ref, ref) == float("inf")
    assert ssim(ref, ref) == pytest.approx(1.0)


def test_model_and_full_resolutions_resize_as_documented():
    sharp = smooth_image(90, 160)  # 16:9, like a GoPro frame
    model_hw = capped_size(90, 160, 40)
    assert target_size((90, 160), "model", 40) == model_hw == (23, 40)
    assert target_size((90, 160), "full", 40) == (90, 160)
    pred_small = noisy(resize_array(sharp, model_hw), 0.03)  # a model-size prediction
    rows = {r["resolution"]: r for r in evaluate_images(pred_small, sharp, max_size=40)}
    assert (rows["model"]["height"], rows["model"]["width"]) == model_hw
    assert (rows["full"]["height"], rows["full"]["width"]) == (90, 160)
    # model: sharp downsized to the model size, prediction untouched
    assert rows["model"]["psnr"] == psnr(pred_small, resize_array(sharp, model_hw))
    assert rows["model"]["ssim"] == ssim(pred_small, resize_array(sharp, model_hw))
    # full: prediction upsampled to the original size, sharp untouched
    assert rows["full"]["psnr"] == psnr(resize_array(pred_small, (90, 160)), sharp)
    assert rows["full"]["ssim"] == ssim(resize_array(pred_small, (90, 160)), sharp)


def test_identity_full_row_is_exactly_blurry_vs_sharp():
    sharp = smooth_image(60, 80)
    blurry = noisy(sharp, 0.04)
    rows = {r["resolution"]: r for r in evaluate_images(blurry, sharp, max_size=50)}
    assert rows["full"]["psnr"] == psnr(blurry, sharp)
    assert rows["full"]["ssim"] == ssim(blurry, sharp)
    size = capped_size(60, 80, 50)
    assert rows["model"]["psnr"] == psnr(resize_array(blurry, size), resize_array(sharp, size))
    # a max_size above the image size never upscales: model == full
    same = {r["resolution"]: r for r in evaluate_images(blurry, sharp, max_size=500)}
    assert same["model"]["psnr"] == same["full"]["psnr"]


@pytest.mark.parametrize(
    ("pred", "message"),
    [
        (np.zeros((32, 32)), r"shape \(H, W, 3\)"),
        (np.zeros((32, 32, 4)), r"shape \(H, W, 3\)"),
        (np.full((32, 32, 3), np.nan), "NaN or inf"),
        (np.full((32, 32, 3), 2.0), r"must lie in \[0, 1\]"),
        (np.zeros((32, 32, 3), dtype=np.uint8), "float image"),
        (np.zeros((8, 8, 3)), "SSIM needs at least 11x11"),
        (np.zeros((32, 48, 3)), "different aspect ratios"),
    ],
)
def test_bad_inputs_raise_clear_value_errors(pred, message):
    sharp = smooth_image(32, 32)
    with pytest.raises(ValueError, match=message):
        evaluate_images(pred, sharp, max_size=32)


def test_shape_mismatch_and_bad_resolution():
    with pytest.raises(ValueError, match="same shape"):
        psnr(smooth_image(32, 32), smooth_image(32, 40))
    with pytest.raises(ValueError, match="resolution must be one of"):
        target_size((32, 32), "half", 32)


@pytest.mark.shared
def test_identity_on_real_gopro_pairs():
    """The blurry input scores the published blurry-vs-sharp numbers of gopro_mini's README."""
    from pathlib import Path

    from deblur.data.imageio import read_rgb

    root = Path(__file__).resolve().parents[2] / "shared" / "data" / "gopro_mini" / "test"
    if not root.is_dir():
        pytest.skip(f"{root} is absent (real GoPro pairs live in ../shared, not in the repo)")
    expected = {"flower": 25.11, "istanbul": 24.05}
    for seq, full_psnr in expected.items():
        blurry = read_rgb(root / seq / "blur" / "000001.png")
        sharp = read_rgb(root / seq / "sharp" / "000001.png")
        rows = {r["resolution"]: r for r in evaluate_images(blurry, sharp, max_size=250)}
        assert round(rows["full"]["psnr"], 2) == full_psnr
        assert (rows["model"]["height"], rows["model"]["width"]) == (141, 250)
        assert rows["model"]["psnr"] > rows["full"]["psnr"]  # downsizing hides blur
