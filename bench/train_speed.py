"""Training speed per scale: the reference iteration against the optimized one (fp32, bf16).

Builds IMAGE's pyramid as ``python -m deblur train`` does and, scale by scale, times ``--niter``
iterations of each variant from the same initial weights:

- ``reference``: :func:`deblur.singan.step.train_step`, the straightforward iteration;
- ``fast``: :class:`deblur.singan.fast.FastStep` (channels-last, same math), fp32;
- ``bf16``: the same under bfloat16 autocast (``--precision bf16`` of the train command).

Variants take turns in each of ``--repeats`` rounds (so a burst of load from other processes
hits all of them), each round after ``--warmup`` untimed iterations of its own (training runs
one variant for thousands of iterations: the one before it must not leave its caches and
allocator state to the timed ones), and the best round is reported, with the median in
brackets. FLOPs are the
convolution FLOPs of one iteration (``torch.utils.flop_counter``): "GF/s" is what a variant
executes per second, "peak" that rate over the best plain 3x3 convolution measured in the same
run (in the variant's precision). Ratios compare with the live reference and with the
reference figures measured for the training-speed issue on this machine class
(``ISSUE_REFERENCE``, 1280x720 GoPro frame, 2 threads). The load average before and after is
printed: on a shared machine, rerun when it was high.

    python bench/train_speed.py ../shared/data/gopro_mini/test/flower/sharp/000001.png \\
        --threads 2 --niter 2 --repeats 3
"""

from __future__ import annotations

import argparse
import copy
import os
import statistics
import time

import torch
import torch.nn.functional as F
from torch.utils.flop_counter import FlopCounterMode

from deblur.data.imageio import read_rgb
from deblur.singan.checkpoint import ScaleCheckpoint, build_generator
from deblur.singan.config import load_config
from deblur.singan.device import flush_denormals, resolve_device, set_threads
from deblur.singan.draws import scale_seed
from deblur.singan.fast import FastStep, to_channels_last
from deblur.singan.pyramid import build_pyramid, image_to_tensor, pyramid_sizes
from deblur.singan.step import train_step
from deblur.singan.train import make_models, make_optimizers, prepare_scale

# s/iter per scale (coarsest first) of the reference SinGAN measured for the issue: a 1280x720
# GoPro frame, 8 scales, 2 threads, torch 2.13, fp32
ISSUE_REFERENCE = (0.109, 0.166, 0.218, 0.272, 1.086, 1.701, 2.659, 4.328)
VARIANTS = ("reference", "fast", "bf16")


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


class _GlobalOnly:
    """Stand-in for FlopCounterMode's module tracker: its module hooks break autograd.grad with
    respect to a leaf input (the gradient penalty); we only need the global total."""

    parents = ("Global",)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def count_flops(fn) -> int:
    """Convolution FLOPs of ``fn()`` counted by ``torch.utils.flop_counter`` (fwd and bwd).

    Run on one thread: the counter sees only its own thread's ops, and on one thread the
    optimized step keeps both halves of a branched step in the caller."""
    counter = FlopCounterMode(display=False)
    counter.mod_tracker = _GlobalOnly()
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with counter:
            fn()
    finally:
        torch.set_num_threads(threads)
    return counter.get_total_flops()


def conv_peak(
    device: torch.device, dtype=torch.float32, size=(151, 260), repeats: int = 5
) -> list[tuple[str, float]]:
    """GFLOP/s of a plain 3x3 conv (batch 1, no padding) at a few widths, both layouts."""
    results = []
    for channels in (32, 64, 128):
        for layout in (torch.contiguous_format, torch.channels_last):
            x = torch.randn(1, channels, *size, device=device, dtype=dtype)
            w = torch.randn(channels, channels, 3, 3, device=device, dtype=dtype)
            x, w = x.contiguous(memory_format=layout), w.contiguous(memory_format=layout)
            flops = 2 * channels * channels * 9 * (size[0] - 2) * (size[1] - 2)
            F.conv2d(x, w)  # warm-up
            sync(device)
            best = float("inf")
            for _ in range(repeats):
                start = time.perf_counter()
                F.conv2d(x, w)
                sync(device)
                best = min(best, time.perf_counter() - start)
            name = "NHWC" if layout == torch.channels_last else "NCHW"
            results.append((f"{channels}->{channels} {name}", flops / best / 1e9))
    return results


def state_copy(G, D, inputs):
    """Copies of a scale's (G, D, inputs) that a variant may change (layout, weights) without
    touching the others': the networks and the coarser chain deep, the inputs shallow."""
    G, D, inputs = copy.deepcopy(G), copy.deepcopy(D), copy.copy(inputs)
    if inputs.coarser is not None:
        inputs.coarser = copy.deepcopy(inputs.coarser)
    return G, D, inputs


