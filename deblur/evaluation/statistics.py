"""Statistics over pairs: per-method summaries with bootstrap CIs and paired differences.

Pure functions of the metrics table (seeded :func:`scipy.stats.bootstrap`, sorted rows), so
the same metrics always give byte-identical tables: :func:`summarize` (n, mean, std, bootstrap
CI (percentile by default, BCa or basic on request) per method x resolution, with the method's
settings), :func:`paired_differences` (per method vs the baseline on the same pairs: mean
difference, paired bootstrap CI, Wilcoxon signed-rank p).
"""

from __future__ import annotations

import logging
import math
import warnings
from collections.abc import Sequence

import numpy as np
import pandas as pd

from deblur.evaluation.kernel_metrics import SUCCESS_RATIO
from deblur.evaluation.settings import ALIGNED_METRICS, METRICS, RESOLUTIONS, ReportSettings
from deblur.evaluation.tables import FLOAT, INT, METRICS_SCHEMA, STRING, typed_frame

log = logging.getLogger(__name__)

# per-method settings reported in the summary (when constant within a method x resolution)
SETTINGS_COLUMNS = (
    "kind",
    "reference_mode",
    "reference_offset",
    "deblur_steps",
    "deblur_mode",
    "inject_scale",
    "sr_factor",
    "sr_step",
    "deblur_passes",
    "deblur_out_height",
    "deblur_out_width",
    "deblur_noise",
    "config_hash",
    "device",
    "package_version",
    "torch_version",
    "skimage_version",
    "metric_convention",
)


