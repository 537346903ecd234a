"""Batched training: N same-size images as one grouped model compute N single trainings.

In float64 rounding is far below the tolerance, so a batch fed each image's own random draws
(:class:`~deblur.singan.draws.SeparateStreams`) must reproduce N single runs through scales
0-2 (weights copied from the scale below at scale 1, fresh at scale 2 where the width
doubles; the learning-rate milestone inside each scale; with and without the reconstruction
loss): every iteration's losses, the weights, running statistics and Adam moments, and the
random streams themselves. Then the trainer around it: every image's files, resume, finished
images, divergence, the CLI.
"""

import json

import numpy as np
import pytest
import torch
from PIL import Image

from deblur.cli import main as cli_main
from deblur.errors import DeblurError
from deblur.singan import fast as fast_module
from deblur.singan.checkpoint import load_model
from deblur.singan.config import SinGANConfig
from deblur.singan.draws import BatchDraws, SeparateStreams
from deblur.singan.grouped import merge_states, split_state
from deblur.singan.models import Discriminator, Generator
from deblur.singan.pyramid import build_pyramid, pyramid_sizes
from deblur.singan.step import make_step
from deblur.singan.train import (
    Member,
    make_optimizers,
    scale_checkpoints,
    scale_setup,
    train,
    train_batch,
    train_scale,
)

# 26x34 images -> 3 scales; channels 4, 4, 8: weights copied at scale 1, fresh at scale 2
CFG = dict(min_size=12, max_size=34, nfc=4, max_nfc=8, nfc_double_every=2, niter=4)
SEED = 3
N = 3
# float64, 12 iterations: measured differences are about 1e-15 (losses); see is_pre_norm_bias
TOL = 1e-10


@pytest.fixture(autouse=True)
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def random_images(n=N, h=26, w=34, dtype=torch.float32) -> list[torch.Tensor]:
    gen = torch.Generator().manual_seed(7)
    return [(torch.rand(1, 3, h, w, generator=gen) * 2 - 1).to(dtype) for _ in range(n)]


class Recording:
    """A step that records every iteration's losses, (3, images) each."""

    def __init__(self, step):
        self.step, self.losses = step, []

    def __getattr__(self, name):
        return getattr(self.step, name)

    def __call__(self, *args):
        out = self.step(*args)
        self.losses.append(torch.stack([v.detach().reshape(-1) for v in out]))
        return out


def members_of(reals: list[torch.Tensor], config) -> list[Member]:
    sizes, _ = pyramid_sizes(*reals[0].shape[-2:], config, name="test")
    return [
        Member.in_memory(f"image{i}", build_pyramid(r, sizes), sizes) for i, r in enumerate(reals)
    ]


def run_scales(members, config, step, draws, scales=range(3)):
    """Train ``members`` as one batch through ``scales`` with the trainer's pieces; returns per
    scale (G, D, (opt_g, opt_d), recorded losses (iterations, 3, images))."""
    out = []
    for scale in scales:
        draws.start_scale(scale)
        G, D, inputs = scale_setup(
            scale, members, members[0].sizes, config, step, draws, torch.device("cpu")
        )
        for net in (G, D):
            for key, p in net.named_parameters():
                if is_pre_norm_bias(key):  # see is_pre_norm_bias
                    p.register_hook(torch.zeros_like)
        opts = make_optimizers(G, D, config, fused=step.fused_adam)
        recording = Recording(step)
        stats = train_scale(G, D, inputs, config, False, step=recording, optimizers=opts)
        ckpts = scale_checkpoints(scale, members, G, D, inputs, stats, config)
        for m, ckpt in zip(members, ckpts, strict=True):
            m.done.append(ckpt)
        out.append((G, D, opts[:2], torch.stack(recording.losses)))
    return out


