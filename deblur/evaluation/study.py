"""The ablation study: which setting gives the paper's numbers, and what the numbers mean.

Pure functions of the aggregated metrics table (one row per method x pair x resolution), so the
same metrics always give byte-identical study tables. A *variant* is a configured method: a
baseline kind, or a SinGAN deblurring setting (reference frame, G_0 steps k, g0/inject, noise).

- :func:`variant_settings`: one row per variant with its settings and a readable description.
- :func:`ablation_table`: every metrics row with the variant's settings and its paired
  difference to the baseline (the blurry input) on the same pair.
- :func:`rank_variants`: mean PSNR/SSIM with bootstrap CIs and paired differences vs the
  baseline (paired bootstrap CI, Wilcoxon signed-rank p), ranked by mean PSNR and SSIM.
- :func:`contrasts`: one change at a time: each SinGAN variant against the variant that differs
  only by one factor reset to the paper's setting (same reference, g0 with k = 1, noise on).
- :func:`by_sequence`: per variant x sequence means and differences to the baseline.

The Markdown summary (``ablation.md``) is :mod:`deblur.evaluation.study_text`.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping

import numpy as np
import pandas as pd

from deblur.evaluation.formatting import is_missing
from deblur.evaluation.settings import METRICS, RESOLUTIONS, StudySettings
from deblur.evaluation.statistics import (
    DIFF_STATS,
    OPTIONAL_SCORE_DTYPES,
    baseline_for,
    bootstrap_interval,
    metric_differences,
    paired_differences,
    paired_stats,
    summarize,
)
from deblur.evaluation.tables import BOOL, FLOAT, INT, STRING, typed_frame

log = logging.getLogger(__name__)

__all__ = [
    "StudySettings",
    "ablation_table",
    "by_sequence",
    "contrasts",
    "highlight_methods",
    "rank_variants",
    "variant_settings",
]

# a variant's settings: constant over its pairs (reference_offset is taken as its magnitude: a
# neighbor reference lies +offset or -offset frames away depending on the sequence end)
VARIANT_DTYPES = {
    "method": STRING,
    "kind": STRING,
    "family": STRING,
    "reference": STRING,
    "reference_mode": STRING,
    "reference_offset": INT,
    "deblur_steps": INT,
    "deblur_mode": STRING,
    "inject_scale": INT,
    "num_scales": INT,
    "sr_factor": STRING,
    "sr_step": STRING,
    "deblur_noise": BOOL,
    "baseline_params": STRING,
    "description": STRING,
}
SETTING_COLUMNS = tuple(c for c in VARIANT_DTYPES if c not in ("method", "kind", "family"))

# the paper's setting, the point every one-factor contrast starts from
PAPER_FACTORS = {"reference": "same", "inference": ("g0", 1), "noise": True}
FACTOR_TEXT = {
    "reference": "reference frame",
    "inference": "inference (g0 steps k / inject scale / sr / sample)",
    "noise": "noise",
}


# ---------------------------------------------------------------------------------------------
# variants


def reference_label(mode: object, offset: object) -> str | None:
    """``same``, ``neighbor 5`` (frames away, either direction), or None for baselines."""
    if is_missing(mode):
        return None
    if mode == "same":
        return "same"
    return f"neighbor {abs(int(offset))}" if not is_missing(offset) else "neighbor"


def reference_order(label: str | None) -> tuple[int, int, str]:
    """Sort key: same first, then neighbors by distance, baselines (None) last."""
    if is_missing(label):
        return (2, 0, "")
    if label == "same":
        return (0, 0, label)
    digits = label.rsplit(" ", 1)[-1]
    return (1, int(digits) if digits.isdigit() else 0, label)


def _single(series: pd.Series, method: str, column: str) -> object:
    values = series.dropna().unique()
    if len(values) > 1:
        log.warning("%s: %s varies over pairs (%s); recorded as null", method, column, values)
        return None
    return values[0] if len(values) else None


def describe(row: Mapping[str, object]) -> str:
    """A variant's settings in words, e.g. ``neighbor 5, g0 k=2, noise off``."""
    if row.get("family") != "singan":
        params = row.get("baseline_params")
        return f"{row['kind']}" + ("" if is_missing(params) or params == "{}" else f" {params}")
    ref, mode, noise = row.get("reference"), row.get("deblur_mode"), row.get("deblur_noise")
    parts = ["reference not recorded" if is_missing(ref) else str(ref)]
    if is_missing(mode):
        parts.append("deblur mode not recorded")
    elif mode == "inject":
        scale, n = row.get("inject_scale"), row.get("num_scales")
        if is_missing(scale):
            at = "default" + ("" if is_missing(n) else f" of {n}")
        elif int(scale) < 0:
            at = f"{scale}" + (" from the finest" if is_missing(n) else f" ({n + scale} of {n})")
        else:
            at = f"{scale}" + ("" if is_missing(n) else f" of {n}")
        parts.append(f"inject at scale {at}")
    elif mode == "sr":
        parts.append(_sr_text(row.get("sr_factor"), row.get("sr_step")))
    elif mode == "sample":
        parts.append("random sample (input unused)")
    else:
        parts.append(f"g0 k={row.get('deblur_steps')}")
    if not is_missing(noise):
        parts.append("noise on" if bool(noise) else "noise off")
    return ", ".join(parts)


