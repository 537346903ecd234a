"""Ablation study tables from the aggregated metrics: variants ranked, paired vs the baseline.

Reads METRICS (metrics.parquet written by `aggregate`) and writes into --out-dir (each file
atomically, byte-identical for the same inputs):
  ablation.parquet            one row per variant x pair x resolution: the metrics row, the
                              variant's settings (reference, k, mode, inject scale, noise,
                              baseline parameters, a description) and the baseline's scores on
                              the same pair with the differences psnr_vs_baseline/ssim_vs_baseline
  ablation_summary.parquet    per variant x resolution: settings, mean and 95% bootstrap CI of
                              PSNR/SSIM, paired differences vs the baseline (paired bootstrap CI,
                              Wilcoxon signed-rank p), PSNR and SSIM ranks
  ablation_contrasts.parquet  one change at a time: each SinGAN variant minus the variant that
                              differs only in one factor set back to the paper's setting
  by_sequence.parquet         per variant x resolution x sequence: means and the difference to
                              the baseline (sequences differ a lot in blur strength)
  ablation.md                 the Markdown summary of all of the above

Example:
  python -m deblur study --metrics results/tables/metrics.parquet --out-dir results/tables \\
      --reproduced-method singan_same_k1
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

HELP = "ablation tables: variants ranked with CIs, paired differences vs the baseline"

log = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from deblur.commands.report_options import add_highlight_options, add_report_options
    from deblur.evaluation.settings import StudySettings

    d = StudySettings()
    parser.add_argument(
        "--metrics",
        required=True,
        type=Path,
        metavar="PARQUET",
        help="metrics.parquet written by `aggregate`",
    )
    parser.add_argument("--out-dir", required=True, type=Path, help="directory for the tables")
    add_report_options(
        parser,
        d,
        reproduced_help="the paper's setting, marked in the summary (default: %(default)s)",
        baseline_help="the blurry-input method every variant is paired against "
        "(default: %(default)s)",
        resolution_help="primary resolution: ranked first, used for contrasts and the "
        "per-sequence table (default: %(default)s, the paper's)",
    )
    add_highlight_options(parser, d, shown_in="the per-sequence table")
    parser.add_argument(
        "--skipped",
        default="{}",
        metavar="JSON",
        help="variants that were configured but not run, as a JSON object {method: reason} "
        "(the workflow passes those study.skip_unavailable dropped); listed in ablation.md",
    )


def _read_skipped(text: str) -> dict[str, str]:
    from deblur.errors import DeblurError

    try:
        skipped = json.loads(text)
    except ValueError as exc:
        raise DeblurError(f"--skipped is not valid JSON ({exc}); pass an object") from None
    if not isinstance(skipped, dict) or not all(isinstance(v, str) for v in skipped.values()):
        raise DeblurError('--skipped must be a JSON object of strings, e.g. {"m": "why"}')
    return skipped


def run(args: argparse.Namespace) -> int:
    from deblur.atomic import write_set
    from deblur.commands.report_options import highlight_options, report_options
    from deblur.errors import DeblurError
    from deblur.evaluation.study import (
        StudySettings,
        ablation_table,
        by_sequence,
        contrasts,
        highlight_methods,
        rank_variants,
    )
    from deblur.evaluation.study_text import ablation_markdown
    from deblur.evaluation.tables import load_metrics, parquet_bytes
    from deblur.outputs import STUDY_TABLES

    try:
        settings = StudySettings(
            **report_options(args),
            **highlight_options(args),
        )
    except ValueError as exc:
        raise DeblurError(str(exc)) from None
    skipped = _read_skipped(args.skipped)
    if not args.metrics.is_file():
        raise DeblurError(f"{args.metrics} not found; run `python -m deblur aggregate` first")
    metrics = load_metrics([args.metrics])
    if settings.baseline_method not in set(metrics["method"]):
        raise DeblurError(
            f"baseline method {settings.baseline_method!r} has no rows in {args.metrics}; add it "
            "to the methods (kind identity) or pass --baseline-method"
        )
    ablation = ablation_table(metrics, settings)
    ranking = rank_variants(metrics, settings)
    contrast_table = contrasts(metrics, settings)
    sequences = by_sequence(ablation, settings)
    highlight = highlight_methods(metrics, settings)
    out = {key: args.out_dir / name for key, name in STUDY_TABLES.items()}
    text = ablation_markdown(
        ranking, contrast_table, sequences, metrics, settings, skipped, highlight
    )
    frames = dict(ablation=ablation, summary=ranking, contrasts=contrast_table,
                  by_sequence=sequences)  # fmt: skip
    # one set: every table written in full before any replaces the previous run's
    contents = {key: parquet_bytes(df) for key, df in frames.items()} | {"markdown": text.encode()}
    write_set({out[key]: data for key, data in contents.items()})
    top = ranking[ranking["resolution"] == settings.resolution].head(5)
    for row in top.itertuples():
        log.info(
            "#%d %s @ %s: PSNR %.2f (vs %s %+.2f), SSIM %.3f",
            row.rank_psnr,
            row.method,
            row.resolution,
            row.psnr_mean,
            settings.baseline_method,
            row.psnr_diff_mean if row.method != settings.baseline_method else 0.0,
            row.ssim_mean,
        )
    for name, why in sorted(skipped.items()):
        log.info("not run: %s: %s", name, why)
    log.info("wrote %s into %s", ", ".join(STUDY_TABLES.values()), args.out_dir)
    return 0
