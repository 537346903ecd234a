"""TV blind deconvolution: valid-convolution algebra, kernel recovery, params, CLI, kernel I/O."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy import signal
from skimage import data

from deblur.baselines import linear_motion_psf, parse_params, run_baseline
from deblur.cli import main
from deblur.data.imageio import read_rgb, write_png
from deblur.data.kernels import center_kernel
from deblur.errors import DeblurError
from deblur.evaluation.metrics import psnr
from deblur.kernelio import kernel_path_for, read_kernel, write_kernel
from deblur.tvblind import (
    TVBlindParams,
    ValidConv,
    div,
    grad,
    pyramid_levels,
    tv_blind_deconvolution,
)

# small enough for a test, large enough for the kernel to be identifiable
SIDE, KSIZE = 112, 15
# fewer, longer steps than the defaults (1000 steps of 5e-3 / 1e-3 per level), for speed
FAST = dict(kernel_size=KSIZE, iterations=200, image_step=2e-2, kernel_step=5e-3)


def sharp_image():
    """An RGB crop of skimage's astronaut (edges in many directions)."""
    return data.astronaut()[40 : 40 + SIDE, 160 : 160 + SIDE].astype(np.float64) / 255.0


def shapes_image():
    """Discs of random colours on grey: the piecewise-constant image TV models best."""
    rng = np.random.default_rng(0)
    img = np.full((SIDE, SIDE, 3), 0.5)
    yy, xx = np.mgrid[:SIDE, :SIDE]
    for _ in range(12):
        cy, cx, r = rng.uniform(0, SIDE), rng.uniform(0, SIDE), rng.uniform(6, 20)
        img[(yy - cy) ** 2 + (xx - cx) ** 2 < r * r] = rng.uniform(0, 1, 3)
    return img


def blur_valid(img, kernel, noise=0.003, seed=0):
    """The forward model: valid convolution of a larger frame, cropped to SIDE, plus noise."""
    out = np.stack([signal.fftconvolve(img[..., c], kernel, mode="valid") for c in range(3)], -1)
    return np.clip(out + np.random.default_rng(seed).normal(0, noise, out.shape), 0, 1)


def padded_truth(img, ks):
    h = ks // 2
    return img[h:-h, h:-h]


def test_valid_conv_forward_matches_scipy_and_adjoints_hold():
    rng = np.random.default_rng(0)
    u = rng.normal(size=(40, 37))
    k = rng.uniform(size=(7, 7))
    conv = ValidConv(u.shape, k.shape)
    k_hat = conv.kernel_hat(k)
    fwd = conv.forward(conv.rfft(u), k_hat, u.shape)
    assert np.allclose(fwd, signal.convolve2d(u, k, mode="valid"))
    r = rng.normal(size=fwd.shape)
    # <A u, r> = <u, A* r> (image adjoint) and = <k, G(r, u)> (kernel gradient)
    assert np.vdot(fwd, r) == pytest.approx(np.vdot(u, conv.adjoint(r, k_hat, u.shape)))
    g = conv.kernel_gradient(conv.rfft(conv.place(r, u.shape)), conv.rfft(u))
    assert np.vdot(fwd, r) == pytest.approx(np.vdot(k, g))
    # div is the negative adjoint of grad
    px, py = rng.normal(size=u.shape), rng.normal(size=u.shape)
    gx, gy = grad(u)
    assert np.vdot(gx, px) + np.vdot(gy, py) == pytest.approx(-np.vdot(u, div(px, py)))


def test_pyramid_levels_are_odd_increasing_and_end_at_the_kernel_size():
    params = TVBlindParams()
    levels = pyramid_levels(params)
    sides, lams = [s for s, _ in levels], [lam for _, lam in levels]
    assert sides[-1] == 31 and sides[0] >= 3 and len(levels) > 3
    assert all(s % 2 == 1 for s in sides) and sides == sorted(set(sides))
    # the weight grows by lambda_growth per coarser level and stays below lambda_max
    assert lams[-1] == params.tv_lambda and max(lams) < params.lambda_max
    assert np.allclose(np.array(lams[:-1]) / np.array(lams[1:]), params.lambda_growth)
    small = pyramid_levels(TVBlindParams(kernel_size=7, tv_lambda=1e-3))
    assert [s for s, _ in small] == [3, 5, 7]  # stops at min_kernel_size


