"""The ladder figure: SinGAN's k = 1 score against training length, one line per pyramid size.

Rows PSNR and SSIM, columns model and full resolution. Lines are means over pairs, the small
points each pair; the dashed line of a size's colour is the blurry input scored at that size's
model resolution (at full resolution all sizes share it), the red dotted line the paper's value.
Datasets are told apart by marker (real GoPro pairs: circles, synthetic pairs: squares) and
the blurry input's line (dashed, dash-dotted).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from deblur.evaluation.ladder import SINGAN_PATTERN, ladder_table, per_pair
from deblur.figures.settings import METRIC_LABELS
from deblur.figures.style import REFERENCE_COLOR

MARKERS = {"gopro": "o", "synthetic": "s"}
BLURRY_LINES = {"gopro": "--", "synthetic": "-."}  # the blurry input's line, per dataset
POINT_JITTER = 0.04  # per-pair points spread this much around their niter, in log10 units
JITTER_SEED = 0
RESOLUTIONS = ("model", "full")


def plot_ladder(
    metrics: pd.DataFrame,
    reported: dict[str, float],
    steps: int = 1,
    table: pd.DataFrame | None = None,
    pairs: pd.DataFrame | None = None,
):
    """The figure (a matplotlib Figure) for the ladder at k = ``steps``: lines from ``table``
    (:func:`ladder_table` of ``metrics`` by default; merged cells of earlier runs included),
    points from the per-pair rows ``pairs`` (:func:`per_pair` of ``metrics`` by default)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import seaborn as sns

    sns.set_theme(style="whitegrid", context="notebook")
    rows = per_pair(metrics) if pairs is None else pairs
    table = ladder_table(metrics) if table is None else table
    cells = table[table["steps"] == steps] if len(table) else table
    singan = rows[(rows["role"] == "singan") & (rows["deblur_steps"] == steps)]
    if cells.empty:
        raise ValueError(f"no ladder rows with k = {steps} (methods matching {SINGAN_PATTERN})")
    sizes = sorted(cells["max_size"].unique())
    colors = dict(zip(sizes, sns.color_palette("viridis", len(sizes)), strict=True))
    rng = np.random.default_rng(JITTER_SEED)
    niters = sorted(cells["niter"].unique())
    fig, axes = plt.subplots(2, 2, figsize=(11, 7.5), sharex=True, squeeze=False)
    for col, resolution in enumerate(RESOLUTIONS):
        for row, metric in enumerate(("psnr", "ssim")):
            ax = axes[row][col]
            for (dataset, size), cell in cells[cells["resolution"] == resolution].groupby(
                ["dataset", "max_size"], sort=True
            ):
                color, marker = colors[size], MARKERS.get(dataset, "^")
                means = cell.set_index("niter")[metric].sort_index()
                group = singan[
                    (singan["resolution"] == resolution)
                    & (singan["dataset"] == dataset)
                    & (singan["size"] == size)
                ]
                x = group["niter"].to_numpy(float) * 10 ** rng.uniform(
                    -POINT_JITTER, POINT_JITTER, len(group)
                )
                ax.scatter(x, group[metric], s=14, color=color, marker=marker, alpha=0.45)
                ax.plot(
                    means.index,
                    means.to_numpy(),
                    marker=marker,
                    color=color,
                    label=f"SinGAN {size} px ({dataset})",
                )
                base = cell[f"blurry_{metric}"].dropna()
                if len(base):
                    ax.axhline(
                        base.mean(),
                        color=color,
                        linestyle=BLURRY_LINES.get(dataset, "--"),
                        linewidth=1,
                        label=f"blurry input {size} px ({dataset})",
                    )
            ax.axhline(
                reported[metric],
                color=REFERENCE_COLOR,
                linestyle=":",
                linewidth=1.5,
                label="paper (reported)",
            )
            ax.set_xscale("log")
            ax.set_xticks(niters)
            ax.set_xticklabels([str(n) for n in niters])
            ax.minorticks_off()
            ax.set_ylabel(METRIC_LABELS[metric])
            ax.set_title(f"{METRIC_LABELS[metric]}, {resolution} resolution")
            if row == 1:
                ax.set_xlabel("training iterations per scale (niter)")
    handles, labels = axes[0][0].get_legend_handles_labels()
    unique = dict(zip(labels, handles, strict=True))
    fig.legend(
        unique.values(), unique.keys(), loc="lower center", ncol=3, frameon=False, fontsize=9
    )
    n_pairs = cells.groupby("dataset")["pairs"].max()
    pairs_text = ", ".join(f"{n} {d} pairs" for d, n in n_pairs.items())
    fig.suptitle(f"SinGAN G_0 (k = {steps}) toward the paper's settings ({pairs_text})")
    fig.tight_layout(rect=(0, 0.1 + 0.02 * (len(unique) // 3), 1, 0.97))
    return fig
