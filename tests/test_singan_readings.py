"""The inference readings: the sr pass rule and sizes, the random-sample control, noise and
the command line (mode sr / sample, --info, one-line errors)."""

import json

import numpy as np
import pytest
import torch
from PIL import Image

from deblur.cli import main
from deblur.singan.checkpoint import SinGANModel
from deblur.singan.config import load_config
from deblur.singan.generate import deblur_image, sample_image
from deblur.singan.models import Generator
from deblur.singan.readings import (
    check_output_size,
    parse_sr_factor,
    plan_reading,
    plan_sr,
    sr_passes,
)

PAPER_SIZE, PAPER_R = (141, 250), 0.7810420455400876  # a 1280x720 frame at the paper's setting


def test_reference_rule_factor_4_is_6_passes_to_4x():
    plan = plan_sr(PAPER_SIZE, PAPER_R, 4, "reference")
    assert plan.passes == 6 and plan.pass_factor == pytest.approx(2 ** (1 / 3))
    assert plan.out_size == (564, 1000)  # the reference's 250x141 -> 1000x564
    assert len(plan.sizes) == 6
    heights = [h for h, _ in plan.sizes]
    assert heights == sorted(heights) and heights[0] > PAPER_SIZE[0]
    assert plan.columns() == dict(
        deblur_passes=6, deblur_pass_factor=round(2 ** (1 / 3), 6), deblur_out_height=564,
        deblur_out_width=1000, sr_factor="4", sr_step="reference",
    )  # fmt: skip


@pytest.mark.parametrize(
    "factor, passes",
    # round(3 log2 s): 2 -> 3, 8 -> 9, 1.5 -> round(1.75) = 2, 1.1 -> round(0.41) = 0 -> 1
    [(1, 1), (1.1, 1), (1.5, 2), (2, 3), (8, 9)],
)
def test_reference_rule_pass_counts(factor, passes):
    n, f = sr_passes(factor, "reference", PAPER_R)
    assert n == passes and f**n == pytest.approx(factor)


def test_full_goes_to_the_original_frame():
    plan = plan_sr(PAPER_SIZE, PAPER_R, "full", "reference", frame_size=(720, 1280))
    assert plan.out_size == (720, 1280)  # not 141 * 5.12 = 721
    assert plan.sr_factor == pytest.approx(5.12) and plan.passes == 7  # round(7.07)
    assert plan.sr_factor_setting == "full"
    with pytest.raises(ValueError, match="frame"):
        plan_sr(PAPER_SIZE, PAPER_R, "full")


def test_pyramid_step_is_one_over_r_with_a_shorter_last_step():
    plan = plan_sr((30, 40), 0.75, 4, "pyramid")
    # log 4 / log (4/3) = 4.82 -> 5 passes of 4/3, the last onto 120x160
    assert plan.passes == 5 and plan.pass_factor == pytest.approx(4 / 3)
    assert plan.sizes == ((40, 54), (54, 72), (72, 95), (95, 127), (120, 160))
    ref = plan_sr((30, 40), 0.75, 4, "reference")
    assert ref.passes == 6 and ref.out_size == plan.out_size
    one = plan_sr((30, 40), 0.75, 1.2, "pyramid")  # below 1/r: one pass of the factor
    assert (one.passes, one.pass_factor, one.out_size) == (1, 1.2, (36, 48))


@pytest.mark.parametrize("bad", [0.5, 0, -2, "huge", True, float("nan")])
def test_bad_sr_factor(bad):
    with pytest.raises(ValueError, match="sr_factor"):
        parse_sr_factor(bad)


def test_sr_factor_text_and_limit():
    assert parse_sr_factor("FULL") == "full" and parse_sr_factor("2.5") == 2.5
    plan = plan_sr(PAPER_SIZE, PAPER_R, 8)
    check_output_size(plan, 1128 * 2000)
    with pytest.raises(ValueError, match="2000x1128 .* above the limit"):
        check_output_size(plan, 1128 * 2000 - 1)


def test_other_readings_plans():
    sizes = [(16, 22), (21, 28), (30, 40)]
    g0 = plan_reading("g0", sizes, 0.75, steps=2)
    assert g0.passes == 2 and g0.sizes == ((23, 30), (30, 40))
    inject = plan_reading("inject", sizes, 0.75)  # default: the scale below the finest
    assert inject.passes == 2 and inject.sizes == ((21, 28), (30, 40))
    sample = plan_reading("sample", sizes, 0.75)
    assert sample.passes == 3 and sample.out_size == (30, 40)
    assert sample.columns()["sr_factor"] is None


def random_model(sizes=((12, 16), (16, 22), (21, 28), (30, 40)), seed=0) -> SinGANModel:
    """A pyramid with random weights (no training): enough to test geometry and noise."""
    torch.manual_seed(seed)
    config = load_config(dict(min_size=12, max_size=40, nfc=8, max_nfc=8))
    gens = [Generator(config, 8).eval().requires_grad_(False) for _ in sizes]
    return SinGANModel(
        generators=gens, noise_amps=[1.0] + [0.1] * (len(sizes) - 1),
        z_opts=[torch.zeros(1, 3, *s) for s in sizes], sizes=list(sizes), scale_factor=0.75,
        config=config, meta={}, device=torch.device("cpu"),
    )  # fmt: skip


def blurry_image(h=60, w=80, seed=0):
    return np.random.default_rng(seed).random((h, w, 3), dtype=np.float32)


