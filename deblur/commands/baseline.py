"""Classical deblurring baselines, run on one blurry image at its own resolution.

Kinds:
  identity         the blurry input itself (what every method must beat)
  unsharp          skimage unsharp masking; params radius (px, default 2.0), amount (1.0)
  richardson_lucy  skimage Richardson-Lucy with a linear motion PSF estimated blindly from the
                   blurry image's cepstrum; params num_iter (10), psf_size (41, odd; blur lengths
                   up to psf_size - 2 px are searched), min_length (3.0), and length / angle
                   (px / degrees) to fix the PSF instead of estimating it
  tv_blind         total-variation blind deconvolution (Perrone & Favaro 2014): a free-form
                   kernel estimated on the luminance by alternating normalised gradient steps
                   over a fine pyramid (the TV weight growing 1.9x per coarser level), then a
                   non-blind step per colour channel; params kernel_size (31, odd), iterations
                   (1000 per level), tv_lambda (0.001 at full resolution), nonblind
                   (hyper_laplacian, tv or sparse_irls), and more (docs/tv_blind.md). The
                   kernel is written beside the output as <out stem>_kernel.png (16-bit,
                   scaled to its peak) unless --kernel-out says where
  oracle_tv        the non-blind ceiling where the true kernel is known (--kernel PNG): a
                   per-channel non-blind deconvolution with the true kernel; params nonblind
                   (tv; hyper_laplacian: Krishnan & Fergus 2009, hl_lambda 2000, hl_alpha 2/3;
                   sparse_irls: Levin et al. 2007, irls_weight 0.0068), tv_lambda (0.001),
                   iterations (200), tv_epsilon (0.01)

Example:
  python -m deblur baseline --kind richardson_lucy --image blur.png --out rl.png \\
      --param num_iter=20 --info rl.json
"""

from __future__ import annotations

import argparse
import json
import logging
import warnings
from pathlib import Path

HELP = "classical baselines (identity, unsharp, richardson_lucy, tv_blind, oracle_tv)"

# == deblur.baselines.METHOD_KINDS (not imported: --help stays fast)
KINDS = ("identity", "unsharp", "richardson_lucy", "tv_blind", "oracle_tv")

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
    parser.add_argument(
        "--kernel",
        type=Path,
        metavar="PNG",
        help="the true blur kernel (oracle_tv needs it; e.g. the pair's kernel/NNNNNN.png)",
    )


def params_text(params) -> str:
    """A baseline's parameters as ``key=value, ...`` for a message (``no parameters``)."""
    from deblur.baselines import params_dict

    text = ", ".join(f"{k}={v}" for k, v in params_dict(params).items())
    return f"parameters {text}" if text else "no parameters"


def run(args: argparse.Namespace) -> int:
    import numpy as np

    from deblur.atomic import check_distinct_outputs, check_output_file, write_text
    from deblur.baselines import (
        KERNEL_KINDS,
        ORACLE_KINDS,
        parse_params,
        run_baseline,
    )
    from deblur.data.imageio import read_rgb, write_png
    from deblur.errors import DeblurError
    from deblur.kernelio import kernel_path_for, read_kernel, write_kernel

    try:
        params = parse_params(args.kind, args.param)
    except (ValueError, TypeError) as exc:
        raise DeblurError(str(exc)) from None
    kernel_out = None
    if args.kind in KERNEL_KINDS:
        kernel_out = args.kernel_out or kernel_path_for(args.out)
    elif args.kernel_out is not None:
        raise DeblurError(f"--kernel-out: {args.kind} estimates no kernel; drop the option")
    true_kernel = None
    if args.kind in ORACLE_KINDS:
        if args.kernel is None:
            raise DeblurError(f"{args.kind} needs the true kernel: pass --kernel PNG")
        true_kernel = read_kernel(args.kernel)
    elif args.kernel is not None:
        raise DeblurError(f"--kernel: {args.kind} is blind and takes no kernel; drop the option")
    outputs = {"--out": args.out, "--info": args.info, "--kernel-out": kernel_out}
    check_distinct_outputs(outputs)
    for out in outputs.values():
        if out is not None:
            check_output_file(out)
    image = read_rgb(args.image)
    # numpy's overflow / invalid-value warnings are collected, not printed: a non-finite result
    # becomes the one-line error below (naming the first of them), a finite one logs them
    with warnings.catch_warnings(record=True) as numeric:
        warnings.simplefilter("always", RuntimeWarning)
        try:
            out, info, kernel = run_baseline(
                args.kind, image, params, with_kernel=True, kernel=true_kernel
            )
        except (ValueError, OverflowError, FloatingPointError) as exc:  # extreme parameters
            raise DeblurError(
                f"{args.kind} failed on {args.image} with {params_text(params)}: {exc}; change "
                "the parameters"
            ) from None
    messages = list(dict.fromkeys(str(w.message) for w in numeric))
    if not np.isfinite(out).all():
        first = f" (numpy: {messages[0]})" if messages else ""
        raise DeblurError(
            f"{args.kind} produced NaN or inf on {args.image} with {params_text(params)}{first}; "
            "change the parameters"
        )
    for message in messages:
        log.warning("%s on %s: numpy: %s", args.kind, args.image, message)
    if kernel_out is not None:
        write_kernel(kernel_out, kernel)
        info["kernel_path"] = str(kernel_out)
        log.info("wrote %s", kernel_out)
    if args.kernel is not None:
        info["true_kernel_path"] = str(args.kernel)
    write_png(args.out, out)
    log.info("%s: %s", args.kind, ", ".join(f"{k}={v}" for k, v in info.items()))
    if args.info is not None:
        write_text(args.info, json.dumps(info, sort_keys=True, indent=1) + "\n")
    log.info("wrote %s", args.out)
    return 0