def _sr_text(factor: object, step: object) -> str:
    """``sr x4`` / ``sr full``, with ``(pyramid steps)`` for the pyramid step rule."""
    text = "sr " + ("?" if is_missing(factor) else "full" if factor == "full" else f"x{factor}")
    return text + (" (pyramid steps)" if not is_missing(step) and step == "pyramid" else "")


def variant_settings(metrics: pd.DataFrame) -> pd.DataFrame:
    """One row per method: kind, family (``singan``/``baseline``), reference label, the settings
    columns (null where they do not apply) and a description; sorted by family (baselines
    first), reference, then method name."""
    rows = []
    for method, g in metrics.groupby("method", sort=True):
        kind = _single(g["kind"], method, "kind")
        row: dict[str, object] = dict(method=method, kind=kind)
        row["family"] = "singan" if kind == "singan" else "baseline"
        for c in (
            "reference_mode",
            "deblur_steps",
            "deblur_mode",
            "inject_scale",
            "num_scales",
            "sr_factor",
            "sr_step",
        ):
            row[c] = _single(g[c], method, c) if c in g else None
        row["deblur_noise"] = _single(g["deblur_noise"], method, "deblur_noise")
        offsets = g["reference_offset"].dropna().abs()
        row["reference_offset"] = _single(offsets, method, "reference_offset")
        row["reference"] = reference_label(row["reference_mode"], row["reference_offset"])
        params = g["baseline_params"] if "baseline_params" in g else pd.Series(dtype="object")
        row["baseline_params"] = _single(params, method, "baseline_params")
        row["description"] = describe(row)
        rows.append(row)
    rows.sort(
        key=lambda r: (r["family"] != "baseline", reference_order(r["reference"]), r["method"])
    )
    return typed_frame(rows, VARIANT_DTYPES)


def _inference(row) -> tuple[str, object] | None:
    """("g0", k), ("inject", scale), ("sr", "x4 reference") or ("sample", None); None when the
    rows do not say (unknown settings)."""
    mode = row["deblur_mode"]
    if not is_missing(mode) and mode == "inject":
        return ("inject", None if is_missing(row["inject_scale"]) else int(row["inject_scale"]))
    if not is_missing(mode) and mode == "sr":
        return ("sr", _sr_text(row.get("sr_factor"), row.get("sr_step")))
    if not is_missing(mode) and mode == "sample":
        return ("sample", None)
    if is_missing(mode) or is_missing(row["deblur_steps"]):
        return None
    return ("g0", int(row["deblur_steps"]))


def _factors(row) -> dict[str, object]:
    """A SinGAN variant's settings as the factors contrasts vary (None: not recorded)."""
    return {
        "reference": None if is_missing(row["reference"]) else row["reference"],
        "inference": _inference(row),
        "noise": None if is_missing(row["deblur_noise"]) else bool(row["deblur_noise"]),
    }


