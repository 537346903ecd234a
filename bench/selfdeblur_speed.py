"""SelfDeblur seconds per iteration at one working size, extrapolated to a whole run.

Runs ``--iterations`` iterations of the default networks (half with the MSE loss, half with
1 - SSIM) on scikit-image's astronaut resized to HEIGHT x WIDTH, times each one, and prints the
median and the median x the default 5000 iterations, with the data-term MSE (first -> last)
and the forward + backward FLOPs of one iteration (``torch.utils.flop_counter``).

    nice python bench/selfdeblur_speed.py --size 36x64 --threads 2 --iterations 20
    nice python bench/selfdeblur_speed.py --size 141x250 --threads 2 --iterations 10
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from skimage import data
from torch.utils.flop_counter import FlopCounterMode

from deblur.resize import resize_array
from deblur.selfdeblur import SelfDeblurConfig, kernel_size_for, selfdeblur
from deblur.selfdeblur.nets import ImageGenerator, KernelGenerator, blur

FULL_RUN = SelfDeblurConfig().iterations


def flops_per_iteration(cfg: SelfDeblurConfig, h: int, w: int, k: int) -> float:
    """Forward + backward FLOPs of both networks and the blur for one iteration."""
    net, knet = ImageGenerator(cfg, 1), KernelGenerator(cfg, k)
    z = torch.rand(1, cfg.input_depth, h + k - 1, w + k - 1)
    with FlopCounterMode(display=False) as counter:
        blur(net(z), knet(torch.rand(cfg.kernel_input_dim))).mean().backward()
    return counter.get_total_flops()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="36x64", help="HEIGHTxWIDTH of the working image")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    parser.add_argument("--iterations", type=int, default=20, help="iterations to time")
    args = parser.parse_args()
    h, w = (int(v) for v in args.size.split("x"))
    torch.set_num_threads(args.threads)
    img = resize_array(data.astronaut().astype(np.float32) / 255, (h, w))
    cfg = SelfDeblurConfig(
        iterations=args.iterations, mse_iterations=args.iterations // 2, max_size=max(h, w)
    )
    stamps: list[float] = []
    result = selfdeblur(
        img, cfg, progress=False, on_step=lambda _: stamps.append(time.perf_counter())
    )
    per_iter = float(np.median(np.diff(stamps)))  # the first iteration (warm-up) is not timed
    k = kernel_size_for(h, w)
    gflop = flops_per_iteration(cfg, h, w, k) / 1e9
    print(
        f"{w}x{h} kernel {k}, {args.threads} threads, {args.iterations} iterations: "
        f"median {per_iter:.3f} s/iter, x{FULL_RUN} = {per_iter * FULL_RUN / 60:.1f} min; "
        f"{gflop:.1f} GFLOP/iter; data MSE {result.data_mse[0]:.4f} -> {result.data_mse[-1]:.4f}"
    )


if __name__ == "__main__":
    main()