def is_pre_norm_bias(key: str) -> bool:
    """A conv bias followed by BatchNorm. Normalised away, its true gradient is 0; computed,
    it is rounding noise, which Adam (dividing by its own size) turns into steps of +-lr whose
    signs depend on the order of a sum: a random walk that the running means track and that
    then reaches the coarser scales' eval-mode outputs, the next scale's noise amplitude and
    everything after it. It is no part of the math, so both runs here give these biases
    their true gradient, 0 (tests/test_speed_equivalence.py skips them instead)."""
    parts = key.split(".")
    return parts[0] == "body" and int(parts[1]) % 3 == 0 and parts[-1] == "bias"


def rel(a, b) -> float:
    return ((a - b).norm() / b.norm().clamp_min(1e-300)).item()


@pytest.mark.parametrize("alpha", [10.0, 0.0], ids=["rec", "alpha0"])
@pytest.mark.parametrize("kind", ["fast", "reference"])
def test_float64_batch_equals_single_runs_across_scales(kind, alpha):
    torch.set_default_dtype(torch.float64)
    try:
        config = SinGANConfig(**CFG, lr_milestone=0.5, alpha=alpha)  # lr drops at iteration 2
        assert [config.channels(s) for s in range(3)] == [4, 4, 8]
        reals = random_images(dtype=torch.float64)
        singles, single_members, single_rng = [], [], []
        for real in reals:
            (member,) = members_of([real], config)
            step = make_step(reference_step=kind == "reference")
            singles.append(run_scales([member], config, step, BatchDraws(1, SEED)))
            single_members.append(member)
            single_rng.append(torch.get_rng_state())
        members = members_of(reals, config)
        assert len(members[0].sizes) >= 3  # scales 0-2 of the pyramid are trained
        draws = SeparateStreams([SEED] * N)
        batch = run_scales(members, config, make_step(reference_step=kind == "reference"), draws)

        for i in range(N):  # the same random numbers in the same order, nothing more
            assert torch.equal(draws.states[i], single_rng[i])
        for scale, (G, D, opts, losses) in enumerate(batch):
            assert losses.shape == (CFG["niter"], 3, N)
            for i in range(N):
                sG, sD, sopts, slosses = singles[i][scale]
                torch.testing.assert_close(losses[:, :, i], slosses[:, :, 0], rtol=TOL, atol=TOL)
                for net, single in ((G, sG), (D, sD)):
                    part = split_state(net.state_dict(), N)[i]
                    for key, value in single.state_dict().items():
                        if key.endswith("num_batches_tracked"):
                            assert torch.equal(part[key], value)
                        else:
                            assert rel(part[key], value) < TOL, (scale, i, key)
                for opt, sopt, net in zip(opts, sopts, (G, D), strict=True):
                    assert opt.param_groups[0]["lr"] == sopt.param_groups[0]["lr"]
                    params = zip(
                        net.named_parameters(), sopt.param_groups[0]["params"], strict=True
                    )
                    for (key, p), sp in params:
                        for moment in ("exp_avg", "exp_avg_sq"):
                            mine = opt.state[p][moment].chunk(N)[i]
                            assert rel(mine, sopt.state[sp][moment]) < TOL, (scale, key, moment)
                ckpt, single_ckpt = members[i].done[scale], single_members[i].done[scale]
                assert ckpt.noise_amp == pytest.approx(single_ckpt.noise_amp, rel=1e-12)
                assert torch.equal(ckpt.z_opt, single_ckpt.z_opt)
        lrs = [opts[0].param_groups[0]["lr"] for _, _, opts, _ in batch]
        assert lrs == [pytest.approx(config.lr_g * config.gamma)] * 3  # past the milestone
    finally:
        torch.set_default_dtype(torch.float32)


