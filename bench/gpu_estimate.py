"""Per-image training time on a GPU, on paper: convolution FLOPs and kernel launches per iteration.

No GPU here, so this counts what a GPU would execute. For each scale of IMAGE's pyramid it runs
one iteration of the optimized step on CPU (same ops as on CUDA) under a dispatch mode that
counts the ATen operators that would launch a kernel (views, reshapes and other metadata-only
ops excluded; fused Adam counted as one launch per parameter group), and the convolution FLOPs
(``torch.utils.flop_counter``). A scale's time per iteration is then modelled as

    max(FLOPs / (peak x efficiency), launches x launch cost)

(a GPU overlaps kernel execution with the CPU issuing launches, so the slower of the two
bounds the iteration) and summed over scales x niter. ``--batch N`` counts one iteration of N
images trained as one grouped model (batched training): the same launches, N times the FLOPs.

    python bench/gpu_estimate.py ../shared/data/gopro_mini/test/flower/sharp/000001.png \\
        --peak-tflops 19.5 --efficiency 0.5 --launch-us 8
"""

from __future__ import annotations

import argparse
import functools
from collections import Counter

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from train_batch import fake_done  # bench/ is on sys.path when run as a script
from train_levers import scale_state
from train_speed import count_flops

from deblur.data.imageio import read_rgb
from deblur.singan import fast
from deblur.singan.config import load_config
from deblur.singan.draws import BatchDraws
from deblur.singan.pyramid import build_pyramid, image_to_tensor, pyramid_sizes
from deblur.singan.train import Member, make_optimizers, scale_setup

# ops that only create views or read metadata: no kernel on a GPU
NO_KERNEL = {
    "view", "_unsafe_view", "t", "transpose", "permute", "expand", "as_strided", "alias",
    "detach", "squeeze", "unsqueeze", "slice", "select", "split", "split_with_sizes",
    "empty", "empty_like", "empty_strided", "new_empty", "new_empty_strided", "lift_fresh",
    "reshape", "unbind", "_reshape_alias", "is_same_size", "resize_", "set_", "sym_size",
    "sym_stride", "sym_numel", "sym_storage_offset", "size", "stride", "dim", "numel",
    "_local_scalar_dense", "result_type", "_has_compatible_shallow_copy_type",
}  # fmt: skip


class LaunchCounter(TorchDispatchMode):
    """Counts ATen operator calls that would launch a GPU kernel."""

    def __init__(self):
        super().__init__()
        self.ops = Counter()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        name = func.overloadpacket.__name__
        if name not in NO_KERNEL:
            self.ops[name] += 1
        return func(*args, **(kwargs or {}))


def iteration(scale, reals, sizes, config, batch=1):
    """(step, its arguments) for one iteration at ``scale`` (random coarser generators), of
    one image or of a batch of ``batch`` (the grouped model of batched training)."""
    if batch > 1:
        return batched_iteration(scale, reals, sizes, config, batch)
    G, D, inputs = scale_state(scale, reals, sizes, config)
    fast.to_channels_last(G, D, inputs)
    opt_g, opt_d, _ = make_optimizers(G, D, config, fused=True)
    # no CPU branches: a GPU runs the step sequentially (and the counters see one thread)
    return fast.FastStep(branch_max_channels=0), (G, D, opt_g, opt_d, inputs, config)


def batched_iteration(scale, reals, sizes, config, batch):
    """:func:`iteration` for ``batch`` copies of the image trained as one grouped model."""
    cpu = torch.device("cpu")
    members = [Member.in_memory(f"copy{i}", reals, sizes) for i in range(batch)]
    torch.manual_seed(scale)
    fake_done(members, scale, config, cpu)
    draws = BatchDraws(batch, 0)
    draws.start_scale(scale)
    step = fast.FastStep(branch_max_channels=0)
    G, D, inputs = scale_setup(scale, members, sizes, config, step, draws, cpu)
    opt_g, opt_d, _ = make_optimizers(G, D, config, fused=True)
    return step, (G, D, opt_g, opt_d, inputs, config)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("image")
    parser.add_argument("--config", help="YAML of SinGAN settings (default: reference)")
    parser.add_argument("--peak-tflops", type=float, default=19.5, help="GPU peak (A100 fp32)")
    parser.add_argument("--efficiency", type=float, default=0.5, help="fraction of peak reached")
    parser.add_argument("--launch-us", type=float, default=8.0, help="CPU cost per kernel launch")
    parser.add_argument(
        "--batch", type=int, default=1, help="images per batch (grouped model); times are per batch"
    )
    parser.add_argument("--scales", type=int, nargs="+", help="only these scales (default: all)")
    args = parser.parse_args(argv)
    config = load_config(args.config)
    image = read_rgb(args.image)
    sizes, _ = pyramid_sizes(*image.shape[:2], config)
    reals = build_pyramid(image_to_tensor(image), sizes)
    rate = args.peak_tflops * 1e12 * args.efficiency
    print(
        f"# {args.image}: {len(sizes)} scales, niter {config.niter}; GPU model: "
        f"{args.peak_tflops} TFLOP/s x {args.efficiency} efficiency, {args.launch_us} us/launch"
    )
    print("scale       HxW  launches/iter  GFLOP/iter  compute ms  launch ms  bound")
    total = 0.0
    for scale, (h, w) in enumerate(sizes):
        if args.scales and scale not in args.scales:
            continue
        step, state = iteration(scale, reals, sizes, config, args.batch)
        step(*state)  # warm-up: lazy state (Adam moments) out of the count
        counter = LaunchCounter()
        with counter:
            step(*state)
        gflop = count_flops(functools.partial(step, *state)) / 1e9
        launches = sum(counter.ops.values())
        compute_ms = gflop * 1e9 / rate * 1e3
        launch_ms = launches * args.launch_us / 1e3
        seconds = max(compute_ms, launch_ms) / 1e3
        total += seconds * config.niter
        bound = "compute" if compute_ms >= launch_ms else "launch"
        print(
            f"{scale:5d} {h:4d}x{w:<4d} {launches:14d} {gflop:11.1f} "
            f"{compute_ms:11.2f} {launch_ms:10.2f}  {bound}"
        )
    print(
        f"# per batch of {args.batch}: {total / 60:.1f} min at niter {config.niter} "
        f"({total / 60 / args.batch:.2f} min per image)"
    )


if __name__ == "__main__":
    main()
