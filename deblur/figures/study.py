"""Figures of the ablation study, drawn from the tables of :mod:`deblur.evaluation.study`.

- ``study_steps.png``: mean PSNR / SSIM (95% CI) against the G_0 steps k, one line per
  reference (same frame, neighbors), the blurry input and the paper's value as lines.
- ``study_paired.png``: every variant's paired difference to the blurry input (mean, 95% paired
  bootstrap CI) at both resolutions, sorted; readable for dozens of variants.
- ``study_by_sequence.png``: per sequence (strongest blur on top) the blurry input's PSNR and the
  highlighted methods' differences to it; one row per sequence, so 30 sequences stay readable.

Every function returns a matplotlib figure; :func:`deblur.figures.write.write_all` saves them.
"""

from __future__ import annotations

import math

import matplotlib

matplotlib.use("Agg")  # before pyplot: never needs a display

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402

from deblur.evaluation.settings import RESOLUTIONS  # noqa: E402
from deblur.evaluation.study import reference_order  # noqa: E402
from deblur.figures.settings import METRIC_LABELS, PlotSettings  # noqa: E402
from deblur.figures.style import REFERENCE_COLOR, theme  # noqa: E402

BASELINE_COLOR = "0.45"


def _resolutions(table: pd.DataFrame, settings: PlotSettings) -> list[str]:
    present = set(table["resolution"].dropna())
    order = [settings.resolution] + [r for r in RESOLUTIONS if r != settings.resolution]
    return [r for r in order if r in present]


def reference_palette(references) -> dict[str, tuple]:
    """same: blue; neighbors: orange, green, purple, ... by distance; baselines (None): grey."""
    cb = sns.color_palette("colorblind", 10)
    others = [cb[i] for i in (1, 2, 4, 5, 8, 9, 6)]
    colors, k = {}, 0
    for ref in sorted(set(references), key=reference_order):
        if ref is None or ref is pd.NA:
            continue
        if ref == "same":
            colors[ref] = cb[0]
        else:
            colors[ref] = others[k % len(others)]
            k += 1
    return colors


def _empty(text: str):
    fig, ax = plt.subplots(figsize=(6, 2.5))
    ax.axis("off")
    ax.text(0.5, 0.5, text, ha="center", va="center", fontsize=12)
    return fig


def _paper_line(ax, settings: PlotSettings, metric: str, horizontal: bool = True) -> None:
    value = settings.reported(metric)
    if value is None or not math.isfinite(value):
        return
    kw = dict(ls="--", lw=1.5, color=REFERENCE_COLOR, zorder=1, label="reported (paper)")
    (ax.axhline if horizontal else ax.axvline)(value, **kw)


def plot_steps(ranking: pd.DataFrame, settings: PlotSettings):
    """Mean PSNR / SSIM against k (g0 mode, noise on), one line per reference."""
    theme()
    g0 = ranking[
        (ranking["family"] == "singan")
        & (ranking["deblur_mode"] == "g0")
        & (ranking["deblur_noise"].fillna(True).astype(bool))
        & ranking["deblur_steps"].notna()
    ]
    if g0.empty:
        return _empty("no SinGAN g0 variants with noise on")
    resolutions = _resolutions(g0, settings)
    refs = sorted(g0["reference"].dropna().unique(), key=reference_order)
    palette = reference_palette(refs)
    fig, axes = plt.subplots(
        len(resolutions), 2, figsize=(11, 3.9 * len(resolutions)), squeeze=False
    )
    dodge = {r: (i - (len(refs) - 1) / 2) * 0.06 for i, r in enumerate(refs)}
    base = ranking[ranking["method"] == settings.baseline_method]
    for i, resolution in enumerate(resolutions):
        for j, metric in enumerate(("psnr", "ssim")):
            ax = axes[i][j]
            d = g0[g0["resolution"] == resolution]
            for ref in refs:
                r = d[d["reference"] == ref].sort_values("deblur_steps")
                if r.empty:
                    continue
                x = r["deblur_steps"].astype(float).to_numpy() + dodge[ref]
                y = r[f"{metric}_mean"].to_numpy(float)
                err = np.vstack(
                    [y - r[f"{metric}_ci_low"].to_numpy(float), r[f"{metric}_ci_high"] - y]
                )
                ax.errorbar(
                    x, y, yerr=err, marker="o", ms=6, lw=1.8, capsize=3,
                    color=palette[ref], label=f"reference: {ref}",
                )  # fmt: skip
            b = base[base["resolution"] == resolution]
            if len(b):
                b = b.iloc[0]
                ax.axhspan(b[f"{metric}_ci_low"], b[f"{metric}_ci_high"], color="0.85", zorder=0)
                ax.axhline(
                    b[f"{metric}_mean"], color=BASELINE_COLOR, lw=1.5, ls=":", zorder=1,
                    label=f"blurry input ({settings.baseline_method})",
                )  # fmt: skip
            _paper_line(ax, settings, metric)
            steps = sorted(d["deblur_steps"].dropna().astype(int).unique())
            ax.set_xticks(steps)
            ax.set_xlabel("G_0 steps k")
            ax.set_ylabel(METRIC_LABELS[metric])
            n = int(d["n"].max()) if len(d) else 0
            ax.set_title(f"{resolution} resolution (n = {n} pairs)", fontsize=11)
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="upper center", bbox_to_anchor=(0.5, 0.0), ncol=3,
               frameon=False)  # fmt: skip
    fig.suptitle(
        "Mean over pairs vs G_0 steps k (downscale by r^k, then k times upsample + G_0), per "
        "reference frame (g0 mode, noise on)\nbars and grey band: 95% bootstrap CI of the mean",
        fontsize=12,
        y=1.0,
    )
    fig.tight_layout()
    return fig