def test_recovers_a_known_straight_motion_and_improves_psnr():
    kernel = linear_motion_psf(9, 30, KSIZE)
    sharp = shapes_image()
    blurry = blur_valid(sharp, kernel)
    truth = padded_truth(sharp, KSIZE)
    out, k = tv_blind_deconvolution(blurry.astype(np.float32), TVBlindParams(**FAST))
    assert out.shape == blurry.shape and out.dtype == np.float32
    assert k.shape == (KSIZE, KSIZE) and k.min() >= 0 and k.sum() == pytest.approx(1.0)
    # a wrong kernel (a delta, or a line across the true one) is at least 1.5 from the truth
    kernel = center_kernel(kernel)[0]
    delta_error = np.abs(linear_motion_psf(0, 0, KSIZE) - kernel).sum()
    across_error = np.abs(linear_motion_psf(9, 120, KSIZE) - kernel).sum()
    assert min(delta_error, across_error) > 1.5
    assert np.abs(k - kernel).sum() < 0.5 * min(delta_error, across_error)
    assert psnr(out, truth.astype(np.float32)) > psnr(blurry.astype(np.float32), truth) + 1.0


def test_bad_params_name_the_parameter():
    assert parse_params("tv_blind", ["kernel_size=21"]) == TVBlindParams(kernel_size=21)
    for pair, match in (
        ("kernel_size=20", "kernel_size must be an odd integer"),
        ("min_kernel_size=41", "min_kernel_size must be <= kernel_size"),
        ("lambda_max=1e-5", "lambda_max must be >= tv_lambda"),
        ("lambda_growth=1", "lambda_growth must be > 1"),
        ("scale_ratio=1", r"scale_ratio must be in \(0, 1\)"),
        ("iterations=0", "iterations must be >= 1"),
        ("kernel_threshold=1", r"kernel_threshold must be in \[0, 1\)"),
        ("iterations=ten", "tv_blind parameter iterations must be an integer"),
        ("lambda=0.1", "bad parameter 'lambda=0.1' for tv_blind"),
    ):
        with pytest.raises(ValueError, match=match):
            parse_params("tv_blind", [pair])
    with pytest.raises(ValueError, match="too small for kernel_size 31"):
        tv_blind_deconvolution(np.zeros((40, 40, 3), np.float32))
    with pytest.raises(ValueError, match="image must be"):
        run_baseline("tv_blind", np.zeros((40, 40)))


def test_kernel_png_round_trip_and_errors(tmp_path):
    k = center_kernel(linear_motion_psf(7, 60, 11))[0]
    path = write_kernel(tmp_path / "k.png", k)
    back = read_kernel(path)
    assert back.shape == k.shape and back.sum() == pytest.approx(1.0)
    assert np.abs(back - k).max() < 1e-4
    assert kernel_path_for(tmp_path / "a" / "x.png") == tmp_path / "a" / "x_kernel.png"
    with pytest.raises(ValueError, match="non-negative"):
        write_kernel(tmp_path / "bad.png", -k)
    with pytest.raises(DeblurError, match="cannot read kernel"):
        read_kernel(tmp_path / "missing.png")


def test_cli_writes_the_output_and_its_kernel(tmp_path):
    blurry = blur_valid(sharp_image(), linear_motion_psf(7, 0, 11))
    write_png(tmp_path / "blur.png", blurry)
    out = tmp_path / "tv.png"
    argv = ["-q", "baseline", "--kind", "tv_blind", "--image", str(tmp_path / "blur.png")]
    argv += ["--out", str(out), "--info", str(tmp_path / "tv.json")]
    for pair in ("kernel_size=11", "iterations=20", "final_iterations=10"):
        argv += ["--param", pair]
    assert main(argv) == 0
    assert read_rgb(out).shape == blurry.shape
    k = read_kernel(tmp_path / "tv_kernel.png")
    assert k.shape == (11, 11)
    info = json.loads((tmp_path / "tv.json").read_text())
    assert info["kind"] == "tv_blind" and info["param_kernel_size"] == 11
    assert info["kernel_path"] == str(tmp_path / "tv_kernel.png")
    # a kernel path for a kind without a kernel is refused
    bad = ["-q", "baseline", "--kind", "identity", "--image", str(tmp_path / "blur.png")]
    bad += ["--out", str(tmp_path / "id.png"), "--kernel-out", str(tmp_path / "k.png")]
    assert main(bad) != 0


def test_oracle_uses_the_true_kernel_and_blind_kinds_refuse_one():
    kernel = linear_motion_psf(9, 30, KSIZE)
    sharp = sharp_image()
    blurry = blur_valid(sharp, kernel).astype(np.float32)
    truth = padded_truth(sharp, KSIZE).astype(np.float32)
    out, info = run_baseline("oracle_tv", blurry, kernel=kernel)
    assert info["param_tv_lambda"] == TVBlindParams().final_lambda
    assert psnr(out, truth) > psnr(blurry, truth) + 3.0
    with pytest.raises(ValueError, match="needs the true kernel"):
        run_baseline("oracle_tv", blurry)
    with pytest.raises(ValueError, match="odd side"):
        run_baseline("oracle_tv", blurry, kernel=np.ones((4, 4)))
    with pytest.raises(ValueError, match="tv_blind is blind and takes no kernel"):
        run_baseline("tv_blind", blurry, kernel=kernel)
    with pytest.raises(ValueError, match="tv_lambda must be > 0"):
        parse_params("oracle_tv", ["tv_lambda=0"])


