"""Classical deblurring baselines, run on one blurry image at its own resolution.

Kinds:
  identity         the blurry input itself (what every method must beat)
  unsharp          skimage unsharp masking; params radius (px, default 2.0), amount (1.0)
  richardson_lucy  skimage Richardson-Lucy with a linear motion PSF estimated blindly from the
                   blurry image's cepstrum; params num_iter (10), psf_size (41, odd; blur lengths
                   up to psf_size - 2 px are searched), min_length (3.0), and length / angle
                   (px / degrees) to fix the PSF instead of estimating it
  tv_blind         total-variation blind deconvolution (Perrone & Favaro 2014): a free-form
                   kernel estimated on the luminance by alternating image/kernel gradient steps
                   over a pyramid, then non-blind TV per colour channel; params kernel_size
                   (31, odd), iterations (300 per level), lambda_start (0.03), lambda_decay
                   (0.99), lambda_min (0.003), final_lambda (0.002), final_iterations (200) and
                   more (deblur/tvblind.py). The kernel is written beside the output as
                   <out stem>_kernel.png (16-bit, scaled to its peak) unless --kernel-out says
                   where

Example:
  python -m deblur baseline --kind richardson_lucy --image blur.png --out rl.png \\
      --param num_iter=20 --info rl.json
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

HELP = "classical baselines (identity, unsharp, richardson_lucy, tv_blind)"

KINDS = ("identity", "unsharp", "richardson_lucy", "tv_blind")  # == baselines.METHOD_KINDS

log = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--kind", required=True, choices=KINDS, help="which baseline to run")
    parser.add_argument("--image", required=True, type=Path, help="blurry input image")
    parser.add_argument("--out", required=True, type=Path, help="output PNG (same size as input)")
    parser.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="baseline parameter (see the kinds above; 'none' unsets an optional one); repeatable",
    )
    parser.add_argument(
        "--info",
        type=Path,
        metavar="JSON",
        help="also write the kind, parameters and (richardson_lucy) the PSF used as a JSON "
        "object, usable as evaluate --meta",
    )
    parser.add_argument(
        "--kernel-out",
        type=Path,
        metavar="PNG",
        help="where the estimated kernel goes (tv_blind; default: <out stem>_kernel.png)",
    )


def run(args: argparse.Namespace) -> int:
    from deblur.atomic import check_output_file, write_text
    from deblur.baselines import KERNEL_KINDS, parse_params, run_baseline
    from deblur.data.imageio import read_rgb, write_png
    from deblur.errors import DeblurError
    from deblur.kernelio import kernel_path_for, write_kernel

    try:
        params = parse_params(args.kind, args.param)
    except (ValueError, TypeError) as exc:
        raise DeblurError(str(exc)) from None
    kernel_out = None
    if args.kind in KERNEL_KINDS:
        kernel_out = args.kernel_out or kernel_path_for(args.out)
    elif args.kernel_out is not None:
        raise DeblurError(f"--kernel-out: {args.kind} estimates no kernel; drop the option")
    for out in (args.out, args.info, kernel_out):
        if out is not None:
            check_output_file(out)
    image = read_rgb(args.image)
    try:
        out, info, kernel = run_baseline(args.kind, image, params, with_kernel=True)
    except ValueError as exc:
        raise DeblurError(f"{args.kind} failed on {args.image}: {exc}") from None
    if kernel_out is not None:
        write_kernel(kernel_out, kernel)
        info["kernel_path"] = str(kernel_out)
        log.info("wrote %s", kernel_out)
    write_png(args.out, out)
    log.info("%s: %s", args.kind, ", ".join(f"{k}={v}" for k, v in info.items()))
    if args.info is not None:
        write_text(args.info, json.dumps(info, sort_keys=True, indent=1) + "\n")
    log.info("wrote %s", args.out)
    return 0
