"""Aggregation: per-pair metrics -> summary with bootstrap CIs, paired tests, cost, paper table.

Everything here is a pure function of its inputs (seeded bootstrap, sorted rows), so the same
metrics files always give byte-identical tables. Writing is done by
:func:`deblur.commands.aggregate.run` through :func:`deblur.tables.write_parquet`.
"""

from __future__ import annotations

import logging
import math
import os
import warnings
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from deblur.errors import DeblurError
from deblur.eval_config import RESOLUTIONS, ReportSettings  # noqa: F401 (re-exported)
from deblur.metrics import METRIC_CONVENTION
from deblur.tables import (
    BOOL,
    FLOAT,
    INT,
    METRICS_SCHEMA,
    STRING,
    coerce_metrics,
    read_parquet,
    sort_metrics,
)

log = logging.getLogger(__name__)

METRICS = ("psnr", "ssim")
METRIC_LABELS = {"psnr": "PSNR (dB)", "ssim": "SSIM"}


# per-method settings reported in the summary (when constant within a method x resolution)
SETTINGS_COLUMNS = (
    "kind",
    "reference_mode",
    "reference_offset",
    "deblur_steps",
    "deblur_mode",
    "inject_scale",
    "deblur_noise",
    "config_hash",
    "device",
    "package_version",
    "torch_version",
    "skimage_version",
    "metric_convention",
)


# ---------------------------------------------------------------------------------------------
# loading


def find_metric_files(paths: Iterable[str | os.PathLike], exclude: Path | None = None) -> list:
    """Expand files and directories (searched recursively for ``*.parquet``) into a sorted list.

    Hidden files (atomic-write temporaries) and anything under ``exclude`` (the output
    directory, so re-running never reads its own tables) are skipped.
    """
    found: set[Path] = set()
    exclude = exclude.resolve() if exclude is not None else None
    for p in map(Path, paths):
        if p.is_dir():
            candidates = p.rglob("*.parquet")
        elif p.is_file():
            candidates = [p]
        else:
            raise DeblurError(
                f"metrics path not found: {p}; run `python -m deblur evaluate` first or fix "
                "--metrics"
            )
        for f in candidates:
            if f.name.startswith("."):
                continue
            if exclude is not None and f.resolve().is_relative_to(exclude):
                log.warning("skipping %s: it is inside the output directory", f)
                continue
            found.add(f)
    return sorted(found)


def load_metrics(paths: Sequence[str | os.PathLike], exclude: Path | None = None) -> pd.DataFrame:
    """Read, check and concatenate metrics files into one schema-conformant, sorted table.

    Raises :class:`DeblurError` when no file is found, a file lacks the metric columns, a row
    has no ``method``/``pair_id``, or a (method, resolution, pair_id) appears twice.
    """
    files = find_metric_files(paths, exclude)
    if not files:
        where = ", ".join(map(str, paths))
        raise DeblurError(
            f"no metrics files (*.parquet) found in {where}; run `python -m deblur evaluate` "
            "first, or point --metrics at results/metrics"
        )
    frames = []
    for f in files:
        df = read_parquet(f)
        missing = [c for c in ("method", "pair_id", "resolution", "psnr", "ssim") if c not in df]
        if missing:
            raise DeblurError(
                f"{f} is not a metrics file (lacks {', '.join(missing)}); remove it from "
                "--metrics or re-run evaluate"
            )
        df = coerce_metrics(df, where=str(f))
        for column in ("method", "pair_id"):
            if df[column].isna().any():
                raise DeblurError(
                    f"{f} has rows without {column}; re-run evaluate with "
                    f"--meta '{{\"{column}\": ...}}'"
                )
        frames.append(df.assign(_source=str(f)))
    metrics = pd.concat(frames, ignore_index=True)
    key = ["method", "resolution", "pair_id"]
    dup = metrics[metrics.duplicated(key, keep=False)]
    if len(dup):
        first = dup.sort_values(key + ["_source"]).iloc[:2]
        method, resolution, pair = first.iloc[0][key]
        raise DeblurError(
            f"duplicate metrics for method {method!r}, pair {pair!r}, resolution {resolution!r} "
            f"in {first['_source'].iloc[0]} and {first['_source'].iloc[1]}; give study variants "
            "distinct method names or remove one file"
        )
    metrics = coerce_metrics(metrics.drop(columns="_source"), where="concatenated metrics")
    log.info("read %d rows from %d metrics files", len(metrics), len(files))
    return sort_metrics(metrics)


