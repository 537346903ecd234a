"""Deblur a blurry image with a trained SinGAN pyramid.

Mode g0 (the paper): the blurry image, at the finest scale's size, is downscaled by r^K and then
K times upsampled by 1/r and passed through G_0, the finest generator (r = the pyramid factor,
K = --steps). Mode inject (SinGAN's paint-to-image): the image enters at scale --inject-scale and
runs through all finer generators. Mode sr (the reference SinGAN's super-resolution): the
image at the finest scale's size is upsampled pass by pass (--sr-factor overall, --sr-step
rule), each pass through G_0 with its noise; the output is the model size times the factor,
or the image's own size for --sr-factor full. Mode sample: a random sample of the pyramid from
its coarsest scale, the image unused (the floor of a method that ignores its input). g0,
inject and sample outputs have the finest scale's size (250 px longer side by default).

--info writes what ran as JSON (mode, passes, per-pass factor, output size, sr settings),
which `evaluate --meta` adds to the metrics rows.

Examples:
  python -m deblur deblur --model models/pair1 --image blurry.png --out deblurred.png --steps 1
  python -m deblur deblur --model models/pair1 --image blurry.png --out sr.png --mode sr \
      --sr-factor 4 --sr-step reference --info sr.json
"""

from __future__ import annotations

from deblur import gpu_slots
from deblur.commands.seeds import seed_arg
from deblur.singan.readings import (
    DEFAULT_MAX_OUTPUT_PIXELS,
    DEFAULT_SR_FACTOR,
    DEFAULT_SR_STEP,
    MODES,
    SR_STEPS,
    factor_text,
)

HELP = "deblur a blurry image with G_0 of a trained model"


def add_arguments(parser):
    parser.add_argument("--model", required=True, metavar="DIR", help="finished model directory")
    parser.add_argument(
        "--image", help="blurry input image (required but for --mode sample, which ignores it)"
    )
    parser.add_argument("--out", required=True, help="output PNG (written atomically)")
    parser.add_argument(
        "--steps", type=int, default=1, metavar="K",
        help="g0 mode: upsample-and-G_0 passes, starting from the image downscaled by r^K "
        "(default: 1)",
    )  # fmt: skip
    parser.add_argument(
        "--mode", default="g0", choices=MODES,
        help="g0: the paper's iterated G_0; inject: enter at --inject-scale; sr: the "
        "reference's super-resolution with G_0; sample: a random sample, the image unused "
        "(default: g0)",
    )  # fmt: skip
    parser.add_argument(
        "--sr-factor", default=factor_text(DEFAULT_SR_FACTOR), metavar="S",
        help="sr mode: overall upsampling factor >= 1, or full (the image's own size) "
        "(default: %(default)s, the reference's)",
    )  # fmt: skip
    parser.add_argument(
        "--sr-step", default=DEFAULT_SR_STEP, choices=SR_STEPS,
        help="sr mode: reference = round(log S / log 2^(1/3)) passes of S^(1/passes); "
        "pyramid = steps of 1/r, the last one shorter (default: %(default)s)",
    )  # fmt: skip
    parser.add_argument(
        "--max-output-pixels", type=int, default=DEFAULT_MAX_OUTPUT_PIXELS, metavar="N",
        help="sr mode: refuse a larger output (about 1 KiB of memory per output pixel at 64 "
        "channels) (default: %(default)s)",
    )  # fmt: skip
    parser.add_argument(
        "--info", metavar="JSON",
        help="also write the reading's settings and geometry here (atomically)",
    )  # fmt: skip
    parser.add_argument(
        "--inject-scale", type=int, metavar="N",
        help="inject mode: scale to enter at, 1..num_scales-1 counted from the coarsest, or "
        "negative from the finest (-2: the second finest; default: num_scales-2)",
    )  # fmt: skip
    parser.add_argument(
        "--no-noise", action="store_true", help="zero noise instead of each generator's noise"
    )
    parser.add_argument("--seed", type=seed_arg, default=0, help="seed of the noise (default: 0)")
    parser.add_argument(
        "--device", default="auto", metavar="DEVICE",
        help="auto | cpu | cuda | cuda:N; auto = CUDA if available (default: auto)",
    )  # fmt: skip
    parser.add_argument(
        "--threads", type=int, metavar="N", help="torch CPU threads (default: torch's choice)"
    )
    gpu_slots.add_arguments(parser)