def test_kernel_error_ignores_shift_and_size_and_error_ratio_is_relative():
    from deblur.evaluation.kernel_metrics import error_ratio, kernel_error

    k = linear_motion_psf(7, 45, 11)
    shifted = np.roll(np.pad(k, 4), (2, -3), axis=(0, 1))  # 19 px, off centre
    assert kernel_error(shifted, k) == pytest.approx(0.0, abs=1e-9)
    assert kernel_error(linear_motion_psf(0, 0, 11), k) > 1.5
    with pytest.raises(ValueError, match="estimate must be a non-negative"):
        kernel_error(-k, k)
    sharp = np.zeros((4, 4, 3))
    assert error_ratio(sharp + 0.2, sharp + 0.1, sharp) == pytest.approx(4.0)
    assert error_ratio(sharp, sharp, sharp) == 1.0
    with pytest.raises(ValueError, match="oracle has shape"):
        error_ratio(sharp, sharp[:2], sharp)


def test_evaluate_cli_adds_error_ratio_and_kernel_error(tmp_path):
    import pandas as pd

    sharp = sharp_image()[:64, :64]
    write_png(tmp_path / "sharp.png", sharp)
    write_png(tmp_path / "pred.png", np.clip(sharp + 0.1, 0, 1))
    write_png(tmp_path / "oracle.png", np.clip(sharp + 0.05, 0, 1))
    k = linear_motion_psf(5, 0, 7)
    write_kernel(tmp_path / "est.png", k)
    write_kernel(tmp_path / "true.png", k)
    argv = ["-q", "evaluate", "--pred", tmp_path / "pred.png", "--sharp", tmp_path / "sharp.png"]
    argv += ["--max-size", "32", "--out", tmp_path / "m.parquet", "--oracle"]
    argv += [tmp_path / "oracle.png", "--kernel-est", tmp_path / "est.png"]
    assert main([str(a) for a in argv]) == 0  # the estimate alone: its path, no kernel error
    rows = pd.read_parquet(tmp_path / "m.parquet")
    assert rows["kernel_path"].eq(str(tmp_path / "est.png")).all()
    assert "kernel_error" not in rows and rows["kernel_true_path"].isna().all()
    (tmp_path / "m.parquet").unlink()
    assert main([str(a) for a in [*argv, "--kernel-true", tmp_path / "true.png"]]) == 0
    rows = pd.read_parquet(tmp_path / "m.parquet")
    assert len(rows) == 2 and rows["error_ratio"].between(3.0, 5.0).all()
    assert rows["kernel_error"].max() < 1e-3
    write_png(tmp_path / "not_a_kernel.png", np.zeros((5, 5, 3)))
    argv[-1] = tmp_path / "not_a_kernel.png"
    (tmp_path / "m.parquet").unlink()
    assert main([str(a) for a in argv]) != 0  # an all-black kernel is refused


def test_a_flat_image_gives_a_valid_kernel_and_the_image_back():
    flat = np.full((40, 40, 3), 0.5, np.float32)
    out, k = tv_blind_deconvolution(flat, TVBlindParams(kernel_size=7, iterations=5))
    assert np.all(np.isfinite(k)) and k.min() >= 0 and k.sum() == pytest.approx(1.0)
    assert np.allclose(out, 0.5, atol=1e-3)


def test_examples_figure_shows_the_estimated_and_the_true_kernel(tmp_path):

    from deblur.evaluation.tables import metrics_frame
    from deblur.figures.methods import plot_examples
    from deblur.figures.settings import PlotSettings

    sharp = sharp_image()[:48, :64]
    for name in ("sharp", "blurry", "tv"):
        write_png(tmp_path / f"{name}.png", sharp)
    write_kernel(tmp_path / "est.png", linear_motion_psf(5, 0, 7))
    write_kernel(tmp_path / "true.png", linear_motion_psf(5, 30, 7))
    common = dict(pair_id="p", sequence="s", frame="1", resolution="full", height=48, width=64)
    common |= dict(psnr=30.0, ssim=0.9, sharp_path=str(tmp_path / "sharp.png"))
    common |= dict(blurry_path=str(tmp_path / "blurry.png"))
    rows = [
        common | dict(method="identity", kind="identity", pred_path=str(tmp_path / "blurry.png")),
        common | dict(method="tv_blind", kind="tv_blind", pred_path=str(tmp_path / "tv.png"),
                      kernel_path=str(tmp_path / "est.png"),
                      kernel_true_path=str(tmp_path / "true.png")),
    ]  # fmt: skip
    fig = plot_examples(metrics_frame(rows), PlotSettings(resolution="full"))
    panels = [ax for ax in fig.axes if ax.get_title() or ax.get_xlabel() or ax.images]
    insets = {ax.get_title(): len(ax.child_axes) for ax in panels if ax.get_title()}
    assert insets == {"blurry input": 0, "tv_blind": 1, "sharp (ground truth)": 1}
    assert "insets" in fig._suptitle.get_text()


