"""``ablation.md``: the study's Markdown summary, from the tables of
:mod:`deblur.evaluation.study` (rankings per resolution, one-factor contrasts, the per-sequence
breakdown and the variants the dataset could not supply)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pandas as pd

from deblur.evaluation.formatting import (
    format_ci,
    format_number,
    format_p,
    format_signed,
)
from deblur.evaluation.kernel_metrics import SUCCESS_RATIO
from deblur.evaluation.settings import RESOLUTIONS, StudySettings
from deblur.evaluation.study import FACTOR_TEXT, PAPER_FACTORS


def _ci(row, prefix: str, metric: str, signed: bool = False) -> str:
    """``mean [low, high]`` of the row's ``<prefix>_mean/ci_low/ci_high`` columns."""
    mean, low, high = (row[f"{prefix}_{s}"] for s in ("mean", "ci_low", "ci_high"))
    return format_ci(metric, mean, low, high, signed=signed)


def _ranking_section(ranking: pd.DataFrame, resolution: str, settings: StudySettings) -> list:
    d = ranking[ranking["resolution"] == resolution]
    primary = " (primary)" if resolution == settings.resolution else ""
    lines = [f"## Ranking at resolution `{resolution}`{primary}", ""]
    if d.empty:
        return lines + ["No rows at this resolution.", ""]
    base = settings.baseline_method
    lines += [
        f"| PSNR rank | SSIM rank | variant | settings | n | PSNR (dB) [95% CI] "
        f"| ΔPSNR vs `{base}` [95% CI] | p | SSIM [95% CI] | ΔSSIM vs `{base}` [95% CI] | p |",
        "|--:|--:|---|---|--:|---|---|--:|---|---|--:|",
    ]
    for _, r in d.iterrows():
        is_base = r["method"] == base
        dp = "(baseline)" if is_base else _ci(r, "psnr_diff", "psnr", signed=True)
        ds = "(baseline)" if is_base else _ci(r, "ssim_diff", "ssim", signed=True)
        pp = "" if is_base else format_p(r["psnr_wilcoxon_p"])
        ps = "" if is_base else format_p(r["ssim_wilcoxon_p"])
        name = (
            f"**`{r['method']}`**"
            if r["method"] == settings.reproduced_method
            else (f"`{r['method']}`")
        )
        if not is_base and r["baseline_method"] != base:
            name += f" (Δ vs `{r['baseline_method']}`, the blurry input at its size)"
        lines.append(
            f"| {r['rank_psnr']} | {r['rank_ssim']} | {name} | {r['description']} | {r['n']} "
            f"| {_ci(r, 'psnr', 'psnr')} | {dp} | {pp} | {_ci(r, 'ssim', 'ssim')} | {ds} | {ps} |"
        )
    lines.append(
        f"| | | paper (reported) | SinGAN G_0, own sharp frame | ~100 | "
        f"{settings.reported_psnr:g} | | | {settings.reported_ssim:g} | | |"
    )
    return lines + [""]