def plot_study_paired(ranking: pd.DataFrame, settings: PlotSettings):
    """Forest plot: each variant's mean paired difference to the baseline with its 95% paired
    bootstrap CI, both resolutions, variants sorted by ΔPSNR at the primary resolution."""
    theme()
    base = settings.baseline_method
    d = ranking[(ranking["method"] != base) & ranking["psnr_diff_mean"].notna()]
    if d.empty:
        return _empty(f"no paired data vs {base}")
    resolutions = _resolutions(d, settings)
    primary = d[d["resolution"] == resolutions[0]].sort_values(
        ["psnr_diff_mean", "method"], ascending=[False, True]
    )
    order = list(primary["method"]) + sorted(set(d["method"]) - set(primary["method"]))
    ypos = {m: i for i, m in enumerate(order)}
    refs = d.drop_duplicates("method").set_index("method")["reference"]
    palette = reference_palette(refs.dropna())
    markers = {r: ("o", "s", "D")[i % 3] for i, r in enumerate(resolutions)}
    offset = {r: (i - (len(resolutions) - 1) / 2) * 0.22 for i, r in enumerate(resolutions)}
    fig, axes = plt.subplots(
        1, 2, figsize=(12, 0.34 * len(order) + 1.9), sharey=True, squeeze=False
    )
    for ax, metric in zip(axes[0], ("psnr", "ssim"), strict=True):
        for resolution in resolutions:
            r = d[d["resolution"] == resolution]
            for _, row in r.iterrows():
                ref = refs.get(row["method"])
                color = palette.get(ref, BASELINE_COLOR) if isinstance(ref, str) else "0.2"
                mean = row[f"{metric}_diff_mean"]
                lo, hi = row[f"{metric}_diff_ci_low"], row[f"{metric}_diff_ci_high"]
                y = ypos[row["method"]] + offset[resolution]
                filled = resolution == resolutions[0]
                ax.errorbar(
                    [mean], [y], xerr=[[mean - lo], [hi - mean]], fmt=markers[resolution],
                    ms=5.5, color=color, mfc=color if filled else "white", mew=1.3, capsize=2,
                    lw=1.3,
                )  # fmt: skip
        ax.axvline(0, color="0.25", lw=1.2, ls="--", zorder=0)
        ax.set_xlabel(f"Δ{METRIC_LABELS[metric]} vs {base} (variant − {base})")
        ax.grid(axis="y", alpha=0.3)
    ax0 = axes[0][0]
    ax0.set_yticks(range(len(order)))
    ax0.set_yticklabels(order, fontsize=9)
    for tick in ax0.get_yticklabels():  # the paper's setting stands out
        if tick.get_text() == settings.reproduced_method:
            tick.set_fontweight("bold")
    ax0.set_ylim(len(order) - 0.5, -0.5)
    from matplotlib.lines import Line2D

    handles = [
        Line2D([], [], marker=markers[r], ls="", color="0.3",
               mfc="0.3" if r == resolutions[0] else "white", label=f"{r} resolution")
        for r in resolutions
    ]  # fmt: skip
    handles += [
        Line2D([], [], marker="s", ls="", color=c, label=f"reference: {ref}")
        for ref, c in palette.items()
    ]
    if refs.isna().any():
        handles.append(Line2D([], [], marker="s", ls="", color="0.2", label="classical baseline"))
    fig.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, 0.0), ncol=4,
               frameon=False)  # fmt: skip
    n = int(d["n_pairs"].max())
    fig.suptitle(
        f"Paired difference to the blurry input ({base}), n = {n} pairs; right of 0 = better; "
        "bars: 95% paired bootstrap CI",
        fontsize=12,
        y=1.0,
    )
    fig.tight_layout()
    return fig


