"""Seconds per training iteration, per scale: one image at a time against N images batched.

For each chosen scale of IMAGE's pyramid (coarser scales stand in with fresh random weights:
an iteration's cost does not depend on them) it times ``--iters`` iterations of the training
step (after ``--warmup``) for a batch of each size in ``--batch`` (the same image N times: the
cost does not depend on the pixels) and writes one row per (threads, scale, batch):
wall seconds per iteration, per image (the batch's over N), CPU seconds (user + sys of this
process) per iteration, and ``speedup`` = one-by-one seconds per image / batched seconds per
image (> 1: batching trains more pyramids per hour; ``cpu_speedup`` the same from CPU
seconds, which a loaded machine disturbs less). On CUDA the clock waits for the GPU
(``torch.cuda.synchronize``) and the peak GPU memory is recorded.

    python bench/train_batch.py ../shared/data/gopro_mini/test/flower/sharp/000001.png \\
        --max-size 64 --scales 0 2 --batch 1 2 4 --threads 1 2 --out results/bench/batch.tsv
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import sys
import time

import torch

from deblur.atomic import write_text
from deblur.data.imageio import read_rgb
from deblur.singan.config import load_config
from deblur.singan.device import cuda_settings, flush_denormals, resolve_device, set_threads
from deblur.singan.draws import BatchDraws
from deblur.singan.pyramid import build_pyramid, image_to_tensor, pyramid_sizes
from deblur.singan.step import make_step
from deblur.singan.train import Member, make_optimizers, scale_setup

COLUMNS = (
    "device", "threads", "precision", "tf32", "scale", "height", "width", "channels", "batch",
    "iters", "s_per_iter", "s_per_image", "cpu_s_per_iter", "speedup", "cpu_speedup",
    "peak_gpu_mb",
)  # fmt: skip


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def fake_done(members, scale, config, device):
    """Give every member finished scales below ``scale``: random weights (the cost of an
    iteration does not depend on them), zero reconstruction noise above scale 0."""
    from deblur.singan.checkpoint import ScaleCheckpoint
    from deblur.singan.models import Discriminator, Generator

    for m in members:
        m.done = []
        for k in range(scale):
            ch = config.channels(k)
            h, w = m.sizes[k]
            m.done.append(
                ScaleCheckpoint(
                    scale=k,
                    size=[h, w],
                    channels=ch,
                    noise_amp=1.0 if k == 0 else 0.1,
                    z_opt=torch.randn(1, 3, h, w, device=device),
                    generator=Generator(config, ch).state_dict(),
                    critic=Discriminator(config, ch).state_dict(),
                    stats={},
                    run={},
                )  # fmt: skip
            )


def time_scale(scale, n, reals, sizes, config, step, device, iters, warmup):
    """(wall s/iter, cpu s/iter, peak GPU MB) of ``iters`` iterations for a batch of ``n``."""
    members = [Member.in_memory(f"copy{i}", reals, sizes) for i in range(n)]
    torch.manual_seed(0)
    fake_done(members, scale, config, device)
    draws = BatchDraws(n, 0)
    draws.start_scale(scale)
    G, D, inputs = scale_setup(scale, members, sizes, config, step, draws, device)
    opt_g, opt_d, _ = make_optimizers(G, D, config, fused=step.fused_adam)
    cuda = device.type == "cuda"
    if cuda:
        torch.cuda.reset_peak_memory_stats(device)
    for i in range(warmup + iters):
        if i == warmup:
            if cuda:
                torch.cuda.synchronize(device)
            wall, cpu = time.perf_counter(), cpu_seconds()
        step(G, D, opt_g, opt_d, inputs, config)
    if cuda:
        torch.cuda.synchronize(device)
    wall, cpu = (time.perf_counter() - wall) / iters, (cpu_seconds() - cpu) / iters
    peak = torch.cuda.max_memory_allocated(device) / 2**20 if cuda else float("nan")
    return wall, cpu, peak


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("image")
    parser.add_argument("--config", help="YAML of SinGAN settings (default: the reference's)")
    parser.add_argument("--max-size", type=int, help="override max_size (default: config's)")
    parser.add_argument("--scales", type=int, nargs="+", default=[0], help="scales to time")
    parser.add_argument("--batch", type=int, nargs="+", default=[1, 2, 4], help="batch sizes")
    parser.add_argument("--threads", type=int, nargs="+", default=[1], help="torch threads")
    parser.add_argument("--iters", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--precision", default="fp32", choices=("fp32", "bf16"))
    parser.add_argument("--tf32", action="store_true", help="CUDA: TF32 convolutions")
    parser.add_argument("--compile", action="store_true", help="torch.compile the critic loss")
    parser.add_argument("--out", help="TSV to write (default: stdout only)")
    args = parser.parse_args(argv)

    config = load_config(args.config)
    if args.max_size:
        config = load_config({**config.to_dict(), "max_size": args.max_size})
    device = resolve_device(args.device)
    image = read_rgb(args.image)
    sizes, _ = pyramid_sizes(*image.shape[:2], config, name=args.image)
    reals = build_pyramid(image_to_tensor(image, device), sizes)
    if max(args.scales) >= len(sizes):
        parser.error(f"--scales: this pyramid has scales 0..{len(sizes) - 1}")
    step = make_step(precision=args.precision, compile=args.compile)
    rows = []
    with flush_denormals(device), cuda_settings(device, args.tf32):
        for threads in args.threads:
            set_threads(threads)
            for scale in args.scales:
                base = None
                for n in args.batch:
                    wall, cpu, peak = time_scale(
                        scale, n, reals, sizes, config, step, device, args.iters, args.warmup
                    )
                    base = (wall, cpu) if base is None else base
                    per_image = wall / n
                    speedup = (base[0] / args.batch[0]) / per_image
                    cpu_speedup = (base[1] / args.batch[0]) / (cpu / n)
                    h, w = sizes[scale]
                    row = dict(
                        device=torch.cuda.get_device_name(device) if device.type == "cuda"
                        else platform.processor() or platform.machine(),
                        threads=threads, precision=args.precision, tf32=args.tf32, scale=scale,
                        height=h, width=w, channels=config.channels(scale), batch=n,
                        iters=args.iters, s_per_iter=f"{wall:.4f}", s_per_image=f"{per_image:.4f}",
                        cpu_s_per_iter=f"{cpu:.4f}", speedup=f"{speedup:.2f}",
                        cpu_speedup=f"{cpu_speedup:.2f}",
                        peak_gpu_mb=f"{peak:.0f}",
                    )  # fmt: skip
                    rows.append(row)
                    print("\t".join(str(row[c]) for c in COLUMNS), flush=True)
    text = "\n".join("\t".join(str(r[c]) for c in COLUMNS) for r in rows)
    if args.out:
        os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
        write_text(args.out, "\t".join(COLUMNS) + "\n" + text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