def test_float32_grouped_networks_compute_each_image_s_own():
    """Training-mode outputs of the grouped G and D equal the N single networks' (float32)."""
    config = SinGANConfig(**CFG)
    torch.manual_seed(0)
    gens = [Generator(config, 8) for _ in range(N)]
    crits = [Discriminator(config, 8) for _ in range(N)]
    G = Generator(config, 8, images=N)
    G.load_state_dict(merge_states([g.state_dict() for g in gens]))
    D = Discriminator(config, 8, images=N)
    D.load_state_dict(merge_states([d.state_dict() for d in crits]))
    z, prev = torch.randn(1, 3 * N, 20, 26), torch.randn(1, 3 * N, 20, 26)
    out, scores = G(z, prev), D(prev)
    assert out.shape == (1, 3 * N, 20, 26) and scores.shape == (1, N, 10, 16)
    for i in range(N):
        c = slice(3 * i, 3 * i + 3)
        torch.testing.assert_close(out[:, c], gens[i](z[:, c], prev[:, c]), rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(scores[:, i : i + 1], crits[i](prev[:, c]), rtol=1e-5, atol=1e-6)
    for i, part in enumerate(split_state(G.state_dict(), N)):  # running statistics per image
        for key, value in gens[i].state_dict().items():
            torch.testing.assert_close(part[key], value, rtol=1e-5, atol=1e-7)


# --- the trainer around the step -------------------------------------------------------------

TINY = dict(min_size=12, max_size=30, nfc=4, max_nfc=8, nfc_double_every=2, niter=3)


@pytest.fixture(scope="module")
def pngs(tmp_path_factory):
    root = tmp_path_factory.mktemp("batch_images")
    rng = np.random.default_rng(1)
    paths = []
    for i in range(3):
        path = root / f"img{i}.png"
        Image.fromarray((rng.random((24, 30, 3)) * 255).astype(np.uint8)).save(path)
        paths.append(path)
    return paths


def fit(images, outs, **kwargs):
    return train_batch(images, outs, TINY, device="cpu", threads=1, progress=False, **kwargs)


def weights(model_dir):
    model = load_model(model_dir, "cpu")
    return [p for G in model.generators for p in G.state_dict().values()]


def test_batch_writes_every_image_s_files_and_resumes(pngs, tmp_path, monkeypatch):
    outs = [tmp_path / f"m{i}" for i in range(2)]
    assert fit(pngs[:2], outs) == outs
    for i, out in enumerate(outs):
        meta = json.loads((out / "model.json").read_text())
        assert meta["batch"] == dict(size=2, index=i, images=[str(p) for p in pngs[:2]],
                                     models=[str(o) for o in outs])  # fmt: skip
        assert meta["image"] == str(pngs[i]) and meta["tf32"] is False
        rows = (out / "train_log.tsv").read_text().splitlines()
        assert len(rows) == 1 + meta["num_scales"]
        assert len(load_model(out, "cpu").generators) == meta["num_scales"]
    a, b = weights(outs[0]), weights(outs[1])
    assert not all(torch.equal(x, y) for x, y in zip(a, b, strict=True))  # two pyramids

    # killed after scale 1: rerunning resumes both to the same weights
    import deblur.singan.train as train_module

    save = train_module.save_scale
    calls = []

    def save_then_die(out_dir, ckpt):
        save(out_dir, ckpt)
        calls.append(ckpt.scale)
        if ckpt.scale == 1 and len(calls) == 4:
            raise KeyboardInterrupt

    resumed = [tmp_path / f"r{i}" for i in range(2)]
    monkeypatch.setattr(train_module, "save_scale", save_then_die)
    with pytest.raises(KeyboardInterrupt):
        fit(pngs[:2], resumed)
    monkeypatch.undo()
    assert not (resumed[0] / "model.json").exists()
    fit(pngs[:2], resumed)
    for out, again in zip(outs, resumed, strict=True):
        for x, y in zip(weights(out), weights(again), strict=True):
            assert torch.equal(x, y)


def test_one_image_twice_is_two_members(pngs, tmp_path):
    """The same frame in two places of a batch (two draws of its pyramid) is two members:
    each gets its own index (members were once found by value, which compared tensors)."""
    outs = [tmp_path / "first", tmp_path / "second"]
    fit([pngs[0], pngs[0]], outs)
    metas = [json.loads((out / "model.json").read_text()) for out in outs]
    assert [m["batch"]["index"] for m in metas] == [0, 1]
    a, b = weights(outs[0]), weights(outs[1])
    assert not all(torch.equal(x, y) for x, y in zip(a, b, strict=True))  # its own noise


def test_finished_images_are_not_retrained(pngs, tmp_path):
    done = train(pngs[0], tmp_path / "a", TINY, device="cpu", threads=1, progress=False)
    stamp = (done / "model.json").stat().st_mtime_ns
    fit([pngs[0], pngs[1]], [done, tmp_path / "b"])
    assert (done / "model.json").stat().st_mtime_ns == stamp
    meta = json.loads((tmp_path / "b" / "model.json").read_text())
    assert meta["batch"]["index"] == 1


def test_a_batch_of_one_is_the_single_trainer(pngs, tmp_path):
    one = fit([pngs[0]], [tmp_path / "one"])[0]
    single = train(pngs[0], tmp_path / "single", TINY, device="cpu", threads=1, progress=False)
    for x, y in zip(weights(one), weights(single), strict=True):
        assert torch.equal(x, y)


def test_separate_streams_give_each_image_its_single_run_s_numbers(pngs, tmp_path):
    """Scale 0's reconstruction noise is the first draw after the weights: with separate
    streams it is the single run's, in a shared batch draw it is not."""
    outs = fit(pngs[:2], [tmp_path / "s0", tmp_path / "s1"], separate_streams=True)
    shared = fit(pngs[:2], [tmp_path / "b0", tmp_path / "b1"])
    single = train(pngs[1], tmp_path / "one", TINY, device="cpu", threads=1, progress=False)
    z = [load_model(d, "cpu").z_opts[0] for d in (outs[1], shared[1], single)]
    assert torch.equal(z[0], z[2]) and not torch.equal(z[1], z[2])


def test_non_finite_loss_names_the_image_and_scale(pngs, tmp_path, monkeypatch):
    real = fast_module.penalty_from_grad

    def nan_for_second(grad, weight, images=1):
        out = real(grad, weight, images)
        return out * torch.tensor([1.0, float("nan")]) if images == 2 else out

    monkeypatch.setattr(fast_module, "penalty_from_grad", nan_for_second)
    with pytest.raises(DeblurError, match=f"^{pngs[1]}: training diverged at scale 0, iteration 0"):
        fit(pngs[:2], [tmp_path / "x0", tmp_path / "x1"])


def test_bad_batches_are_refused(pngs, tmp_path):
    other = tmp_path / "big.png"
    Image.fromarray(np.zeros((30, 30, 3), np.uint8)).save(other)
    with pytest.raises(DeblurError, match="other sizes .* a batch trains images of one size"):
        fit([pngs[0], other], [tmp_path / "a", tmp_path / "b"])
    with pytest.raises(DeblurError, match="given twice"):
        fit(pngs[:2], [tmp_path / "a", tmp_path / "a"])
    with pytest.raises(DeblurError, match="one --out per --image"):
        fit(pngs[:2], [tmp_path / "a"])


def test_cli_trains_a_batch(pngs, tmp_path, capsys):
    args = ["train", "--device", "cpu", "--threads", "1"]
    args += [f"--set={k}={v}" for k, v in TINY.items()]
    for i in range(2):
        args += ["--image", str(pngs[i]), "--out", str(tmp_path / f"c{i}")]
    assert cli_main(args) == 0
    assert json.loads((tmp_path / "c1" / "model.json").read_text())["batch"]["size"] == 2
    assert cli_main(args[:-2]) == 2  # an --image without its --out
    assert "one --out per --image" in capsys.readouterr().err
