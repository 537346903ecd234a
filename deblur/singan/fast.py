"""The optimized training iteration: :func:`~deblur.singan.step.train_step`'s math, faster.

What it does differently, none of which changes the math (only float rounding):

- Tensors and weights are channels-last (NHWC): oneDNN's convolutions, notably their backward
  passes, run much closer to the CPU's peak in that layout.
- The gradient penalty's input gradient is built explicitly (:func:`critic_input_grad`) from the
  ops autograd's backward of D would run, with BatchNorm's input gradient as
  :class:`BatchNormInputGrad`, whose backward (the penalty's second derivative) is written out:
  PyTorch's generic double backward of BatchNorm and of convolution costs many small passes
  and, for the weights, a slow grouped convolution. The critic's score on the mixed image is
  never needed, so its last convolution is skipped.
- G does not change during the critic steps, so the last critic step's fake is made once, with a
  graph, and reused by the first generator step (the reference makes it twice; BatchNorm's
  running statistics are still updated twice).
- The critic's weights are frozen during generator steps (the reference computes their
  gradients and throws them away).
- The critic steps' "rand" previous images come from the frozen coarser generators in one batch
  (eval mode: batch-independent), from noise drawn in the reference's order, so that both steps
  see the same random numbers.
- On CPU with two or more threads, narrow scales run each step's two independent halves at
  once, one per half of the threads (``branch_max_channels``, :mod:`deblur.singan.branches`).

``tests/test_speed_equivalence.py`` checks gradients, losses and running statistics against the
reference step.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch
import torch.nn as nn
import torch.nn.functional as F

from deblur.singan.branches import BranchPair, RunningCopies
from deblur.singan.config import SinGANConfig
from deblur.singan.device import autocast
from deblur.singan.losses import (
    adversarial_loss,
    critic_scores,
    images_of,
    mix,
    no_loss,
    penalty_from_grad,
    reconstruction_loss,
    total,
)
from deblur.singan.models import Discriminator, Generator
from deblur.singan.scale_inputs import ScaleInputs

CHANNELS_LAST = torch.channels_last
COMPILE_BACKEND = "inductor"  # torch.compile's backend for compile=True
# widest scale whose steps run as two concurrent halves by default (docs/speed.md, "Training speed")
BRANCH_MAX_CHANNELS = 32


def nhwc(x: torch.Tensor) -> torch.Tensor:
    """``x`` in channels-last layout (a no-op if it already is)."""
    return x.contiguous(memory_format=CHANNELS_LAST)


def blocks(body: nn.Sequential) -> list[tuple[nn.Conv2d, nn.BatchNorm2d]]:
    """(conv, batchnorm) of every Conv -> BN -> LeakyReLU block of ``body``."""
    layers = list(body)
    return [(layers[i], layers[i + 1]) for i in range(0, len(layers), 3)]


def norms(net: Generator | Discriminator) -> list[nn.BatchNorm2d]:
    """The BatchNorm layers of ``net``'s blocks."""
    return [bn for _, bn in blocks(net.body)]


class BatchNormInputGrad(torch.autograd.Function):
    """BatchNorm's input gradient (training mode, one image) as a twice-usable op.

    ``forward(g, a, weight, mean, invstd, eps)`` is what autograd's backward of
    ``batch_norm(a)`` returns for the output gradient ``g``:
    ``gi = weight * invstd * (g - mean(g) - xhat * mean(g * xhat))``, means over pixels per
    channel, ``xhat = (a - mean) * invstd``. Its backward is the second derivative, written out
    (with ``mean`` and ``invstd`` as functions of ``a``): three fused BatchNorm-kernel passes
    and a few per-channel sums, where PyTorch's generic double backward runs dozens of passes.
    """

    @staticmethod
    def forward(ctx, g, a, weight, mean, invstd, eps):
        gi, sum_gx, sum_g = torch.ops.aten.native_batch_norm_backward(
            g, a, weight, None, None, mean, invstd, True, eps, [True, True, True]
        )
        ctx.eps = eps
        ctx.save_for_backward(g, a, weight, mean, invstd, sum_gx, sum_g)
        return gi

    @staticmethod
    def backward(ctx, grad):
        g, a, weight, mean, invstd, sum_gx, sum_g = ctx.saved_tensors
        n = a.numel() // a.shape[1]  # pixels per channel
        # gi is linear in g through a self-adjoint projection: d/dg is the same op on grad;
        # it also gives sum(grad * xhat) and sum(grad)
        dg, sum_grad_x, sum_grad = torch.ops.aten.native_batch_norm_backward(
            grad, a, weight, None, None, mean, invstd, True, ctx.eps, [True, True, True]
        )
        sum_grad_g = (grad * g).sum((0, 2, 3), dtype=sum_gx.dtype)  # float32 under bf16
        c = sum_gx / n  # mean(g * xhat)
        # proj = sum(grad * (g - mean(g) - xhat * c)), so that d/dweight = invstd * proj
        proj = sum_grad_g - sum_g / n * sum_grad - c * sum_grad_x
        dweight = invstd * proj
        # d/da = -w r^2 [c grad + (B/n) g - mean(V) - xhat (2 c B - proj) / n],
        # V = c grad + (B/n) g, B = sum(grad * xhat); written as per-channel coefficients
        k = -weight * invstd * invstd
        b_n = sum_grad_x / n
        coef_x = -k * (2 * c * sum_grad_x - proj) / n * invstd
        const = -k * (c * sum_grad + b_n * sum_g) / n - coef_x * mean
        da = grad * _chan(k * c)
        da.addcmul_(g, _chan(k * b_n)).addcmul_(a, _chan(coef_x)).add_(_chan(const))
        return dg, da, dweight, None, None, None


