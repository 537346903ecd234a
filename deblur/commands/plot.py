"""Seaborn figures from the aggregated tables (PNG, written atomically).

Reads TABLES/metrics.parquet and TABLES/paired.parquet (written by `aggregate`) and writes:
  psnr_by_method.png       box + per-pair points per method, a panel per resolution, the
                           paper's value as a dashed reference line
  ssim_by_method.png       the same for SSIM
  psnr_vs_ssim.png         per-pair scatter coloured by method, the paper's point as a star
  examples.png             blurry | each method | sharp for a few pairs (from the path columns)
  paired_vs_<BASELINE>.png per-pair differences to the baseline method with Wilcoxon p
and, when TABLES holds the `study` tables (ablation_summary.parquet, by_sequence.parquet):
  study_steps.png          mean PSNR/SSIM vs G_0 steps k per reference frame
  study_paired.png         every variant's paired difference to the baseline with 95% CI
  study_by_sequence.png    per sequence (strongest blur on top): baseline PSNR and the
                           highlighted methods' differences to it
With many methods (a study) examples.png, psnr_vs_ssim.png and paired_vs_<BASELINE>.png show
the highlighted methods only (--highlight, or automatically at most --max-highlight).

Example:
  python -m deblur plot --tables results/tables --out-dir results/plots
"""

from __future__ import annotations

import argparse
from pathlib import Path

HELP = "seaborn figures from the aggregated tables"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from deblur.commands.report_options import add_highlight_options, add_paper_options
    from deblur.figures.settings import PlotSettings

    d = PlotSettings()
    parser.add_argument(
        "--tables", required=True, type=Path, metavar="DIR", help="output dir of `aggregate`"
    )
    parser.add_argument("--out-dir", required=True, type=Path, help="directory for the PNGs")
    add_paper_options(
        parser,
        d,
        reported_help="paper {metric} drawn as a reference line (default: %(default)s)",
        reproduced_help="method the examples are chosen along (default: %(default)s)",
        baseline_help="method of the paired plot (default: %(default)s)",
        resolution_help="resolution the examples are shown and scored at: model = every panel "
        "at the finest SinGAN scale, full = at the original frame size (default: %(default)s)",
    )
    parser.add_argument("--no-reported", action="store_true", help="draw no paper reference lines")
    parser.add_argument(
        "--n-examples", type=int, default=d.n_examples, help="example pairs (default: %(default)s)"
    )
    parser.add_argument(
        "--example-crop",
        type=float,
        default=d.example_crop,
        metavar="FRACTION",
        help="show a centred crop of this fraction of each image (at the --resolution size) "
        "instead of the whole image (e.g. 0.5; default: whole image)",
    )
    add_highlight_options(
        parser,
        d,
        shown_in="the compact figures (examples, PSNR vs SSIM, per-sequence, paired box plot); "
        "with more methods than --max-highlight they show only these",
    )


def run(args: argparse.Namespace) -> int:
    from deblur.commands.report_options import highlight_options, paper_options
    from deblur.errors import DeblurError
    from deblur.figures.settings import PlotSettings
    from deblur.figures.write import write_all

    if args.n_examples < 1:
        raise DeblurError(f"--n-examples must be >= 1, got {args.n_examples}")
    if not 0 <= args.example_crop <= 1:
        raise DeblurError(f"--example-crop must be in [0, 1], got {args.example_crop}")
    paper = paper_options(args)
    if args.no_reported:
        paper.update(reported_psnr=None, reported_ssim=None)
    settings = PlotSettings(
        **paper,
        n_examples=args.n_examples,
        example_crop=args.example_crop,
        **highlight_options(args),
    )
    write_all(args.tables, args.out_dir, settings)
    return 0
