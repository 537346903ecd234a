"""The files a run writes, named once: the commands write these names, the workflow declares
them as rule outputs and the tests check them.

Tables go to ``results/tables``, figures to ``results/plots`` (the workflow's layout; the
commands take any ``--out-dir``).
"""

from __future__ import annotations

TABLES_DIR = "results/tables"
PLOTS_DIR = "results/plots"

# written by `aggregate` (key: the rule's output name)
AGGREGATE_TABLES = {
    "metrics": "metrics.parquet",
    "summary": "summary.parquet",
    "paired": "paired.parquet",
    "cost": "cost.parquet",
    "cost_by_rule": "cost_by_rule.parquet",
    "paper": "paper_table.md",
}
# written by `study`
STUDY_TABLES = {
    "ablation": "ablation.parquet",
    "summary": "ablation_summary.parquet",
    "contrasts": "ablation_contrasts.parquet",
    "by_sequence": "by_sequence.parquet",
    "markdown": "ablation.md",
}
# written by `plot` (PNG, without the suffix); the paired figure is named after the baseline
METHOD_FIGURES = ("psnr_by_method", "ssim_by_method", "psnr_vs_ssim", "examples")
STUDY_FIGURES = ("study_steps", "study_paired", "study_by_sequence")


def paired_figure(baseline_method: str) -> str:
    """Name of the per-pair difference figure against ``baseline_method``."""
    return f"paired_vs_{baseline_method}"


def figure_names(baseline_method: str) -> list[str]:
    """Every figure ``plot`` writes, in order (the study ones only with the study tables)."""
    return [*METHOD_FIGURES, paired_figure(baseline_method), *STUDY_FIGURES]