def test_aligned_error_ratio_forgives_a_shift_that_the_plain_one_charges(tmp_path):
    """A prediction equal to the oracle displaced by 3 px: the plain ratio counts the shift as
    error, the aligned one (both images aligned by the same window) is about 1."""
    import pandas as pd

    from deblur.evaluation.kernel_metrics import aligned_error_ratio

    sharp = sharp_image()[:96, :96]
    rng = np.random.default_rng(0)
    oracle = np.clip(sharp + rng.normal(0, 0.02, sharp.shape), 0, 1)
    write_png(tmp_path / "sharp.png", sharp)
    write_png(tmp_path / "oracle.png", oracle)
    write_png(tmp_path / "pred.png", np.roll(oracle, (3, -2), axis=(0, 1)))
    argv = ["-q", "evaluate", "--pred", tmp_path / "pred.png", "--sharp", tmp_path / "sharp.png"]
    argv += ["--max-size", "96", "--oracle", tmp_path / "oracle.png", "--align-shift", "4"]
    argv += ["--align-crop", "2", "--out", tmp_path / "m.parquet"]
    assert main([str(a) for a in argv]) == 0
    row = pd.read_parquet(tmp_path / "m.parquet").iloc[0]
    assert row["error_ratio"] > 3.0
    assert row["error_ratio_aligned"] == pytest.approx(1.0, abs=0.15)
    # with the aligned scores off there is no aligned ratio
    (tmp_path / "m.parquet").unlink()
    argv[argv.index("4")] = "0"
    assert main([str(a) for a in argv]) == 0
    assert "error_ratio_aligned" not in pd.read_parquet(tmp_path / "m.parquet")
    assert aligned_error_ratio(20.0, 30.0) == pytest.approx(10.0)
    assert aligned_error_ratio(float("inf"), float("inf")) == 1.0
    assert np.isnan(aligned_error_ratio(float("nan"), 30.0))


def test_true_kernel_is_resampled_to_selfdeblurs_working_size(tmp_path):
    """An estimate made at a fifth of the frame's width is compared with the true kernel at that
    scale: the true kernel resampled by 1/5 scores ~0, the full-size true kernel would not."""
    import json

    import pandas as pd

    from deblur.evaluation.kernel_metrics import kernel_error, resample_kernel

    true = linear_motion_psf(21, 0, 25)  # a 21-px horizontal stroke
    small = resample_kernel(true, 0.2)
    assert small.shape == (5, 5) and small.min() >= 0 and small.sum() == pytest.approx(1.0)
    assert small[2].sum() > 0.9  # still a horizontal stroke, about 4 px long
    assert kernel_error(small, true) > 1.0  # the scales differ: compared as is, a poor match
    assert resample_kernel(true, 1.0) == pytest.approx(true / true.sum())
    with pytest.raises(ValueError, match="scale must be positive"):
        resample_kernel(true, 0)
    sharp = sharp_image()[:60, :100]
    write_png(tmp_path / "sharp.png", sharp)
    write_png(tmp_path / "pred.png", sharp[::5, ::5])
    write_kernel(tmp_path / "est.png", small)
    write_kernel(tmp_path / "true.png", true)
    info = tmp_path / "info.json"
    info.write_text(json.dumps({"selfdeblur_work_width": 20, "selfdeblur_work_height": 12}))
    argv = ["-q", "evaluate", "--pred", tmp_path / "pred.png", "--sharp", tmp_path / "sharp.png"]
    argv += ["--max-size", "100", "--kernel-est", tmp_path / "est.png", "--kernel-true"]
    argv += [tmp_path / "true.png", "--meta", info, "--out", tmp_path / "m.parquet"]
    assert main([str(a) for a in argv]) == 0
    rows = pd.read_parquet(tmp_path / "m.parquet")
    assert rows["kernel_scale"].eq(0.2).all() and rows["kernel_error"].max() < 0.05
