"""Train a SinGAN pyramid on one sharp image, or on several same-size images as one batch.

Writes DIR/scale_NN.pt after every finished scale, DIR/train_log.tsv (one row per scale) and,
last, DIR/model.json (the "finished" marker). Re-running the same command after a kill resumes
at the first unfinished scale; a directory written with another config, seed or image is refused.

Give --image and --out several times (pairs, in order) to train N images of the same size at
once as one grouped model (the same math as N single runs; meant for GPUs, docs/gpu.md):
every image gets its own directory with the files of a single run; finished ones are skipped.

Example:
  python -m deblur train --image sharp.png --out models/pair1 --config singan.yaml --seed 0
  python -m deblur train --image sharp.png --out models/quick --set niter=200 --set max_size=128
  python -m deblur train --image sharp.png --out models/pair1_bf16 --precision bf16
  python -m deblur train --image a.png --out models/a --image b.png --out models/b --device cuda
"""

from __future__ import annotations

import sys

from deblur import gpu_slots
from deblur.commands.seeds import seed_arg

HELP = "train a SinGAN pyramid on a sharp image, or on N same-size images at once (resumes)"


def add_arguments(parser):
    parser.add_argument(
        "--image", required=True, action="append",
        help="training (sharp) image, any RGB/gray PNG/JPEG; repeat (each with its --out) to "
        "train several images of the same size as one batch",
    )  # fmt: skip
    parser.add_argument(
        "--out", required=True, action="append", metavar="DIR",
        help="model directory to write, one per --image, in the same order",
    )  # fmt: skip
    parser.add_argument(
        "--config",
        metavar="FILE",
        help="YAML with flat SinGAN keys (niter, max_size, min_size, scale_factor, nfc, lr_g, ...) "
        "or a pipeline config with a 'singan:' section; omitted keys take the reference defaults",
    )
    parser.add_argument(
        "--settings-json", metavar="JSON",
        help="SinGAN settings as one JSON object, typed (the workflow passes its validated "
        "settings this way), applied on top of --config and below --set",
    )  # fmt: skip
    parser.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE",
        help="override one SinGAN setting (repeatable), applied on top of --config, "
        "e.g. --set niter=500 --set max_size=128",
    )  # fmt: skip
    parser.add_argument(
        "--device", default="auto", metavar="DEVICE",
        help="auto | cpu | cuda | cuda:N; auto = CUDA if available (default: auto)",
    )  # fmt: skip
    parser.add_argument("--seed", type=seed_arg, default=0, help="random seed (default: 0)")
    parser.add_argument(
        "--threads", type=int, metavar="N", help="torch CPU threads (default: torch's choice)"
    )
    parser.add_argument(
        "--precision", choices=("fp32", "bf16"), default="fp32",
        help="training arithmetic: fp32 (default, the reference's) or bf16 (autocast; about 2x "
        "faster on CPUs with AVX512-BF16 or AMX and on GPUs, several times slower on AVX2-only "
        "CPUs; see docs/speed.md for its effect on "
        "results); a model directory is never resumed with the other precision",
    )  # fmt: skip
    parser.add_argument(
        "--compile", action="store_true",
        help="pass the critic loss through torch.compile (meant for CUDA, where it saves "
        "kernel launches; measured slower on CPU); compiles once per scale",
    )  # fmt: skip
    parser.add_argument(
        "--tf32", action="store_true",
        help="on CUDA, let float32 convolutions and matrix products use TF32 (faster on Ampere "
        "and later GPUs, 10-bit mantissas); recorded in model.json; no effect on CPU "
        "(default: off, fp32 is float32)",
    )  # fmt: skip
    parser.add_argument(
        "--branch-max-channels", type=int, metavar="N",
        help="on CPU with 2+ threads, scales of at most N channels run each step's two "
        "independent halves at once, each on half of the threads (faster on narrow scales, "
        "slower on wide ones; 0 = never; default: 32, the paper's coarse scales)",
    )  # fmt: skip
    parser.add_argument(
        "--reference-step", action="store_true",
        help="train with the straightforward reference iteration instead of the optimized one "
        "(same math, slower; for checks)",
    )  # fmt: skip
    parser.add_argument(
        "--replace-other-run", action="store_true",
        help="if --out holds a pyramid of another run (other image, seed or settings), move it "
        "to OUT.replaced-<UTC time> and train anew (default: refuse; the workflow passes this, "
        "as it reruns a training job when its image or settings changed)",
    )  # fmt: skip
    parser.add_argument(
        "--progress", action="store_true",
        help="force the per-scale progress bars (default: only when stderr is a terminal; "
        "a log line per scale is always written)",
    )  # fmt: skip
    gpu_slots.add_arguments(parser)


def run(args):
    # a GPU slot (when asked for) before anything touches CUDA
    gpu_slots.claim_from_args(args, "train", label=f"train --out {' '.join(args.out)}")
    import json

    from deblur.errors import DeblurError
    from deblur.singan.config import load_layers, parse_overrides
    from deblur.singan.fast import BRANCH_MAX_CHANNELS
    from deblur.singan.train import train_batch

    # one door: --config, then --settings-json over it, then --set over both, checked once
    layers = [(None, args.config)]
    if args.settings_json is not None:
        try:
            settings = json.loads(args.settings_json)
        except ValueError as exc:
            raise DeblurError(f"--settings-json is not JSON ({exc}); pass one object") from None
        if not isinstance(settings, dict):
            raise DeblurError(f"--settings-json must be a JSON object, got {args.settings_json}")
        layers.append(("--settings-json", settings))
    if args.set:
        layers.append(("--set", parse_overrides(args.set)))
    config = load_layers(layers)
    progress = args.progress or sys.stderr.isatty()
    branches = args.branch_max_channels
    train_batch(
        args.image, args.out, config=config, device=args.device, seed=args.seed,
        threads=args.threads, progress=progress, precision=args.precision,
        compile=args.compile, reference_step=args.reference_step,
        branch_max_channels=BRANCH_MAX_CHANNELS if branches is None else branches,
        replace_other_run=args.replace_other_run, tf32=args.tf32,
    )  # fmt: skip
    return 0