def check_not_tiny(image_hw, coarsest_hw, args) -> None:
    """Refuse an image smaller than the model's coarsest scale: its aspect ratio is not
    known to within rounding (a 3x3 image passes any aspect check) and upscaling it to the
    model's size would invent the picture."""
    from deblur.errors import DeblurError

    (h, w), (ch, cw) = image_hw, coarsest_hw
    if min(h, w) < min(ch, cw):
        raise DeblurError(
            f"{args.image} is {w}x{h}, smaller than model {args.model}'s coarsest scale "
            f"({cw}x{ch}): too small to deblur, its aspect ratio unknown; use the full-size "
            "blurry image"
        )


def check_aspect(image_hw, model_hw, args) -> None:
    """Refuse an image that the resize to the model's size would stretch."""
    from deblur.errors import DeblurError
    from deblur.sizes import same_aspect

    if not same_aspect(image_hw, model_hw):
        (h, w), (mh, mw) = image_hw, model_hw
        raise DeblurError(
            f"{args.image} is {w}x{h} but model {args.model} is {mw}x{mh}: another aspect "
            "ratio, which deblurring would stretch; crop the image to the model's aspect ratio "
            "or train a model on an image of this shape"
        )


def run(args):
    import json
    import logging

    import numpy as np

    from deblur.atomic import check_distinct_outputs, check_output_file, write_text
    from deblur.data.imageio import read_rgb, write_png
    from deblur.errors import DeblurError
    from deblur.singan.checkpoint import load_model
    from deblur.singan.device import set_threads
    from deblur.singan.generate import deblur_image
    from deblur.singan.readings import check_output_size, parse_sr_factor, plan_reading

    check_distinct_outputs({"--out": args.out, "--info": args.info or None})
    check_output_file(args.out)
    if args.info:
        check_output_file(args.info)
    if args.mode != "sample" and not args.image:
        raise DeblurError(f"--mode {args.mode} needs --image (the blurry input)")
    try:
        sr_factor = parse_sr_factor(args.sr_factor)
    except ValueError as exc:
        raise DeblurError(f"--sr-factor: {exc}") from None
    if args.max_output_pixels < 1:
        raise DeblurError(f"--max-output-pixels must be >= 1, got {args.max_output_pixels}")
    # a GPU slot (when asked for) before anything touches CUDA
    gpu_slots.claim_from_args(args, "deblur", label=f"deblur --out {args.out}")
    set_threads(args.threads)
    model = load_model(args.model, device=args.device)
    where = gpu_slots.device_record(model.device, prefix="deblur_")  # device, name, slot, ...
    logging.getLogger(__name__).info("running on %s", where)
    blurry = None
    if args.mode != "sample":  # a sample never reads the image
        blurry = read_rgb(args.image)
        check_not_tiny(blurry.shape[:2], model.sizes[0], args)
        check_aspect(blurry.shape[:2], model.sizes[-1], args)
    try:
        plan = plan_reading(
            args.mode, model.sizes, model.scale_factor, steps=args.steps,
            inject_scale=args.inject_scale, sr_factor=sr_factor, sr_step=args.sr_step,
            frame_size=None if blurry is None else blurry.shape[:2],
        )  # fmt: skip
        if args.mode == "sr":
            check_output_size(plan, args.max_output_pixels)
        out = deblur_image(
            model, blurry, steps=args.steps, mode=args.mode, inject_scale=args.inject_scale,
            noise=not args.no_noise, seed=args.seed, sr_factor=sr_factor,
            sr_step=args.sr_step, max_output_pixels=args.max_output_pixels,
        )  # fmt: skip
    except ValueError as exc:  # bad --steps / --inject-scale / an output above the limit
        raise DeblurError(f"{exc}; see --help") from None
    if not np.isfinite(out).all():  # finite weights (checked when loading) can still overflow
        raise DeblurError(
            f"model {args.model} produced NaN or inf deblurring {args.image}; check the image "
            "and retrain the model"
        )
    write_png(args.out, out)
    if args.info:
        info = dict(
            deblur_mode=args.mode,
            deblur_steps=args.steps if args.mode == "g0" else None,
            inject_scale=args.inject_scale if args.mode == "inject" else None,
            deblur_noise=not args.no_noise,
            deblur_seed=args.seed,
            **plan.columns(),
            **where,
        )
        write_text(args.info, json.dumps(info, indent=1, sort_keys=True) + "\n")
    logging.getLogger(__name__).info(
        "%s -> %s (%dx%d, mode %s, %d passes of x%.4f)", args.image, args.out, out.shape[1],
        out.shape[0], args.mode, plan.passes, plan.pass_factor,
    )  # fmt: skip
    return 0
