"""Seeded sample of blurry/sharp pairs from a GoPro tree -> a tab-separated sample sheet.

Indexes ROOT/SPLIT (GOPRO_Large: <sequence>/{blur,blur_gamma,sharp}/NNNNNN.png, or the flattened
input/<sequence>-NNNNNN.png + target/ layout), draws --n pairs without replacement with a local
random generator seeded by --seed, and attaches to each the sharp image SinGAN is trained on.
The same arguments always give a byte-identical sheet.

Columns: pair_id, sequence, frame, blurry, sharp, reference_id, reference, reference_mode,
reference_offset; one row per pair and --reference (the workflow passes the references its
SinGAN methods use). Pair ids are <sequence>-<frame>; paths start with ROOT exactly as given.

Example (the paper: 100 randomly chosen GoPro test pairs):
  python -m deblur sample --root GOPRO_Large --split test --n 100 --seed 0 --out pairs.tsv
"""

from __future__ import annotations

import logging

from deblur.commands.seeds import seed_arg

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
    parser.add_argument("--seed", type=seed_arg, default=0, help="sampling seed (default: 0)")
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
        "--reference", action="append", default=[], metavar="MODE[:K]",
        help="sharp image SinGAN trains on, repeatable (one sheet row per pair and reference): "
        "same = the pair's own sharp frame (paper §3.2); neighbor = the sharp frame --offset "
        "frames later in the sequence (earlier at the end); neighbor:K = K frames away "
        "(default: same)",
    )  # fmt: skip
    parser.add_argument(
        "--offset", type=int, default=1, metavar="K",
        help="frame distance of a plain --reference neighbor (default: 1)",
    )  # fmt: skip
    parser.add_argument(
        "--out", required=True, metavar="TSV", help="sample sheet to write (atomically)"
    )


def parse_reference(text: str, offset: int) -> tuple[str, int]:
    """``same`` / ``neighbor`` / ``neighbor:K`` -> (mode, offset)."""
    from deblur.errors import DeblurError

    mode, sep, k = text.partition(":")
    if mode not in ("same", "neighbor") or (sep and (mode == "same" or not k.isdigit())):
        raise DeblurError(f"--reference {text!r}: use same, neighbor or neighbor:K (K >= 1)")
    return mode, (int(k) if sep else offset) if mode == "neighbor" else 0


def run(args):
    from deblur.data.gopro import index_pairs
    from deblur.data.sampling import assign_references, sample_pairs, write_sample_tsv

    specs = [parse_reference(r, args.offset) for r in args.reference or ["same"]]
    all_pairs = index_pairs(args.root, split=args.split, blur_dir=args.blur_dir)
    sampled = sample_pairs(
        all_pairs, args.n, args.seed, args.strategy, args.allow_fewer,
        where=f"{args.root}/{args.split}",
    )  # fmt: skip
    per_spec = [assign_references(sampled, all_pairs, mode, k) for mode, k in dict.fromkeys(specs)]
    # one row per pair and reference, grouped by pair in sample order
    samples = [rows[i] for i in range(len(sampled)) for rows in per_spec]
    write_sample_tsv(samples, args.out)
    n_seq = len({p.sequence for p in all_pairs})
    n_seq_sampled = len({s.sequence for s in samples})
    log.info(
        "sampled %d of %d pairs (%d of %d sequences, %s, seed %d, reference %s) -> %s",
        len(samples), len(all_pairs), n_seq_sampled, n_seq, args.strategy, args.seed,
        ", ".join(args.reference or ["same"]), args.out,
    )  # fmt: skip
    return 0