def plot_by_sequence(sequences: pd.DataFrame, methods: list[str], settings: PlotSettings):
    """One row per sequence, strongest blur (lowest baseline PSNR) on top: the baseline's mean
    PSNR, and each highlighted method's mean ΔPSNR / ΔSSIM vs the baseline (95% CI)."""
    theme()
    base = settings.baseline_method
    resolution = _resolutions(sequences, settings)
    if not resolution:
        return _empty("no per-sequence rows")
    d = sequences[sequences["resolution"] == resolution[0]]
    strength = d.groupby("sequence")["baseline_psnr_mean"].mean().dropna()
    if strength.empty:
        return _empty(f"no {base} rows: the per-sequence breakdown needs the blurry input")
    seqs = sorted(strength.index, key=lambda s: (strength[s], s))
    n = d.groupby("sequence")["n_pairs"].max()
    shown = [m for m in methods if m != base and m in set(d["method"])]
    ypos = {s: i for i, s in enumerate(seqs)}
    cb = sns.color_palette("colorblind", 10)
    colors = {m: cb[[0, 1, 2, 4, 8, 9, 5, 6, 3][i % 9]] for i, m in enumerate(shown)}
    offset = {m: (i - (len(shown) - 1) / 2) * min(0.16, 0.7 / max(len(shown), 1))
              for i, m in enumerate(shown)}  # fmt: skip
    fig, axes = plt.subplots(
        1, 3, figsize=(14, 0.36 * len(seqs) + 2.2), sharey=True,
        gridspec_kw=dict(width_ratios=[0.8, 1.2, 1.2]),
    )  # fmt: skip
    ax = axes[0]
    ax.barh([ypos[s] for s in seqs], [strength[s] for s in seqs], color="0.75", height=0.6)
    ax.set_xlim(min(strength) - 3, max(strength) + 1)
    ax.set_xlabel(f"{base} PSNR (dB): blur strength")
    for j, metric in enumerate(("psnr", "ssim"), start=1):
        ax = axes[j]
        for m in shown:
            r = d[d["method"] == m]
            y = [ypos[s] + offset[m] for s in r["sequence"]]
            mean = r[f"{metric}_vs_baseline_mean"].to_numpy(float)
            lo = mean - r[f"{metric}_vs_baseline_ci_low"].to_numpy(float)
            hi = r[f"{metric}_vs_baseline_ci_high"].to_numpy(float) - mean
            ax.errorbar(mean, y, xerr=[lo, hi], fmt="o", ms=5, color=colors[m], lw=1.1,
                        capsize=1.5, label=m)  # fmt: skip
        ax.axvline(0, color="0.25", lw=1.2, ls="--", zorder=0)
        ax.set_xlabel(f"Δ{METRIC_LABELS[metric]} vs {base}")
    axes[0].set_yticks(range(len(seqs)))
    axes[0].set_yticklabels([f"{s} (n={n[s]})" for s in seqs], fontsize=9)
    axes[0].set_ylim(len(seqs) - 0.5, -0.5)
    handles, labels = axes[1].get_legend_handles_labels()
    fig.legend(handles, labels, loc="upper center", bbox_to_anchor=(0.5, 0.0), ncol=3,
               frameon=False)  # fmt: skip
    fig.suptitle(
        f"Per sequence at {resolution[0]} resolution, strongest blur on top; points: mean over "
        "the sequence's pairs, bars: 95% bootstrap CI",
        fontsize=12,
        y=1.0,
    )
    fig.tight_layout()
    return fig
