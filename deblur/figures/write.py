"""Writing every figure of a run from its tables (``python -m deblur plot``)."""

from __future__ import annotations

import logging
import os
import warnings
from collections.abc import Sequence
from glob import escape as glob_escape
from pathlib import Path

import pandas as pd

from deblur import outputs
from deblur.errors import DeblurError
from deblur.evaluation.study import highlight_methods
from deblur.evaluation.tables import read_parquet
from deblur.figures.methods import plot_by_method, plot_examples, plot_paired, plot_psnr_vs_ssim
from deblur.figures.settings import PlotSettings
from deblur.figures.study import plot_by_sequence, plot_steps, plot_study_paired
from deblur.figures.style import save_figure

log = logging.getLogger(__name__)

# the temporary names deblur.atomic.atomic_path gives a figure while it is written
TEMP_GLOB = ".{name}.png.tmp.*.png"


def figure_names(settings: PlotSettings) -> list[str]:
    """Every figure :func:`write_all` can write (the study ones only with the study tables)."""
    return outputs.figure_names(settings.baseline_method)


def remove_stale_temps(out_dir: str | os.PathLike, names: Sequence[str]) -> list[Path]:
    """Delete the temporary files a killed run left for the figures ``names`` in ``out_dir``
    (``.<name>.png.tmp.*.png``; nothing else is touched). Returns the paths removed."""
    out_dir, removed = Path(out_dir), []
    if not out_dir.is_dir():
        return removed
    for name in names:
        for path in sorted(out_dir.glob(TEMP_GLOB.format(name=glob_escape(name)))):
            if path.is_file():
                path.unlink(missing_ok=True)
                removed.append(path)
                log.info("removed %s (left by an interrupted run)", path)
    return removed


def write_all(
    tables_dir: str | os.PathLike, out_dir: str | os.PathLike, settings: PlotSettings
) -> list[Path]:
    """Read ``metrics.parquet`` and ``paired.parquet`` from ``tables_dir``; write every figure.

    The study figures (``study_steps``, ``study_paired``, ``study_by_sequence``) are written
    when ``ablation_summary.parquet`` and ``by_sequence.parquet`` (from ``study``) are there.
    First the temporary files a killed run left for these figures are removed.
    """
    tables_dir, out_dir = Path(tables_dir), Path(out_dir)
    remove_stale_temps(out_dir, figure_names(settings))
    path = tables_dir / outputs.AGGREGATE_TABLES["metrics"]
    if not path.is_file():
        raise DeblurError(f"{path} not found; run `python -m deblur aggregate` first")
    metrics = read_parquet(path)
    if metrics.empty:
        raise DeblurError(f"{path} has no rows; nothing to plot (re-run aggregate)")
    paired_path = tables_dir / outputs.AGGREGATE_TABLES["paired"]
    paired = read_parquet(paired_path) if paired_path.is_file() else pd.DataFrame()
    ranking_path = tables_dir / outputs.STUDY_TABLES["summary"]
    sequences_path = tables_dir / outputs.STUDY_TABLES["by_sequence"]
    by_method, study = outputs.METHOD_FIGURES, outputs.STUDY_FIGURES
    with warnings.catch_warnings():
        # seaborn 0.13 still passes boxplot(vert=...), deprecated in matplotlib 3.11
        warnings.filterwarnings("ignore", message="vert: bool was deprecated")
        figures = {
            by_method[0]: lambda: plot_by_method(metrics, "psnr", settings),
            by_method[1]: lambda: plot_by_method(metrics, "ssim", settings),
            by_method[2]: lambda: plot_psnr_vs_ssim(metrics, settings),
            by_method[3]: lambda: plot_examples(metrics, settings),
            outputs.paired_figure(settings.baseline_method): lambda: plot_paired(
                metrics, paired, settings
            ),
        }
        if ranking_path.is_file() and sequences_path.is_file():
            ranking, sequences = read_parquet(ranking_path), read_parquet(sequences_path)
            highlight = highlight_methods(metrics, settings)
            figures |= {
                study[0]: lambda: plot_steps(ranking, settings),
                study[1]: lambda: plot_study_paired(ranking, settings),
                study[2]: lambda: plot_by_sequence(sequences, highlight, settings),
            }
        else:
            log.info(
                "no study tables in %s (run `python -m deblur study`): no study_*.png", tables_dir
            )
        # one figure at a time: a study has many, and each holds its images until saved
        return [
            save_figure(make(), out_dir / f"{name}.png", settings.dpi)
            for name, make in figures.items()
        ]