def highlight_methods(metrics: pd.DataFrame, settings) -> list[str]:
    """Methods the compact figures show (examples, per-sequence breakdown).

    ``settings.highlight`` when given (unknown names are dropped with a warning). Otherwise, in
    this order and at most ``settings.max_highlight``: the baseline, the reproduced (paper's)
    method, the other baselines by name, then one SinGAN variant per other reference frame
    (neighbor 1, 5, ... nearest first): the one with the reproduced method's deblurring settings
    (what changes with a non-leaking reference), or, if none was run, the one with the highest
    mean PSNR at ``settings.resolution``. The k / inject / noise ablations are in the study
    figures, not here.
    """
    present = set(metrics["method"].dropna())
    if settings.highlight:
        unknown = [m for m in settings.highlight if m not in present]
        if unknown:
            log.warning("highlight: no rows for %s; left out", ", ".join(unknown))
        return [m for m in dict.fromkeys(settings.highlight) if m in present]
    variants = variant_settings(metrics)
    chosen = [m for m in (settings.baseline_method, settings.reproduced_method) if m in present]
    chosen += sorted(
        m for m in variants.loc[variants["family"] == "baseline", "method"] if m not in chosen
    )
    d = metrics[metrics["resolution"] == settings.resolution]
    means = d.groupby("method")["psnr"].mean()
    singan = variants[variants["family"] == "singan"].set_index("method", drop=False)
    paper = (
        _factors(singan.loc[settings.reproduced_method])
        if settings.reproduced_method in singan.index
        else None
    )
    for ref in sorted(singan["reference"].dropna().unique(), key=reference_order):
        members = sorted(m for m in singan.index[singan["reference"] == ref] if m in means)
        if not members or (paper is not None and ref == paper["reference"]):
            continue
        twins = [
            m for m in members if paper and _factors(singan.loc[m]) == paper | {"reference": ref}
        ]
        chosen.append(twins[0] if twins else max(members, key=lambda m: means[m]))
    return list(dict.fromkeys(chosen))[: settings.max_highlight]


# ---------------------------------------------------------------------------------------------
# tables


def ablation_table(metrics: pd.DataFrame, settings: StudySettings) -> pd.DataFrame:
    """Every metrics row (one per variant x pair x resolution) with the variant's settings in
    front (``family``, ``reference``, ``description``; ``reference_offset`` signed as used for
    that pair) and its baseline's scores on the same pair and resolution
    (``baseline_psnr``/``baseline_ssim``) and the differences ``psnr_vs_baseline`` /
    ``ssim_vs_baseline`` (positive: better than the blurry input). Null where the baseline has no
    row for that pair."""
    variants = variant_settings(metrics).set_index("method")
    base_name = settings.baseline_method
    # each row's baseline: the blurry input scored at the row's own size (baseline_for)
    refs = {
        key: baseline_for(metrics, *key, base_name)
        for key in metrics[["method", "resolution"]].drop_duplicates().itertuples(index=False)
    }
    keys = zip(metrics["method"], metrics["resolution"], strict=True)
    ref = pd.Series([refs[k] for k in keys], index=metrics.index, dtype=STRING)
    base = metrics[["pair_id", "resolution", "method", *METRICS]].rename(
        columns={"method": "baseline_method"} | {m: f"baseline_{m}" for m in METRICS}
    )
    out = metrics.assign(baseline_method=ref).merge(
        base, on=["pair_id", "resolution", "baseline_method"], how="left", validate="many_to_one"
    )
    for m in METRICS:
        out[f"{m}_vs_baseline"] = out[m] - out[f"baseline_{m}"]
    for c in ("family", "reference", "description"):
        out[c] = out["method"].map(variants[c]).astype(STRING)
    front = [
        "method",
        "family",
        "reference",
        "reference_mode",
        "reference_offset",
        "deblur_steps",
        "deblur_mode",
        "inject_scale",
        "num_scales",
        "sr_factor",
        "sr_step",
        "deblur_noise",
        "description",
        "pair_id",
        "sequence",
        "frame",
        "resolution",
        "psnr",
        "ssim",
        "baseline_method",
        "baseline_psnr",
        "baseline_ssim",
        "psnr_vs_baseline",
        "ssim_vs_baseline",
    ]
    front = [c for c in front if c in out]
    out = out[front + [c for c in out.columns if c not in front]]
    order = {m: i for i, m in enumerate(variants.index)}
    res = {r: i for i, r in enumerate(RESOLUTIONS)}
    key = pd.DataFrame(
        {
            "_r": out["resolution"].map(lambda r: res.get(r, len(res))),
            "_m": out["method"].map(order),
            "_p": out["pair_id"].astype(str),
        }
    )
    idx = key.sort_values(["_r", "_m", "_p"], kind="mergesort").index
    return out.loc[idx].reset_index(drop=True)