def bootstrap_interval(
    values: np.ndarray, settings: ReportSettings
) -> tuple[np.ndarray, np.ndarray]:
    """``settings.ci_method`` bootstrap interval of the mean of ``values`` along axis 0.

    ``values`` may be (n,) or (n, k): rows are resampled together (one set of resampling
    indices for all k columns), so paired columns stay paired. :func:`scipy.stats.bootstrap`
    does the work, vectorised and seeded with a fresh ``numpy.random.default_rng(settings.seed)``
    per call, so every group's interval is independent of which other groups exist. Fewer than
    two values have no interval (NaN); so has a BCa interval of constant data.
    """
    from scipy.stats import bootstrap

    values = np.asarray(values, dtype=np.float64)
    shape = values.shape[1:]
    if len(values) < 2:
        return np.full(shape, math.nan), np.full(shape, math.nan)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # degenerate (constant) data: BCa is NaN, said above
        result = bootstrap(
            (values,),
            np.mean,
            n_resamples=settings.n_boot,
            confidence_level=settings.confidence,
            method=settings.ci_method,
            axis=0,
            vectorized=True,
            batch=max(1, 2_000_000 // len(values)),  # bound memory for large n
            rng=np.random.default_rng(settings.seed),
        )
    ci = result.confidence_interval
    return np.asarray(ci.low, dtype=np.float64), np.asarray(ci.high, dtype=np.float64)


def bootstrap_ci(
    values: Sequence[float],
    n_boot: int = 10_000,
    seed: int = 0,
    confidence: float = 0.95,
    method: str = "percentile",
) -> tuple[float, float]:
    """Bootstrap ``confidence`` interval (``method``: percentile, basic or BCa) of the mean of
    ``values``; NaN for a single value."""
    values = np.asarray(values, dtype=np.float64)
    if values.ndim != 1 or len(values) == 0:
        raise ValueError(f"values must be a non-empty 1-D sequence, got shape {values.shape}")
    settings = ReportSettings(n_boot=n_boot, seed=seed, confidence=confidence, ci_method=method)
    low, high = bootstrap_interval(values, settings)
    return float(low), float(high)


def resolution_order(df: pd.DataFrame) -> pd.Series:
    order = {r: i for i, r in enumerate(RESOLUTIONS)}
    return df["resolution"].map(lambda r: order.get(r, len(order))).astype("int64")


def _constant(series: pd.Series) -> tuple[bool, object]:
    values = series.dropna().unique()
    if len(values) == 0:
        return True, None
    return len(values) == 1 and not series.isna().any(), values[0]


def _present(g: pd.DataFrame, column: str) -> np.ndarray:
    """The non-missing values of an optional column (empty where no row has it)."""
    return g[column].dropna().to_numpy(np.float64) if column in g else np.empty(0)


def _aligned_and_kernel(g: pd.DataFrame, settings: ReportSettings) -> dict[str, object]:
    """The optional scores of a method x resolution group: mean and bootstrap CI of the
    shift-tolerant PSNR/SSIM and the mean |shift| over the rows that have them (``n_aligned``);
    where the true kernel is known, the error ratio's median, mean and success rate (ratio at
    most :data:`SUCCESS_RATIO`), the aligned error ratio's median and success rate, and the mean
    kernel error (``n_known_kernel``)."""
    row: dict[str, object] = {}
    have = g.dropna(subset=list(ALIGNED_METRICS))
    row["n_aligned"] = len(have)
    values = have[list(ALIGNED_METRICS)].to_numpy(dtype=np.float64)
    low, high = bootstrap_interval(values, settings)
    for i, m in enumerate(ALIGNED_METRICS):
        row[f"{m}_mean"] = float(values[:, i].mean()) if len(have) else math.nan
        row[f"{m}_ci_low"], row[f"{m}_ci_high"] = float(low[i]), float(high[i])
    shift = np.hypot(have["align_dy"].to_numpy(np.float64), have["align_dx"].to_numpy(np.float64))
    row["align_shift_mean"] = float(shift.mean()) if len(have) else math.nan
    ratio = _present(g, "error_ratio")
    row["n_known_kernel"] = len(ratio)
    row["error_ratio_mean"] = float(ratio.mean()) if len(ratio) else math.nan
    for column in ("error_ratio", "error_ratio_aligned"):
        ratio = _present(g, column)
        row[f"{column}_median"] = float(np.median(ratio)) if len(ratio) else math.nan
        row[f"{column}_success"] = (
            float((ratio <= SUCCESS_RATIO).mean()) if len(ratio) else math.nan
        )
    kerr = g["kernel_error"].dropna() if "kernel_error" in g else pd.Series(dtype=float)
    row["kernel_error_mean"] = float(kerr.mean()) if len(kerr) else math.nan
    return row


# the columns _aligned_and_kernel adds to every summary row
OPTIONAL_SCORE_DTYPES = {"n_aligned": INT}
OPTIONAL_SCORE_DTYPES |= {
    f"{m}_{s}": FLOAT for m in ALIGNED_METRICS for s in ("mean", "ci_low", "ci_high")
}
OPTIONAL_SCORE_DTYPES |= {"align_shift_mean": FLOAT, "n_known_kernel": INT}
OPTIONAL_SCORE_DTYPES |= {
    c: FLOAT
    for c in (
        "error_ratio_median",
        "error_ratio_mean",
        "error_ratio_success",
        "error_ratio_aligned_median",
        "error_ratio_aligned_success",
        "kernel_error_mean",
    )
}


def summarize(metrics: pd.DataFrame, settings: ReportSettings) -> pd.DataFrame:
    """Per method x resolution: n, mean, std (ddof 1) and bootstrap CI of PSNR and SSIM.

    Also the shift-tolerant and known-kernel scores where the rows have them (columns of
    :data:`OPTIONAL_SCORE_DTYPES`, NaN otherwise) and the method's settings: each of
    :data:`SETTINGS_COLUMNS` (and each extra column that is constant within every group) with
    its value when constant within the group, else null and named in ``settings_varying``; and
    ``train_seconds_mean``.
    """
    extras = [c for c in metrics.columns if c not in METRICS_SCHEMA]
    groups = list(metrics.groupby(["method", "resolution"], sort=True, dropna=False))
    constant_extras = [c for c in extras if all(_constant(g[c])[0] for _, g in groups)]
    rows = []
    for (method, resolution), g in groups:
        row: dict[str, object] = {"method": method, "resolution": resolution, "n": len(g)}
        values = g[list(METRICS)].to_numpy(dtype=np.float64)
        low, high = bootstrap_interval(values, settings)
        for i, m in enumerate(METRICS):
            row[f"{m}_mean"] = float(values[:, i].mean())
            row[f"{m}_std"] = float(values[:, i].std(ddof=1)) if len(g) > 1 else math.nan
            row[f"{m}_ci_low"], row[f"{m}_ci_high"] = float(low[i]), float(high[i])
        row |= _aligned_and_kernel(g, settings)
        train = g["train_seconds"].dropna()
        row["train_seconds_mean"] = float(train.mean()) if len(train) else math.nan
        varying = []
        for c in SETTINGS_COLUMNS:
            ok, value = _constant(g[c])
            row[c] = value if ok else None
            if not ok:
                varying.append(c)
        row["settings_varying"] = ",".join(varying)
        for c in constant_extras:
            row[c] = _constant(g[c])[1]
        rows.append(row)
    dtypes = {"method": STRING, "resolution": STRING, "n": INT}
    dtypes |= {f"{m}_{s}": FLOAT for m in METRICS for s in ("mean", "std", "ci_low", "ci_high")}
    dtypes |= OPTIONAL_SCORE_DTYPES | {"train_seconds_mean": FLOAT}
    dtypes |= {c: METRICS_SCHEMA[c] for c in SETTINGS_COLUMNS} | {"settings_varying": STRING}
    dtypes |= {c: str(metrics[c].dtype) for c in constant_extras}
    summary = typed_frame(rows, dtypes)
    if len(summary):
        summary = summary.assign(_r=resolution_order(summary))
        summary = summary.sort_values(["_r", "method"], kind="mergesort").drop(columns="_r")
    return summary.reset_index(drop=True)


# per metric, what paired_stats reports on paired differences
DIFF_STATS = ("diff_mean", "diff_ci_low", "diff_ci_high", "wilcoxon_p")

PAIRED_DTYPES = {"method": STRING, "baseline_method": STRING, "resolution": STRING, "n_pairs": INT}
for _m in METRICS:
    PAIRED_DTYPES |= {f"{_m}_{s}": FLOAT for s in DIFF_STATS}
    PAIRED_DTYPES |= {f"{_m}_n_better": INT, f"{_m}_n_worse": INT}


def wilcoxon_p(diff: np.ndarray) -> float:
    """Two-sided Wilcoxon signed-rank p of paired differences (zeros dropped); NaN if no data."""
    from scipy.stats import wilcoxon

    diff = np.asarray(diff, dtype=np.float64)
    if not np.any(diff != 0) or not np.all(np.isfinite(diff)):
        return math.nan
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # small-n / ties notices; the p-value is still defined
        try:
            return float(wilcoxon(diff, zero_method="wilcox", alternative="two-sided").pvalue)
        except ValueError:
            return math.nan


def metric_differences(joined: pd.DataFrame, suffix: str) -> np.ndarray:
    """(n_pairs, len(METRICS)) array of ``metric - metric<suffix>`` from a merged frame."""
    return np.stack(
        [(joined[m] - joined[f"{m}{suffix}"]).to_numpy(np.float64) for m in METRICS], axis=1
    )


def paired_stats(diff: np.ndarray, settings: ReportSettings) -> dict[str, float]:
    """Per metric (``diff``'s columns, in :data:`METRICS` order), the :data:`DIFF_STATS`: mean
    difference, paired bootstrap CI of the mean (pairs resampled jointly for all
    metrics) and the Wilcoxon signed-rank p; NaN where there are no pairs."""
    low = high = np.full(len(METRICS), math.nan)
    if len(diff):
        low, high = bootstrap_interval(diff, settings)
    row: dict[str, float] = {}
    for i, m in enumerate(METRICS):
        d = diff[:, i]
        row[f"{m}_diff_mean"] = float(d.mean()) if len(d) else math.nan
        row[f"{m}_diff_ci_low"], row[f"{m}_diff_ci_high"] = float(low[i]), float(high[i])
        row[f"{m}_wilcoxon_p"] = wilcoxon_p(d)
    return row


def _single(rows: pd.DataFrame, column: str):
    """The one value of ``column`` in ``rows`` (None when absent, empty or not unique)."""
    if column not in rows.columns:
        return None
    values = rows[column].dropna().unique()
    return values[0] if len(values) == 1 else None


def baseline_for(metrics: pd.DataFrame, method: str, resolution: str, base_name: str):
    """The method ``method``'s rows at ``resolution`` are paired with.

    The baseline ``base_name``, except at the model resolution for a method scored at another
    size (``eval_max_size``) than the baseline: a score at 128x72 is not comparable with one at
    64x36, so it is paired with the method of the baseline's kind scored at its own size (a
    ladder's ``identity_s128``; the lowest name if several), or with nothing (None) when the run
    has none. The baseline pairs with itself; such a method of the baseline's kind with nothing.
    """
    if method == base_name or resolution != "model":
        return base_name
    at = metrics[metrics["resolution"] == resolution]
    base_rows = at[at["method"] == base_name]
    size = _single(at[at["method"] == method], "eval_max_size")
    if size is None or size == _single(base_rows, "eval_max_size"):
        return base_name
    kind = _single(base_rows, "kind")
    same = sorted(
        name
        for name, g in at.groupby("method")
        if _single(g, "kind") == kind and _single(g, "eval_max_size") == size
    )
    return None if not same or method in same else same[0]


def paired_differences(metrics: pd.DataFrame, settings: ReportSettings) -> pd.DataFrame:
    """Per method (other than the baseline) x resolution: differences method - baseline on the
    pairs both have, with paired bootstrap CI of the mean and a Wilcoxon signed-rank p.

    Positive differences mean the method scores higher (better) than the baseline. At the model
    resolution a method scored at another size than the baseline is paired with the baseline's
    kind at its size (:func:`baseline_for`; ``baseline_method`` names it).
    """
    base_name = settings.baseline_method
    rows = []
    base_all = metrics[metrics["method"] == base_name]
    if base_all.empty:
        log.warning("baseline method %r has no rows; no paired differences", base_name)
    for (method, resolution), g in metrics.groupby(["method", "resolution"], sort=True):
        if method == base_name or base_all.empty:
            continue
        ref = baseline_for(metrics, method, resolution, base_name)
        if ref is None:
            continue
        base = metrics[(metrics["method"] == ref) & (metrics["resolution"] == resolution)]
        joined = g.merge(base, on="pair_id", suffixes=("", "_base"), validate="one_to_one")
        if len(joined) < len(g):
            log.warning(
                "%s at %s: %d of %d pairs have no %s row and are left out of the paired test",
                method,
                resolution,
                len(g) - len(joined),
                len(g),
                ref,
            )
        row: dict[str, object] = dict(
            method=method, baseline_method=ref, resolution=resolution, n_pairs=len(joined)
        )
        diff = metric_differences(joined, "_base")
        row |= paired_stats(diff, settings)
        for i, m in enumerate(METRICS):
            row[f"{m}_n_better"] = int((diff[:, i] > 0).sum())
            row[f"{m}_n_worse"] = int((diff[:, i] < 0).sum())
        rows.append(row)
    paired = typed_frame(rows, PAIRED_DTYPES)
    if len(paired):
        paired = paired.assign(_r=resolution_order(paired))
        paired = paired.sort_values(["_r", "method"], kind="mergesort").drop(columns="_r")
    return paired.reset_index(drop=True)
