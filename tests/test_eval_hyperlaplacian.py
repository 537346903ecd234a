"""Hyper-Laplacian non-blind deconvolution: the w step, recovery, and its use as an option."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import signal
from skimage import data

from deblur.baselines import linear_motion_psf, parse_params, run_baseline
from deblur.evaluation.metrics import psnr
from deblur.hyperlaplacian import HyperLaplacianSettings, hyper_laplacian_deconvolve, solve_w
from deblur.tvblind import TVBlindParams, tv_deconvolve


@pytest.mark.parametrize("alpha", [0.5, 2.0 / 3.0, 0.8, 1.0])
@pytest.mark.parametrize("beta", [1.0, 8.0, 181.0])
def test_w_step_minimises_its_1d_problem(alpha, beta):
    v = np.linspace(-2.0, 2.0, 81)
    w = solve_w(v, beta, alpha)
    grid = np.linspace(-2.5, 2.5, 50_001)  # brute force: 1e-4 spacing

    def energy(wi, vi):
        return np.abs(wi) ** alpha + 0.5 * beta * (wi - vi) ** 2

    for vi, wi in zip(v, w, strict=True):
        best = energy(grid, vi).min()
        # never worse than the grid's best (up to the grid's own discretisation)
        assert energy(wi, vi) <= best + 1e-6
        assert np.sign(wi) in (0.0, np.sign(vi)) and abs(wi) <= abs(vi)
    # odd in v, zero in a dead zone around 0
    assert np.allclose(solve_w(-v, beta, alpha), -w)
    assert solve_w(np.array([1e-4]), beta, alpha)[0] == 0.0


def gray_psnr(x, truth):
    return psnr(np.repeat(np.clip(x, 0, 1)[..., None], 3, 2), np.repeat(truth[..., None], 3, 2))


def gray_crop(side=72, ks=9):
    img = data.camera()[120 : 120 + side + ks - 1, 200 : 200 + side + ks - 1] / 255.0
    return img.astype(np.float64)


def test_recovers_a_known_image_from_a_known_blur():
    ks = 9
    big = gray_crop(ks=ks)
    k = linear_motion_psf(7, 30, ks)
    rng = np.random.default_rng(0)
    blurry = signal.fftconvolve(big, k, mode="valid") + rng.normal(0, 0.01, (72, 72))
    truth = big[ks // 2 : -(ks // 2), ks // 2 : -(ks // 2)]
    out = hyper_laplacian_deconvolve(blurry, k)
    assert out.shape == blurry.shape
    assert gray_psnr(out, truth) > gray_psnr(blurry, truth) + 4.0
    # as good as the TV deconvolution of the same valid model, within a margin
    tv = tv_deconvolve(blurry, k, 1e-3, 200, 1e-2)
    assert gray_psnr(out, truth) > gray_psnr(tv, truth) - 1.0
    # batched channels give the same answer as one at a time
    both = hyper_laplacian_deconvolve(np.stack([blurry, blurry[::-1]]), k)
    assert np.allclose(both[0], out, atol=1e-8)


def test_settings_are_checked():
    with pytest.raises(ValueError, match="hyper-Laplacian alpha must be in"):
        HyperLaplacianSettings(alpha=1.5)
    with pytest.raises(ValueError, match="beta_rate must be > 1"):
        HyperLaplacianSettings(beta_rate=1.0)
    with pytest.raises(ValueError, match="odd sides"):
        hyper_laplacian_deconvolve(np.zeros((20, 20)), np.ones((4, 4)) / 16)


def test_is_an_option_of_the_oracle_and_of_tv_blind():
    ks = 9
    big = np.stack([gray_crop(ks=ks)] * 3, axis=-1)
    k = linear_motion_psf(7, 120, ks)
    blurry = np.stack([signal.fftconvolve(big[..., c], k, mode="valid") for c in range(3)], -1)
    truth = big[ks // 2 : -(ks // 2), ks // 2 : -(ks // 2)].astype(np.float32)
    blurry = blurry.astype(np.float32)
    params = parse_params("oracle_tv", ["nonblind=hyper_laplacian"])
    out, info = run_baseline("oracle_tv", blurry, params, kernel=k)
    assert info["param_nonblind"] == "hyper_laplacian"
    assert psnr(out, truth) > psnr(blurry, truth) + 4.0
    assert parse_params("tv_blind", ["nonblind=tv"]) == TVBlindParams(nonblind="tv")
    for kind in ("oracle_tv", "tv_blind"):
        with pytest.raises(ValueError, match="nonblind must be one of hyper_laplacian, tv"):
            parse_params(kind, ["nonblind=wiener"])
