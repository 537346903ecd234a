"""Levin et al.'s sparse-prior IRLS deconvolution, the hyper-Laplacian step's reference boundary
handling (edge padding + edgetaper), and the blind step's reference TV smoothing and centring."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import signal
from skimage import data

from deblur.baselines import linear_motion_psf, parse_params, run_baseline
from deblur.evaluation.metrics import psnr
from deblur.hyperlaplacian import HyperLaplacianSettings, edgetaper, hyper_laplacian_deconvolve
from deblur.sparsedeconv import SparseDeconvSettings, sparse_deconvolve
from deblur.tvblind import TVBlindParams, tv_deconvolve, tv_gradient


def gray_psnr(x, truth):
    return psnr(np.repeat(np.clip(x, 0, 1)[..., None], 3, 2), np.repeat(truth[..., None], 3, 2))


def blurred_pair(side=72, ks=9, angle=30, noise=0.01):
    big = data.camera()[120 : 120 + side + ks - 1, 200 : 200 + side + ks - 1] / 255.0
    k = linear_motion_psf(7, angle, ks)
    rng = np.random.default_rng(0)
    blurry = signal.fftconvolve(big, k, mode="valid") + rng.normal(0, noise, (side, side))
    return blurry, k, big[ks // 2 : -(ks // 2), ks // 2 : -(ks // 2)]


def test_sparse_irls_recovers_a_known_image_from_a_known_blur():
    blurry, k, truth = blurred_pair()
    out = sparse_deconvolve(blurry, k)
    assert out.shape == blurry.shape
    assert gray_psnr(out, truth) > gray_psnr(blurry, truth) + 4.0
    # as good as the TV deconvolution of the same valid model, within a margin
    tv = tv_deconvolve(blurry, k, 1e-3, 200, 1e-2)
    assert gray_psnr(out, truth) > gray_psnr(tv, truth) - 1.0
    # the reweighted solves improve on the first, quadratic one
    quadratic = sparse_deconvolve(blurry, k, SparseDeconvSettings(reweightings=0))
    assert gray_psnr(out, truth) > gray_psnr(quadratic, truth)
    # batched channels give the same answer as one at a time
    both = sparse_deconvolve(np.stack([blurry, blurry[::-1]]), k)
    assert np.allclose(both[0], out, atol=1e-8)


def test_sparse_irls_settings_and_kernel_are_checked():
    with pytest.raises(ValueError, match="sparse deconvolution exponent must be in"):
        SparseDeconvSettings(exponent=3.0)
    with pytest.raises(ValueError, match="weight must be > 0"):
        SparseDeconvSettings(weight=0.0)
    with pytest.raises(ValueError, match="odd sides"):
        sparse_deconvolve(np.zeros((20, 20)), np.ones((4, 4)) / 16)


def test_sparse_irls_is_an_option_of_the_oracle_and_of_tv_blind():
    blurry, k, truth = blurred_pair(angle=120, noise=0.0)
    rgb = np.repeat(blurry[..., None], 3, axis=2).astype(np.float32)
    params = parse_params("oracle_tv", ["nonblind=sparse_irls", "irls_weight=0.002"])
    out, info = run_baseline("oracle_tv", rgb, params, kernel=k)
    assert info["param_nonblind"] == "sparse_irls" and info["param_irls_weight"] == 0.002
    assert gray_psnr(out[..., 0], truth) > gray_psnr(blurry, truth) + 4.0
    assert parse_params("tv_blind", ["nonblind=sparse_irls"]) == TVBlindParams(
        nonblind="sparse_irls"
    )
    with pytest.raises(ValueError, match="irls_weight must be > 0"):
        parse_params("oracle_tv", ["irls_weight=0"])


def test_edgetaper_keeps_the_interior_and_makes_the_borders_meet():
    rng = np.random.default_rng(1)
    y = np.cumsum(rng.normal(size=(60, 80)), axis=1)  # very different left and right edges
    k = linear_motion_psf(9, 0, 11)
    out = edgetaper(y, k)
    # one kernel width inside, untouched
    assert np.allclose(out[12:-12, 12:-12], y[12:-12, 12:-12])
    # the jump across the circular wrap shrinks
    assert np.abs(out[:, 0] - out[:, -1]).mean() < 0.5 * np.abs(y[:, 0] - y[:, -1]).mean()


def test_hyper_laplacian_reference_boundary_handling_deconvolves():
    blurry, k, truth = blurred_pair()
    settings = HyperLaplacianSettings(boundary="circular")
    out = hyper_laplacian_deconvolve(blurry, k, settings)
    assert out.shape == blurry.shape
    assert gray_psnr(out, truth) > gray_psnr(blurry, truth) + 3.0
    with pytest.raises(ValueError, match="boundary must be one of valid, circular"):
        HyperLaplacianSettings(boundary="mirror")


def test_tv_gradient_max_smoothing_is_the_gradient_of_plain_tv_where_gradients_are_large():
    rng = np.random.default_rng(2)
    u = rng.uniform(0, 1, (12, 12))
    eps = 1e-3

    def tv(v):
        gx = np.zeros_like(v)
        gy = np.zeros_like(v)
        gx[:, :-1] = v[:, 1:] - v[:, :-1]
        gy[:-1, :] = v[1:, :] - v[:-1, :]
        return np.sum(np.maximum(eps, np.sqrt(gx**2 + gy**2)))

    g = tv_gradient(u, eps, "max")
    h = 1e-7
    for i, j in [(0, 0), (5, 7), (11, 11), (3, 10)]:
        d = np.zeros_like(u)
        d[i, j] = h
        assert g[i, j] == pytest.approx((tv(u + d) - tv(u - d)) / (2 * h), rel=1e-5, abs=1e-6)
    # the two smoothings agree where |grad u| >> eps
    assert np.allclose(g, tv_gradient(u, eps, "sqrt"), atol=1e-2)


def test_reference_options_of_the_blind_step_are_checked():
    assert parse_params("tv_blind", ["tv_smoothing=max", "centering=none"]) == TVBlindParams(
        tv_smoothing="max", centering="none"
    )
    with pytest.raises(ValueError, match="tv_smoothing must be one of sqrt, max"):
        parse_params("tv_blind", ["tv_smoothing=huber"])
    with pytest.raises(ValueError, match="centering must be one of level, none"):
        parse_params("tv_blind", ["centering=always"])
