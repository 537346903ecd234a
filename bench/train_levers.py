"""What each lever of the optimized training step gives: the step with one lever removed.

Times one iteration of :class:`deblur.singan.fast.FastStep` at the given scales of IMAGE's
pyramid (random coarser generators: speed does not depend on their weights) against the same
step with one lever taken out, and the reference ``train_step``. CPU time of a single thread
(``time.process_time``) by default, which other processes on a shared machine barely disturb;
``--threads 2`` switches to wall-clock time. Best of ``--repeats`` rounds, variants in turn,
each timed step after ``--warmup`` untimed ones of the same variant.

    python bench/train_levers.py ../shared/data/gopro_mini/test/flower/sharp/000001.png \\
        --scales 0 7
"""

from __future__ import annotations

import argparse
import time

import torch
from train_speed import state_copy

from deblur.data.imageio import read_rgb
from deblur.singan import fast, losses
from deblur.singan.config import SinGANConfig
from deblur.singan.device import flush_denormals, set_threads
from deblur.singan.models import Discriminator, Generator
from deblur.singan.pyramid import build_pyramid, image_to_tensor, pyramid_sizes
from deblur.singan.step import train_step
from deblur.singan.train import make_models, make_optimizers, prepare_scale

LEVERS = {
    "reference": "the straightforward train_step (NCHW, autograd double backward, Adam loop)",
    "fast": "all levers",
    "-channels_last": "NCHW tensors and weights",
    "-explicit_gp": "penalty by torch.autograd.grad(create_graph=True), as the reference",
    "-frozen_critic": "critic weight gradients computed in generator steps",
    "-fused_adam": "Adam's per-parameter loop",
    "-batched_chain": "one coarser-chain pass per critic step",
    "-branches": "step halves one after the other (they only run at once with --threads 2+)",
}


class _Unfrozen(Discriminator):
    """A critic whose requires_grad_ does nothing (its gradients stay on in G steps)."""

    def requires_grad_(self, requires_grad: bool = True):
        return self


def _autograd_critic_loss(D, real, fake, alpha, weight):
    x = fast.nhwc(losses.mix(real, fake, alpha)).requires_grad_(True)
    (grad,) = torch.autograd.grad(D(x).sum(), x, create_graph=True)
    return losses.critic_scores(D, real, fake) + losses.penalty_from_grad(grad, weight)


def scale_state(scale, reals, sizes, config):
    """(G, D, inputs) of one iteration at ``scale``, with random coarser generators (speed does
    not depend on their weights), seeded by the scale."""
    torch.manual_seed(scale)
    coarser = [
        Generator(config, config.channels(k)).eval().requires_grad_(False) for k in range(scale)
    ]
    z_opts = [torch.randn(1, 3, *sizes[k]) for k in range(scale)]
    inputs = prepare_scale(scale, reals, sizes, coarser, [0.1] * scale, z_opts, config)
    G, D = make_models(config, scale, torch.device("cpu"), None)
    return G, D, inputs


def variant(name, G, D, inputs, config):
    """(step, G, D, opt_g, opt_d, inputs) of one variant, from copies of the shared state."""
    G, D, inputs = state_copy(G, D, inputs)
    if name == "reference":
        opt_g, opt_d, _ = make_optimizers(G, D, config)
        return train_step, G, D, opt_g, opt_d, inputs
    if name != "-channels_last":
        fast.to_channels_last(G, D, inputs)
    if name == "-frozen_critic":
        D.__class__ = _Unfrozen
    if name == "-batched_chain":
        inputs.coarser = None  # draw_prev per critic step
    step = fast.FastStep()
    if name == "-branches":
        step.branch_max_channels = 0
    if name == "-explicit_gp":
        step.critic_loss = _autograd_critic_loss
    opt_g, opt_d, _ = make_optimizers(G, D, config, fused=name != "-fused_adam")
    return step, G, D, opt_g, opt_d, inputs


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("image")
    parser.add_argument("--scales", type=int, nargs="+", default=[0, 7])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--warmup", type=int, default=1, help="untimed steps before each timed one")
    args = parser.parse_args(argv)
    set_threads(args.threads)
    clock = time.process_time if args.threads == 1 else time.perf_counter
    config = SinGANConfig()
    image = read_rgb(args.image)
    sizes, _ = pyramid_sizes(*image.shape[:2], config)
    reals = build_pyramid(image_to_tensor(image), sizes)
    print(f"# {args.image}, threads {args.threads}, {clock.__name__}, best of {args.repeats}")
    for name, what in LEVERS.items():
        print(f"#   {name}: {what}")
    with flush_denormals(torch.device("cpu")):
        for scale in args.scales:
            G, D, inputs = scale_state(scale, reals, sizes, config)
            runs = {name: variant(name, G, D, inputs, config) for name in LEVERS}
            best = {name: float("inf") for name in LEVERS}
            for _ in range(args.repeats):
                for name, (step, *state) in runs.items():
                    for _ in range(args.warmup):
                        step(*state, config)
                    start = clock()
                    step(*state, config)
                    best[name] = min(best[name], clock() - start)
            h, w = sizes[scale]
            cells = ", ".join(
                f"{name} {t:.3f} s ({best['fast'] / t:.2f})" for name, t in best.items()
            )
            print(f"scale {scale} ({h}x{w}): {cells}", flush=True)
    print("# (x) = speed relative to the full fast step; below 1: the lever pays")


if __name__ == "__main__":
    main()