RANK_EXTRA_DTYPES = {"rank_psnr": INT, "rank_ssim": INT}


def rank_variants(metrics: pd.DataFrame, settings: StudySettings) -> pd.DataFrame:
    """Per variant x resolution: settings, n, mean PSNR/SSIM with bootstrap CIs, paired
    differences vs the baseline (mean, paired bootstrap CI, Wilcoxon p, better/worse counts)
    and ranks by mean PSNR and by mean SSIM (1 = best, ties share the best rank); rows sorted
    by resolution (primary first), then PSNR rank."""
    summary = summarize(metrics, settings)
    keep = ["method", "resolution", "n"]
    keep += [f"{m}_{s}" for m in METRICS for s in ("mean", "std", "ci_low", "ci_high")]
    summary = summary[keep + list(OPTIONAL_SCORE_DTYPES)]
    paired = paired_differences(metrics, settings)
    out = summary.merge(paired, on=["method", "resolution"], how="left")
    variants = variant_settings(metrics)
    out = variants.merge(out, on="method", how="right")
    # a method paired with nothing (the baseline itself) names the run's baseline
    out["baseline_method"] = out["baseline_method"].fillna(settings.baseline_method).astype(STRING)
    for m in METRICS:
        out[f"rank_{m}"] = (
            out.groupby("resolution")[f"{m}_mean"].rank(method="min", ascending=False)
        ).astype(INT)
    out["n_pairs"] = out["n_pairs"].astype(INT)
    primary = [settings.resolution] + [r for r in RESOLUTIONS if r != settings.resolution]
    res = {r: i for i, r in enumerate(primary)}
    out["_r"] = out["resolution"].map(lambda r: res.get(r, len(res)))
    out = out.sort_values(["_r", "rank_psnr", "method"], kind="mergesort").drop(columns="_r")
    cols = ["method", "resolution", "rank_psnr", "rank_ssim"]
    return out[cols + [c for c in out.columns if c not in cols]].reset_index(drop=True)


def paired_contrast(
    metrics: pd.DataFrame, method: str, other: str, resolution: str, settings: StudySettings
) -> dict[str, object]:
    """``method - other`` on the pairs both have at ``resolution``: mean difference, paired
    bootstrap CI and Wilcoxon p per metric, and the number of pairs."""
    d = metrics[metrics["resolution"] == resolution]
    a = d[d["method"] == method][["pair_id", *METRICS]]
    b = d[d["method"] == other][["pair_id", *METRICS]]
    j = a.merge(b, on="pair_id", suffixes=("", "_other"), validate="one_to_one")
    return dict(n_pairs=len(j)) | paired_stats(metric_differences(j, "_other"), settings)


CONTRAST_DTYPES = {
    "method": STRING,
    "compared_with": STRING,
    "factor": STRING,
    "change": STRING,
    "resolution": STRING,
    "n_pairs": INT,
}
CONTRAST_DTYPES |= {f"{m}_{s}": FLOAT for m in METRICS for s in DIFF_STATS}


def _factor_text(factor: str, value: object) -> str:
    if factor == "inference":
        mode, x = value
        if mode in ("sr", "sample"):
            return x if mode == "sr" else "random sample"
        return f"g0 k={x}" if mode == "g0" else f"inject at {x if x is not None else 'default'}"
    if factor == "noise":
        return "noise on" if value else "noise off"
    return str(value)


