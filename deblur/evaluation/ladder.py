"""The pyramid-size ladder: the paper's setting at several SinGAN sizes and training lengths.

A *cell* is one (max_size, niter) pair. Each cell trains its own pyramids (its own model key);
on every cell the paper's deblurring setting (the pair's own sharp frame, G_0 iterated k times,
noise on) runs for each k, and the baselines are scored at each size's model resolution so the
blurry input is compared at the same resolution as SinGAN. :func:`ladder_methods` turns the
``ladder`` config section into method entries; :func:`ladder_table` and :func:`ladder_markdown`
summarise the finished metrics table per cell.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import pandas as pd

from deblur.evaluation.settings import RESOLUTIONS
from deblur.singan.modelfile import read_model_json

# metrics columns that identify a cell's row (recorded from model.json / evaluate)
CELL_COLUMNS = ("max_size", "min_size", "num_scales", "niter", "precision")
SINGAN_PATTERN = r"singan_s\d+_n\d+_k\d+"
# the other inference readings a cell can run beside g0 (docs/inference-readings.md): name
# suffix -> the method's deblurring settings
READINGS: dict[str, dict[str, object]] = {
    "sr4": dict(mode="sr", sr_factor=4, sr_step="reference"),
    "srfull": dict(mode="sr", sr_factor="full", sr_step="reference"),
    "sample": dict(mode="sample"),
}
READING_PATTERN = rf"singan_s\d+_n\d+_({'|'.join(READINGS)})"


def singan_name(max_size: int, niter: int, steps: int) -> str:
    """Method name of the paper's setting with k = ``steps`` on the cell (max_size, niter)."""
    return f"singan_s{max_size}_n{niter}_k{steps}"


def reading_name(max_size: int, niter: int, reading: str) -> str:
    """Method name of inference reading ``reading`` (a :data:`READINGS` key) on a cell."""
    return f"singan_s{max_size}_n{niter}_{reading}"


def baseline_name(name: str, max_size: int) -> str:
    """Method name of baseline ``name`` scored at the model resolution of ``max_size``."""
    return f"{name}_s{max_size}"


def ladder_methods(
    cells: Iterable[Sequence[int]],
    steps: Iterable[int],
    baselines: Iterable[Mapping[str, object]],
    readings: Iterable[str] = (),
) -> list[dict[str, object]]:
    """Method entries (config ``methods`` items) of the ladder.

    Parameters
    ----------
    cells : iterable of (max_size, niter)
        The cells to train; each becomes one pyramid per pair.
    steps : iterable of int
        The G_0 passes k run on every cell.
    baselines : iterable of mappings
        Baseline method entries (``name``, ``kind``, optional ``params``); each is repeated once
        per distinct max_size with that model resolution.
    readings : iterable of str
        Other inference readings (:data:`READINGS` keys: ``sr4``, ``srfull``, ``sample``) run
        on every cell after its k values, sharing its pyramids.

    Returns
    -------
    list of dict
        Baselines first (by size), then SinGAN methods by cell: each k, then each reading.
    """
    readings = list(readings)
    unknown = [r for r in readings if r not in READINGS]
    if unknown or len(set(readings)) != len(readings):
        raise ValueError(
            f"ladder.readings: use each of {', '.join(READINGS)} at most once, got {readings}"
        )
    cells = [tuple(int(v) for v in c) for c in cells]
    for cell in cells:
        if len(cell) != 2:
            raise ValueError(f"ladder.cells: each cell is [max_size, niter], got {list(cell)}")
    if len(set(cells)) != len(cells):
        raise ValueError(f"ladder.cells lists a cell twice: {cells}")
    sizes = sorted({size for size, _ in cells})
    methods: list[dict[str, object]] = []
    for size in sizes:
        for b in baselines:
            entry = dict(b)
            entry["name"] = baseline_name(str(b["name"]), size)
            entry["singan"] = {"max_size": size}
            methods.append(entry)
    for size, niter in cells:
        for k in steps:
            methods.append(
                dict(
                    name=singan_name(size, niter, k),
                    kind="singan",
                    reference="same",
                    steps=int(k),
                    mode="g0",
                    noise=True,
                    singan={"max_size": size, "niter": niter},
                )
            )
        for reading in readings:
            methods.append(
                dict(
                    name=reading_name(size, niter, reading),
                    kind="singan",
                    reference="same",
                    noise=True,
                    singan={"max_size": size, "niter": niter},
                    **READINGS[reading],
                )
            )
    return methods


