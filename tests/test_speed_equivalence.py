"""The optimized training step computes the reference step's math.

In float64 rounding is too small to matter, so the optimized step (channels-last, explicit
gradient-penalty input gradient with a hand-written BatchNorm double backward, reused fake,
frozen critic in G steps, batched coarser chain, fused Adam) must reproduce the straightforward
``train_step`` to near machine precision over several iterations: losses, every weight and
every running statistic. In float32 both are chaotic in the same way (a 1e-6 change of the
weights grows to 1e-2 within three iterations: Adam divides gradients by their own size, and
the penalty's LeakyReLU masks flip), so float32 is checked per phase from identical states.
"""

import copy

import pytest
import torch
import torch.nn.functional as F

from deblur.singan import fast
from deblur.singan.config import SinGANConfig
from deblur.singan.generate import CoarseChain, draw_prev
from deblur.singan.models import Generator
from deblur.singan.step import gradient_penalty, train_step
from deblur.singan.train import ScaleInputs, make_models, make_optimizers

CFG = SinGANConfig(nfc=8, max_nfc=8, niter=20)
SIZES = [(14, 18), (17, 22), (20, 26)]


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny tensors: one thread is fastest and keeps pytest-xdist workers from oversubscribing."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def scale_inputs(scale: int, dtype=torch.float64) -> ScaleInputs:
    """Inputs of ``scale`` with real (random-weight) coarser generators, so that the "rand"
    previous images go through the batched chain."""
    torch.manual_seed(10)
    real = torch.rand(1, 3, *SIZES[scale], dtype=dtype) * 2 - 1
    coarser = [Generator(CFG, 8).to(dtype).eval().requires_grad_(False) for _ in range(scale)]
    amps = [1.0] + [0.1] * (scale - 1)
    zs = [torch.randn(1, 3, *SIZES[k], dtype=dtype) for k in range(scale)]
    if scale == 0:
        zeros = torch.zeros_like(real)
        z_opt = torch.randn(1, 1, *SIZES[0], dtype=dtype).expand(1, 3, *SIZES[0])
        return ScaleInputs(0, real, zeros, z_opt, 1.0, lambda: zeros)
    prev_rec = draw_prev(coarser, amps, SIZES, "rec", zs).to(dtype)
    chain = CoarseChain(coarser, amps, SIZES)

    def rand_prev():
        return chain.run([chain.draw_noise("cpu")])

    return ScaleInputs(scale, real, prev_rec, torch.zeros_like(real), 0.05, rand_prev, chain)


def models(scale: int, dtype=torch.float64, config=CFG):
    torch.manual_seed(1)
    G, D = make_models(config, scale, torch.device("cpu"), None)
    return G.to(dtype), D.to(dtype)


def fast_copy(G, D, inputs, config=CFG):
    """Deep copies of G, D and inputs prepared for the optimized step, with fused Adam."""
    G2, D2, inputs2 = copy.deepcopy(G), copy.deepcopy(D), copy.copy(inputs)
    if inputs.coarser is not None:
        inputs2.coarser = copy.deepcopy(inputs.coarser)
    fast.to_channels_last(G2, D2, inputs2)
    opt_g, opt_d, _ = make_optimizers(G2, D2, config, fused=True)
    return G2, D2, opt_g, opt_d, inputs2


def rel(a: torch.Tensor, b: torch.Tensor) -> float:
    return ((a - b).norm() / b.norm().clamp_min(1e-30)).item()


@pytest.mark.parametrize("branches", [False, True], ids=["sequential", "branches"])
@pytest.mark.parametrize("scale", [0, 2])
def test_float64_losses_weights_and_statistics_match_the_reference(scale, branches):
    """Also with each step's halves run at once on two threads (merged gradients and
    running statistics)."""
    G, D = models(scale)
    inputs = scale_inputs(scale)
    G2, D2, opt_g2, opt_d2, inputs2 = fast_copy(G, D, inputs)
    opt_g, opt_d, _ = make_optimizers(G, D, CFG)
    step = fast.FastStep(branch_max_channels=CFG.max_nfc if branches else 0)
    for it in range(3):
        torch.manual_seed(100 + it)
        ref = train_step(G, D, opt_g, opt_d, inputs, CFG)
        rng_ref = torch.get_rng_state()
        torch.manual_seed(100 + it)
        torch.set_num_threads(2)  # branches need two; the reference above ran on one
        out = step(G2, D2, opt_g2, opt_d2, inputs2, CFG)
        torch.set_num_threads(1)
        assert (step._pair is not None) == branches
        assert torch.equal(torch.get_rng_state(), rng_ref)  # same random numbers, same order
        for name, a, b in zip(("err_d", "err_g", "rec"), out, ref, strict=True):
            assert a.item() == pytest.approx(b.item(), rel=1e-9, abs=1e-12), (it, name)
    for net, net2 in ((G, G2), (D, D2)):
        state, state2 = net.state_dict(), net2.state_dict()
        for key, value in state.items():
            if key.endswith("num_batches_tracked"):
                assert state2[key] == value, key
            elif is_pre_norm_bias(key):  # gradient 0 in theory, rounding noise times Adam
                continue
            elif key.endswith("running_mean"):  # tracks those biases too
                assert rel(state2[key], value) < 1e-5, key
            else:
                assert rel(state2[key], value) < 1e-8, key