class Runner:
    """One variant's networks, optimizers and inputs at one scale, from shared initial state."""

    def __init__(self, variant, G, D, inputs, config, device):
        self.variant, self.config, self.device = variant, config, device
        self.G, self.D, self.inputs = state_copy(G, D, inputs)
        if variant == "reference":
            self.step = train_step
        else:
            to_channels_last(self.G, self.D, self.inputs)
            self.step = FastStep(precision="bf16" if variant == "bf16" else "fp32")
        self.opt_g, self.opt_d, _ = make_optimizers(
            self.G, self.D, config, fused=variant != "reference"
        )
        self.precision = "bf16" if variant == "bf16" else "fp32"

    def __call__(self, n: int = 1) -> None:
        for _ in range(n):
            self.step(self.G, self.D, self.opt_g, self.opt_d, self.inputs, self.config)

    def timed(self, n: int) -> float:
        sync(self.device)
        start = time.perf_counter()
        self(n)
        sync(self.device)
        return (time.perf_counter() - start) / n


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("image", help="training image (e.g. a 1280x720 GoPro frame)")
    parser.add_argument("--niter", type=int, default=2, help="timed iterations per round")
    parser.add_argument(
        "--warmup", type=int, default=1, help="untimed iterations before each timed round"
    )
    parser.add_argument("--repeats", type=int, default=3, help="timed rounds per scale")
    parser.add_argument(
        "--variants", default=",".join(VARIANTS), help=f"comma-separated subset of {VARIANTS}"
    )
    parser.add_argument("--config", help="YAML of SinGAN settings (niter is ignored)")
    parser.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    parser.add_argument("--threads", type=int, help="torch CPU threads")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    variants = [v.strip() for v in args.variants.split(",")]
    if unknown := set(variants) - set(VARIANTS):
        parser.error(f"unknown variants {sorted(unknown)}; choose from {VARIANTS}")
    device = resolve_device(args.device)
    with flush_denormals(device):  # as train() does
        run(args, variants, device)


def run(args, variants: list[str], device: torch.device) -> None:
    """Time every scale and print the table."""
    config = load_config(args.config)
    set_threads(args.threads)
    image = read_rgb(args.image)
    sizes, factor = pyramid_sizes(*image.shape[:2], config, name=args.image)
    reals = build_pyramid(image_to_tensor(image, device), sizes)
    issue = ISSUE_REFERENCE if len(sizes) == len(ISSUE_REFERENCE) else None
    print(
        f"# {args.image}: {image.shape[1]}x{image.shape[0]} -> {len(sizes)} scales, "
        f"factor {factor:.4f}; device {device}, threads {torch.get_num_threads()}, "
        f"torch {torch.__version__}; {args.repeats} rounds of {args.niter} timed iterations "
        f"per scale and variant (each after {args.warmup} untimed); load average {_load()}"
    )
    peaks = {"fp32": conv_peak(device), "bf16": conv_peak(device, torch.bfloat16)}
    peak = {p: max(g for _, g in results) for p, results in peaks.items()}
    header = f"{'scale':>5} {'HxW':>9} {'ch':>3}"
    for v in variants:
        header += f" | {v + ' s/iter':>20} {'GF/iter':>7} {'GF/s':>6} {'peak':>5}"
    print(header)

    done: list[ScaleCheckpoint] = []
    generators = []
    best_times = {v: [] for v in variants}  # per scale
    median_times = {v: [] for v in variants}
    finest_peak = {}
    for scale, (h, w) in enumerate(sizes):
        torch.manual_seed(scale_seed(args.seed, scale))
        G, D = make_models(config, scale, device, done[-1] if done else None)
        inputs = prepare_scale(
            scale, reals, sizes, generators,
            [c.noise_amp for c in done], [c.z_opt for c in done], config,
        )  # fmt: skip
        runners = {v: Runner(v, G, D, inputs, config, device) for v in variants}
        times = {v: [] for v in variants}
        for r in range(args.repeats):
            order = variants[r % len(variants) :] + variants[: r % len(variants)]
            for v in order:
                runners[v](args.warmup)
                times[v].append(runners[v].timed(args.niter))
        row = f"{scale:>5} {f'{h}x{w}':>9} {config.channels(scale):>3}"
        for v, runner in runners.items():
            best, median = min(times[v]), statistics.median(times[v])
            best_times[v].append(best)
            median_times[v].append(median)
            flops = count_flops(runner)
            rate = flops / best / 1e9
            finest_peak[v] = rate / peak[runner.precision]
            row += (
                f" | {best:>9.3f} ({median:>7.3f}) {flops / 1e9:>7.1f} {rate:>6.1f} "
                f"{rate / peak[runner.precision]:>5.0%}"
            )
        print(row, flush=True)
        base = runners[variants[0]]
        ckpt = ScaleCheckpoint(
            scale=scale, size=[h, w], channels=config.channels(scale),
            noise_amp=inputs.noise_amp, z_opt=inputs.z_opt.contiguous(),
            generator=base.G.state_dict(), critic=base.D.state_dict(), stats={}, run={},
        )  # fmt: skip
        done.append(ckpt)
        generators.append(build_generator(ckpt, config, device))

    print("# sum over scales, s/iter best (median); x = speed-up")
    live = best_times.get("reference")
    for v in variants:
        best, median = sum(best_times[v]), sum(median_times[v])
        coarse = sum(best_times[v][:4])
        line = f"#   {v:>9}: {best:.3f} ({median:.3f}) s/iter"
        if live and v != "reference":
            line += f", x{sum(live) / best:.2f} vs the live reference"
        if issue:
            line += f", x{sum(issue) / best:.2f} vs the issue's reference ({sum(issue):.2f} s)"
            line += f"; scales 0-3 {coarse:.3f} s, x{sum(issue[:4]) / coarse:.2f}"
        line += f"; finest scale at {finest_peak[v]:.0%} of the conv peak"
        print(line)
    hours = ", ".join(f"{v} {sum(t) * config.niter / 3600:.1f} h" for v, t in best_times.items())
    print(f"# full training at niter {config.niter}: {hours}")
    for precision, results in peaks.items():
        listed = ", ".join(f"{name} {g:.0f}" for name, g in results)
        print(f"# conv peak {precision} (best of {listed} GFLOP/s): {peak[precision]:.1f}")
    print(f"# load average at the end: {_load()}")


def _load() -> str:
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "n/a"


if __name__ == "__main__":
    main()
