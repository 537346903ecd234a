"""Deblur a blurry image with a trained SinGAN pyramid.

Mode g0 (the paper): the blurry image, at the finest scale's size, is downscaled by r^K and then
K times upsampled by 1/r and passed through G_0, the finest generator (r = the pyramid factor,
K = --steps). Mode inject (SinGAN's paint-to-image): the image enters at scale --inject-scale and
runs through all finer generators. The output has the finest scale's size (250 px longer side
by default).

Example:
  python -m deblur deblur --model models/pair1 --image blurry.png --out deblurred.png --steps 1
"""

from __future__ import annotations

from deblur import gpu_slots

HELP = "deblur a blurry image with G_0 of a trained model"


def add_arguments(parser):
    parser.add_argument("--model", required=True, metavar="DIR", help="finished model directory")
    parser.add_argument("--image", required=True, help="blurry input image")
    parser.add_argument("--out", required=True, help="output PNG (written atomically)")
    parser.add_argument(
        "--steps", type=int, default=1, metavar="K",
        help="g0 mode: upsample-and-G_0 passes, starting from the image downscaled by r^K "
        "(default: 1)",
    )  # fmt: skip
    parser.add_argument(
        "--mode", default="g0", choices=("g0", "inject"),
        help="g0: the paper's iterated G_0; inject: enter at --inject-scale (default: g0)",
    )  # fmt: skip
    parser.add_argument(
        "--inject-scale", type=int, metavar="N",
        help="inject mode: scale to enter at, 1..num_scales-1 counted from the coarsest, or "
        "negative from the finest (-2: the second finest; default: num_scales-2)",
    )  # fmt: skip
    parser.add_argument(
        "--no-noise", action="store_true", help="zero noise instead of each generator's noise"
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the noise (default: 0)")
    parser.add_argument(
        "--device", default="auto", metavar="DEVICE",
        help="auto | cpu | cuda | cuda:N; auto = CUDA if available (default: auto)",
    )  # fmt: skip
    parser.add_argument(
        "--threads", type=int, metavar="N", help="torch CPU threads (default: torch's choice)"
    )
    gpu_slots.add_arguments(parser)


def check_aspect(image_hw, model_hw, args) -> None:
    """Refuse an image that the resize to the model's size would stretch."""
    from deblur.errors import DeblurError
    from deblur.resize import same_aspect

    if not same_aspect(image_hw, model_hw):
        (h, w), (mh, mw) = image_hw, model_hw
        raise DeblurError(
            f"{args.image} is {w}x{h} but model {args.model} is {mw}x{mh}: another aspect "
            "ratio, which deblurring would stretch; crop the image to the model's aspect ratio "
            "or train a model on an image of this shape"
        )


def run(args):
    import logging

    from deblur.atomic import check_output_file
    from deblur.data.imageio import read_rgb, write_png
    from deblur.errors import DeblurError
    from deblur.singan.checkpoint import load_model
    from deblur.singan.device import set_threads
    from deblur.singan.generate import deblur_image

    check_output_file(args.out)
    gpu_slots.claim_from_args(args, label=f"deblur --out {args.out}")  # before CUDA is touched
    set_threads(args.threads)
    model = load_model(args.model, device=args.device)
    logging.getLogger(__name__).info("running on %s", gpu_slots.device_record(model.device))
    blurry = read_rgb(args.image)
    check_aspect(blurry.shape[:2], model.sizes[-1], args)
    try:
        out = deblur_image(
            model, blurry, steps=args.steps, mode=args.mode, inject_scale=args.inject_scale,
            noise=not args.no_noise, seed=args.seed,
        )  # fmt: skip
    except ValueError as exc:  # bad --steps / --inject-scale
        raise DeblurError(f"{exc}; see --help") from None
    write_png(args.out, out)
    logging.getLogger(__name__).info(
        "%s -> %s (%dx%d, mode %s)", args.image, args.out, out.shape[1], out.shape[0], args.mode
    )
    return 0