def _chan(v: torch.Tensor) -> torch.Tensor:
    """A per-channel vector shaped to broadcast over (N, C, H, W)."""
    return v.view(1, -1, 1, 1)


def critic_activations(D: Discriminator, x: torch.Tensor, running=None):
    """D's blocks on ``x`` (one image), keeping what :func:`critic_input_grad` needs; updates
    the running statistics like ``D(x)`` would. The final (score) convolution is skipped.

    ``running``: per block, (mean, var) tensors to update instead of the module's buffers
    (``num_batches_tracked`` is then left to the caller)."""
    layers = []
    for k, (conv, bn) in enumerate(blocks(D.body)):
        a = conv(x)
        mean_run, var_run = running[k] if running else (bn.running_mean, bn.running_var)
        x, mean, invstd = torch.native_batch_norm(
            a, bn.weight, bn.bias, mean_run, var_run, True, bn.momentum, bn.eps
        )
        if not running:
            bn.num_batches_tracked.add_(1)
        x = F.leaky_relu_(x, D.body[2].negative_slope)
        layers.append((conv, bn, a, x, mean, invstd))
    return layers


def critic_input_grad(D: Discriminator, layers) -> torch.Tensor:
    """d sum(D(x)) / d x, differentiable, from :func:`critic_activations`' output.

    The ops autograd's backward of D would run (conv input gradient, LeakyReLU and BatchNorm
    backward), so backpropagating through it computes the reference's
    ``torch.autograd.grad(..., create_graph=True)`` second derivatives.
    """
    slope = D.body[2].negative_slope
    a_last, w = layers[-1][2], D.tail.weight
    ones = a_last.new_ones(
        1, D.images, a_last.shape[-2] - w.shape[-2] + 1, a_last.shape[-1] - w.shape[-1] + 1
    )
    grad = F.conv_transpose2d(ones, w, groups=D.tail.groups)
    for conv, bn, a, h, mean, invstd in reversed(layers):
        grad = torch.ops.aten.leaky_relu_backward(nhwc(grad), h, slope, True)
        grad = BatchNormInputGrad.apply(grad, a, bn.weight, mean, invstd, bn.eps)
        grad = F.conv_transpose2d(grad, conv.weight, groups=conv.groups)
    return grad


@contextlib.contextmanager
def counted_twice(G: Generator) -> Iterator[None]:
    """Inside the block, each BatchNorm call updates the running statistics as two identical
    calls would: momentum m applied twice is 1 - (1 - m)^2 applied once."""
    bns = norms(G)
    momenta = [bn.momentum for bn in bns]
    for bn, m in zip(bns, momenta, strict=True):
        bn.momentum = 1 - (1 - m) ** 2
    try:
        yield
    finally:
        for bn, m in zip(bns, momenta, strict=True):
            bn.momentum = m
            bn.num_batches_tracked.add_(1)


def draw_randoms(inputs: ScaleInputs, d_steps: int, device) -> tuple[list, list[torch.Tensor]]:
    """(sources of the critic steps' previous images, GP mixing weights), drawn from the RNG in
    the reference's order (per critic step: the coarser scales' noise, then the weight). A
    source is the coarser chain's noise, or the image itself when there is no chain."""
    sources, alphas = [], []
    for _ in range(d_steps):
        if inputs.coarser is None:  # an opaque draw_prev: call it (the order still holds)
            sources.append(inputs.draw_prev())
        else:
            sources.append(inputs.coarser.draw_noise(device))
        alphas.append(inputs.draws.mix_weight(device))
    return sources, alphas


