"""The pyramid-size ladder: the paper's setting at several SinGAN sizes and training lengths.

A *cell* is one (max_size, niter) pair. Each cell trains its own pyramids (its own model key);
on every cell the paper's deblurring setting (the pair's own sharp frame, G_0 iterated k times,
noise on) runs for each k, and the baselines are scored at each size's model resolution so the
blurry input is compared at the same resolution as SinGAN. :func:`ladder_methods` turns the
``ladder`` config section into method entries; :func:`ladder_table` and :func:`ladder_markdown`
summarise the finished metrics table per cell.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import pandas as pd

# metrics columns that identify a cell's row (recorded from model.json / evaluate)
CELL_COLUMNS = ("max_size", "min_size", "num_scales", "niter", "precision")


def singan_name(max_size: int, niter: int, steps: int) -> str:
    """Method name of the paper's setting with k = ``steps`` on the cell (max_size, niter)."""
    return f"singan_s{max_size}_n{niter}_k{steps}"


def baseline_name(name: str, max_size: int) -> str:
    """Method name of baseline ``name`` scored at the model resolution of ``max_size``."""
    return f"{name}_s{max_size}"


def ladder_methods(
    cells: Iterable[Sequence[int]],
    steps: Iterable[int],
    baselines: Iterable[Mapping[str, object]],
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

    Returns
    -------
    list of dict
        Baselines first (by size), then SinGAN methods by cell and k.
    """
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
    return methods


def ladder_table(metrics: pd.DataFrame, baseline: str = "identity") -> pd.DataFrame:
    """Per (cell, k, resolution): mean PSNR/SSIM over pairs, the blurry input's mean at the same
    resolution and size, and the mean paired difference to it.

    ``metrics`` is the pipeline's metrics table; rows of ladder methods are recognised by their
    names (:func:`singan_name`, :func:`baseline_name` with ``baseline``).
    """
    rows = []
    singan = metrics[metrics["method"].str.fullmatch(r"singan_s\d+_n\d+_k\d+")]
    for (method, resolution), group in singan.groupby(["method", "resolution"], sort=True):
        size = int(group["max_size"].iloc[0])
        ref = metrics[
            (metrics["method"] == baseline_name(baseline, size))
            & (metrics["resolution"] == resolution)
        ].set_index("pair_id")
        own = group.set_index("pair_id")
        common = own.index.intersection(ref.index)
        row = {c: group[c].iloc[0] for c in CELL_COLUMNS}
        row.update(
            method=method,
            steps=int(group["deblur_steps"].iloc[0]),
            resolution=resolution,
            pairs=int(own.index.nunique()),
            datasets=",".join(sorted(set(group["dataset"].dropna()))),
            psnr=float(own["psnr"].mean()),
            ssim=float(own["ssim"].mean()),
            blurry_psnr=float(ref.loc[common, "psnr"].mean()) if len(common) else float("nan"),
            blurry_ssim=float(ref.loc[common, "ssim"].mean()) if len(common) else float("nan"),
            delta_psnr=float((own.loc[common, "psnr"] - ref.loc[common, "psnr"]).mean()),
            delta_ssim=float((own.loc[common, "ssim"] - ref.loc[common, "ssim"]).mean()),
            train_seconds_mean=float(own["train_seconds"].mean()),
        )
        rows.append(row)
    table = pd.DataFrame(rows)
    if table.empty:
        return table
    return table.sort_values(["resolution", "max_size", "niter", "steps"]).reset_index(drop=True)
