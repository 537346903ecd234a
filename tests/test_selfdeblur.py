"""SelfDeblur (deblur/selfdeblur): the optimisation, the kernel it returns, resuming, the CLI.

The networks here are narrower and shallower than the reference's (``TINY``) and the runs are a
few dozen to a few hundred iterations, so each test takes seconds on one CPU thread; the code
paths are the same as with the defaults.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import yaml
from PIL import Image
from scipy.signal import convolve2d
from skimage.metrics import peak_signal_noise_ratio
from workflow_helpers import REPO, job_counts, make_workdir, snakemake

from deblur.cli import main
from deblur.errors import DeblurError
from deblur.kernelio import read_kernel
from deblur.selfdeblur import SelfDeblurConfig, kernel_size_for, selfdeblur
from deblur.selfdeblur.params import make_config, parse_params
from deblur.selfdeblur.ssim import ssim

LEVELS, CHANNELS, SKIP = 3, 16, 4
TINY = dict(
    channels_down=(CHANNELS,) * LEVELS,
    channels_up=(CHANNELS,) * LEVELS,
    channels_skip=(SKIP,) * LEVELS,
)
MAX_SHIFT = 2  # px a blind estimate may be translated by (see aligned_psnr)
TINY_PARAMS = [f"{k}={json.dumps(list(v))}" for k, v in TINY.items()]


@pytest.fixture(autouse=True)
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # results and timings independent of the machine's cores
    yield
    torch.set_num_threads(threads)


def rectangles(size: int, seed: int = 0) -> np.ndarray:
    """A grey (size, size, 3) image of random flat rectangles: sharp edges a blur smears."""
    rng = np.random.default_rng(seed)
    img = np.full((size, size), 0.2)
    for _ in range(6):
        y, x = rng.integers(0, size - 4, 2)
        h, w = rng.integers(4, 12, 2)
        img[y : y + h, x : x + w] = rng.uniform(0, 1)
    return np.repeat(img[..., None], 3, axis=2).astype(np.float32)


def blur_valid(img: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    return np.stack(
        [convolve2d(img[..., c], kernel, mode="valid") for c in range(img.shape[2])], axis=-1
    ).astype(np.float32)


def aligned_psnr(sharp: np.ndarray, img: np.ndarray, shift: int = MAX_SHIFT) -> float:
    """PSNR of ``img`` against ``sharp`` at the best integer shift up to ``shift`` px, on the
    interior: a blind estimate may be translated by a pixel together with its kernel (the
    reference's evaluation also compares up to a shift)."""
    h, w = sharp.shape[:2]
    ref = sharp[shift : h - shift, shift : w - shift]
    return max(
        peak_signal_noise_ratio(
            ref, img[shift + dy : h - shift + dy, shift + dx : w - shift + dx], data_range=1.0
        )
        for dy in range(-shift, shift + 1)
        for dx in range(-shift, shift + 1)
    )


def run_cli(*argv) -> int:
    return main(["-q", "selfdeblur", "--no-progress", *map(str, argv)])


def last_error(capsys) -> str:
    err = capsys.readouterr().err
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    return lines[0]


def test_cli_reduces_the_data_term_and_writes_a_valid_kernel(tmp_path):
    img = (rectangles(44)[4:40] * 255).astype(np.uint8)  # 36 x 44
    Image.fromarray(img).save(tmp_path / "blurry.png")
    out, info_path = tmp_path / "out.png", tmp_path / "out.json"
    args = ["--image", tmp_path / "blurry.png", "--out", out, "--info", info_path]
    args += ["--iterations", 40, "--kernel-size", 5, "--param", "mse_iterations=40"]
    args += [a for p in TINY_PARAMS for a in ("--param", p)]
    assert run_cli(*args) == 0
    info = json.loads(info_path.read_text())
    assert info["selfdeblur_data_mse_last"] < 0.5 * info["selfdeblur_data_mse_first"]
    assert info["selfdeblur_kernel_size"] == 5 and info["selfdeblur_luminance"] is True
    with Image.open(out) as im:
        assert im.size == (44, 36)
    with Image.open(tmp_path / "out_kernel.png") as im:
        assert im.size == (5, 5)
        assert np.asarray(im).max() == 65535  # 16-bit, scaled so the peak is white
    assert read_kernel(tmp_path / "out_kernel.png").sum() == pytest.approx(1.0)
    assert not (tmp_path / "out.ckpt").exists()  # the checkpoint goes when the run finishes


def test_kernel_is_non_negative_and_sums_to_one():
    img = rectangles(40)
    cfg = SelfDeblurConfig(iterations=5, kernel_size=7, **TINY)
    result = selfdeblur(img, cfg, progress=False)
    assert result.kernel.shape == (7, 7)
    assert (result.kernel >= 0).all()
    assert result.kernel.sum() == pytest.approx(1.0, abs=1e-5)
    assert result.image.shape == img.shape and result.data_mse.shape == (5,)


def test_known_kernel_improves_psnr_on_the_blurry_input():
    k = 7
    big = rectangles(32 + k - 1)
    kernel = np.zeros((k, k))
    kernel[k // 2, :] = 1 / k  # a horizontal motion of 7 px
    blurry = blur_valid(big, kernel)
    sharp = big[k // 2 : -(k // 2), k // 2 : -(k // 2)]
    # 150 iterations instead of 5000: the kernel learning rate is raised to move in time
    cfg = SelfDeblurConfig(
        iterations=150, mse_iterations=150, milestones=(), lr_kernel=1e-3, kernel_size=k, **TINY
    )
    result = selfdeblur(blurry, cfg, progress=False)
    before, after = aligned_psnr(sharp, blurry), aligned_psnr(sharp, result.image)
    assert after > before + 1.0, (before, after)
    # the estimate is concentrated on one row (a horizontal line), like the true kernel
    assert result.kernel.sum(axis=1).max() > 0.5


def test_resume_after_interruption_matches_an_uninterrupted_run(tmp_path):
    img = rectangles(40)
    # the MSE-to-SSIM switch and a learning-rate milestone both fall after the interruption
    cfg = SelfDeblurConfig(
        iterations=8, checkpoint_every=2, mse_iterations=5, milestones=(6,), kernel_size=5,
        **TINY,
    )  # fmt: skip
    whole = selfdeblur(img, cfg, checkpoint=tmp_path / "a.ckpt", progress=False)

    def interrupt(done: int) -> None:
        if done == 5:
            raise KeyboardInterrupt

    ckpt = tmp_path / "b.ckpt"
    with pytest.raises(KeyboardInterrupt):
        selfdeblur(img, cfg, checkpoint=ckpt, progress=False, on_step=interrupt)
    assert ckpt.is_file()
    steps = []
    resumed = selfdeblur(img, cfg, checkpoint=ckpt, progress=False, on_step=steps.append)
    assert steps[0] == 5  # iterations 1-4 came from the checkpoint
    assert np.array_equal(whole.image, resumed.image)
    assert np.array_equal(whole.kernel, resumed.kernel)
    assert np.array_equal(whole.data_mse, resumed.data_mse)
    assert ckpt.exists()  # the caller deletes it once the result is written


def test_checkpoint_of_other_settings_is_not_resumed(tmp_path):
    img = rectangles(40)
    cfg = SelfDeblurConfig(iterations=4, checkpoint_every=2, kernel_size=5, **TINY)
    ckpt = tmp_path / "c.ckpt"

    def interrupt(done: int) -> None:
        if done == 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        selfdeblur(img, cfg, checkpoint=ckpt, progress=False, on_step=interrupt)
    other = SelfDeblurConfig(iterations=4, checkpoint_every=2, kernel_size=5, seed=1, **TINY)
    steps = []
    selfdeblur(img, other, checkpoint=ckpt, progress=False, on_step=steps.append)
    assert steps[0] == 1  # started afresh


def test_same_seed_same_result_on_cpu():
    img = rectangles(40)
    cfg = SelfDeblurConfig(iterations=3, kernel_size=5, **TINY)
    a, b = (selfdeblur(img, cfg, progress=False) for _ in range(2))
    assert np.array_equal(a.image, b.image) and np.array_equal(a.kernel, b.kernel)


def test_non_finite_loss_stops_with_a_deblur_error():
    img = rectangles(40)
    img[3, 3] = np.nan
    cfg = SelfDeblurConfig(iterations=12, kernel_size=5, **TINY)
    with pytest.raises(DeblurError, match="non-finite by iteration 10"):
        selfdeblur(img, cfg, progress=False)


def test_ssim_of_an_image_with_itself_is_one_and_has_gradients():
    a = torch.rand(1, 1, 20, 20, requires_grad=True)
    assert ssim(a, a.detach()).item() == pytest.approx(1.0, abs=1e-6)
    (1 - ssim(a, torch.rand(1, 1, 20, 20))).backward()
    assert torch.isfinite(a.grad).all() and a.grad.abs().sum() > 0


def test_default_kernel_size_depends_on_the_image_size():
    assert kernel_size_for(141, 250) == 25  # 0.1 x the longer side, odd
    assert kernel_size_for(36, 64) == 7
    assert kernel_size_for(20, 20) == 3  # never below 3


def test_params_are_typed_and_named():
    cfg = make_config(parse_params(["milestones=[10, 20]", "kernel_size=none", "gamma=1"]))
    assert cfg.milestones == (10, 20) and cfg.kernel_size is None and cfg.gamma == 1.0
    # Snakemake's --config passes nested values as strings
    assert make_config({"iterations": "7", "milestones": ["1", "2"]}).milestones == (1, 2)
    for bad, word in [
        (["bogus=1"], "bogus"),
        (["luminance=1"], "luminance"),
        (["milestones=[1, true]"], "milestones"),
        (["iterations=0"], "iterations"),
        (["lr_image=abc"], "lr_image"),
        (["kernel_size=4"], "kernel_size"),
    ]:
        with pytest.raises(ValueError, match=word):
            make_config(parse_params(bad))


@pytest.mark.parametrize(
    "extra, words",
    [
        (["--kernel-size", "4"], "kernel_size must be odd"),
        (["--iterations", "0"], "iterations must be a positive integer"),
        (["--param", "foo=1"], "unknown selfdeblur param foo"),
        (["--max-size", "10"], "image too small"),
        (["--device", "cuda:7"], "cuda:7"),
    ],
)
def test_bad_arguments_give_one_line_errors(tmp_path, capsys, extra, words):
    Image.fromarray(np.zeros((40, 48, 3), np.uint8)).save(tmp_path / "in.png")
    assert run_cli("--image", tmp_path / "in.png", "--out", tmp_path / "o.png", *extra) == 2
    assert words in last_error(capsys)
    assert not (tmp_path / "o.png").exists()


def test_missing_image_gives_a_one_line_error(tmp_path, capsys):
    assert run_cli("--image", tmp_path / "none.png", "--out", tmp_path / "o.png") == 2
    assert "none.png" in last_error(capsys)


def test_workflow_runs_one_selfdeblur_job_per_pair_with_its_settings(tmp_path):
    wd = make_workdir(tmp_path, "selfdeblur.yaml")
    proc = snakemake(wd, "-n", "-p", "--cores", "2", "--configfile", "selfdeblur.yaml")
    counts = job_counts(proc.stdout)
    n = yaml.safe_load((REPO / "tests/configs/selfdeblur.yaml").read_text())["sample"]["n"]
    assert counts["deblur_selfdeblur"] == n
    commands = [ln for ln in proc.stdout.splitlines() if "python -m deblur selfdeblur" in ln]
    assert len(commands) == n
    # max_size defaults to the scoring size (singan max_size 64 in config.yaml)
    assert all("--param max_size=64" in c and "--param kernel_size=5" in c for c in commands)
    lines = proc.stdout.splitlines()
    evaluate = [ln for ln in lines if "deblur evaluate" in ln and "selfdeblur_tiny" in ln]
    # its info JSON (kernel size, working size, losses) joins every metrics row
    assert len(evaluate) == n and all(".json --out" in c for c in evaluate)


@pytest.mark.parametrize(
    "params, words",
    [("{seed: 1}", "selfdeblur.seed"), ("{kernel_size: 4}", "kernel_size must be odd")],
)
def test_workflow_refuses_bad_selfdeblur_params_at_parse_time(tmp_path, params, words):
    wd = make_workdir(tmp_path)
    methods = (
        "methods=[{name: singan, kind: singan}, {name: identity, kind: identity}, "
        f"{{name: sd, kind: selfdeblur, params: {params}}}]"
    )
    proc = snakemake(wd, "-n", "--config", methods, check=False)
    assert proc.returncode != 0
    assert words in proc.stderr + proc.stdout