def make_prevs(inputs: ScaleInputs, sources: list) -> list[torch.Tensor]:
    """The previous images of :func:`draw_randoms`' sources, the chain run as one batch."""
    if inputs.coarser is not None and sources:
        sources = inputs.coarser.run(sources).split(1)
    return [nhwc(p) for p in sources]


def critic_penalty(D: Discriminator, real, fake, alpha, weight: float, running=None):
    """The WGAN-GP term on the ``alpha`` mix of ``real`` and ``fake`` (``running``: see
    :func:`critic_activations`)."""
    mixed = nhwc(mix(real, fake, alpha))
    grad = critic_input_grad(D, critic_activations(D, mixed, running))
    return penalty_from_grad(grad, weight, images_of(real))


def critic_loss(
    D: Discriminator, real: torch.Tensor, fake: torch.Tensor, alpha: torch.Tensor, weight: float
) -> torch.Tensor:
    """WGAN-GP critic loss ``-mean D(real) + mean D(fake) + GP`` (GP on ``alpha`` mixing)."""
    gp = critic_penalty(D, real, fake, alpha, weight)
    return critic_scores(D, real, fake) + gp


def generator_loss(
    G: Generator,
    D: Discriminator,
    fake: torch.Tensor,
    rec_input: torch.Tensor,
    prev_rec: torch.Tensor,
    real: torch.Tensor,
    alpha: float,
) -> tuple[torch.Tensor, torch.Tensor]:
    """(adversarial loss of ``fake``, ``alpha`` * reconstruction MSE)."""
    err_g = adversarial_loss(D, fake)
    if alpha == 0:
        return err_g, no_loss(images_of(real), real.device)
    return err_g, reconstruction_loss(G, rec_input, prev_rec, real, alpha)


