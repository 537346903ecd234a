"""Merge per-pair metrics into tables, bootstrap summaries, paired tests and the paper table.

Writes into --out-dir (each file atomically, byte-identical for the same inputs):
  metrics.parquet       every row of every metrics file, sorted
  summary.parquet       per method x resolution: n, mean, std and 95% bootstrap CI of PSNR and
                        SSIM, plus the method's settings
  paired.parquet        per method x resolution vs --baseline-method: mean difference, paired
                        bootstrap CI, Wilcoxon signed-rank p, better/worse counts
  cost.parquet          per Snakemake job: seconds and memory from the benchmark TSVs, and
                        for a training job its pyramid's whole training time (--models)
  cost_by_rule.parquet  per rule: jobs, total/mean/max seconds (benchmark and, for training,
                        model.json train_seconds), max RSS
  paper_table.md        reported vs reproduced at --resolution (then the other resolution),
                        verdicts, paired differences and compute cost

Example:
  python -m deblur aggregate --metrics results/metrics --benchmarks results/benchmarks \\
      --models results/models/*/*/model.json --out-dir results/tables
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

HELP = "merge metrics into tables, summary, paired tests and the paper table"

log = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from deblur.commands.report_options import add_report_options
    from deblur.evaluation.settings import ReportSettings

    parser.add_argument(
        "--metrics",
        required=True,
        nargs="+",
        type=Path,
        metavar="PATH",
        help="metrics parquet files and/or directories searched recursively for *.parquet",
    )
    parser.add_argument(
        "--benchmarks",
        nargs="+",
        type=Path,
        metavar="PATH",
        help="Snakemake benchmark TSVs of the jobs to count, and/or directories searched for "
        "<rule>/<wildcards...>.tsv; omitted or missing: empty cost tables",
    )
    parser.add_argument(
        "--benchmark-root",
        type=Path,
        metavar="DIR",
        help="benchmark files given one by one are named by their path relative to DIR "
        "(<rule>/<wildcards...>); default: <their folder>/<their name>",
    )
    parser.add_argument(
        "--pairs",
        type=Path,
        default=None,
        metavar="TSV",
        help="the sample sheet (pairs.tsv): the metrics must cover exactly its pairs, every "
        "method on every pair, with the references it lists",
    )
    parser.add_argument(
        "--models",
        nargs="*",
        default=[],
        type=Path,
        metavar="JSON",
        help="model.json of the trained pyramids: a training job (wildcards <cfg>/<ref>, the "
        "model folder's last parts) is costed with the pyramid's whole train_seconds, which "
        "survive a kill and resume (its benchmark times only the last process)",
    )
    parser.add_argument("--out-dir", required=True, type=Path, help="directory for the tables")
    add_report_options(
        parser,
        ReportSettings(),
        reproduced_help="metrics method compared with the paper (default: %(default)s)",
        baseline_help="method paired differences are taken against (default: %(default)s)",
        resolution_help="resolution of the primary table and verdict (default: %(default)s, "
        "the paper's)",
    )


def run(args: argparse.Namespace) -> int:
    from deblur.atomic import write_set
    from deblur.commands.report_options import report_options
    from deblur.data.sampling import read_sample_tsv, sample_table
    from deblur.errors import DeblurError
    from deblur.evaluation.cost import read_benchmarks
    from deblur.evaluation.paper_table import paper_table
    from deblur.evaluation.settings import ReportSettings
    from deblur.evaluation.statistics import paired_differences, summarize
    from deblur.evaluation.tables import check_against_sheet, load_metrics, parquet_bytes
    from deblur.outputs import AGGREGATE_TABLES

    try:
        settings = ReportSettings(**report_options(args))
    except ValueError as exc:
        raise DeblurError(str(exc)) from None
    metrics = load_metrics(args.metrics, exclude=args.out_dir)
    if args.pairs is not None:
        sheet = sample_table(read_sample_tsv(args.pairs))
        check_against_sheet(metrics, sheet, str(args.pairs))
    summary = summarize(metrics, settings)
    paired = paired_differences(metrics, settings)
    cost, cost_by_rule = read_benchmarks(args.benchmarks, args.benchmark_root, args.models)
    out = {key: args.out_dir / name for key, name in AGGREGATE_TABLES.items()}
    paper = paper_table(summary, paired, cost_by_rule, settings)
    frames = dict(metrics=metrics, summary=summary, paired=paired, cost=cost,
                  cost_by_rule=cost_by_rule)  # fmt: skip
    # one set: every table written in full before any replaces the previous run's
    contents = {key: parquet_bytes(df) for key, df in frames.items()} | {"paper": paper.encode()}
    write_set({out[key]: data for key, data in contents.items()})
    for row in summary.itertuples():
        log.info(
            "%s @ %s: n=%d PSNR %.2f [%.2f, %.2f] SSIM %.3f [%.3f, %.3f]",
            row.method,
            row.resolution,
            row.n,
            row.psnr_mean,
            row.psnr_ci_low,
            row.psnr_ci_high,
            row.ssim_mean,
            row.ssim_ci_low,
            row.ssim_ci_high,
        )
    log.info("wrote %s into %s", ", ".join(AGGREGATE_TABLES.values()), args.out_dir)
    return 0
