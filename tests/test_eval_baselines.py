"""Baselines: the blind PSF estimator, Richardson-Lucy, unsharp masking, parameter parsing."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import signal
from skimage import data

from deblur.baselines import (
    RichardsonLucyParams,
    UnsharpParams,
    estimate_motion_blur,
    identity,
    linear_motion_psf,
    parse_params,
    richardson_lucy,
    run_baseline,
    unsharp,
)
from deblur.evaluation.metrics import psnr


def camera_rgb(size=256):
    """skimage's camera crop as an RGB float image."""
    img = data.camera()[96 : 96 + size, 128 : 128 + size].astype(np.float64) / 255.0
    return np.repeat(img[:, :, None], 3, axis=2)


def blur_with(img, kernel, noise=0.002, seed=0):
    """Convolve each channel with ``kernel`` (reflect boundary) and add a little noise."""
    p = max(kernel.shape)
    padded = np.pad(img, ((p, p), (p, p), (0, 0)), mode="reflect")
    out = signal.fftconvolve(padded, kernel[:, :, None], mode="same")[p:-p, p:-p]
    out += np.random.default_rng(seed).normal(0, noise, out.shape)
    return np.clip(out, 0, 1).astype(np.float32)


def angle_error(a, b):
    d = abs(a - b) % 180
    return min(d, 180 - d)


def test_linear_motion_psf_geometry():
    psf = linear_motion_psf(15, 30, 21)
    assert psf.shape == (21, 21) and psf.sum() == pytest.approx(1.0) and psf.min() >= 0
    rows, cols = np.mgrid[0:21, 0:21] - 10
    x, y = cols, -rows  # y up, like the angle
    assert (psf * x).sum() == pytest.approx(0, abs=1e-9)  # centred
    assert (psf * y).sum() == pytest.approx(0, abs=1e-9)
    along = np.cos(np.radians(30)) * x + np.sin(np.radians(30)) * y
    across = -np.sin(np.radians(30)) * x + np.cos(np.radians(30)) * y
    # a uniform segment of length L has variance L^2 / 12 (+ 1/6 from the bilinear splat)
    assert (psf * along**2).sum() == pytest.approx(15**2 / 12, rel=0.05)
    assert (psf * across**2).sum() < 0.3
    assert linear_motion_psf(0.5, 0, 5)[2, 2] == 1.0
    with pytest.raises(ValueError, match="odd"):
        linear_motion_psf(3, 0, 8)
    with pytest.raises(ValueError, match="length"):
        linear_motion_psf(30, 0, 21)


@pytest.mark.parametrize(("length", "angle"), [(9, 0), (15, 30), (21, 110), (17, 75)])
def test_estimator_recovers_length_and_angle(length, angle):
    blurry = blur_with(camera_rgb(), linear_motion_psf(length, angle, 41))
    est = estimate_motion_blur(blurry, min_length=3, max_length=39)
    assert est.length == pytest.approx(length, abs=1.5)
    assert angle_error(est.angle, angle) <= 4
    assert est.score < 0


def test_estimator_on_an_independent_box_kernel():
    """A plain 1 x 13 box (not built by linear_motion_psf): horizontal, 13 px."""
    blurry = blur_with(camera_rgb(), np.full((1, 13), 1 / 13))
    est = estimate_motion_blur(blurry, min_length=3, max_length=39)
    assert est.length == pytest.approx(13, abs=1.5)
    assert angle_error(est.angle, 0) <= 4


def test_blind_richardson_lucy_improves_on_the_blurry_input():
    sharp = camera_rgb()
    blurry = blur_with(sharp, linear_motion_psf(15, 30, 41))
    out, info = run_baseline("richardson_lucy", blurry, RichardsonLucyParams())
    assert out.shape == blurry.shape and out.dtype == np.float32
    assert 0 <= out.min() and out.max() <= 1
    gain = psnr(out, sharp) - psnr(blurry, sharp)
    assert gain > 1.5, gain
    assert info["psf_length"] == pytest.approx(15, abs=1.5)
    # a deliberately wrong PSF (perpendicular) does worse than the estimated one
    wrong = richardson_lucy(blurry, RichardsonLucyParams(length=15, angle=120))
    assert psnr(wrong, sharp) < psnr(out, sharp) - 1


def test_unsharp_sharpens_every_channel_and_identity_is_a_copy():
    blurry = blur_with(camera_rgb(128), np.full((5, 5), 1 / 25))
    blurry[..., 1] *= 0.8  # distinct channels
    out = unsharp(blurry, UnsharpParams(radius=2, amount=1))
    assert out.shape == blurry.shape and 0 <= out.min() and out.max() <= 1
    for c in range(3):  # guards against skimage's channel_axis=-1 bug (scikit-image#7264)
        assert (
            np.abs(np.diff(out[..., c], axis=1)).mean()
            > np.abs(np.diff(blurry[..., c], axis=1)).mean()
        )
        assert out[..., c].mean() == pytest.approx(blurry[..., c].mean(), abs=0.01)
    same = identity(blurry)
    assert np.array_equal(same, blurry) and same is not blurry


def test_parse_params_types_and_errors():
    p = parse_params("richardson_lucy", ["num_iter=20", "length=12.5", "angle=none"])
    assert p == RichardsonLucyParams(num_iter=20, length=12.5, angle=None)
    assert parse_params("unsharp", ["amount=0.5"]).amount == 0.5
    with pytest.raises(ValueError, match="key in radius, amount"):
        parse_params("unsharp", ["sigma=2"])
    with pytest.raises(ValueError, match="must be an integer"):
        parse_params("richardson_lucy", ["num_iter=2.5"])
    with pytest.raises(ValueError, match="psf_size must be an odd"):
        parse_params("richardson_lucy", ["psf_size=40"])
    with pytest.raises(ValueError, match="unknown baseline kind"):
        parse_params("wiener", [])
