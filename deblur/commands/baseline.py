"""Classical deblurring baselines, run on one blurry image at its own resolution.

Kinds:
  identity         the blurry input itself (what every method must beat)
  unsharp          skimage unsharp masking; params radius (px, default 2.0), amount (1.0)
  richardson_lucy  skimage Richardson-Lucy with a linear motion PSF estimated blindly from the
                   blurry image's cepstrum; params num_iter (10), psf_size (41, odd; blur lengths
                   up to psf_size - 2 px are searched), min_length (3.0), and length / angle
                   (px / degrees) to fix the PSF instead of estimating it

Example:
  python -m deblur baseline --kind richardson_lucy --image blur.png --out rl.png \\
      --param num_iter=20 --info rl.json
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

HELP = "classical baselines (identity, unsharp, richardson_lucy)"

KINDS = ("identity", "unsharp", "richardson_lucy")  # == deblur.baselines.METHOD_KINDS

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


def run(args: argparse.Namespace) -> int:
    from deblur.atomic import check_output_file, write_text
    from deblur.baselines import parse_params, run_baseline
    from deblur.data.imageio import read_rgb, write_png
    from deblur.errors import DeblurError

    try:
        params = parse_params(args.kind, args.param)
    except (ValueError, TypeError) as exc:
        raise DeblurError(str(exc)) from None
    for out in (args.out, args.info):
        if out is not None:
            check_output_file(out)
    image = read_rgb(args.image)
    try:
        out, info = run_baseline(args.kind, image, params)
    except ValueError as exc:
        raise DeblurError(f"{args.kind} failed on {args.image}: {exc}") from None
    write_png(args.out, out)
    log.info("%s: %s", args.kind, ", ".join(f"{k}={v}" for k, v in info.items()))
    if args.info is not None:
        write_text(args.info, json.dumps(info, sort_keys=True, indent=1) + "\n")
    log.info("wrote %s", args.out)
    return 0