# ---------------------------------------------------------------------------------------------
# statistics


def bootstrap_means(values: np.ndarray, n_boot: int, seed: int) -> np.ndarray:
    """Means of ``n_boot`` resamples (with replacement) of ``values`` along axis 0.

    ``values`` may be (n,) or (n, k): rows are resampled together, so paired columns stay
    paired. A fresh ``numpy.random.default_rng(seed)`` per call makes every group's interval
    independent of which other groups exist.
    """
    values = np.asarray(values, dtype=np.float64)
    rng = np.random.default_rng(seed)
    n = len(values)
    out = np.empty((n_boot,) + values.shape[1:])
    chunk = max(1, 2_000_000 // max(n, 1))  # bound memory for large n
    for start in range(0, n_boot, chunk):
        stop = min(start + chunk, n_boot)
        idx = rng.integers(0, n, size=(stop - start, n))
        out[start:stop] = values[idx].mean(axis=1)
    return out


def percentile_ci(boot: np.ndarray, confidence: float) -> tuple[np.ndarray, np.ndarray]:
    """Percentile interval of bootstrap replicates (along axis 0)."""
    alpha = (1 - confidence) / 2
    low, high = np.quantile(boot, [alpha, 1 - alpha], axis=0)
    return low, high


def bootstrap_ci(
    values: Sequence[float], n_boot: int = 10_000, seed: int = 0, confidence: float = 0.95
) -> tuple[float, float]:
    """Percentile bootstrap ``confidence`` interval of the mean of ``values``."""
    values = np.asarray(values, dtype=np.float64)
    if values.ndim != 1 or len(values) == 0:
        raise ValueError(f"values must be a non-empty 1-D sequence, got shape {values.shape}")
    low, high = percentile_ci(bootstrap_means(values, n_boot, seed), confidence)
    return float(low), float(high)


def _resolution_order(df: pd.DataFrame) -> pd.Series:
    order = {r: i for i, r in enumerate(RESOLUTIONS)}
    return df["resolution"].map(lambda r: order.get(r, len(order))).astype("int64")


def _constant(series: pd.Series) -> tuple[bool, object]:
    values = series.dropna().unique()
    if len(values) == 0:
        return True, None
    return len(values) == 1 and not series.isna().any(), values[0]


def summarize(metrics: pd.DataFrame, settings: ReportSettings) -> pd.DataFrame:
    """Per method x resolution: n, mean, std (ddof 1) and bootstrap CI of PSNR and SSIM.

    Also the method's settings: each of :data:`SETTINGS_COLUMNS` (and each extra column that is
    constant within every group) with its value when constant within the group, else null and
    named in ``settings_varying``; and ``train_seconds_mean``.
    """
    extras = [c for c in metrics.columns if c not in METRICS_SCHEMA]
    groups = list(metrics.groupby(["method", "resolution"], sort=True, dropna=False))
    constant_extras = [c for c in extras if all(_constant(g[c])[0] for _, g in groups)]
    rows = []
    for (method, resolution), g in groups:
        row: dict[str, object] = {"method": method, "resolution": resolution, "n": len(g)}
        values = g[list(METRICS)].to_numpy(dtype=np.float64)
        boot = bootstrap_means(values, settings.n_boot, settings.seed)
        low, high = percentile_ci(boot, settings.confidence)
        for i, m in enumerate(METRICS):
            row[f"{m}_mean"] = float(values[:, i].mean())
            row[f"{m}_std"] = float(values[:, i].std(ddof=1)) if len(g) > 1 else math.nan
            row[f"{m}_ci_low"], row[f"{m}_ci_high"] = float(low[i]), float(high[i])
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
    dtypes |= {"train_seconds_mean": FLOAT}
    dtypes |= {c: METRICS_SCHEMA[c] for c in SETTINGS_COLUMNS} | {"settings_varying": STRING}
    dtypes |= {c: str(metrics[c].dtype) for c in constant_extras}
    summary = _typed_frame(rows, dtypes)
    if len(summary):
        summary = summary.assign(_r=_resolution_order(summary))
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
    difference, paired percentile bootstrap CI of the mean (pairs resampled jointly for all
    metrics) and the Wilcoxon signed-rank p; NaN where there are no pairs."""
    low = high = np.full(len(METRICS), math.nan)
    if len(diff):
        boot = bootstrap_means(diff, settings.n_boot, settings.seed)
        low, high = percentile_ci(boot, settings.confidence)
    row: dict[str, float] = {}
    for i, m in enumerate(METRICS):
        d = diff[:, i]
        row[f"{m}_diff_mean"] = float(d.mean()) if len(d) else math.nan
        row[f"{m}_diff_ci_low"], row[f"{m}_diff_ci_high"] = float(low[i]), float(high[i])
        row[f"{m}_wilcoxon_p"] = wilcoxon_p(d)
    return row


def paired_differences(metrics: pd.DataFrame, settings: ReportSettings) -> pd.DataFrame:
    """Per method (other than the baseline) x resolution: differences method - baseline on the
    pairs both have, with paired bootstrap CI of the mean and a Wilcoxon signed-rank p.

    Positive differences mean the method scores higher (better) than the baseline.
    """
    base_name = settings.baseline_method
    rows = []
    base_all = metrics[metrics["method"] == base_name]
    if base_all.empty:
        log.warning("baseline method %r has no rows; no paired differences", base_name)
    for (method, resolution), g in metrics.groupby(["method", "resolution"], sort=True):
        if method == base_name or base_all.empty:
            continue
        base = base_all[base_all["resolution"] == resolution]
        joined = g.merge(base, on="pair_id", suffixes=("", "_base"), validate="one_to_one")
        if len(joined) < len(g):
            log.warning(
                "%s at %s: %d of %d pairs have no %s row and are left out of the paired test",
                method,
                resolution,
                len(g) - len(joined),
                len(g),
                base_name,
            )
        row: dict[str, object] = dict(
            method=method, baseline_method=base_name, resolution=resolution, n_pairs=len(joined)
        )
        diff = metric_differences(joined, "_base")
        row |= paired_stats(diff, settings)
        for i, m in enumerate(METRICS):
            row[f"{m}_n_better"] = int((diff[:, i] > 0).sum())
            row[f"{m}_n_worse"] = int((diff[:, i] < 0).sum())
        rows.append(row)
    paired = _typed_frame(rows, PAIRED_DTYPES)
    if len(paired):
        paired = paired.assign(_r=_resolution_order(paired))
        paired = paired.sort_values(["_r", "method"], kind="mergesort").drop(columns="_r")
    return paired.reset_index(drop=True)


def _typed_frame(rows: list[dict], dtypes: dict[str, str]) -> pd.DataFrame:
    """A frame with exactly ``dtypes``' columns and dtypes (empty rows give an empty schema)."""
    data = {}
    for c, dtype in dtypes.items():
        values = [r.get(c) for r in rows]
        if dtype == FLOAT:
            values = [math.nan if v is None else v for v in values]
        data[c] = pd.Series(values, dtype=dtype if dtype in (STRING, INT, FLOAT, BOOL) else None)
    return pd.DataFrame(data)


# ---------------------------------------------------------------------------------------------
# compute cost from Snakemake benchmark files

COST_DTYPES = {
    "rule": STRING,
    "job": STRING,
    "repeats": INT,
    "seconds": FLOAT,
    "cpu_seconds": FLOAT,
    "train_seconds": FLOAT,
    "max_rss_mb": FLOAT,
    "max_vms_mb": FLOAT,
    "max_uss_mb": FLOAT,
    "max_pss_mb": FLOAT,
    "io_in_mb": FLOAT,
    "io_out_mb": FLOAT,
    "mean_load": FLOAT,
    "path": STRING,
}
COST_BY_RULE_DTYPES = {
    "rule": STRING,
    "jobs": INT,
    "total_seconds": FLOAT,
    "mean_seconds": FLOAT,
    "max_seconds": FLOAT,
    "total_cpu_seconds": FLOAT,
    "train_total_seconds": FLOAT,
    "train_mean_seconds": FLOAT,
    "train_max_seconds": FLOAT,
    "max_rss_mb": FLOAT,
}
# Snakemake benchmark column -> ours, and how repeats (rows) are combined
BENCHMARK_COLUMNS = {
    "s": ("seconds", "mean"),
    "cpu_time": ("cpu_seconds", "mean"),
    "max_rss": ("max_rss_mb", "max"),
    "max_vms": ("max_vms_mb", "max"),
    "max_uss": ("max_uss_mb", "max"),
    "max_pss": ("max_pss_mb", "max"),
    "io_in": ("io_in_mb", "mean"),
    "io_out": ("io_out_mb", "mean"),
    "mean_load": ("mean_load", "mean"),
}
BENCHMARK_SUFFIX = ".tsv"
TRAIN_RULE = "train_singan"  # the workflow's training rule: benchmarks <cfg>/<ref>.tsv
# what the cost table's seconds are, per source (paper_table.md says which one each row shows)
TRAIN_SECONDS_TEXT = "sum of model.json train_seconds (whole training, across resumes)"
BENCHMARK_SECONDS_TEXT = "wall seconds of the job's last run, from its Snakemake benchmark"


def read_benchmark(path: Path) -> pd.DataFrame:
    """One Snakemake ``benchmark:`` TSV (a row per repeat; "-"/"NA" are missing values)."""
    df = pd.read_csv(path, sep="\t", na_values=["-", "NA", ""], keep_default_na=True)
    if "s" not in df.columns or df.empty:
        raise ValueError("no 's' column or no rows")
    return df


def benchmark_files(
    paths: str | os.PathLike | Iterable[str | os.PathLike] | None,
    root: str | os.PathLike | None = None,
) -> list[tuple[Path, Path]]:
    """``(path, name)`` of each benchmark TSV in ``paths``; ``name`` is ``<rule>/<job...>``.

    A directory contributes every ``*.tsv`` under it (named relative to it); a file is named
    relative to ``root`` when it lies under it, else ``<its folder>/<its name>``. Missing paths
    are skipped with a warning; dot-files are ignored.
    """
    if paths is None:
        return []
    paths = [paths] if isinstance(paths, (str, os.PathLike)) else list(paths)
    found = []
    for path in map(Path, paths):
        if path.is_dir():
            files = [(p, p.relative_to(path)) for p in sorted(path.rglob(f"*{BENCHMARK_SUFFIX}"))]
        elif path.is_file():
            rel = Path(path.parent.name, path.name)
            if root is not None and path.resolve().is_relative_to(Path(root).resolve()):
                rel = path.resolve().relative_to(Path(root).resolve())
            files = [(path, rel)]
        else:
            log.warning("no benchmark file or directory %s; skipped", path)
            continue
        found += [(p, rel) for p, rel in files if not p.name.startswith(".")]
    return found


def read_train_seconds(models: Iterable[str | os.PathLike]) -> dict[Path, float]:
    """Model directory -> ``train_seconds`` of its ``model.json`` (the whole training of the
    pyramid, summed over its scales, across resumes). Unreadable files are skipped with a
    warning."""
    import json

    seconds = {}
    for path in map(Path, models):
        try:
            value = json.loads(path.read_text())["train_seconds"]
            seconds[path.parent] = float(value)
        except (OSError, ValueError, KeyError, TypeError) as exc:
            log.warning("skipping model %s: %s", path, exc)
    return seconds


def _model_of(job: str, train_seconds: dict[Path, float]) -> Path | None:
    """The model directory whose last parts are the job's wildcards (``<cfg>/<ref>``)."""
    parts = Path(job).parts
    matches = [d for d in train_seconds if parts and d.parts[-len(parts) :] == parts]
    return matches[0] if len(matches) == 1 else None


def read_benchmarks(
    benchmarks: str | os.PathLike | Iterable[str | os.PathLike] | None,
    root: str | os.PathLike | None = None,
    models: Iterable[str | os.PathLike] = (),
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Parse the benchmark TSVs ``benchmarks`` (files and/or directories, see
    :func:`benchmark_files`), named ``<rule>/<wildcards...>``.

    Returns ``(cost, cost_by_rule)``: one row per job (seconds and CPU seconds averaged over
    repeats, memory maxima in MB as Snakemake reports them) and one per rule (job count, total,
    mean and max seconds, total CPU seconds, max RSS). A benchmark times only the job's last
    process, so after a kill and a resume it misses the training before the kill: a
    :data:`TRAIN_RULE` job whose wildcards are the last parts of a model directory in ``models``
    (``model.json`` files) gets that model's ``train_seconds`` (whole training), summed per rule
    in ``train_*_seconds``.
    Nothing found (or None) gives empty tables with the schema (and a warning); unreadable files
    are skipped with a warning.
    """
    rows = []
    files = benchmark_files(benchmarks, root)
    if not files:
        log.warning("no benchmark files in %s; the cost table is empty", benchmarks)
    train_seconds = read_train_seconds(models)
    matched = set()
    for path, rel in files:
        rel = rel.with_suffix("")
        if len(rel.parts) > 1:
            rule, job = rel.parts[0], "/".join(rel.parts[1:])
        else:  # a benchmark file outside any rule folder
            rule, job = rel.name, ""
        try:
            df = read_benchmark(path)
        except (ValueError, OSError, pd.errors.ParserError) as exc:
            log.warning("skipping benchmark %s: %s", path, exc)
            continue
        row: dict[str, object] = dict(rule=rule, job=job, repeats=len(df), path=rel.as_posix())
        for column, (ours, how) in BENCHMARK_COLUMNS.items():
            values = pd.to_numeric(df[column], errors="coerce") if column in df else None
            if values is None or values.isna().all():
                row[ours] = math.nan
            else:
                row[ours] = float(values.max() if how == "max" else values.mean())
        model = _model_of(job, train_seconds) if rule == TRAIN_RULE else None
        row["train_seconds"] = math.nan if model is None else train_seconds[model]
        if model is not None:
            matched.add(model)
        rows.append(row)
    for model in sorted(set(train_seconds) - matched):
        log.warning("model %s matches no benchmarked job; its training time is not counted", model)
    cost = _typed_frame(rows, COST_DTYPES)
    by_rule = []
    for rule, g in cost.groupby("rule", sort=True):
        train = g["train_seconds"]
        by_rule.append(
            dict(
                rule=rule,
                jobs=len(g),
                total_seconds=float(g["seconds"].sum()),
                mean_seconds=float(g["seconds"].mean()),
                max_seconds=float(g["seconds"].max()),
                total_cpu_seconds=float(g["cpu_seconds"].sum(min_count=1)),
                train_total_seconds=float(train.sum(min_count=1)),
                train_mean_seconds=float(train.mean()),
                train_max_seconds=float(train.max()),
                max_rss_mb=float(g["max_rss_mb"].max()),
            )
        )
    return cost, _typed_frame(by_rule, COST_BY_RULE_DTYPES)


# ---------------------------------------------------------------------------------------------
# the paper table

ROW_LABELS = {"reproduced": "reproduced (SinGAN G_0)", "baseline": "blurry input (identity)"}
RESOLUTION_TEXT = {
    "model": "output vs the sharp frame resized to the model size (finest SinGAN scale; the "
    "paper's setting)",
    "full": "output resized to the original frame size vs the original sharp frame (comparable "
    "with the GoPro literature)",
}
DIGITS = {"psnr": 2, "ssim": 3}


def rounding_interval(value: float) -> tuple[float, float]:
    """The interval a printed number stands for: 15.3 -> [15.25, 15.35], 0.52 -> [0.515, 0.525]."""
    text = repr(float(value))
    decimals = len(text.split(".")[1]) if "." in text and "e" not in text else 0
    half = 0.5 * 10.0**-decimals
    return value - half, value + half


def verdict(reported: float, low: float, high: float) -> str:
    """Where the reported value sits relative to a reproduced CI: 'inside', 'below' or 'above'.

    The reported value is taken as the interval its printed digits stand for, so 0.52 is
    consistent with a CI [0.524, 0.56].
    """
    r_low, r_high = rounding_interval(reported)
    if r_high < low:
        return "below"
    if r_low > high:
        return "above"
    return "inside"


def _fmt(metric: str, value: float) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    return f"{value:.{DIGITS[metric]}f}"


def _fmt_ci(metric: str, mean: float, low: float, high: float) -> str:
    return f"{_fmt(metric, mean)} [{_fmt(metric, low)}, {_fmt(metric, high)}]"


def _fmt_p(p: float) -> str:
    if p is None or math.isnan(p):
        return "n/a"
    return f"{p:.2g}" if p >= 1e-4 else "<1e-4"


def _summary_row(summary: pd.DataFrame, method: str, resolution: str):
    hit = summary[(summary["method"] == method) & (summary["resolution"] == resolution)]
    return None if hit.empty else hit.iloc[0]


def _resolution_section(summary: pd.DataFrame, resolution: str, settings: ReportSettings) -> list:
    primary = " (primary)" if resolution == settings.resolution else ""
    lines = [f"## Resolution `{resolution}`{primary}", "", RESOLUTION_TEXT[resolution] + ".", ""]
    lines += [
        "| row | method | n | SSIM mean [95% CI] | PSNR (dB) mean [95% CI] |",
        "|---|---|--:|---|---|",
        f"| reported (paper) | - | ~100 | {settings.reported_ssim:g} | "
        f"{settings.reported_psnr:g} |",
    ]
    named = {
        "reproduced": settings.reproduced_method,
        "baseline": settings.baseline_method,
    }
    for role, method in named.items():
        row = _summary_row(summary, method, resolution)
        if row is None:
            lines.append(f"| {ROW_LABELS[role]} | `{method}` | 0 | absent | absent |")
        else:
            lines.append(_table_row(ROW_LABELS[role], row))
    others = summary[
        (summary["resolution"] == resolution) & ~summary["method"].isin(named.values())
    ]
    for _, row in others.iterrows():
        lines.append(_table_row("other", row))
    lines += ["", f"Verdict at `{resolution}`:", ""]
    repro = _summary_row(summary, settings.reproduced_method, resolution)
    base = _summary_row(summary, settings.baseline_method, resolution)
    for m in ("ssim", "psnr"):
        lines.append("- " + _verdict_line(m, repro, base, settings))
    lines.append("")
    return lines


def _table_row(label: str, row) -> str:
    cells = [label, f"`{row['method']}`", str(row["n"])]
    for m in ("ssim", "psnr"):
        cells.append(_fmt_ci(m, row[f"{m}_mean"], row[f"{m}_ci_low"], row[f"{m}_ci_high"]))
    return "| " + " | ".join(cells) + " |"


def _verdict_line(metric: str, repro, base, settings: ReportSettings) -> str:
    label, unit = ("SSIM", "") if metric == "ssim" else ("PSNR", " dB")
    reported = settings.reported(metric)
    if repro is None:
        return (
            f"{label}: cannot judge: method `{settings.reproduced_method}` has no rows at this "
            "resolution."
        )
    low, high = repro[f"{metric}_ci_low"], repro[f"{metric}_ci_high"]
    ci = f"[{_fmt(metric, low)}, {_fmt(metric, high)}]"
    where = verdict(reported, low, high)
    if where == "inside":
        text = (
            f"{label}: the reported {reported:g}{unit} is inside the reproduced 95% CI {ci} "
            f"(n = {repro['n']}): **consistent with the paper**."
        )
    else:
        direction = "higher" if where == "below" else "lower"
        text = (
            f"{label}: the reported {reported:g}{unit} is {where} the reproduced 95% CI {ci} "
            f"(n = {repro['n']}): **not reproduced** (the reproduction scores {direction})."
        )
    if base is not None:
        b_where = verdict(reported, base[f"{metric}_ci_low"], base[f"{metric}_ci_high"])
        relation = {"below": "above", "above": "below", "inside": "around"}[b_where]
        scores = _fmt_ci(metric, *(base[f"{metric}_{s}"] for s in ("mean", "ci_low", "ci_high")))
        text += (
            f" The blurry input (`{settings.baseline_method}`) scores {scores}, {relation} the "
            "reported value."
        )
    return text


def _paired_section(paired: pd.DataFrame, settings: ReportSettings) -> list:
    lines = [
        f"## Paired differences vs `{settings.baseline_method}`",
        "",
        f"Per pair, method minus `{settings.baseline_method}` on the pairs both have (positive: "
        f"higher than the blurry input); mean with a {settings.confidence:.0%} paired percentile "
        f"bootstrap CI ({settings.n_boot} resamples of pairs, seed {settings.seed}); p: two-sided "
        "Wilcoxon signed-rank test (scipy, zero differences dropped); better/worse: pair counts.",
        "",
    ]
    if paired.empty:
        return lines + ["No paired data (no method besides the baseline, or no baseline rows).", ""]
    lines += [
        "| method | resolution | n pairs | ΔSSIM mean [95% CI] | p | better/worse "
        "| ΔPSNR (dB) mean [95% CI] | p | better/worse |",
        "|---|---|--:|---|--:|--:|---|--:|--:|",
    ]
    for _, r in paired.iterrows():
        cells = []
        for m in ("ssim", "psnr"):
            cells += [
                _fmt_ci(m, r[f"{m}_diff_mean"], r[f"{m}_diff_ci_low"], r[f"{m}_diff_ci_high"]),
                _fmt_p(r[f"{m}_wilcoxon_p"]),
                f"{r[f'{m}_n_better']}/{r[f'{m}_n_worse']}",
            ]
        head = [f"`{r['method']}`", r["resolution"], str(r["n_pairs"])]
        lines.append("| " + " | ".join(head + cells) + " |")
    return lines + [""]


def _cost_section(cost_by_rule: pd.DataFrame) -> list:
    lines = ["## Compute cost", ""]
    if cost_by_rule.empty:
        return lines + ["No benchmark files found.", ""]
    lines += [
        "| rule | jobs | total (s) | mean (s) | max (s) | max RSS (MB) | seconds |",
        "|---|--:|--:|--:|--:|--:|---|",
    ]
    sources = set()
    for _, r in cost_by_rule.iterrows():
        rss = "n/a" if math.isnan(r["max_rss_mb"]) else f"{r['max_rss_mb']:.0f}"
        whole = not math.isnan(r["train_total_seconds"])
        key = "train_{}_seconds" if whole else "{}_seconds"
        total, mean, top = (r[key.format(k)] for k in ("total", "mean", "max"))
        source = "training" if whole else "benchmark"
        sources.add(source)
        lines.append(
            f"| {r['rule']} | {r['jobs']} | {total:.1f} | {mean:.1f} | {top:.1f} | {rss} "
            f"| {source} |"
        )
    lines.append("")
    if "training" in sources:
        lines.append(f"Seconds, training: {TRAIN_SECONDS_TEXT}.")
    if "benchmark" in sources:
        lines.append(f"Seconds, benchmark: {BENCHMARK_SECONDS_TEXT}.")
    return lines + [""]


def paper_table(
    summary: pd.DataFrame,
    paired: pd.DataFrame,
    cost_by_rule: pd.DataFrame,
    settings: ReportSettings,
) -> str:
    """The Markdown report: reported vs reproduced per resolution (the chosen one first) with
    verdicts, paired differences vs the baseline, and the compute cost per rule."""
    conventions = sorted(set(summary["metric_convention"].dropna())) if len(summary) else []
    convention = "; ".join(conventions) or METRIC_CONVENTION
    lines = [
        "# Blind Motion Deblurring through SinGAN: reported vs reproduced",
        "",
        f"Reported (paper, §4): SSIM {settings.reported_ssim:g} and PSNR "
        f'{settings.reported_psnr:g} dB on "around 100" random GoPro test images. Reproduced: '
        f"method `{settings.reproduced_method}`; blurry-input baseline: method "
        f"`{settings.baseline_method}`.",
        "",
        f"Intervals: {settings.confidence:.0%} percentile bootstrap of the mean over pairs "
        f"({settings.n_boot} resamples, seed {settings.seed}). A reported value counts as inside "
        "an interval if the range its printed digits stand for (0.52: [0.515, 0.525]) overlaps it.",
        "",
        f"Metric convention: `{convention}`.",
        "",
    ]
    order = [settings.resolution] + [r for r in RESOLUTIONS if r != settings.resolution]
    for resolution in order:
        lines += _resolution_section(summary, resolution, settings)
    lines += _paired_section(paired, settings)
    lines += _cost_section(cost_by_rule)
    return "\n".join(lines).rstrip() + "\n"
