"""Write the embedded synthetic GoPro-like dataset (no download needed).

Each sequence films one of scikit-image's bundled photographs (astronaut, chelsea, coffee,
rocket, motorcycle_left, hubble_deep_field) with a virtual hand-held camera: a smooth random path
of translation plus small rotation and zoom, rendered at every sub-frame. As in GoPro, a blurry
frame averages N consecutive sub-frames (N odd in --blur-min..--blur-max, spread over the
sequences so they differ in blur strength): as stored for blur/, in linear light (gamma) for
blur_gamma/; its sharp frame is the middle sub-frame. Consecutive frames overlap in content.

--mode uniform makes a known-kernel set instead: each sharp frame is blurred by one random
camera-shake kernel (random trajectories, sides --kernel-min..--kernel-max px, odd) plus
Gaussian noise (--noise), and the kernel is written beside the pair as
OUT/SPLIT/<sequence>/kernel/NNNNNN.png.

Writes OUT/SPLIT/<sequence>/{blur,blur_gamma,sharp}/NNNNNN.png and OUT/synthetic.json (every
parameter and the per-sequence plan). The same arguments give byte-identical files. OUT is
replaced as a whole at the end; a non-empty OUT not written by synth is refused.

Example:
  python -m deblur synth --out data/synthetic --sequences 4 --frames 6 --size 320x180 --seed 0
"""

from __future__ import annotations

import logging
import sys

from deblur.commands.seeds import seed_arg

HELP = "write the embedded synthetic GoPro-like dataset"

log = logging.getLogger(__name__)


def add_arguments(parser):
    from deblur.data.synthetic import MODES, SOURCE_FILES, SynthConfig

    d = SynthConfig()
    parser.add_argument("--out", required=True, metavar="DIR", help="dataset root to write")
    parser.add_argument(
        "--sequences", type=int, default=d.sequences, metavar="S",
        help=f"number of sequences (default: {d.sequences})",
    )  # fmt: skip
    parser.add_argument(
        "--frames", type=int, default=d.frames, metavar="F",
        help=f"blurry/sharp frames per sequence (default: {d.frames})",
    )  # fmt: skip
    parser.add_argument(
        "--size", default=f"{d.size[0]}x{d.size[1]}", metavar="WxH",
        help=f"frame size (default: {d.size[0]}x{d.size[1]})",
    )  # fmt: skip
    parser.add_argument("--seed", type=seed_arg, default=d.seed, help=f"seed (default: {d.seed})")
    parser.add_argument(
        "--split", default=d.split, help=f"split folder to write (default: {d.split})"
    )
    parser.add_argument(
        "--blur-min", type=int, default=d.blur_min, metavar="N",
        help=f"fewest sub-frames averaged per blurry frame (default: {d.blur_min})",
    )  # fmt: skip
    parser.add_argument(
        "--blur-max", type=int, default=d.blur_max, metavar="N",
        help=f"most sub-frames averaged per blurry frame; odd counts in the range are used, "
        f"GoPro uses 7-13 and 11 in its test set (default: {d.blur_max})",
    )  # fmt: skip
    parser.add_argument(
        "--gamma", type=float, default=d.gamma,
        help=f"gamma of the linear-light average in blur_gamma/ (default: {d.gamma})",
    )  # fmt: skip
    parser.add_argument(
        "--speed-min", type=float, default=d.speed_min, metavar="V",
        help=f"slowest camera (RMS frame widths per sub-frame) (default: {d.speed_min})",
    )  # fmt: skip
    parser.add_argument(
        "--speed-max", type=float, default=d.speed_max, metavar="V",
        help=f"fastest camera (RMS frame widths per sub-frame) (default: {d.speed_max})",
    )  # fmt: skip
    parser.add_argument(
        "--rotation", type=float, default=d.rotation_deg, metavar="DEG",
        help=f"peak camera rotation in degrees (default: {d.rotation_deg})",
    )  # fmt: skip
    parser.add_argument(
        "--zoom", type=float, default=d.zoom,
        help=f"peak relative zoom, 0.01 = 1%% (default: {d.zoom})",
    )  # fmt: skip
    parser.add_argument(
        "--sources", default=",".join(d.sources), metavar="NAMES",
        help=f"comma-separated source images from {', '.join(SOURCE_FILES)} (default: all)",
    )  # fmt: skip
    parser.add_argument(
        "--mode", default=d.mode, choices=MODES,
        help=f"camera: average sub-frames (GoPro's non-uniform blur); uniform: one known "
        f"random kernel per frame, written to kernel/ (default: {d.mode})",
    )  # fmt: skip
    parser.add_argument(
        "--kernel-min", type=int, default=d.kernel_min, metavar="PX",
        help=f"uniform mode: smallest kernel side, odd (default: {d.kernel_min})",
    )  # fmt: skip
    parser.add_argument(
        "--kernel-max", type=int, default=d.kernel_max, metavar="PX",
        help=f"uniform mode: largest kernel side, odd (default: {d.kernel_max})",
    )  # fmt: skip
    parser.add_argument(
        "--noise", type=float, default=d.noise, metavar="SIGMA",
        help=f"uniform mode: Gaussian noise standard deviation (default: {d.noise})",
    )  # fmt: skip
    parser.add_argument(
        "--progress", action="store_true",
        help="force the progress bar (default: only when stderr is a terminal)",
    )  # fmt: skip


def run(args):
    from deblur.data.synthetic import synthesize

    pairs = synthesize(
        args.out, args.sequences, args.frames, args.size, args.seed, split=args.split,
        blur_min=args.blur_min, blur_max=args.blur_max, gamma=args.gamma,
        speed_min=args.speed_min, speed_max=args.speed_max, rotation_deg=args.rotation,
        zoom=args.zoom, mode=args.mode, kernel_min=args.kernel_min, kernel_max=args.kernel_max,
        noise=args.noise, sources=tuple(s.strip() for s in args.sources.split(",") if s.strip()),
        progress=args.progress or sys.stderr.isatty(),
    )  # fmt: skip
    log.info("wrote %d pairs to %s (see %s/synthetic.json)", len(pairs), args.out, args.out)
    return 0
