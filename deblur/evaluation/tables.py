"""The metrics table: its schema, provenance from ``model.json``, deterministic parquet I/O,
and reading many metrics files into one checked table (:func:`load_metrics`).

One row per (pair, method, resolution). Every column has a fixed pandas dtype
(:data:`METRICS_SCHEMA`) so files written for different methods concatenate cleanly; columns that
do not apply to a method are null. Extra provenance keys (study variants) become extra columns
with a dtype inferred from the value's Python type.
"""

from __future__ import annotations

import json
import logging
import math
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import pandas as pd

from deblur.atomic import write_bytes
from deblur.errors import DeblurError

log = logging.getLogger(__name__)

STRING, INT, FLOAT, BOOL = "string", "Int64", "float64", "boolean"

# the metrics.parquet schema, in column order
METRICS_SCHEMA: dict[str, str] = {
    "pair_id": STRING,
    "sequence": STRING,
    "frame": STRING,
    "method": STRING,
    "kind": STRING,
    "resolution": STRING,
    "eval_max_size": INT,
    "height": INT,
    "width": INT,
    "psnr": FLOAT,
    "ssim": FLOAT,
    "metric_convention": STRING,
    "psnr_aligned": FLOAT,
    "ssim_aligned": FLOAT,
    "align_dy": FLOAT,
    "align_dx": FLOAT,
    "aligned_convention": STRING,
    "reference_mode": STRING,
    "reference_offset": INT,
    "reference_id": STRING,
    "deblur_steps": INT,
    "deblur_mode": STRING,
    "inject_scale": INT,
    "num_scales": INT,
    "max_size": INT,
    "min_size": INT,
    "niter": INT,
    "precision": STRING,
    "deblur_noise": BOOL,
    "deblur_passes": INT,
    "deblur_pass_factor": FLOAT,
    "deblur_out_height": INT,
    "deblur_out_width": INT,
    "sr_factor": STRING,
    "sr_step": STRING,
    "seed": INT,
    "config_hash": STRING,
    "train_seconds": FLOAT,
    "device": STRING,
    "device_name": STRING,
    "cpu_isa": STRING,
    "tf32": BOOL,
    "cuda_version": STRING,
    "cudnn_version": INT,
    "package_version": STRING,
    "torch_version": STRING,
    "skimage_version": STRING,
    "pred_path": STRING,
    "sharp_path": STRING,
    "blurry_path": STRING,
    "kernel_path": STRING,
    "kernel_true_path": STRING,
}

# computed by `evaluate` itself; --meta may not set them
COMPUTED_COLUMNS = (
    "resolution",
    "eval_max_size",
    "height",
    "width",
    "psnr",
    "ssim",
    "metric_convention",
    "psnr_aligned",
    "ssim_aligned",
    "align_dy",
    "align_dx",
    "aligned_convention",
    "package_version",
    "skimage_version",
    "pred_path",
    "sharp_path",
)

# model.json keys copied into metrics columns (read by deblur.modelfile.read_model_json)
MODEL_COLUMNS = ("config_hash", "seed", "device", "torch_version", "train_seconds")
# SinGAN settings copied from model.json's ``config`` (the axes of the pyramid-size ladder)
MODEL_CONFIG_COLUMNS = ("max_size", "min_size", "niter")
# model.json keys of the arithmetic, copied when present (older models lack them); cpu_isa: the
# training CPU's instruction-set class (deblur.cpuinfo), which CPU rounding depends on
MODEL_OPTIONAL_COLUMNS = ("device_name", "cpu_isa", "tf32", "cuda_version", "cudnn_version")
# every metrics column model_columns() fills
MODEL_FILLED = (
    MODEL_COLUMNS + MODEL_CONFIG_COLUMNS + MODEL_OPTIONAL_COLUMNS + ("precision", "num_scales")
)

# rows are sorted by these, then by every other column, so the order never depends on file order
SORT_KEYS = ("method", "resolution", "pair_id", "pred_path")

PARQUET_OPTIONS = dict(compression="zstd", compression_level=3, write_statistics=True)


def dtype_of_value(value: object) -> str:
    """Column dtype for an extra provenance value (bool before int: bool is an int)."""
    if isinstance(value, bool):
        return BOOL
    if isinstance(value, int):
        return INT
    if isinstance(value, float):
        return FLOAT
    return STRING