def contrasts(metrics: pd.DataFrame, settings: StudySettings) -> pd.DataFrame:
    """One change at a time. For each SinGAN variant and each factor (reference, inference,
    noise) where it differs from the paper's setting (:data:`PAPER_FACTORS`), the paired
    difference to the variant that is identical except for that factor set back to the paper's
    value, when such a variant was run. E.g. ``neighbor 5, g0 k=3`` against ``same, g0 k=3``
    (reference) and against ``neighbor 5, g0 k=1`` (inference). Positive: the variant scores
    higher than the one it is compared with."""
    variants = variant_settings(metrics)
    singan = variants[variants["family"] == "singan"]
    by_factors = {}
    for _, r in singan.iterrows():
        key = tuple(sorted(_factors(r).items(), key=lambda kv: kv[0]))
        by_factors.setdefault(key, r["method"])
    rows = []
    resolutions = [settings.resolution] + [r for r in RESOLUTIONS if r != settings.resolution]
    for _, r in singan.iterrows():
        factors = _factors(r)
        for factor, paper_value in PAPER_FACTORS.items():
            if factors[factor] is None or factors[factor] == paper_value:
                continue
            base = dict(factors, **{factor: paper_value})
            other = by_factors.get(tuple(sorted(base.items(), key=lambda kv: kv[0])))
            if other is None:
                continue
            change = (
                f"{_factor_text(factor, paper_value)} -> {_factor_text(factor, factors[factor])}"
            )
            for resolution in resolutions:
                if not (metrics["resolution"] == resolution).any():
                    continue
                row = dict(
                    method=r["method"],
                    compared_with=other,
                    factor=factor,
                    change=change,
                    resolution=resolution,
                )
                rows.append(
                    row | paired_contrast(metrics, r["method"], other, resolution, settings)
                )
    return typed_frame(rows, CONTRAST_DTYPES)


BY_SEQUENCE_DTYPES = {
    "method": STRING,
    "resolution": STRING,
    "sequence": STRING,
    "n_pairs": INT,
    "psnr_mean": FLOAT,
    "ssim_mean": FLOAT,
    "baseline_psnr_mean": FLOAT,
    "baseline_ssim_mean": FLOAT,
    "psnr_vs_baseline_mean": FLOAT,
    "psnr_vs_baseline_ci_low": FLOAT,
    "psnr_vs_baseline_ci_high": FLOAT,
    "ssim_vs_baseline_mean": FLOAT,
    "ssim_vs_baseline_ci_low": FLOAT,
    "ssim_vs_baseline_ci_high": FLOAT,
}


def by_sequence(ablation: pd.DataFrame, settings: StudySettings) -> pd.DataFrame:
    """Per variant x resolution x sequence: mean scores, the baseline's mean on the same pairs
    (the sequence's blur strength: lower means stronger blur) and the mean difference to the
    baseline with a paired bootstrap CI over the sequence's pairs (none when n = 1)."""
    rows = []
    keys = ["method", "resolution", "sequence"]
    for (method, resolution, sequence), g in ablation.groupby(keys, sort=True, dropna=False):
        row: dict[str, object] = dict(
            method=method, resolution=resolution, sequence=sequence, n_pairs=len(g)
        )
        for m in METRICS:
            row[f"{m}_mean"] = float(g[m].mean())
            row[f"baseline_{m}_mean"] = float(g[f"baseline_{m}"].mean())
            d = g[f"{m}_vs_baseline"].dropna().to_numpy(np.float64)
            row[f"{m}_vs_baseline_mean"] = float(d.mean()) if len(d) else math.nan
            low = high = math.nan
            if len(d):
                lo, hi = bootstrap_interval(d, settings)
                low, high = float(lo), float(hi)
            row[f"{m}_vs_baseline_ci_low"], row[f"{m}_vs_baseline_ci_high"] = low, high
        rows.append(row)
    return typed_frame(rows, BY_SEQUENCE_DTYPES)