def _aligned_section(ranking: pd.DataFrame, settings: StudySettings) -> list:
    """Shift-tolerant scores per resolution and, where the true kernel is known, the error
    ratio; nothing when no row has them."""
    d = ranking[ranking["n_aligned"].fillna(0) > 0]
    if d.empty:
        return []
    known = bool((ranking["n_known_kernel"].fillna(0) > 0).any())
    lines = [
        "## Shift-tolerant scores" + (" and known-kernel scores" if known else ""),
        "",
        "A blind estimate of the kernel is defined up to a shift, which moves the output the "
        "other way; plain PSNR punishes that heavily. Aligned: the scores at the best shift "
        "within a small window, with a cropped border (`aligned_convention` in every row; the "
        "paper table keeps the plain scores); shift = mean |(dy, dx)| in pixels at that "
        "resolution."
        + (
            " Error ratio (Levin et al. 2009, full resolution, on pairs with a known kernel): "
            "||x_est − x||² / ||x_oracle − x||², 1 = as good as deblurring with the true kernel; "
            f"success = share of pairs with a ratio of at most {SUCCESS_RATIO:g}; aligned error "
            "ratio: the same with both images aligned by the window above (Levin et al. compare "
            "up to a shift as well); kernel error: L1 distance to the true kernel after "
            "centring, in [0, 2]."
            if known
            else ""
        ),
        "",
    ]
    head = "| resolution | variant | n | PSNR [95% CI] | aligned PSNR [95% CI] "
    head += "| aligned SSIM [95% CI] | shift (px) |"
    rule = "|---|---|--:|---|---|---|--:|"
    if known:
        head += " error ratio (median) | success | aligned error ratio (median) | success "
        head += "| kernel error |"
        rule += "--:|--:|--:|--:|--:|"
    lines += [head, rule]
    order = {r: i for i, r in enumerate(RESOLUTIONS)}
    d = d.assign(_r=d["resolution"].map(order)).sort_values(
        ["_r", "psnr_aligned_mean"], ascending=[True, False], kind="mergesort"
    )
    for _, r in d.iterrows():
        line = (
            f"| {r['resolution']} | `{r['method']}` | {r['n_aligned']} | {_ci(r, 'psnr', 'psnr')} "
            f"| {_ci(r, 'psnr_aligned', 'psnr_aligned')} "
            f"| {_ci(r, 'ssim_aligned', 'ssim_aligned')} "
            f"| {format_number(r['align_shift_mean'], 2)} |"
        )
        if known:
            line += (
                f" {format_number(r['error_ratio_median'], 2)} "
                f"| {format_number(r['error_ratio_success'], 2)} "
                f"| {format_number(r['error_ratio_aligned_median'], 2)} "
                f"| {format_number(r['error_ratio_aligned_success'], 2)} "
                f"| {format_number(r['kernel_error_mean'], 2)} |"
            )
        lines.append(line)
    return lines + [""]


def _contrast_section(table: pd.DataFrame, settings: StudySettings) -> list:
    lines = [
        "## One change at a time",
        "",
        "Each SinGAN variant against the variant that differs only in one factor set back to the "
        "paper's setting (own sharp frame, g0 with k = 1, noise on): paired difference "
        "variant − compared (positive: the change helps), paired bootstrap 95% CI, Wilcoxon p.",
        "",
    ]
    d = table[table["resolution"] == settings.resolution]
    if d.empty:
        return lines + ["No contrasts: no variant differs from another in exactly one factor.", ""]
    lines += [
        f"Resolution `{settings.resolution}`.",
        "",
        "| factor | change | variant | compared with | n | ΔPSNR (dB) [95% CI] | p "
        "| ΔSSIM [95% CI] | p |",
        "|---|---|---|---|--:|---|--:|---|--:|",
    ]
    order = {f: i for i, f in enumerate(PAPER_FACTORS)}
    d = d.assign(_f=d["factor"].map(order)).sort_values(["_f", "method"], kind="mergesort")
    for _, r in d.iterrows():
        lines.append(
            f"| {FACTOR_TEXT[r['factor']]} | {r['change']} | `{r['method']}` "
            f"| `{r['compared_with']}` | {r['n_pairs']} "
            f"| {_ci(r, 'psnr_diff', 'psnr', signed=True)} | {format_p(r['psnr_wilcoxon_p'])} "
            f"| {_ci(r, 'ssim_diff', 'ssim', signed=True)} | {format_p(r['ssim_wilcoxon_p'])} |"
        )
    return lines + [""]


