"""Seeded sample of blurry/sharp pairs from a GoPro tree -> a tab-separated sample sheet.

Indexes ROOT/SPLIT (GOPRO_Large: <sequence>/{blur,blur_gamma,sharp}/NNNNNN.png, or the flattened
input/<sequence>-NNNNNN.png + target/ layout), draws --n pairs without replacement with a local
random generator seeded by --seed, and attaches to each the sharp image SinGAN is trained on.
The same arguments always give a byte-identical sheet.

Columns: pair_id, sequence, frame, blurry, sharp, reference_id, reference, reference_mode,
reference_offset. Pair ids are <sequence>-<frame>; paths start with ROOT exactly as given.

Example (the paper: 100 randomly chosen GoPro test pairs):
  python -m deblur sample --root GOPRO_Large --split test --n 100 --seed 0 --out pairs.tsv
"""

from __future__ import annotations

import logging

HELP = "seeded sample of blurry/sharp pairs from a GoPro tree -> pairs.tsv"

log = logging.getLogger(__name__)


def add_arguments(parser):
    parser.add_argument(
        "--root", required=True, metavar="DIR",
        help="dataset root holding train/ and test/ (GOPRO_Large or a synth output)",
    )  # fmt: skip
    parser.add_argument("--split", default="test", help="split folder under ROOT (default: test)")
    parser.add_argument(
        "--blur-dir", default="blur", choices=("blur", "blur_gamma"),
        help="blurry frames to use: blur (as published) or blur_gamma (averaged in linear light; "
        "GOPRO_Large layout only) (default: blur)",
    )  # fmt: skip
    parser.add_argument(
        "--n", type=int, default=100, metavar="N",
        help="number of pairs to draw without replacement (default: 100, as in the paper)",
    )  # fmt: skip
    parser.add_argument("--seed", type=int, default=0, help="sampling seed (default: 0)")
    parser.add_argument(
        "--strategy", default="uniform", choices=("uniform", "stratified"),
        help="uniform: any N pairs (the paper's 'randomly chosen'); stratified: an equal share "
        "per sequence (default: uniform)",
    )  # fmt: skip
    parser.add_argument(
        "--allow-fewer", action="store_true",
        help="if fewer than N pairs exist, take them all instead of failing",
    )  # fmt: skip
    parser.add_argument(
        "--reference", default="same", choices=("same", "neighbor"),
        help="sharp image SinGAN trains on: same = the pair's own sharp frame (paper §3.2); "
        "neighbor = the sharp frame --offset frames later in the sequence (earlier at the end) "
        "(default: same)",
    )  # fmt: skip
    parser.add_argument(
        "--offset", type=int, default=1, metavar="K",
        help="frame distance of the neighbor reference (default: 1)",
    )  # fmt: skip
    parser.add_argument(
        "--out", required=True, metavar="TSV", help="sample sheet to write (atomically)"
    )


def run(args):
    from deblur.data.gopro import index_pairs
    from deblur.data.sampling import draw_sample, write_sample_tsv

    all_pairs = index_pairs(args.root, split=args.split, blur_dir=args.blur_dir)
    samples = draw_sample(
        all_pairs, n=args.n, seed=args.seed, strategy=args.strategy,
        allow_fewer=args.allow_fewer, reference_mode=args.reference, offset=args.offset,
        where=f"{args.root}/{args.split}",
    )  # fmt: skip
    write_sample_tsv(samples, args.out)
    n_seq = len({p.sequence for p in all_pairs})
    n_seq_sampled = len({s.sequence for s in samples})
    log.info(
        "sampled %d of %d pairs (%d of %d sequences, %s, seed %d, reference %s) -> %s",
        len(samples), len(all_pairs), n_seq_sampled, n_seq, args.strategy, args.seed,
        args.reference, args.out,
    )  # fmt: skip
    return 0
