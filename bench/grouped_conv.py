"""One grouped convolution against N separate ones: forward and backward, per arithmetic.

Batched training (``train.batch``) runs N images' 3x3 convolutions as one with ``groups=N``
over ``(1, N x C, h, w)``; one image at a time runs N convolutions over ``(1, C, h, w)``. This
times both, forward plus backward (input and weight gradients), for each N and arithmetic:
fp32, TF32 (CUDA only: float32 storage, tensor-core products) and bf16 (autocast). One row per
(arithmetic, N, way): milliseconds per forward+backward of all N images, and the grouped way's
speedup over the separate one.

    python bench/grouped_conv.py --device cuda --channels 64 --size 141 250 --n 1 8 32
"""

from __future__ import annotations

import argparse
import sys
import time

import torch
import torch.nn.functional as F

from deblur.singan.device import resolve_device

COLUMNS = ("device", "arithmetic", "n", "channels", "height", "width", "way", "ms", "speedup")


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(fn, device, iters: int, warmup: int) -> float:
    for _ in range(warmup):
        fn()
    sync(device)
    start = time.perf_counter()
    for _ in range(iters):
        fn()
    sync(device)
    return (time.perf_counter() - start) / iters * 1e3


def bench(n, c, h, w, arithmetic, device, iters, warmup):
    """(grouped ms, separate ms) per forward+backward of n images."""
    dtype = torch.bfloat16 if arithmetic == "bf16" else torch.float32
    gen = torch.Generator(device="cpu").manual_seed(0)
    x = torch.randn(1, n * c, h, w, generator=gen).to(device, dtype)
    weight = (0.02 * torch.randn(n * c, c, 3, 3, generator=gen)).to(device, dtype)
    x, weight = x.contiguous(memory_format=torch.channels_last), weight.requires_grad_(True)
    x.requires_grad_(True)
    xs = [t.detach().clone().requires_grad_(True) for t in x.split(c, dim=1)]
    ws = [t.detach().clone().requires_grad_(True) for t in weight.split(c, dim=0)]

    def grouped():
        F.conv2d(x, weight, groups=n).sum().backward()

    def separate():
        for xi, wi in zip(xs, ws, strict=True):
            F.conv2d(xi, wi).sum().backward()

    return timed(grouped, device, iters, warmup), timed(separate, device, iters, warmup)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="auto")
    parser.add_argument("--channels", type=int, default=64)
    parser.add_argument("--size", type=int, nargs=2, default=[141, 250], metavar=("H", "W"))
    parser.add_argument("--n", type=int, nargs="+", default=[1, 8, 32])
    parser.add_argument("--arithmetic", nargs="+", default=["fp32", "tf32", "bf16"])
    parser.add_argument("--iters", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=3)
    args = parser.parse_args(argv)
    device = resolve_device(args.device)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    h, w = args.size
    print("\t".join(COLUMNS), flush=True)
    backends = torch.backends
    saved = (backends.cudnn.benchmark, backends.cudnn.allow_tf32)
    try:
        backends.cudnn.benchmark = True
        for arithmetic in args.arithmetic:
            if arithmetic == "tf32" and device.type != "cuda":
                continue  # TF32 is a CUDA tensor-core mode
            backends.cudnn.allow_tf32 = arithmetic == "tf32"
            for n in args.n:
                grouped, separate = bench(
                    n, args.channels, h, w, arithmetic, device, args.iters, args.warmup
                )
                for way, ms in (("grouped", grouped), ("separate", separate)):
                    speedup = separate / grouped if way == "grouped" else 1.0
                    row = (name, arithmetic, n, args.channels, h, w, way, f"{ms:.3f}",
                           f"{speedup:.2f}")  # fmt: skip
                    print("\t".join(map(str, row)), flush=True)
    finally:
        backends.cudnn.benchmark, backends.cudnn.allow_tf32 = saved
    return 0


if __name__ == "__main__":
    sys.exit(main())
