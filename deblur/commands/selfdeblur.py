"""Blind-deblur one image with SelfDeblur: two untrained generators (a deep-image-prior
encoder-decoder for the sharp image, a small fully connected one for the kernel) fitted so that
their valid convolution reproduces the blurry image. Nothing is trained beforehand.

The image is first downscaled to --max-size (default 250, the size the benchmark scores at) and
the output has that size. By default only the luminance (Y of YCbCr) is deblurred and the
blurry image's chroma kept, as the reference's colour script does. Writes the output PNG, the
estimated kernel as a PNG beside it (<out stem>_kernel.png, 16-bit, peak white), and with
--info the settings and losses as JSON (usable as evaluate --meta). A checkpoint is written every
--checkpoint-every iterations; rerunning the same command resumes from it.

The defaults are the reference implementation's (deblur/selfdeblur/__init__.py lists them):
5000 iterations, Adam 0.01 / 1e-4 halved at 2000, 3000 and 4000, MSE for 1000 then 1 - SSIM.
Other settings: --param KEY=VALUE with a field of deblur.selfdeblur.config.SelfDeblurConfig.

Example:
  python -m deblur selfdeblur --image blurry.png --out out.png --iterations 2000 \\
      --kernel-size 21 --device auto --seed 0 --info out.json
"""

from __future__ import annotations

import argparse
from pathlib import Path

from deblur import gpu_slots
from deblur.commands.seeds import seed_arg

HELP = "SelfDeblur: training-free blind deblurring with two deep-prior generators"

CHECKPOINT_SUFFIX = ".ckpt"  # the checkpoint: out.png -> out.ckpt


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--image", required=True, type=Path, help="blurry input image")
    parser.add_argument("--out", required=True, type=Path, help="output PNG (working size)")
    parser.add_argument(
        "--iterations", type=int, metavar="N", help="Adam iterations (default: 5000)"
    )
    parser.add_argument(
        "--kernel-size", type=int, metavar="K",
        help="odd side of the estimated kernel in working pixels (default: the odd integer "
        "nearest 0.1 x the working image's longer side, at least 3: 25 at 250 px)",
    )  # fmt: skip
    parser.add_argument(
        "--max-size", type=int, metavar="PX",
        help="downscale so the longer side is at most PX before deblurring (default: 250)",
    )  # fmt: skip
    parser.add_argument(
        "--rgb", action="store_true",
        help="deblur R, G and B jointly instead of the luminance only",
    )  # fmt: skip
    parser.add_argument(
        "--param", action="append", default=[], metavar="KEY=VALUE",
        help="any other setting, JSON value (e.g. lr_image=0.005, milestones=[1000,1500]); "
        "repeatable; the flags above win",
    )  # fmt: skip
    parser.add_argument("--seed", type=seed_arg, default=0, help="seed (default: 0)")
    parser.add_argument(
        "--device", default="auto", metavar="DEVICE",
        help="auto | cpu | cuda | cuda:N; auto = CUDA if available (default: auto)",
    )  # fmt: skip
    parser.add_argument(
        "--threads", type=int, metavar="N", help="torch CPU threads (default: torch's choice)"
    )
    parser.add_argument(
        "--kernel-out", type=Path, metavar="PNG",
        help="estimated kernel PNG, 16-bit, peak scaled to white (default: <out stem>_kernel.png, "
        "as tv_blind's)",
    )  # fmt: skip
    parser.add_argument(
        "--checkpoint", type=Path, metavar="FILE",
        help=f"resume file, deleted once the outputs are written (default: the output with suffix "
        f"{CHECKPOINT_SUFFIX})",
    )  # fmt: skip
    parser.add_argument(
        "--checkpoint-every", type=int, metavar="N",
        help="iterations between checkpoints (default: 500)",
    )  # fmt: skip
    parser.add_argument(
        "--info", type=Path, metavar="JSON", help="also write the settings and losses as JSON"
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    gpu_slots.add_arguments(parser)


def build_config(args: argparse.Namespace):
    """The run's SelfDeblurConfig: --param values under the explicit flags."""
    from deblur.errors import DeblurError
    from deblur.selfdeblur.params import make_config, parse_params

    flags = dict(
        iterations=args.iterations, kernel_size=args.kernel_size, max_size=args.max_size,
        checkpoint_every=args.checkpoint_every, seed=args.seed,
    )  # fmt: skip
    try:
        params = parse_params(args.param)
        params.update({k: v for k, v in flags.items() if v is not None})
        if args.rgb:
            params["luminance"] = False
        return make_config(params)
    except (ValueError, TypeError) as exc:
        raise DeblurError(f"selfdeblur: {exc}") from None


def run(args: argparse.Namespace) -> int:
    import json
    import logging

    from deblur.atomic import check_distinct_outputs, check_output_file, write_text
    from deblur.data.imageio import read_rgb, write_png
    from deblur.errors import DeblurError
    from deblur.kernelio import kernel_path_for, write_kernel
    from deblur.selfdeblur import selfdeblur
    from deblur.singan.device import resolve_device, set_threads

    log = logging.getLogger(__name__)
    cfg = build_config(args)
    kernel_out = args.kernel_out or kernel_path_for(args.out)
    checkpoint = args.checkpoint or args.out.with_suffix(CHECKPOINT_SUFFIX)
    outputs = {"--out": args.out, "--kernel-out": kernel_out, "--checkpoint": checkpoint,
               "--info": args.info}  # fmt: skip
    check_distinct_outputs(outputs)
    for out in outputs.values():
        if out is not None:
            check_output_file(out)
    # a GPU slot (when asked for) before anything touches CUDA
    gpu_slots.claim_from_args(args, "selfdeblur", label=f"selfdeblur --out {args.out}")
    set_threads(args.threads)
    device = resolve_device(args.device)
    blurry = read_rgb(args.image)
    try:
        result = selfdeblur(
            blurry, cfg, device=device, checkpoint=checkpoint, progress=not args.no_progress
        )
    except ValueError as exc:
        raise DeblurError(f"selfdeblur on {args.image}: {exc}") from None
    write_png(args.out, result.image)
    write_kernel(kernel_out, result.kernel)
    # where it ran: selfdeblur_device (cuda:I or cpu), _device_name, _cuda_visible_devices, ...
    info = dict(result.info, **gpu_slots.device_record(device, prefix="selfdeblur_"))
    if args.info is not None:
        write_text(args.info, json.dumps(info, sort_keys=True, indent=1) + "\n")
    checkpoint.unlink(missing_ok=True)  # only now: the outputs are written
    log.info(
        "%s -> %s (%dx%d, kernel %d, data MSE %.5f -> %.5f, %.3f s/iter)", args.image,
        args.out, result.image.shape[1], result.image.shape[0], result.kernel.shape[0],
        info["selfdeblur_data_mse_first"], info["selfdeblur_data_mse_last"],
        info["selfdeblur_seconds_per_iter"],
    )  # fmt: skip
    return 0