def ladder_table(metrics: pd.DataFrame, baseline: str = "identity") -> pd.DataFrame:
    """One row per (dataset, cell, k, resolution) of the ladder's SinGAN methods.

    Parameters
    ----------
    metrics : DataFrame
        The pipeline's metrics table (one or more runs concatenated); ladder rows are recognised
        by their method names (:func:`singan_name`, :func:`baseline_name` of ``baseline``).
    baseline : str
        The blurry-input baseline's name before its size suffix.

    Returns
    -------
    DataFrame
        The cell's settings (:data:`CELL_COLUMNS`), ``steps``, ``resolution``, ``pairs``, mean
        PSNR/SSIM, the baseline's means on the same pairs at the same resolution and size, the
        mean paired differences, the config hash and the mean and total training seconds of the
        cell's pyramids.
    """
    missing = [c for c in ("method", "resolution", "pair_id", "psnr", "ssim") if c not in metrics]
    if missing:
        raise ValueError(f"metrics lacks the columns {', '.join(missing)}")
    names = metrics["method"]
    ours = names.str.fullmatch(SINGAN_PATTERN) | names.str.fullmatch(READING_PATTERN)
    singan = metrics[ours.fillna(False)]
    rows = []
    keys = ["dataset", "method", "resolution"]
    for (dataset, method, resolution), own in singan.groupby(keys, sort=True):
        size = int(own["max_size"].iloc[0])
        ref = metrics[
            (metrics["method"] == baseline_name(baseline, size))
            & (metrics["resolution"] == resolution)
            & (metrics["dataset"] == dataset)
        ].set_index("pair_id")
        own = own.set_index("pair_id")
        common = own.index.intersection(ref.index)
        delta = own.loc[common, ["psnr", "ssim"]] - ref.loc[common, ["psnr", "ssim"]]
        models = own.drop_duplicates("reference_id")
        row = {c: own[c].iloc[0] for c in CELL_COLUMNS}
        row.update(
            dataset=dataset,
            method=method,
            steps=None
            if pd.isna(own["deblur_steps"].iloc[0])
            else int(own["deblur_steps"].iloc[0]),
            reading=_reading_text(own.iloc[0]),
            resolution=resolution,
            pairs=len(own),
            psnr=float(own["psnr"].mean()),
            ssim=float(own["ssim"].mean()),
            blurry_psnr=float(ref.loc[common, "psnr"].mean()),
            blurry_ssim=float(ref.loc[common, "ssim"].mean()),
            delta_psnr=float(delta["psnr"].mean()),
            delta_ssim=float(delta["ssim"].mean()),
            paired_pairs=len(common),
            config_hash=",".join(sorted(set(own["config_hash"].dropna()))),
            train_seconds_mean=float(models["train_seconds"].mean()),
            train_seconds_total=float(models["train_seconds"].sum()),
        )
        rows.append(row)
    table = pd.DataFrame(rows)
    if table.empty:
        return table
    # model resolution (the paper's) first, as every table of the pipeline
    table["_r"] = table["resolution"].map({r: i for i, r in enumerate(RESOLUTIONS)})
    order = ["dataset", "_r", "max_size", "niter", "steps"]
    return table.sort_values(order).drop(columns="_r").reset_index(drop=True)


def _reading_text(row: pd.Series) -> str:
    """``k=2``, ``sr x4``, ``sr full`` or ``sample`` (the ladder table's k column)."""
    mode = row.get("deblur_mode")
    mode = None if pd.isna(mode) else str(mode)
    if mode == "sr":
        factor = str(row.get("sr_factor"))
        return "sr full" if factor == "full" else f"sr x{factor}"
    if mode == "sample":
        return "sample"
    return f"k={int(row['deblur_steps'])}"


def per_pair(metrics: pd.DataFrame, baseline: str = "identity") -> pd.DataFrame:
    """The ladder's per-pair rows (SinGAN and the baseline at each size), for plotting."""
    names = metrics["method"]
    is_singan = names.str.fullmatch(SINGAN_PATTERN).fillna(False)
    is_base = names.str.fullmatch(rf"{baseline}_s\d+").fillna(False)
    rows = metrics[is_singan | is_base].copy()
    rows["size"] = rows["method"].str.extract(r"_s(\d+)", expand=False).astype(int)
    rows["role"] = ["singan" if s else "blurry input" for s in is_singan[is_singan | is_base]]
    return rows


# the per-pair columns kept in ladder_pairs.parquet (enough to redraw the figure)
PAIR_COLUMNS = (
    "dataset", "method", "role", "size", "resolution", "pair_id", "deblur_steps", "niter",
    "psnr", "ssim",
)  # fmt: skip
# a cell of the ladder table: the rows of one training setting on one dataset
CELL_KEY = ("dataset", "max_size", "niter")