def test_sr_output_size_and_noise():
    model = random_model()
    blurry = blurry_image()
    out = deblur_image(model, blurry, mode="sr", sr_factor=2)
    assert out.shape == (60, 80, 3) and out.dtype == np.float32  # 30x40 x 2
    full = deblur_image(model, blurry_image(90, 120), mode="sr", sr_factor="full")
    assert full.shape == (90, 120, 3)
    assert np.array_equal(out, deblur_image(model, blurry, mode="sr", sr_factor=2))
    assert not np.array_equal(out, deblur_image(model, blurry, mode="sr", sr_factor=2, seed=1))
    quiet = deblur_image(model, blurry, mode="sr", sr_factor=2, noise=False)
    assert np.array_equal(quiet, deblur_image(model, blurry, mode="sr", sr_factor=2,
                                              noise=False, seed=7))  # fmt: skip
    assert not np.array_equal(quiet, out)
    pyramid = deblur_image(model, blurry, mode="sr", sr_factor=2, sr_step="pyramid")
    assert pyramid.shape == out.shape and not np.array_equal(pyramid, out)
    with pytest.raises(ValueError, match="above the limit"):
        deblur_image(model, blurry, mode="sr", sr_factor=2, max_output_pixels=60 * 80 - 1)


def test_sample_ignores_the_blurry_image():
    model = random_model()
    a = deblur_image(model, blurry_image(seed=1), mode="sample", seed=3)
    b = deblur_image(model, blurry_image(seed=2) * 0.1, mode="sample", seed=3)
    assert a.shape == (30, 40, 3) and np.array_equal(a, b)
    assert np.array_equal(a, deblur_image(model, None, mode="sample", seed=3))
    assert not np.array_equal(a, sample_image(model, seed=4))
    flat = sample_image(model, noise=False, seed=0)
    assert np.array_equal(flat, sample_image(model, noise=False, seed=9))


# --- the command line --------------------------------------------------------------------------

TINY_YAML = "niter: 2\nmin_size: 16\nmax_size: 40\nnfc: 8\nmax_nfc: 16\n"


def pattern(h=30, w=40):
    yy, xx = np.mgrid[0:h, 0:w]
    base = (((xx // 5 + yy // 5) % 2) * 180 + 40).astype(np.uint8)
    return np.stack([base, base[::-1], base[:, ::-1]], -1)


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("readings")
    (root / "singan.yaml").write_text(TINY_YAML)
    Image.fromarray(pattern()).save(root / "sharp.png")
    args = ["--image", root / "sharp.png", "--out", root / "m", "--config", root / "singan.yaml"]
    rc = main(["train", *map(str, args), "--device", "cpu", "--threads", "1"])
    assert rc == 0
    return root / "m"


def deblur(*args):
    return main(["deblur", "--device", "cpu", "--threads", "1", *map(str, args)])


def test_cli_sr_writes_the_planned_size_and_info(model_dir, tmp_path):
    blurry = tmp_path / "blurry.png"
    Image.fromarray(pattern(60, 80)).save(blurry)
    out, info = tmp_path / "sr.png", tmp_path / "sr.json"
    assert deblur("--model", model_dir, "--image", blurry, "--out", out, "--mode", "sr",
                  "--sr-factor", 4, "--info", info) == 0  # fmt: skip
    with Image.open(out) as im:
        assert im.size == (160, 120)  # 40x30 model size x 4
    meta = json.loads(info.read_text())
    assert meta["deblur_mode"] == "sr" and meta["deblur_passes"] == 6
    assert (meta["deblur_out_width"], meta["deblur_out_height"]) == (160, 120)
    assert meta["sr_factor"] == "4" and meta["sr_step"] == "reference"
    out_full = tmp_path / "full.png"
    assert deblur("--model", model_dir, "--image", blurry, "--out", out_full, "--mode", "sr",
                  "--sr-factor", "full", "--sr-step", "pyramid") == 0  # fmt: skip
    with Image.open(out_full) as im:
        assert im.size == (80, 60)  # the blurry frame's own size


def test_cli_sample_never_reads_the_image(model_dir, tmp_path, monkeypatch):
    from deblur.data import imageio

    def refuse(path):
        raise AssertionError(f"sample read {path}")

    monkeypatch.setattr(imageio, "read_rgb", refuse)
    out = tmp_path / "sample.png"
    assert deblur("--model", model_dir, "--image", tmp_path / "absent.png", "--out", out,
                  "--mode", "sample", "--seed", 2) == 0  # fmt: skip
    with Image.open(out) as im:
        assert im.size == (40, 30)


@pytest.mark.parametrize(
    "args, message",
    [
        (["--mode", "sr", "--sr-factor", "0.5"], "--sr-factor: sr_factor must be >= 1"),
        (["--mode", "sr", "--sr-factor", "8", "--max-output-pixels", "1000"], "above the limit"),
    ],
)
def test_cli_bad_sr_settings_one_line(model_dir, tmp_path, capsys, args, message):
    blurry = tmp_path / "blurry.png"
    Image.fromarray(pattern()).save(blurry)
    assert deblur("--model", model_dir, "--image", blurry, "--out", tmp_path / "o.png",
                  *args) == 2  # fmt: skip
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and message in err and "\n" not in err
    assert not (tmp_path / "o.png").exists()


def test_study_describes_the_new_readings():
    from deblur.evaluation.study import describe

    row = dict(family="singan", reference="same", deblur_noise=True)
    assert describe(row | dict(deblur_mode="sr", sr_factor="4", sr_step="reference")) == (
        "same, sr x4, noise on"
    )
    pyramid = describe(row | dict(deblur_mode="sr", sr_factor="full", sr_step="pyramid"))
    assert pyramid == "same, sr full (pyramid steps), noise on"
    assert (
        describe(row | dict(deblur_mode="sample")) == "same, random sample (input unused), noise on"
    )


def test_readings_module_stays_light():
    """The deblur command imports it to build ``--help``: no torch on import."""
    import subprocess
    import sys

    code = "import sys, deblur.singan.readings; assert 'torch' not in sys.modules, 'torch'"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
