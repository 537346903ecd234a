"""One training iteration against the reference's schedule: 3 critic steps (each with a fresh
coarser-scale sample), then 3 generator steps that regenerate the fake; Adam, MultiStepLR and the
reconstruction weight as configured."""

import copy

import pytest
import torch
import torch.nn.functional as F

from deblur.singan.config import SinGANConfig
from deblur.singan.step import train_step
from deblur.singan.train import ScaleInputs, make_models, make_optimizers

CFG = SinGANConfig(nfc=8, max_nfc=8, niter=50)
SIZE = (20, 26)


def scale_inputs(draws: list | None = None) -> ScaleInputs:
    torch.manual_seed(0)
    real = torch.rand(1, 3, *SIZE) * 2 - 1
    prev_rec = F.avg_pool2d(real, 3, stride=1, padding=1)

    def draw_prev():
        if draws is not None:
            draws.append(1)
        return F.avg_pool2d(torch.rand(1, 3, *SIZE) * 2 - 1, 3, stride=1, padding=1)

    return ScaleInputs(1, real, prev_rec, torch.zeros_like(real), 0.05, draw_prev)


def setup(config=CFG):
    torch.manual_seed(1)
    G, D = make_models(config, 1, torch.device("cpu"), None)
    opt_g, opt_d, schedulers = make_optimizers(G, D, config)
    return G, D, opt_g, opt_d, schedulers


def count_forwards(module, log, name):
    module.register_forward_hook(lambda m, i, o: log.append((name, torch.is_grad_enabled())))


def test_three_critic_then_three_generator_steps_with_a_regenerated_fake():
    G, D, opt_g, opt_d, _ = setup()
    calls, steps, draws = [], [], []
    count_forwards(G, calls, "G")
    count_forwards(D, calls, "D")
    opt_d.register_step_post_hook(lambda *a: steps.append("D"))
    opt_g.register_step_post_hook(lambda *a: steps.append("G"))
    train_step(G, D, opt_g, opt_d, scale_inputs(draws), CFG)

    assert steps == ["D"] * 3 + ["G"] * 3
    assert len(draws) == 3  # a fresh "rand" previous image for every critic step
    d_phase, g_phase = calls[:12], calls[12:]
    # critic step: fake made without a graph, then D on the GP mix, real and fake
    assert d_phase == [("G", False), ("D", True), ("D", True), ("D", True)] * 3
    # generator step: fake regenerated with a graph, scored by D, then the reconstruction
    assert g_phase == [("G", True), ("D", True), ("G", True)] * 3


def test_adversarial_gradient_reaches_the_generator():
    """With alpha = 0 only D's score trains G: G must still change (no detached fake)."""
    config = SinGANConfig(nfc=8, max_nfc=8, alpha=0.0)
    G, D, opt_g, opt_d, _ = setup(config)
    before = copy.deepcopy(G.state_dict())
    _, err_g, rec = train_step(G, D, opt_g, opt_d, scale_inputs(), config)
    assert rec.item() == 0.0 and err_g.item() != 0.0
    changed = [
        k for k, v in G.state_dict().items() if "weight" in k and not torch.equal(v, before[k])
    ]
    assert len(changed) >= 5


def test_reconstruction_loss_is_alpha_times_mse():
    config = SinGANConfig(nfc=8, max_nfc=8, g_steps=1)
    G, D, opt_g, opt_d, _ = setup(config)
    inputs = scale_inputs()
    G_before = copy.deepcopy(G)  # train mode: batch statistics, like inside the step
    _, _, rec = train_step(G, D, opt_g, opt_d, inputs, config)
    with torch.no_grad():
        out = G_before(inputs.noise_amp * inputs.z_opt, inputs.prev_rec)
    assert rec.item() == pytest.approx(10.0 * F.mse_loss(out, inputs.real).item(), rel=1e-5)


def test_adam_and_learning_rate_schedule():
    G, D, opt_g, opt_d, schedulers = setup()
    for opt in (opt_g, opt_d):
        assert opt.defaults["lr"] == 5e-4 and opt.defaults["betas"] == (0.5, 0.999)
    lrs = []
    for _ in range(CFG.niter):
        lrs.append(opt_g.param_groups[0]["lr"])
        opt_g.step()
        opt_d.step()
        for scheduler in schedulers:
            scheduler.step()
    # iterations 0..39 at 5e-4, 40..49 (the last 20%) at 5e-5, like 1600 of 2000
    assert lrs[:40] == [5e-4] * 40
    assert lrs[40:] == pytest.approx([5e-5] * 10)
    assert opt_d.param_groups[0]["lr"] == pytest.approx(5e-5)