def pair_rows(metrics: pd.DataFrame, baseline: str = "identity") -> pd.DataFrame:
    """:func:`per_pair`'s rows with :data:`PAIR_COLUMNS` only (``ladder_pairs.parquet``)."""
    rows = per_pair(metrics, baseline)
    return rows[[c for c in PAIR_COLUMNS if c in rows]].reset_index(drop=True)


def merge_previous(
    table: pd.DataFrame,
    pairs: pd.DataFrame,
    previous: pd.DataFrame,
    previous_pairs: pd.DataFrame | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Add to a new ladder table (and its per-pair rows) the cells of an earlier one that the
    new runs did not measure (by :data:`CELL_KEY`), each row keeping its own provenance; the
    earlier per-pair rows of those cells join too, where they were kept. The blurry input's
    per-pair rows at a size come from the new runs when they have that size."""
    key = list(CELL_KEY)
    new_cells = set(map(tuple, table[key].itertuples(index=False))) if len(table) else set()
    keep = [tuple(r) not in new_cells for r in previous[key].itertuples(index=False)]
    merged = pd.concat([table, previous[keep]], ignore_index=True)
    if previous_pairs is not None and len(previous_pairs):
        old = previous_pairs
        singan = old["role"] == "singan"
        old_cells = [
            (d, s, n) not in new_cells
            for d, s, n in zip(old["dataset"], old["size"], old["niter"], strict=True)
        ]
        have_sizes = set(zip(pairs["dataset"], pairs["size"], strict=True)) if len(pairs) else set()
        old_blurry = [
            (d, s) not in have_sizes for d, s in zip(old["dataset"], old["size"], strict=True)
        ]
        take = (singan & pd.Series(old_cells, index=old.index)) | (
            ~singan & pd.Series(old_blurry, index=old.index)
        )
        pairs = pd.concat([pairs, old[take]], ignore_index=True)
        pairs = pairs.drop_duplicates(ignore_index=True)
    merged["_r"] = merged["resolution"].map({r: i for i, r in enumerate(RESOLUTIONS)})
    order = ["dataset", "_r", "max_size", "niter", "steps"]
    merged = merged.sort_values(order).drop(columns="_r").reset_index(drop=True)
    return merged, pairs


def merge_scale_times(times: pd.DataFrame | None, previous: pd.DataFrame) -> pd.DataFrame:
    """:func:`scale_times` rows with those of an earlier run added for the pyramids
    (config hash, reference) the new rows do not have."""
    if times is None:
        return previous
    key = ["config_hash", "reference"]  # one pyramid
    new = set(map(tuple, times[key].itertuples(index=False)))
    keep = [tuple(r) not in new for r in previous[key].itertuples(index=False)]
    return pd.concat([times, previous[keep]], ignore_index=True)


def _fmt(value: float, digits: int) -> str:
    return "n/a" if pd.isna(value) else f"{value:.{digits}f}"


def ladder_markdown(
    table: pd.DataFrame,
    provenance: Mapping[str, str],
    reported_psnr: float,
    reported_ssim: float,
) -> str:
    """``ladder.md``: per dataset and resolution, one row per cell and k, with provenance."""
    lines = [
        "# Pyramid-size ladder: the paper's setting at several sizes and training lengths",
        "",
        "The paper's setting (the pair's own sharp frame, G_0 iterated k times, noise on) per "
        "cell (SinGAN max_size, niter; min_size and every other setting the reference's). "
        "Blurry = the blurry input scored on the same pairs at the same resolution and size; "
        "Δ = SinGAN − blurry, mean over pairs. Train s = mean training seconds per pyramid. "
        f"The paper reports PSNR {reported_psnr:g} dB / SSIM {reported_ssim:g}.",
        "",
    ]
    lines += [f"- {key}: {value}" for key, value in provenance.items()]
    lines += _cell_provenance(table)
    lines.append("")
    if table.empty:
        return "\n".join(lines + ["No ladder rows in the metrics table.", ""])
    header = (
        "| max_size | scales | niter | k | pairs | PSNR | blurry | Δ PSNR | SSIM | blurry "
        "| Δ SSIM | train s | precision | config |"
    )
    for (dataset, resolution), group in table.groupby(["dataset", "resolution"], sort=False):
        lines += [f"## {dataset}, {resolution} resolution", "", header, "|" + "---|" * 14]
        for r in group.itertuples():
            lines.append(
                f"| {r.max_size} | {r.num_scales} | {r.niter} | {_k_text(r)} | {r.pairs} "
                f"| {_fmt(r.psnr, 2)} | {_fmt(r.blurry_psnr, 2)} | {r.delta_psnr:+.2f} "
                f"| {_fmt(r.ssim, 3)} | {_fmt(r.blurry_ssim, 3)} | {r.delta_ssim:+.3f} "
                f"| {r.train_seconds_mean:.0f} | {r.precision} | {r.config_hash} |"
            )
        lines.append("")
    return "\n".join(lines)


def _k_text(row) -> str:
    """The k column: k for the paper's setting, the reading's name for the others (tables
    written before the readings have no ``reading`` column)."""
    reading = getattr(row, "reading", None)
    if isinstance(reading, str) and not reading.startswith("k="):
        return reading
    return str(int(row.steps))


def _cell_provenance(table: pd.DataFrame) -> list[str]:
    """One line per distinct (commit, cpu, note) of the table's rows when they differ (cells
    merged from an earlier run), naming its cells."""
    cols = [c for c in ("commit", "cpu", "note") if c in table]
    if not cols or len(table[cols].drop_duplicates()) < 2:
        return []
    lines = ["", "Cells by run:"]
    for values, group in table.groupby(cols, sort=False, dropna=False):
        values = values if isinstance(values, tuple) else (values,)
        cells = sorted({(r.dataset, r.max_size, r.niter) for r in group.itertuples()})
        named = ", ".join(f"{d} {s} px / {n}" for d, s, n in cells)
        text = "; ".join(f"{c} {v}" for c, v in zip(cols, values, strict=True) if pd.notna(v))
        lines.append(f"- {named}: {text}")
    return lines


TRAIN_LOG_NUMBERS = ("scale", "height", "width", "channels", "niter", "seconds")


def read_train_log(path: Path) -> pd.DataFrame:
    """A model's ``train_log.tsv``; ValueError naming the file when it is missing or not the
    table training writes (a column missing, a value not a number, ``niter`` not positive)."""
    try:
        log = pd.read_csv(path, sep="\t")
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        raise ValueError(f"cannot read {path}: {exc}") from None
    missing = [c for c in TRAIN_LOG_NUMBERS if c not in log.columns]
    if missing:
        raise ValueError(f"{path} lacks the column(s) {', '.join(missing)}; retrain the model")
    numbers = log[list(TRAIN_LOG_NUMBERS)].apply(pd.to_numeric, errors="coerce")
    if log.empty or numbers.isna().any().any() or not (numbers["niter"] > 0).all():
        raise ValueError(
            f"{path} is damaged (an empty table, a value that is not a number or niter not "
            "positive); retrain the model"
        )
    return numbers


def scale_times(model_dirs: Iterable[str | os.PathLike]) -> pd.DataFrame:
    """Per pyramid and scale: size, channels and seconds per iteration, from each finished model
    directory's ``model.json`` and ``train_log.tsv``.

    Raises ``DeblurError`` (from :func:`~deblur.singan.modelfile.read_model_json`) for a
    directory without a finished ``model.json``, ``ValueError`` for an unreadable train log.
    """
    rows = []
    for model_dir in model_dirs:
        model_dir = Path(model_dir)
        info = read_model_json(model_dir)
        log = read_train_log(model_dir / "train_log.tsv")
        settings = info.get("config") or {}
        for r in log.itertuples():
            rows.append(
                dict(
                    config_hash=info["config_hash"],
                    reference=model_dir.name,
                    max_size=settings.get("max_size"),
                    niter=int(r.niter),
                    precision=info.get("precision", "fp32"),
                    device=info.get("device"),
                    threads=info.get("threads"),
                    scale=int(r.scale),
                    height=int(r.height),
                    width=int(r.width),
                    channels=int(r.channels),
                    seconds=float(r.seconds),
                    s_per_iter=float(r.seconds) / int(r.niter),
                )
            )
    return pd.DataFrame(rows)


def scale_times_markdown(times: pd.DataFrame) -> str:
    """Mean seconds per iteration per (max_size, niter, device, scale), over pyramids."""
    if times.empty:
        return ""
    keys = ["max_size", "niter", "precision", "device", "scale", "height", "width", "channels"]
    mean = times.groupby(keys, sort=True, dropna=False)["s_per_iter"].agg(["mean", "count"])
    lines = [
        "## Training time per scale",
        "",
        "| max_size | niter | precision | device | scale | size | channels | s/iter | pyramids |",
        "|" + "---|" * 9,
    ]
    for key, r in mean.iterrows():
        size, niter, precision, device, scale, height, width, channels = key
        lines.append(
            f"| {size} | {niter} | {precision} | {device} | {scale} | {width}x{height} "
            f"| {channels} | {r['mean']:.4f} | {int(r['count'])} |"
        )
    return "\n".join(lines + [""])