def normalize_meta(meta: Mapping[str, object], where: str) -> dict[str, object]:
    """Check ``--meta`` keys and flatten values to scalars (lists/dicts become JSON strings)."""
    out: dict[str, object] = {}
    for key, value in meta.items():
        if not isinstance(key, str) or not key.isidentifier():
            raise DeblurError(f"meta key {key!r} in {where} is not a valid column name; rename it")
        if key in COMPUTED_COLUMNS:
            raise DeblurError(f"meta key {key!r} in {where} is computed by evaluate; remove it")
        if isinstance(value, (dict, list, tuple)):
            value = json.dumps(value, sort_keys=True)
        out[key] = value
    return out


def _cast(series: pd.Series, dtype: str, column: str, where: str) -> pd.Series:
    values = [None if _is_null(v) else v for v in series.astype("object")]
    try:
        if dtype == STRING:
            values = [v if v is None or isinstance(v, str) else _to_text(v) for v in values]
        elif dtype == BOOL:
            values = [v if v is None else _to_bool(v) for v in values]
        elif dtype == INT:
            values = [v if v is None else _to_int(v) for v in values]
        else:
            values = [math.nan if v is None else float(v) for v in values]
        return pd.Series(values, index=series.index, dtype=dtype)
    except (ValueError, TypeError) as exc:
        raise DeblurError(
            f"column {column!r} in {where} must be {dtype}: {exc}; fix the value"
        ) from None


def _is_null(value: object) -> bool:
    return value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value))


def _to_int(value: object) -> int:
    if isinstance(value, str):
        value = float(value) if "." in value or "e" in value.lower() else int(value)
    if float(value) != int(value):
        raise ValueError(f"non-integer value {value!r}")
    return int(value)


def _to_text(value: object) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _to_bool(value: object) -> bool:
    if isinstance(value, str):
        if value.lower() in ("true", "1", "yes"):
            return True
        if value.lower() in ("false", "0", "no"):
            return False
        raise ValueError(f"not a boolean: {value!r}")
    if isinstance(value, float) and value not in (0.0, 1.0):
        raise ValueError(f"not a boolean: {value!r}")
    return bool(value)


def coerce_metrics(df: pd.DataFrame, where: str = "metrics") -> pd.DataFrame:
    """Give ``df`` the metrics schema: every schema column (null if absent) with its dtype, in
    order, followed by extra columns in name order (object extras become strings)."""
    df = df.copy()
    for column, dtype in METRICS_SCHEMA.items():
        if column not in df:
            df[column] = pd.Series([None] * len(df), index=df.index, dtype="object")
        df[column] = _cast(df[column], dtype, column, where)
    extras = sorted(c for c in df.columns if c not in METRICS_SCHEMA)
    for column in extras:
        if str(df[column].dtype) not in (STRING, INT, FLOAT, BOOL):
            df[column] = _cast(df[column], _common_dtype(df[column]), column, where)
    return df[list(METRICS_SCHEMA) + extras]


def _common_dtype(series: pd.Series) -> str:
    """The extra-column dtype of a column's values: shared by all non-null values, else string."""
    kinds = {dtype_of_value(v) for v in series.astype("object") if not _is_null(v)}
    if kinds == {INT, FLOAT}:
        return FLOAT
    return kinds.pop() if len(kinds) == 1 else STRING


def metrics_frame(rows: Iterable[Mapping[str, object]]) -> pd.DataFrame:
    """Build a schema-conformant metrics table from row dicts (extras typed by their values)."""
    rows = [dict(r) for r in rows]
    df = pd.DataFrame(rows)
    for column in df.columns:
        if column not in METRICS_SCHEMA:
            # infer from the original values: the frame has already turned int + None into float
            raw = pd.Series([r.get(column) for r in rows], dtype="object", index=df.index)
            df[column] = _cast(raw, _common_dtype(raw), column, "metrics rows")
    return coerce_metrics(df)


