"""Compute cost from Snakemake benchmark files and each pyramid's model.json.

:func:`read_benchmarks` turns the benchmark TSVs of this run's jobs into ``cost.parquet`` (one row
per job) and ``cost_by_rule.parquet``; a training job also gets its pyramid's whole training
time (``model.json`` ``train_seconds``, summed over every process that trained a scale), since
a benchmark describes only the last process after a kill and a resume.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Iterable
from pathlib import Path

import pandas as pd

from deblur.evaluation.tables import FLOAT, INT, STRING, typed_frame

log = logging.getLogger(__name__)

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
# its batched form (train.batch > 1): benchmarks <cfg>/<first member's ref>.tsv
TRAIN_BATCH_RULE = "train_singan_batch"
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
    pyramid, summed over its scales, across resumes). Files that
    :func:`~deblur.modelfile.read_model_json` refuses are skipped with a warning."""
    return _read_models(models)[0]


def _read_models(models: Iterable[str | os.PathLike]) -> tuple[dict[Path, float], dict]:
    """:func:`read_train_seconds`, and model directory -> the model directories of the batch
    it was trained in (its ``model.json``'s ``batch`` record; absent for a single run)."""
    from deblur.errors import DeblurError
    from deblur.modelfile import read_model_json

    seconds, batches = {}, {}
    for path in map(Path, models):
        try:
            info = read_model_json(path.parent)
            seconds[path.parent] = float(info["train_seconds"])
        except DeblurError as exc:
            log.warning("skipping model %s: %s", path, exc)
            continue
        if isinstance(info.get("batch"), dict):
            batches[path.parent] = tuple(map(Path, info["batch"].get("models", ())))
    return seconds, batches


def _batch_models(
    job: str, train_seconds: dict[Path, float], batches: dict[Path, tuple[Path, ...]]
) -> list[Path]:
    """The model directories a batch training job (named by its first member's ``<cfg>/<ref>``)
    trained, as keys of ``train_seconds``; empty when they are not all there."""
    first = _model_of(job, train_seconds)
    if first is None:
        return []
    members = batches.get(first, (first,))
    found = [_model_of("/".join(m.parts[-2:]), train_seconds) for m in members]
    return [] if None in found else found


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
    in ``train_*_seconds``; a :data:`TRAIN_BATCH_RULE` job, named by its first member, the sum
    over the members its ``model.json``'s ``batch`` record lists (each holds its share).
    Nothing found (or None) gives empty tables with the schema (and a warning); unreadable files
    are skipped with a warning.
    """
    rows = []
    files = benchmark_files(benchmarks, root)
    if not files:
        log.warning("no benchmark files in %s; the cost table is empty", benchmarks)
    train_seconds, batches = _read_models(models)
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
        if rule == TRAIN_RULE:
            model = _model_of(job, train_seconds)
            trained = [] if model is None else [model]
        elif rule == TRAIN_BATCH_RULE:  # each member's share of the batch's time, summed
            trained = _batch_models(job, train_seconds, batches)
        else:
            trained = []
        row["train_seconds"] = sum(train_seconds[m] for m in trained) if trained else math.nan
        matched.update(trained)
        rows.append(row)
    for model in sorted(set(train_seconds) - matched):
        log.warning("model %s matches no benchmarked job; its training time is not counted", model)
    cost = typed_frame(rows, COST_DTYPES)
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
    return cost, typed_frame(by_rule, COST_BY_RULE_DTYPES)