class FastStep:
    """The optimized iteration, called like :func:`~deblur.singan.step.train_step` (a
    :class:`~deblur.singan.step.Step`: channels-last, fused Adam).

    Same math and random numbers; returns the last (err_d, err_g, rec_loss), detached.
    ``G``, ``D`` and the tensors of ``inputs`` should be channels-last
    (:func:`to_channels_last`); other layouts work, slower.

    ``precision="bf16"`` runs the forward passes under bfloat16 autocast, one autocast region
    per pass: autocast caches the bf16 copy of each weight until its region ends, so a region
    spanning an optimizer step would keep computing with the weights from before the step.
    With ``compile=True`` the critic loss (three of D's passes and the penalty's double
    backward, most of an iteration's kernel launches) goes through ``torch.compile``, once
    per scale with static shapes (:meth:`compile_for_scale`): fewer launches on CUDA; on CPU
    it measured slower, see docs/speed.md. The generator loss stays
    eager: compiled, its BatchNorm running-statistics update bumps the version of tensors the
    eager fake's graph saved, and the backward refuses to run.

    ``branch_max_channels``: at scales of at most that many channels (on CPU, with at least 2
    torch threads, not compiled) the two independent halves of each step run at once, each on
    half of the threads (:class:`~deblur.singan.branches.BranchPair`): the critic step's
    penalty and scores, the generator step's adversarial and reconstruction losses, the
    fakes with and without a graph. Gradients are summed and running statistics updated in the
    reference's order (:class:`~deblur.singan.branches.RunningCopies`). Narrow scales gain
    (their kernels are too short to use two threads well); wide ones lose (measured on 2
    cores: 32 channels up to x1.1 faster, 64 and 128 channels 4-14% slower; docs/speed.md). 0 turns
    it off.
    """

    def __init__(
        self,
        compile: bool = False,
        precision: str = "fp32",
        branch_max_channels: int = BRANCH_MAX_CHANNELS,
    ):
        self.critic_loss = critic_loss  # compiled per scale in prepare() when compile is set
        self.generator_loss = generator_loss
        self.compile = compile
        self.precision = precision
        self.branch_max_channels = 0 if compile else branch_max_channels
        self._pair: BranchPair | None = None

    memory_format = CHANNELS_LAST
    fused_adam = True  # PyTorch's single-kernel Adam: the same update, float rounding aside

    def prepare(self, G: Generator, D: Discriminator, inputs: ScaleInputs) -> None:
        """Networks and the scale's tensors channels-last (:func:`to_channels_last`); with
        ``compile``, a fresh compiled critic loss for the scale (:meth:`compile_for_scale`)."""
        to_channels_last(G, D, inputs)
        if self.compile:
            self.compile_for_scale()

    def compile_for_scale(self) -> None:
        """Compile the critic loss anew, for static shapes: a scale's shapes never change
        during its iterations, so each scale gets one specialised graph. Dynamo's caches are
        cleared first (``torch.compiler.reset``): reused across scales, every new shape would
        add an entry to the same function's cache, and past ``recompile_limit`` entries
        (8 by default; a paper-size pyramid has 8 scales, a batch adds none) Dynamo would
        silently run it eagerly."""
        torch.compiler.reset()
        self.critic_loss = torch.compile(critic_loss, dynamic=False, backend=COMPILE_BACKEND)

    def settings(self) -> dict[str, object]:
        """What ``model.json`` records: the step, compile, branch_max_channels."""
        return dict(step="fast", compile=self.compile, branch_max_channels=self.branch_max_channels)

    def pair(self, device: torch.device, channels: int) -> BranchPair | None:
        """The branch runner for a scale of ``channels`` at the current thread count, or None
        to run the step sequentially."""
        threads = torch.get_num_threads()
        if channels > self.branch_max_channels or device.type != "cpu" or threads < 2:
            return None
        if self._pair is None or self._pair.threads != threads:
            if self._pair is not None:
                self._pair.close()
            self._pair = BranchPair(threads)
        return self._pair

    def __call__(
        self,
        G: Generator,
        D: Discriminator,
        opt_g: torch.optim.Optimizer,
        opt_d: torch.optim.Optimizer,
        inputs: ScaleInputs,
        config: SinGANConfig,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        # the kernels' width decides: a batch's are N times wider
        pair = self.pair(inputs.real.device, config.channels(inputs.scale) * inputs.images)
        with pair.split() if pair else contextlib.nullcontext():
            return self._iteration(G, D, opt_g, opt_d, inputs, config, pair)

    def _iteration(self, G, D, opt_g, opt_d, inputs, config, pair):
        real = inputs.real
        device = real.device

        def forward():
            return autocast(device, self.precision)

        noise = inputs.draws.noise(real.shape[-2:], inputs.scale == 0, device)
        noise = nhwc(inputs.noise_amp * noise)
        with forward():
            sources, alphas = draw_randoms(inputs, config.d_steps, device)
        rec_input = nhwc(inputs.noise_amp * inputs.z_opt)

        # G is unchanged during the critic steps: their fakes now; the last one with a graph,
        # which the first generator step reuses (the reference makes it again there)
        if pair is None:
            with forward():
                prevs = make_prevs(inputs, sources)
                with torch.no_grad():
                    fakes = [G(noise, prev) for prev in prevs[:-1]]
                with counted_twice(G):
                    fake = G(noise, prevs[-1])
            prev = prevs[-1]
        else:
            fakes, fake, prev = fakes_in_branches(pair, forward, G, noise, inputs, sources)
        fakes.append(fake.detach())

        for prev_fake, alpha in zip(fakes, alphas, strict=True):
            opt_d.zero_grad(set_to_none=True)
            if pair is None:
                with forward():
                    err_d = self.critic_loss(D, real, prev_fake, alpha, config.lambda_grad)
                total(err_d).backward()
            else:
                err_d = critic_step_in_branches(
                    pair, forward, D, real, prev_fake, alpha, config.lambda_grad
                )
            opt_d.step()

        D.requires_grad_(False)  # G's steps need D's input gradient only
        try:
            for step in range(config.g_steps):
                opt_g.zero_grad(set_to_none=True)
                if pair is None or config.alpha == 0:
                    with forward():
                        if step > 0:
                            fake = G(noise, prev)
                        err_g, rec_loss = self.generator_loss(
                            G, D, fake, rec_input, inputs.prev_rec, real, config.alpha
                        )
                    total(err_g + rec_loss).backward()
                else:
                    err_g, rec_loss = generator_step_in_branches(
                        pair, forward, G, D, fake if step == 0 else None, (noise, prev),
                        (rec_input, inputs.prev_rec), real, config.alpha,
                    )  # fmt: skip
                opt_g.step()
        finally:
            D.requires_grad_(True)
        return err_d.detach(), err_g.detach(), rec_loss.detach()


def generator_forward(G: Generator, z, prev, running, momenta) -> torch.Tensor:
    """``G(z, prev)`` in training mode, updating ``running`` (per block (mean, var)) with
    ``momenta`` instead of the module's buffers and momenta: a G pass that can run alongside
    one on the module."""
    x = F.pad(z + prev, [G.pad] * 4)
    slope = G.body[2].negative_slope
    for (conv, bn), (mean, var), momentum in zip(blocks(G.body), running, momenta, strict=True):
        x = F.batch_norm(conv(x), mean, var, bn.weight, bn.bias, True, momentum, bn.eps)
        x = F.leaky_relu_(x, slope)
    return G.tail(x) + prev


def _loss_and_grads(loss_fn, forward, params: list[torch.Tensor]):
    """(loss, d loss / d params) with unused parameters' gradients as zeros."""
    with forward():
        loss = loss_fn()
    grads = torch.autograd.grad(total(loss), params, allow_unused=True, materialize_grads=True)
    return loss.detach(), grads


def _set_grads(params: list[torch.Tensor], first, second) -> None:
    for p, a, b in zip(params, first, second, strict=True):
        p.grad = a + b


def fakes_in_branches(pair, forward, G, noise, inputs, sources):
    """The critic steps' previous images and fakes: those without a graph in the worker (on
    copies of G's running statistics), the last one, with a graph and counted twice, in the
    caller. Returns (the fakes but the last, the last, its previous image)."""
    copies = RunningCopies(norms(G))
    momenta = [bn.momentum for bn in copies.bns]  # read before counted_twice changes them

    def without_graph():
        with forward(), torch.no_grad():
            prevs = make_prevs(inputs, sources[:-1])
            return [generator_forward(G, noise, p, copies.running, momenta) for p in prevs]

    def last():
        with forward():
            (prev,) = make_prevs(inputs, sources[-1:])
            with counted_twice(G):
                return G(noise, prev), prev

    fakes, (fake, prev) = pair(without_graph, last)
    copies.merge(passes=len(sources) - 1, later=2)
    return fakes, fake, prev


def critic_step_in_branches(pair, forward, D, real, fake, alpha, weight) -> torch.Tensor:
    """:func:`critic_loss` and its backward as two concurrent halves, the penalty (on copies of
    the running statistics) and the scores (real, then fake, as in the reference); sets the
    gradients and returns the loss."""
    params = list(D.parameters())
    copies = RunningCopies(norms(D))

    (err_gp, grads_gp), (err_scores, grads_scores) = pair(
        lambda: _loss_and_grads(
            lambda: critic_penalty(D, real, fake, alpha, weight, copies.running), forward, params
        ),
        lambda: _loss_and_grads(lambda: critic_scores(D, real, fake), forward, params),
    )
    _set_grads(params, grads_scores, grads_gp)
    copies.merge(passes=1, later=2)
    return err_scores + err_gp


def generator_step_in_branches(pair, forward, G, D, fake, fake_inputs, rec_inputs, real, alpha):
    """:func:`generator_loss` and its backward as two concurrent halves: the adversarial loss
    of ``fake`` (made from ``fake_inputs`` when None, on copies of G's running statistics) and
    the reconstruction loss; sets G's gradients and returns (err_g, rec_loss)."""
    params = list(G.parameters())
    copies = RunningCopies(norms(G)) if fake is None else None

    def adversarial():
        made = fake
        if made is None:
            momenta = [bn.momentum for bn in copies.bns]
            made = generator_forward(G, *fake_inputs, copies.running, momenta)
        return adversarial_loss(D, made)

    (err_g, grads_adv), (rec_loss, grads_rec) = pair(
        lambda: _loss_and_grads(adversarial, forward, params),
        lambda: _loss_and_grads(
            lambda: reconstruction_loss(G, *rec_inputs, real, alpha), forward, params
        ),
    )
    _set_grads(params, grads_adv, grads_rec)
    if copies is not None:
        copies.merge(passes=1, later=1)
    return err_g, rec_loss


def to_channels_last(G: Generator, D: Discriminator, inputs: ScaleInputs) -> None:
    """Put the networks, the scale's fixed tensors and the coarser generators in NHWC."""
    for net in (G, D, *(inputs.coarser.generators if inputs.coarser else ())):
        net.to(memory_format=CHANNELS_LAST)
    for name in ("real", "prev_rec", "z_opt"):
        setattr(inputs, name, nhwc(getattr(inputs, name)))
