"""Training on a tiny image: it learns, it is deterministic, it resumes exactly, it refuses
mismatched directories, and G_0 deblurring (downscale by r^k, then k passes of upsampling and
G_0) runs as the paper describes."""

import json
import os
import shutil
import subprocess
import sys
import time

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from filelock import FileLock
from PIL import Image

import deblur
from deblur import cpuinfo
from deblur.errors import DeblurError
from deblur.singan import fast as fast_module
from deblur.singan import step as step_module
from deblur.singan import train as train_module
from deblur.singan.checkpoint import file_sha256, load_model, load_scale, scale_path
from deblur.singan.generate import deblur_image, draw_prev
from deblur.singan.pyramid import build_pyramid, image_to_tensor
from deblur.singan.step import train_step
from deblur.singan.train import prepare_scale, train

# 40x30 image -> 5 scales 16x22 .. 30x40; channels 8, 8, 16, 16, 16 (carry-over and a change)
TINY = dict(min_size=16, max_size=40, nfc=8, max_nfc=16, nfc_double_every=2)
NITER = 30


def structured_image(h=30, w=40) -> np.ndarray:
    """Smooth gradients plus a checkerboard: something with both coarse and fine structure."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    return np.stack(
        [
            0.5 + 0.4 * np.sin(xx / 3),
            0.5 + 0.4 * np.cos(yy / 4),
            0.1 + 0.8 * ((xx // 8 + yy // 8) % 2),
        ],
        axis=-1,
    ).astype(np.float32)


def fit(image, out, niter=NITER, seed=0, **overrides):
    return train(
        image, out, {**TINY, "niter": niter, **overrides}, device="cpu", seed=seed, threads=1,
        progress=False,
    )  # fmt: skip


@pytest.fixture(scope="module")
def shared_dir(tmp_path_factory):
    """A directory all pytest-xdist workers of this session share (each would train otherwise)."""
    base = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):  # base is this session's popen-gwN
        base = base.parent
    root = base / "singan_shared"
    root.mkdir(exist_ok=True)
    return root


@pytest.fixture(scope="module")
def image(shared_dir):
    path = shared_dir / "sharp.png"
    with FileLock(f"{path}.lock"):
        if not path.is_file():
            Image.fromarray((structured_image() * 255 + 0.5).astype(np.uint8)).save(path)
    return path


@pytest.fixture(scope="module")
def trained(image, shared_dir):
    """The tiny model every test reads (tests that change a model work on a copy)."""
    out = shared_dir / "model"
    with FileLock(f"{out}.lock"):
        fit(image, out)  # the second worker finds it finished and returns at once
    return out


def scale_tensors(model_dir):
    """Every tensor of every scale file, by (scale, name)."""
    out = {}
    s = 0
    while scale_path(model_dir, s).is_file():
        ckpt = torch.load(scale_path(model_dir, s), weights_only=True)
        for part in ("generator", "critic"):
            out.update({(s, part, k): v for k, v in ckpt[part].items()})
        out[(s, "z_opt")] = ckpt["z_opt"]
        out[(s, "noise_amp")] = torch.tensor(ckpt["noise_amp"])
        s += 1
    return out


def assert_same_weights(dir_a, dir_b):
    a, b = scale_tensors(dir_a), scale_tensors(dir_b)
    assert a.keys() == b.keys() and len(a) > 0
    differing = [k for k in a if not torch.equal(a[k], b[k])]
    assert not differing, differing[:5]


def finest_rec_mse(model_dir, image_path):
    """MSE of the finest-scale reconstruction (fixed z_opt through all scales) in [-1, 1]."""
    model = load_model(model_dir, "cpu")
    img = np.asarray(Image.open(image_path), dtype=np.float32) / 255
    reals = build_pyramid(image_to_tensor(img), model.sizes)
    rec = draw_prev(model.generators, model.noise_amps, model.sizes + [model.sizes[-1]], "rec",
                    model.z_opts)  # fmt: skip
    return F.mse_loss(rec, reals[-1]).item()


def psnr(a, b):
    return 10 * np.log10(1.0 / np.mean((a - b) ** 2))


def test_model_directory_contents(trained, image):
    meta = json.loads((trained / "model.json").read_text())
    assert meta["num_scales"] == 5 == len(meta["sizes"]) == len(meta["noise_amp"])
    assert meta["sizes"][0] == [16, 22] and meta["sizes"][-1] == [30, 40]
    assert meta["image_size"] == [30, 40] and meta["image"] == str(image)
    assert meta["scale_factor"] == pytest.approx((16 / 30) ** 0.25)
    assert meta["channels"] == [8, 8, 16, 16, 16]
    assert meta["config"]["niter"] == NITER and meta["seed"] == 0 and meta["device"] == "cpu"
    assert meta["package_version"] == deblur.__version__
    assert meta["torch_version"] == torch.__version__
    # what CPU rounding depends on (docs/speed.md, "Reproducibility")
    assert meta["threads"] == 1 and meta["branch_max_channels"] == 32
    assert meta["cpu_isa"] == cpuinfo.isa_class() and meta["cpu_name"] == cpuinfo.cpu_name()
    assert meta["cpu_capability"] == torch.backends.cpu.get_cpu_capability()
    assert meta["onednn_max_cpu_isa"] == os.environ.get("ONEDNN_MAX_CPU_ISA", "")
    assert meta["train_seconds"] > 0
    for s in range(5):
        assert scale_path(trained, s).is_file()
    rows = (trained / "train_log.tsv").read_text().splitlines()
    assert rows[0].split("\t")[:5] == ["scale", "height", "width", "channels", "noise_amp"]
    assert len(rows) == 6 and rows[-1].split("\t")[:4] == ["4", "30", "40", "16"]
    assert not list(trained.glob(".*tmp*"))  # no temp files left behind


def test_noise_amplitude_and_reconstruction_noise(trained, image):
    model = load_model(trained, "cpu")
    assert model.noise_amps[0] == 1.0
    z0 = model.z_opts[0]
    assert torch.equal(z0[:, 0], z0[:, 1]) and torch.equal(z0[:, 0], z0[:, 2])  # grey noise
    assert 0.5 < z0.std().item() < 1.5
    assert all(torch.count_nonzero(z) == 0 for z in model.z_opts[1:])
    img = np.asarray(Image.open(image), dtype=np.float32) / 255
    reals = build_pyramid(image_to_tensor(img), model.sizes)
    for s in range(1, model.num_scales):
        rec = draw_prev(model.generators[:s], model.noise_amps, model.sizes, "rec", model.z_opts)
        rmse = F.mse_loss(rec, reals[s]).sqrt().item()
        assert model.noise_amps[s] == pytest.approx(0.1 * rmse, rel=1e-5)


def test_training_learns(trained, image, tmp_path):
    barely = fit(image, tmp_path / "short", niter=3)
    assert finest_rec_mse(trained, image) < 0.25 * finest_rec_mse(barely, image)
    # residual design: G_0 applied to the sharp image itself stays close to it
    sharp = structured_image()
    out = deblur_image(load_model(trained, "cpu"), sharp, steps=1, noise=False)
    out_barely = deblur_image(load_model(barely, "cpu"), sharp, steps=1, noise=False)
    assert psnr(out, sharp) > 20 and psnr(out, sharp) > psnr(out_barely, sharp) + 5


def test_same_seed_gives_bit_identical_weights_and_outputs(trained, image, tmp_path):
    again = fit(image, tmp_path / "again")
    assert_same_weights(trained, again)
    blurry = np.clip(structured_image() * 0.9 + 0.05, 0, 1)
    a = deblur_image(load_model(trained, "cpu"), blurry, seed=3)
    b = deblur_image(load_model(again, "cpu"), blurry, seed=3)
    assert np.array_equal(a, b)


def test_resume_after_a_kill_gives_the_same_weights(trained, image, tmp_path):
    killed = tmp_path / "killed"
    shutil.copytree(trained, killed)
    # a kill during scale 3: scales 0-2 on disk, a half-written temp file, no model.json
    for s in (3, 4):
        scale_path(killed, s).unlink()
    (killed / "model.json").unlink()
    (killed / ".scale_03.pt.tmp.abc123.pt").write_bytes(b"partial")
    before = scale_path(killed, 0).stat().st_mtime_ns
    fit(image, killed)
    assert scale_path(killed, 0).stat().st_mtime_ns == before  # finished scales kept
    assert_same_weights(trained, killed)
    assert not list(killed.glob(".*tmp*"))  # the killed run's temp file is cleaned up
    assert json.loads((killed / "model.json").read_text())["num_scales"] == 5
    assert len((killed / "train_log.tsv").read_text().splitlines()) == 6


def test_killed_cli_run_resumes_to_the_same_weights(trained, image, tmp_path):
    """A real SIGKILL mid-training: no finished marker, and re-running completes it exactly."""
    config = tmp_path / "tiny.yaml"
    config.write_text("".join(f"{k}: {v}\n" for k, v in {**TINY, "niter": NITER}.items()))
    out = tmp_path / "cli"
    cmd = [sys.executable, "-m", "deblur", "-q", "train", "--image", str(image), "--out", str(out),
           "--config", str(config), "--device", "cpu", "--threads", "1"]  # fmt: skip
    proc = subprocess.Popen(cmd, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while not scale_path(out, 2).exists() and proc.poll() is None:
        assert time.monotonic() < deadline, "training did not reach scale 2"
        time.sleep(0.02)
    proc.kill()
    proc.wait()
    if (out / "model.json").exists():
        pytest.skip("training finished before it could be killed (machine too fast)")
    assert not scale_path(out, 4).exists()
    subprocess.run(cmd, check=True, stderr=subprocess.DEVNULL)
    assert_same_weights(trained, out)


def test_different_config_seed_or_image_is_refused(trained, image, tmp_path):
    partial = tmp_path / "partial"
    shutil.copytree(trained, partial)
    (partial / "model.json").unlink()
    with pytest.raises(DeblurError, match=r"different config \(niter 30 \(now 31\)\)"):
        fit(image, partial, niter=31)
    with pytest.raises(DeblurError, match="seed 0"):
        fit(image, partial, seed=1)
    other = tmp_path / "other.png"
    Image.fromarray((structured_image()[::-1] * 255).astype(np.uint8)).save(other)
    with pytest.raises(DeblurError, match="different training image"):
        fit(other, partial)
    with pytest.raises(DeblurError, match="already holds a finished model.*niter"):
        fit(image, trained, niter=31)


def test_other_run_is_set_aside_when_asked(trained, image, tmp_path):
    """A changed training image under the same directory (what a workflow rerun meets): the old
    pyramid is moved to a sibling directory, kept whole, and a new one is trained."""
    out = tmp_path / "model"
    shutil.copytree(trained, out)
    (out / "model.json").unlink()  # as Snakemake does before it reruns the job
    (out / "train_runs.log").write_text("history\n")
    old_scales = sorted(p.name for p in out.glob("scale_*.pt"))
    other = tmp_path / "other.png"
    Image.fromarray((structured_image()[::-1] * 255).astype(np.uint8)).save(other)
    train(other, out, config={**TINY, "niter": NITER}, device="cpu", seed=0, threads=1,
          progress=False, replace_other_run=True)  # fmt: skip
    (aside,) = tmp_path.glob("model.replaced-*")
    assert sorted(p.name for p in aside.glob("scale_*.pt")) == old_scales
    assert (aside / "train_log.tsv").is_file() and not (aside / "model.json").exists()
    assert (out / "train_runs.log").read_text() == "history\n"  # not the model's own file
    info = json.loads((out / "model.json").read_text())
    assert info["image_sha256"] == file_sha256(other) != file_sha256(image)
    for scale in range(len(old_scales)):
        assert load_scale(scale_path(out, scale), torch.device("cpu")).run["image_sha256"] == (
            file_sha256(other)
        )
    # the same run again: nothing of another run, nothing moved
    train(other, out, config={**TINY, "niter": NITER}, device="cpu", seed=0, threads=1,
          progress=False, replace_other_run=True)  # fmt: skip
    assert len(list(tmp_path.glob("model.replaced-*"))) == 1


def test_finished_model_is_not_retrained(trained, image):
    stamp = (trained / "model.json").stat().st_mtime_ns
    start = time.perf_counter()
    assert fit(image, trained) == trained
    assert time.perf_counter() - start < 2.0
    assert (trained / "model.json").stat().st_mtime_ns == stamp


@pytest.mark.parametrize("reference_step", [False, True], ids=["fast", "reference"])
def test_non_finite_loss_stops_with_scale_and_iteration(
    image, tmp_path, monkeypatch, reference_step
):
    # the optimized step (the default since the training-speed work) computes the penalty in
    # fast.penalty_from_grad, the reference step in step.gradient_penalty: poison the one in use
    def nan(*args):
        return torch.tensor(float("nan"))

    if reference_step:
        monkeypatch.setattr(step_module, "gradient_penalty", nan)
    else:
        monkeypatch.setattr(fast_module, "penalty_from_grad", nan)
    with pytest.raises(DeblurError, match="diverged at scale 0, iteration 0"):
        train(
            image, tmp_path / "nan", {**TINY, "niter": 2}, device="cpu", threads=1,
            progress=False, reference_step=reference_step,
        )  # fmt: skip
    assert not (tmp_path / "nan" / "model.json").exists()


def test_training_step_stays_in_torch(trained, image, monkeypatch):
    """No numpy round trips inside the loop: resizing and noise happen on the device."""
    model = load_model(trained, "cpu")
    cfg = model.config
    img = np.asarray(Image.open(image), dtype=np.float32) / 255
    reals = build_pyramid(image_to_tensor(img), model.sizes)
    s = model.num_scales - 1
    inputs = prepare_scale(s, reals, model.sizes, model.generators[:s], model.noise_amps,
                           model.z_opts, cfg)  # fmt: skip
    G, D = train_module.make_models(cfg, s, torch.device("cpu"), None)
    opt_g, opt_d, _ = train_module.make_optimizers(G, D, cfg)

    def no_numpy(*args, **kwargs):
        raise AssertionError("numpy conversion inside the training step")

    monkeypatch.setattr(torch.Tensor, "numpy", no_numpy)
    losses = train_step(G, D, opt_g, opt_d, inputs, cfg)
    assert all(torch.isfinite(v) for v in losses)


def test_fixed_z_opt_false_redraws_it_like_the_reference_code(image, tmp_path):
    small = dict(niter=2, max_size=22)  # 2 scales
    fixed = load_model(fit(image, tmp_path / "fixed", fixed_z_opt=True, **small), "cpu")
    redrawn = load_model(fit(image, tmp_path / "redrawn", fixed_z_opt=False, **small), "cpu")
    z0 = redrawn.z_opts[0]
    assert torch.equal(z0[:, 0], z0[:, 2]) and z0.abs().sum() > 0  # still grey noise
    assert not torch.equal(z0, fixed.z_opts[0])  # not the first draw: the last one
    assert torch.count_nonzero(redrawn.z_opts[1]) == 0


def test_deblur_modes_sizes_and_noise(trained):
    model = load_model(trained, "cpu")
    blurry = structured_image(45, 60)  # any size: resized to the finest (30x40) first
    out = deblur_image(model, blurry)
    assert out.shape == (30, 40, 3) and out.dtype == np.float32
    assert out.min() >= 0 and out.max() <= 1
    assert np.array_equal(out, deblur_image(model, blurry))  # seed 0 both times
    assert not np.array_equal(out, deblur_image(model, blurry, seed=1))
    quiet = deblur_image(model, blurry, noise=False)
    assert np.array_equal(quiet, deblur_image(model, blurry, noise=False, seed=5))
    assert not np.array_equal(quiet, deblur_image(model, blurry, steps=2, noise=False))
    injected = deblur_image(model, blurry, mode="inject", inject_scale=2)
    assert injected.shape == (30, 40, 3) and not np.array_equal(injected, out)
    assert deblur_image(model, blurry, mode="inject").shape == (30, 40, 3)
    # negative scales count from the finest: -2 is the second finest, whatever the depth
    n = len(model.sizes)
    assert np.array_equal(
        deblur_image(model, blurry, mode="inject", inject_scale=2 - n),
        deblur_image(model, blurry, mode="inject", inject_scale=2),
    )
    for bad in (0, n, -n):
        with pytest.raises(ValueError, match=f"inject_scale must be in 1..{n - 1} .* got {bad}"):
            deblur_image(model, blurry, mode="inject", inject_scale=bad)
    with pytest.raises(ValueError, match="steps"):
        deblur_image(model, blurry, steps=0)
    with pytest.raises(ValueError, match="blurry"):
        deblur_image(model, blurry[:, :, 0])
