"""Summarise the pyramid-size ladder (workflow/presets/ladder.yaml) from finished metrics tables.

Reads one or more metrics tables (results/tables/metrics.parquet of ladder runs, e.g. one on
the real pairs and one on synthetic pairs), and writes into --out-dir (each file atomically):
  ladder.parquet  one row per dataset x cell (max_size, niter) x k x resolution: mean PSNR and
                  SSIM, the blurry input's on the same pairs, the paired differences, training
                  seconds per pyramid, and the provenance (commit, CPU, config hash)
  ladder.md       the same as Markdown tables, with the provenance lines
  ladder_pairs.parquet   the per-pair scores behind the figure (so a later run can merge them)
  ladder_scales.parquet  with --models: per pyramid and scale, seconds per iteration
  ladder.png      mean PSNR/SSIM (model and full resolution) against niter for k = 1, one line
                  per pyramid size, per-pair points, the blurry input and the paper's values

With --previous DIR (an earlier --out-dir), the cells it holds that these metrics lack are kept,
each row with its own provenance (commit, CPU, note), their per-pair points too where that
folder has ladder_pairs.parquet, and their per-scale times.

Example:
  python -m deblur ladder --metrics results/tables/metrics.parquet \\
      ../ladder_syn/results/tables/metrics.parquet --out-dir docs/measured \\
      --commit "$(git rev-parse --short HEAD)"
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from deblur.cpuinfo import cpu_name
from deblur.evaluation.settings import REPORTED_PSNR, REPORTED_SSIM

HELP = "summarise the pyramid-size ladder: table, Markdown and figure per cell"

log = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--metrics",
        required=True,
        nargs="+",
        type=Path,
        help="metrics.parquet files of ladder runs",
    )
    parser.add_argument(
        "--models",
        nargs="*",
        type=Path,
        default=[],
        help="finished model directories: per-scale s/iter in ladder_scales.parquet and ladder.md",
    )
    parser.add_argument("--out-dir", required=True, type=Path, help="folder for ladder.*")
    parser.add_argument("--commit", default="unknown", help="code commit the runs used")
    parser.add_argument(
        "--cpu", default=None, help="machine the runs trained on (default: this machine's CPU)"
    )
    parser.add_argument(
        "--note", default="", help="one more provenance line (e.g. the commands that ran)"
    )
    parser.add_argument(
        "--previous",
        type=Path,
        metavar="DIR",
        help="an earlier --out-dir: keep its cells that these metrics do not have",
    )
    parser.add_argument("--baseline", default="identity", help="blurry-input baseline name")
    parser.add_argument(
        "--reported-psnr", type=float, default=REPORTED_PSNR, help="paper's PSNR (dB)"
    )
    parser.add_argument("--reported-ssim", type=float, default=REPORTED_SSIM, help="paper's SSIM")
    parser.add_argument("--dpi", type=int, default=130, help="figure resolution")


def run(args: argparse.Namespace) -> int:
    import io

    import pandas as pd

    from deblur.atomic import check_output_dir, write_set
    from deblur.errors import DeblurError
    from deblur.evaluation.ladder import (
        ladder_markdown,
        ladder_table,
        pair_rows,
        scale_times,
        scale_times_markdown,
    )
    from deblur.evaluation.tables import parquet_bytes, read_parquet
    from deblur.figures.ladder import plot_ladder

    check_output_dir(args.out_dir)
    frames = []
    for path in args.metrics:
        if not path.is_file():
            raise DeblurError(
                f"--metrics {path} is not a file; pass results/tables/metrics.parquet"
            )
        frames.append(read_parquet(path))
    metrics = pd.concat(frames, ignore_index=True)
    try:
        table = ladder_table(metrics, baseline=args.baseline)
    except ValueError as exc:
        raise DeblurError(f"--metrics: {exc}") from None
    if table.empty:
        files = ", ".join(map(str, args.metrics))
        raise DeblurError(
            f"no ladder rows (methods singan_s<size>_n<niter>_k<k>) in {files}; "
            "run the pipeline with workflow/presets/ladder.yaml first"
        )
    provenance = {
        "commit": args.commit,
        "cpu": args.cpu or cpu_name(),
        "train_cpu_isa": training_cpu_classes(metrics),
        "metrics": ", ".join(str(p) for p in args.metrics),
    }
    if args.note:
        provenance["note"] = args.note
    table = table.assign(**{k: v for k, v in provenance.items() if k != "metrics"})
    pairs = pair_rows(metrics, args.baseline)
    try:
        times = scale_times(args.models) if args.models else None
    except ValueError as exc:
        raise DeblurError(f"--models: {exc}") from None
    if args.previous is not None:
        table, pairs, times = _with_previous(args.previous, table, pairs, times)
    text = ladder_markdown(table, provenance, args.reported_psnr, args.reported_ssim)
    contents = {
        "ladder.parquet": parquet_bytes(table),
        "ladder_pairs.parquet": parquet_bytes(pairs),
    }
    if times is not None:
        contents["ladder_scales.parquet"] = parquet_bytes(times)
        text += "\n" + scale_times_markdown(times)
    contents["ladder.md"] = text.encode()
    reported = {"psnr": args.reported_psnr, "ssim": args.reported_ssim}
    fig = plot_ladder(metrics, reported, table=table, pairs=pairs)
    figure = io.BytesIO()
    fig.savefig(figure, dpi=args.dpi, format="png", metadata={"Software": None})
    contents["ladder.png"] = figure.getvalue()
    # one set: every file written in full before any replaces the previous run's
    write_set({args.out_dir / name: data for name, data in contents.items()})
    log.info(
        "wrote ladder.parquet, ladder.md, ladder.png (%d rows) to %s", len(table), args.out_dir
    )
    return 0


def training_cpu_classes(metrics) -> str:
    """The instruction-set classes of the CPUs that trained the SinGAN rows' pyramids (their
    ``cpu_isa``, from model.json), comma-separated; "not recorded" for models before it was.
    CPU rounding depends on it: the same run trained on an AVX2 and an AVX-512 CPU gives other
    pyramids (docs/speed.md, "Reproducibility")."""
    singan = metrics[metrics["method"].astype(str).str.startswith("singan")]
    values = singan["cpu_isa"].dropna() if "cpu_isa" in singan else []
    return ", ".join(sorted(set(values))) or "not recorded"


def _with_previous(folder: Path, table, pairs, times):
    """The new table, per-pair rows and scale times with ``folder``'s missing cells added."""
    from deblur.errors import DeblurError
    from deblur.evaluation.ladder import merge_previous, merge_scale_times
    from deblur.evaluation.tables import read_parquet

    if not (folder / "ladder.parquet").is_file():
        raise DeblurError(f"--previous {folder} has no ladder.parquet; pass an earlier --out-dir")
    previous = read_parquet(folder / "ladder.parquet")
    old_pairs = folder / "ladder_pairs.parquet"
    old_pairs = read_parquet(old_pairs) if old_pairs.is_file() else None
    table, pairs = merge_previous(table, pairs, previous, old_pairs)
    old_times = folder / "ladder_scales.parquet"
    if old_times.is_file():
        times = merge_scale_times(times, read_parquet(old_times))
    return table, pairs, times