def sort_metrics(df: pd.DataFrame) -> pd.DataFrame:
    """Deterministic row order: :data:`SORT_KEYS`, then the remaining columns."""
    keys = list(SORT_KEYS) + [c for c in df.columns if c not in SORT_KEYS]
    # sort on string renderings so mixed/NA values compare; mergesort is stable
    view = pd.DataFrame({k: df[k].astype("string").fillna("\uffff") for k in keys})
    order = view.sort_values(keys, kind="mergesort").index
    return df.loc[order].reset_index(drop=True)


def write_parquet(df: pd.DataFrame, path: str | os.PathLike) -> Path:
    """Write ``df`` (without its index) to ``path`` atomically and byte-reproducibly."""
    path = Path(path)
    write_bytes(path, parquet_bytes(df))
    return path


def parquet_bytes(df: pd.DataFrame) -> bytes:
    """``df`` (without its index) as the bytes of a parquet file, byte-reproducibly (serialized
    in memory, so that a full disk is reported by the OS write, naming the file)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.Table.from_pandas(df.reset_index(drop=True), preserve_index=False)
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink, **PARQUET_OPTIONS)
    return sink.getvalue().to_pybytes()


def read_parquet(path: str | os.PathLike) -> pd.DataFrame:
    """Read a parquet file, turning any failure into a one-line :class:`DeblurError`."""
    try:
        return pd.read_parquet(path)
    except Exception as exc:  # pyarrow raises many types for a corrupt or partial file
        raise DeblurError(
            f"cannot read {path}: {type(exc).__name__}: {exc}; delete it and re-run the step "
            "that wrote it"
        ) from None


def model_columns(info: Mapping[str, object]) -> dict[str, object]:
    """The metrics columns filled from a model.json dict (``num_scales`` from its ``sizes``;
    a model.json written before precision was recorded was trained in fp32)."""
    settings = info.get("config") or {}
    return (
        {k: info[k] for k in MODEL_COLUMNS}
        | {k: settings.get(k) for k in MODEL_CONFIG_COLUMNS}
        | {k: info.get(k) for k in MODEL_OPTIONAL_COLUMNS}
        | {"precision": info.get("precision", "fp32"), "num_scales": len(info["sizes"])}
    )


def typed_frame(rows: list[dict], dtypes: dict[str, str]) -> pd.DataFrame:
    """A frame with exactly ``dtypes``' columns and dtypes (empty rows give an empty schema)."""
    data = {}
    for c, dtype in dtypes.items():
        values = [r.get(c) for r in rows]
        if dtype == FLOAT:
            values = [math.nan if v is None else v for v in values]
        data[c] = pd.Series(values, dtype=dtype if dtype in (STRING, INT, FLOAT, BOOL) else None)
    return pd.DataFrame(data)


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


def check_against_sheet(metrics: pd.DataFrame, sheet: pd.DataFrame, where: str) -> None:
    """Raise DeblurError unless ``metrics`` covers exactly the sheet's pairs, every method on
    every pair, and each SinGAN row's reference is one the sheet lists for its pair.

    ``sheet`` is the sample sheet (``pairs.tsv``: one row per pair and reference); ``where``
    names it in the message.
    """
    sampled = set(sheet["pair_id"])
    found = set(metrics["pair_id"])
    if found != sampled:
        extra, missing = sorted(found - sampled), sorted(sampled - found)
        raise DeblurError(
            f"the metrics do not match the sample sheet {where}: "
            + (f"pairs not in the sheet: {', '.join(extra[:5])}; " if extra else "")
            + (f"sampled pairs without metrics: {', '.join(missing[:5])}; " if missing else "")
            + "aggregate the metrics of this sample only"
        )
    per_method = metrics.groupby("method")["pair_id"].nunique()
    short = per_method[per_method < len(sampled)]
    if len(short):
        raise DeblurError(
            f"method {short.index[0]} has metrics for {short.iloc[0]} of the {len(sampled)} "
            f"pairs in {where}; re-run its missing jobs"
        )
    known = set(zip(sheet["pair_id"], sheet["reference_id"], strict=True))
    with_ref = metrics.dropna(subset=["reference_id"])
    for pair, ref, method in zip(
        with_ref["pair_id"], with_ref["reference_id"], with_ref["method"], strict=True
    ):
        if (pair, ref) not in known:
            raise DeblurError(
                f"method {method} on pair {pair} used reference {ref}, which {where} does not "
                f"list for that pair; re-run the workflow so the sheet and the models agree"
            )
