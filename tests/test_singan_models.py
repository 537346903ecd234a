"""Generator and critic: layout, padding, residual output, patch size, init, gradient penalty."""

import pytest
import torch
import torch.nn as nn

from deblur.singan.config import SinGANConfig
from deblur.singan.models import Discriminator, Generator
from deblur.singan.step import gradient_penalty
from deblur.singan.train import make_models

CFG = SinGANConfig()


def test_layout_matches_the_reference():
    for net in (Generator(CFG, 32), Discriminator(CFG, 32)):
        convs = [m for m in net.modules() if isinstance(m, nn.Conv2d)]
        assert len(convs) == CFG.num_layer
        assert all(c.kernel_size == (3, 3) and c.padding == (0, 0) for c in convs)
        assert sum(isinstance(m, nn.BatchNorm2d) for m in net.modules()) == CFG.num_layer - 1
        slopes = {m.negative_slope for m in net.modules() if isinstance(m, nn.LeakyReLU)}
        assert slopes == {0.2}
        assert convs[0].in_channels == 3 and all(c.in_channels == 32 for c in convs[1:])
    assert isinstance(Generator(CFG, 32).tail[-1], nn.Tanh)
    assert Generator(CFG, 32).tail[0].out_channels == 3
    assert Discriminator(CFG, 32).tail.out_channels == 1


@pytest.mark.parametrize("size", [(25, 45), (16, 22), (31, 17)])
def test_generator_output_has_the_input_size_and_is_residual(size):
    torch.manual_seed(0)
    G = Generator(CFG, 32)
    z, prev = torch.randn(1, 3, *size), torch.randn(1, 3, *size)
    out = G(z, prev)
    assert out.shape == prev.shape  # 5 px of zero padding per side
    assert (out - prev).abs().max() <= 1.0  # tanh tail added to prev
    nn.init.zeros_(G.tail[0].weight)
    nn.init.zeros_(G.tail[0].bias)
    assert torch.equal(G(z, prev), prev)


def test_critic_is_an_11x11_patch_critic():
    torch.manual_seed(0)
    D = Discriminator(CFG, 32).eval()  # eval: BN statistics would couple all pixels
    x = torch.randn(1, 3, 40, 50, requires_grad=True)
    score = D(x)
    assert score.shape == (1, 1, 30, 40)
    score[0, 0, 12, 20].backward()
    touched = x.grad.abs().sum(1)[0].nonzero()
    assert touched[:, 0].min() == 12 and touched[:, 0].max() == 12 + 10
    assert touched[:, 1].min() == 20 and touched[:, 1].max() == 20 + 10


def test_init_normal_002_and_batchnorm_around_one():
    torch.manual_seed(0)
    G = Generator(CFG, 128)
    conv = G.body[3]  # a 128 -> 128 conv
    assert conv.weight.mean().item() == pytest.approx(0.0, abs=2e-3)
    assert conv.weight.std().item() == pytest.approx(0.02, rel=0.05)
    bn = G.body[1]
    assert bn.weight.mean().item() == pytest.approx(1.0, abs=0.01)
    assert bn.weight.std().item() == pytest.approx(0.02, rel=0.3)
    assert torch.equal(bn.bias, torch.zeros(128))


def test_weights_carry_over_only_when_the_width_is_unchanged():
    torch.manual_seed(0)
    cfg = SinGANConfig(nfc=8, max_nfc=16, nfc_double_every=2)
    G0, D0 = make_models(cfg, 0, torch.device("cpu"), None)

    class Previous:  # the fields make_models reads from a ScaleCheckpoint
        channels = cfg.channels(1)
        generator = G0.state_dict()
        critic = D0.state_dict()

    G1, D1 = make_models(cfg, 1, torch.device("cpu"), Previous)
    before = list(G0.state_dict().values()) + list(D0.state_dict().values())
    after = list(G1.state_dict().values()) + list(D1.state_dict().values())
    assert all(torch.equal(a, b) for a, b in zip(before, after, strict=True))
    G2, _ = make_models(cfg, 2, torch.device("cpu"), Previous)  # 16 channels: fresh init
    assert G2.body[0].out_channels == 16


class PixelLinear(nn.Module):
    """D(x) = sum_c w_c x_c at every pixel: its input gradient is w at every pixel."""

    def __init__(self, w):
        super().__init__()
        self.w = w.view(1, 3, 1, 1)

    def forward(self, x):
        return (self.w * x).sum(1, keepdim=True)


def test_gradient_penalty_uses_the_per_pixel_norm_over_channels():
    w = torch.tensor([0.3, -1.2, 2.0])
    real, fake = torch.randn(1, 3, 20, 30), torch.randn(1, 3, 20, 30)
    gp = gradient_penalty(PixelLinear(w), real, fake, weight=0.1)
    # per pixel ||w||; a norm over the whole image would scale it by sqrt(20 * 30)
    assert gp.item() == pytest.approx(0.1 * (w.norm().item() - 1) ** 2, rel=1e-5)


def test_denormals_are_flushed_only_inside_the_block():
    from deblur.singan.device import flush_denormals

    if not torch.set_flush_denormal(False):
        pytest.skip("this CPU cannot flush denormals (not x86 with SSE3)")
    tiny = torch.tensor([1e-39])  # a float32 denormal
    with flush_denormals(torch.device("cpu")):
        flushed = (tiny * 1.0).item()
    assert flushed == 0.0 and (tiny * 1.0).item() > 0.0