def _sequence_section(seq: pd.DataFrame, highlight: Sequence[str], settings) -> list:
    base = settings.baseline_method
    d = seq[(seq["resolution"] == settings.resolution) & seq["method"].isin(highlight)]
    lines = [
        "## Per sequence",
        "",
        f"Resolution `{settings.resolution}`; sequences from strongest to weakest blur (mean "
        f"PSNR of `{base}`, the blurry input). Cells: mean ΔPSNR (dB) vs `{base}` over the "
        "sequence's pairs.",
        "",
    ]
    if d.empty:
        return lines + ["No rows.", ""]
    methods = [m for m in highlight if m != base and m in set(d["method"])]
    strength = (
        d[d["method"] == base].set_index("sequence")["psnr_mean"]
        if base in set(d["method"])
        else d.groupby("sequence")["baseline_psnr_mean"].mean()
    )
    sequences = sorted(strength.index, key=lambda s: (strength[s], s))
    n = d.groupby("sequence")["n_pairs"].max()
    lines += [
        "| sequence | n | " + f"`{base}` PSNR | " + " | ".join(f"`{m}`" for m in methods) + " |",
        "|---|--:|--:|" + "--:|" * len(methods),
    ]
    cell = d.set_index(["method", "sequence"])["psnr_vs_baseline_mean"]
    for s in sequences:
        vals = [format_signed(cell.get((m, s)), 2) for m in methods]
        lines.append(
            f"| {s} | {n[s]} | {format_number(strength[s], 2)} | " + " | ".join(vals) + " |"
        )
    return lines + [""]


def ablation_markdown(
    ranking: pd.DataFrame,
    contrast_table: pd.DataFrame,
    sequence_table: pd.DataFrame,
    metrics: pd.DataFrame,
    settings: StudySettings,
    skipped: Mapping[str, str] | None = None,
    highlight: Sequence[str] = (),
) -> str:
    """``ablation.md``: what was run on how many pairs, rankings per resolution, one-factor
    contrasts, the per-sequence breakdown and the variants the dataset could not supply."""
    pairs = metrics["pair_id"].nunique()
    sequences = metrics["sequence"].nunique()
    datasets = ", ".join(sorted(set(metrics["dataset"].dropna()))) if "dataset" in metrics else ""
    hashes = sorted(set(metrics["config_hash"].dropna()))
    scales = sorted(set(metrics["num_scales"].dropna()))
    lines = [
        "# Ablation study: baselines and SinGAN deblurring variants",
        "",
        f"{ranking['method'].nunique()} variants on the same {pairs} pairs from {sequences} "
        f"sequences" + (f" (dataset: {datasets})" if datasets else "") + ". "
        f"SinGAN config hash {', '.join(hashes) or 'n/a'}"
        + (f", {', '.join(map(str, scales))} scales" if scales else "")
        + "; every variant with the same reference image uses the same trained pyramid.",
        "",
        f"Statistics over pairs: means with {settings.confidence:.0%} {settings.ci_method} "
        f"bootstrap CIs ({settings.n_boot} resamples, seed {settings.seed}); Δ = variant − "
        f"`{settings.baseline_method}` (the blurry input) on the same pair, with a paired "
        "bootstrap CI (pairs resampled, both methods together) and a two-sided Wilcoxon "
        "signed-rank p (scipy, zero differences dropped). p-values are per comparison, not "
        f"corrected for the number of variants; with n = {pairs} pairs no two-sided Wilcoxon p "
        f"can be below {2 / 2**pairs:.2g}, so read the CIs too.",
        "",
        f"Paper's setting: **`{settings.reproduced_method}`** (bold below). Reported: PSNR "
        f"{settings.reported_psnr:g} dB, SSIM {settings.reported_ssim:g}.",
        "",
    ]
    for resolution in [settings.resolution] + [r for r in RESOLUTIONS if r != settings.resolution]:
        if (ranking["resolution"] == resolution).any():
            lines += _ranking_section(ranking, resolution, settings)
    lines += _aligned_section(ranking, settings)
    lines += _contrast_section(contrast_table, settings)
    lines += _sequence_section(sequence_table, highlight, settings)
    lines += ["## Variants not run", ""]
    if skipped:
        lines += [f"- `{name}`: {why}" for name, why in sorted(skipped.items())]
    else:
        lines.append("None: every configured variant ran on every pair.")
    return "\n".join(lines).rstrip() + "\n"