def is_pre_norm_bias(key: str) -> bool:
    """The bias of a conv followed by BatchNorm: normalised away, its true gradient is 0."""
    parts = key.split(".")
    return parts[0] == "body" and parts[-1] == "bias" and int(parts[1]) % 3 == 0


def test_float32_critic_step_gradients_match_the_reference():
    G, D = models(2, torch.float32)
    inputs = scale_inputs(2, torch.float32)
    real = inputs.real
    fake = torch.tanh(torch.randn_like(real))
    D2 = copy.deepcopy(D).to(memory_format=torch.channels_last)
    torch.manual_seed(5)
    ref = gradient_penalty(D, real, fake, CFG.lambda_grad)
    (-D(real).mean() + D(fake).mean() + ref).backward()
    torch.manual_seed(5)
    alpha = torch.rand(1, 1, 1, 1)
    err = fast.critic_loss(D2, fast.nhwc(real), fast.nhwc(fake), alpha, CFG.lambda_grad)
    err.backward()
    for (key, p), p2 in zip(D.named_parameters(), D2.parameters(), strict=True):
        if is_pre_norm_bias(key):
            scale = D.body[0].weight.grad.abs().max()
            assert max(p.grad.abs().max(), p2.grad.abs().max()) < 1e-5 * scale
        elif key == "tail.bias":  # cancels between real and fake in both
            assert p.grad.abs().max() == 0 and p2.grad.abs().max() == 0
        else:
            assert rel(p2.grad, p.grad) < 1e-4, key
    for key, value in D.state_dict().items():  # running statistics: mix, real, fake
        assert torch.allclose(D2.state_dict()[key], value, rtol=1e-5, atol=1e-7), key


def test_float32_generator_step_gradients_match_the_reference():
    G, D = models(2, torch.float32)
    inputs = scale_inputs(2, torch.float32)
    noise = 0.05 * torch.randn_like(inputs.real)
    prev = inputs.draw_prev()
    G2, D2 = copy.deepcopy(G), copy.deepcopy(D)
    rec_input = inputs.noise_amp * inputs.z_opt
    err = -D(G(noise, prev)).mean()
    (err + CFG.alpha * F.mse_loss(G(rec_input, inputs.prev_rec), inputs.real)).backward()
    D2.requires_grad_(False)
    err2, rec2 = fast.generator_loss(
        G2, D2, G2(noise, prev), rec_input, inputs.prev_rec, inputs.real, CFG.alpha
    )
    (err2 + rec2).backward()
    assert err2.item() == pytest.approx(err.item(), rel=1e-6)
    for (key, p), p2 in zip(G.named_parameters(), G2.parameters(), strict=True):
        if not is_pre_norm_bias(key):
            assert rel(p2.grad, p.grad) < 1e-4, key
    assert all(p.grad is None for p in D2.parameters())  # the frozen critic got none


def test_batchnorm_input_grad_backward_is_the_second_derivative():
    torch.manual_seed(0)
    g, a = torch.randn(2, 1, 4, 5, 6, dtype=torch.float64, requires_grad=True)
    weight = torch.randn(4, dtype=torch.float64, requires_grad=True)

    def explicit(g, a, weight):
        with torch.no_grad():
            _, mean, invstd = torch.native_batch_norm(a, weight, None, None, None, True, 0, 1e-5)
        return fast.BatchNormInputGrad.apply(g, a, weight, mean, invstd, 1e-5)

    def autograd(g, a, weight):
        out = F.batch_norm(a, None, None, weight, None, True, 0.0, 1e-5)
        return torch.autograd.grad(out, a, g, create_graph=True)[0]

    assert torch.allclose(explicit(g, a, weight), autograd(g, a, weight), atol=1e-12)
    assert torch.autograd.gradcheck(explicit, (g, a, weight))
    upstream = torch.randn(1, 4, 5, 6, dtype=torch.float64)
    ours = torch.autograd.grad(explicit(g, a, weight), (g, a, weight), upstream)
    theirs = torch.autograd.grad(autograd(g, a, weight), (g, a, weight), upstream)
    for x, y in zip(ours, theirs, strict=True):
        assert torch.allclose(x, y, atol=1e-12)


def test_batched_chain_equals_one_image_at_a_time():
    inputs = scale_inputs(2, torch.float32)
    chain = inputs.coarser
    noises = [chain.draw_noise("cpu") for _ in range(3)]
    batch = chain.run(noises)
    for k, zs in enumerate(noises):
        assert torch.allclose(batch[k : k + 1], chain.run([zs]), atol=1e-6)
    torch.manual_seed(3)
    one = draw_prev(chain.generators, chain.noise_amps, SIZES, "rand")
    torch.manual_seed(3)
    assert torch.equal(chain.run([chain.draw_noise("cpu")]), one)


def test_counted_twice_is_two_running_statistics_updates():
    torch.manual_seed(0)
    G = Generator(CFG, 8)
    G2 = copy.deepcopy(G)
    z, prev = torch.randn(1, 3, 20, 26), torch.randn(1, 3, 20, 26)
    G(z, prev)
    out = G(z, prev)
    with fast.counted_twice(G2):
        assert torch.equal(G2(z, prev), out)  # training mode: batch statistics, same output
    for key, value in G2.state_dict().items():
        if "running" in key or "num_batches" in key:
            assert torch.allclose(value, G.state_dict()[key], rtol=1e-6), key
    assert all(bn.momentum == 0.1 for _, bn in fast.blocks(G2.body))  # restored
