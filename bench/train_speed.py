"""Training speed per scale of the SinGAN trainer, against the machine's conv peak.

Trains IMAGE scale by scale exactly as ``python -m deblur train`` does (same setup functions,
same ``train_step``), but only ``--niter`` timed iterations per scale (after ``--warmup``), and
counts the FLOPs of one iteration with ``torch.utils.flop_counter``. Prints one row per scale
and the best conv2d throughput measured in the same run, so "achieved / peak" says how much of
the machine the straightforward trainer uses.

    python bench/train_speed.py ../shared/data/gopro_mini/test/flower/sharp/000001.png --niter 2
"""

from __future__ import annotations

import argparse
import time

import torch
import torch.nn.functional as F
from torch.utils.flop_counter import FlopCounterMode

from deblur.data.imageio import read_rgb
from deblur.singan.checkpoint import ScaleCheckpoint, build_generator
from deblur.singan.config import load_config
from deblur.singan.device import flush_denormals, resolve_device, set_threads
from deblur.singan.pyramid import build_pyramid, image_to_tensor, pyramid_sizes
from deblur.singan.train import make_models, make_optimizers, prepare_scale, scale_seed, train_step


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


def count_flops(fn, *args) -> int:
    """FLOPs of ``fn(*args)`` counted by ``torch.utils.flop_counter`` (forward and backward)."""
    counter = FlopCounterMode(display=False)
    counter.mod_tracker = _GlobalOnly()
    with counter:
        fn(*args)
    return counter.get_total_flops()


def conv_peak(device: torch.device, size=(151, 260), repeats: int = 5) -> list[tuple[str, float]]:
    """GFLOP/s of a plain 3x3 conv (batch 1, no padding) at a few widths; the best is the peak."""
    results = []
    for channels in (32, 64, 128):
        x = torch.randn(1, channels, *size, device=device)
        w = torch.randn(channels, channels, 3, 3, device=device)
        flops = 2 * channels * channels * 9 * (size[0] - 2) * (size[1] - 2)
        F.conv2d(x, w)  # warm-up
        sync(device)
        best = float("inf")
        for _ in range(repeats):
            start = time.perf_counter()
            F.conv2d(x, w)
            sync(device)
            best = min(best, time.perf_counter() - start)
        results.append((f"conv3x3 {channels}->{channels} {size[0]}x{size[1]}", flops / best / 1e9))
    return results


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("image", help="training image (e.g. a 1280x720 GoPro frame)")
    parser.add_argument("--niter", type=int, default=3, help="timed iterations per scale")
    parser.add_argument("--warmup", type=int, default=1, help="untimed iterations per scale")
    parser.add_argument("--config", help="YAML of SinGAN settings (niter is ignored)")
    parser.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    parser.add_argument("--threads", type=int, help="torch CPU threads")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    device = resolve_device(args.device)
    with flush_denormals(device):  # as train() does
        run(args, device)


def run(args, device: torch.device) -> None:
    """Time every scale and print the table."""
    config = load_config(args.config)
    set_threads(args.threads)
    image = read_rgb(args.image)
    sizes, factor = pyramid_sizes(*image.shape[:2], config, name=args.image)
    reals = build_pyramid(image_to_tensor(image, device), sizes)
    print(
        f"# {args.image}: {image.shape[1]}x{image.shape[0]} -> {len(sizes)} scales, "
        f"factor {factor:.4f}; device {device}, threads {torch.get_num_threads()}, "
        f"torch {torch.__version__}; {args.niter} timed + {args.warmup} warm-up iterations/scale"
    )
    print(f"{'scale':>5} {'HxW':>9} {'ch':>4} {'s/iter':>8} {'GFLOP/iter':>11} {'GFLOP/s':>8}")

    done: list[ScaleCheckpoint] = []
    generators = []
    total_s_per_iter = 0.0
    for scale, (h, w) in enumerate(sizes):
        torch.manual_seed(scale_seed(args.seed, scale))
        G, D = make_models(config, scale, device, done[-1] if done else None)
        inputs = prepare_scale(
            scale, reals, sizes, generators,
            [c.noise_amp for c in done], [c.z_opt for c in done], config,
        )  # fmt: skip
        opt_g, opt_d, _ = make_optimizers(G, D, config)
        for _ in range(args.warmup):
            train_step(G, D, opt_g, opt_d, inputs, config)
        sync(device)
        start = time.perf_counter()
        for _ in range(args.niter):
            train_step(G, D, opt_g, opt_d, inputs, config)
        sync(device)
        s_per_iter = (time.perf_counter() - start) / args.niter
        flops = count_flops(train_step, G, D, opt_g, opt_d, inputs, config)
        total_s_per_iter += s_per_iter
        print(
            f"{scale:>5} {f'{h}x{w}':>9} {config.channels(scale):>4} {s_per_iter:>8.3f} "
            f"{flops / 1e9:>11.2f} {flops / s_per_iter / 1e9:>8.1f}"
        )
        ckpt = ScaleCheckpoint(
            scale=scale, size=[h, w], channels=config.channels(scale),
            noise_amp=inputs.noise_amp, z_opt=inputs.z_opt.contiguous(),
            generator=G.state_dict(), critic=D.state_dict(), stats={}, run={},
        )  # fmt: skip
        done.append(ckpt)
        generators.append(build_generator(ckpt, config, device))

    hours = total_s_per_iter * config.niter / 3600
    print(f"# full training at niter {config.niter}: about {hours:.1f} h at these speeds")
    peaks = conv_peak(device)
    for name, gflops in peaks:
        print(f"# {name}: {gflops:.1f} GFLOP/s")
    print(f"# conv peak (best of the above): {max(g for _, g in peaks):.1f} GFLOP/s")


if __name__ == "__main__":
    main()
