"""One table of every inference reading of several pipeline runs, each against the blurry input.

    python scripts/readings_table.py LABEL=RUN_DIR [LABEL=RUN_DIR ...] \\
        [--list-pairs-below 5] [--out-md FILE] [--out-parquet FILE]

Each RUN_DIR is a workflow run's working directory, read from its ``results/tables/``: the
``metrics.parquet`` and ``paired.parquet`` the ``aggregate`` rule wrote (the paired difference
of every method to the run's baseline, normally ``identity``, the blurry input, with its
paired bootstrap CI). One row per run, resolution (``model`` then ``full``) and method, the
baseline first, then the SinGAN readings by pyramid (size, then iterations) and in order (g0
by k, inject, sr by output size, sample), then any other method: n, mean PSNR / SSIM, the
pyramid (finest size, scales, iterations), the output size (``deblur_out_*`` of ``sr`` /
``sample`` rows, else the model size; ``frame`` for other methods, which work on the whole
frame), passes x factor, and the paired difference to the baseline with the aggregate's 95% CI
and better/worse counts. Where n is below ``--list-pairs-below`` each pair's difference is
listed too (recomputed from the metrics, sorted by pair id, and checked against the
aggregate's mean difference): a bootstrap over two to four pairs only spans their values.
Nothing else is recomputed. Run from the repository root (it uses ``deblur``'s atomic writes).
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import pandas as pd

# the order readings are listed in within one run and resolution (other kinds after them)
MODE_ORDER = {"g0": 0, "inject": 1, "sr": 2, "sample": 3}
DIGITS = {"psnr": 2, "ssim": 3}


class TableError(Exception):
    """A run directory or its tables cannot make the table (one line, names the file)."""


def _first(rows: pd.DataFrame, column: str):
    """The column's single value within ``rows``; None when absent, missing or not constant."""
    if column not in rows:
        return None
    values = rows[column].dropna()
    if values.empty or values.nunique() != 1:
        return None
    return values.iloc[0]


def _output(rows: pd.DataFrame, model_rows: pd.DataFrame) -> str:
    h, w = _first(rows, "deblur_out_height"), _first(rows, "deblur_out_width")
    if h is not None and w is not None:
        return f"{int(w)}×{int(h)}"
    h, w = _first(model_rows, "height"), _first(model_rows, "width")
    if h is not None and w is not None:
        return f"{int(w)}×{int(h)}"
    return "varies"


def _pyramid(rows: pd.DataFrame) -> str:
    size, scales, niter = (_first(rows, c) for c in ("max_size", "num_scales", "niter"))
    if size is None:
        return "–"
    parts = [f"{int(size)} px"]
    if scales is not None:
        parts.append(f"{int(scales)} scales")
    if niter is not None:
        parts.append(f"{int(niter)} it")
    return ", ".join(parts)


def _passes(rows: pd.DataFrame) -> str:
    mode, passes = _first(rows, "deblur_mode"), _first(rows, "deblur_passes")
    factor, steps = _first(rows, "deblur_pass_factor"), _first(rows, "deblur_steps")
    if mode == "sample" and passes is not None:
        return f"{int(passes)} scales"
    if passes is not None and factor is not None:
        return f"{int(passes)} × {float(factor):.4f}"
    if mode == "g0" and steps is not None:
        return f"k = {int(steps)}"
    if mode == "inject" and _first(rows, "inject_scale") is not None:
        return f"from scale {int(_first(rows, 'inject_scale'))}"
    return "–"


def _order(rows: pd.DataFrame) -> tuple:
    """Sort key of one method's rows: other methods last; readings by pyramid (size, then
    iterations: a ladder's cells one after another), then mode, then k or output size."""
    mode = _first(rows, "deblur_mode")
    if mode not in MODE_ORDER:
        return (1, 0, 0, 0, 0, 0)
    size, niter = _first(rows, "max_size"), _first(rows, "niter")
    steps = _first(rows, "deblur_steps")
    h, w = _first(rows, "deblur_out_height"), _first(rows, "deblur_out_width")
    pixels = int(h) * int(w) if h is not None and w is not None else 0
    pyramid = (int(size) if size is not None else 0, int(niter) if niter is not None else 0)
    return (0, *pyramid, MODE_ORDER[mode], int(steps) if steps is not None else 0, pixels)


def pair_differences(metrics: pd.DataFrame, method: str, base: str, res: str, m: str) -> pd.Series:
    """``method`` minus ``base`` in metric ``m`` at resolution ``res``, per pair (by pair id)."""
    one = metrics[(metrics["method"] == method) & (metrics["resolution"] == res)]
    ref = metrics[(metrics["method"] == base) & (metrics["resolution"] == res)]
    joined = one.merge(ref, on="pair_id", suffixes=("", "_base")).sort_values("pair_id")
    return pd.Series(
        (joined[m] - joined[f"{m}_base"]).to_numpy(float), index=joined["pair_id"].to_numpy()
    )


def _reference(
    metrics: pd.DataFrame, paired: pd.DataFrame, method: str, base: str, res: str
) -> tuple[str | None, pd.DataFrame]:
    """The method a row is paired with, and that pairing's row of paired-table columns.

    The aggregate's pairing (:func:`deblur.evaluation.statistics.baseline_for`: at the model
    resolution a ladder cell scored at another size is paired with the blurry input at that
    size, ``identity_s128``); None for the blurry input at such a size. Runs aggregated before
    the aggregate paired by size get that pairing recomputed with the aggregate's own function
    and default settings (10,000 resamples, seed 0, percentile).
    """
    from deblur.evaluation.settings import ReportSettings
    from deblur.evaluation.statistics import baseline_for, paired_differences

    ref = baseline_for(metrics, method, res, base)
    p = paired[(paired["method"] == method) & (paired["resolution"] == res)]
    if ref is None:
        return None, p.iloc[0:0]
    if ref == base or (len(p) and p["baseline_method"].iloc[0] == ref):
        return ref, p
    at = metrics[(metrics["resolution"] == res) & metrics["method"].isin([method, ref])]
    q = paired_differences(at, ReportSettings(baseline_method=ref))
    return ref, q[q["method"] == method]


def _read(root: Path, name: str) -> pd.DataFrame:
    path = root / "results" / "tables" / name
    if not path.is_file():
        raise TableError(f"{path}: not found; run the workflow's aggregate rule for {root} first")
    return pd.read_parquet(path)


def run_rows(label: str, root: Path, list_below: int) -> list[dict]:
    """The table's rows of one run (see the module docstring)."""
    metrics, paired = _read(root, "metrics.parquet"), _read(root, "paired.parquet")
    # the run's baseline: the one every full-resolution row is paired with (at the model
    # resolution the aggregate pairs a cell scored at another size with the blurry input at
    # that size, e.g. identity_s128)
    bases = set(paired.loc[paired["resolution"] == "full", "baseline_method"].dropna())
    if len(bases) > 1:
        raise TableError(f"{root}: paired.parquet has several baselines {sorted(bases)}")
    base = bases.pop() if bases else "identity"
    if base not in set(metrics["method"]):
        raise TableError(f"{root}: the baseline {base!r} has no rows in metrics.parquet")
    out = []
    for res in ("model", "full"):
        at = metrics[metrics["resolution"] == res]
        others = sorted(set(at["method"]) - {base})
        others.sort(key=lambda name: _order(at[at["method"] == name]))
        for method in [base, *others]:
            rows = at[at["method"] == method]
            model_rows = metrics[(metrics["method"] == method) & (metrics["resolution"] == "model")]
            singan = method != base and _first(rows, "kind") == "singan"
            row = dict(
                set=label,
                resolution=res,
                method=method,
                n=len(rows),
                pyramid=_pyramid(rows),
                output=_output(rows, model_rows) if singan else "frame",
                passes=_passes(rows),
                psnr=float(rows["psnr"].mean()),
                ssim=float(rows["ssim"].mean()),
                n_pairs=0,
            )
            ref, p = _reference(metrics, paired, method, base, res)
            row["baseline"] = ref
            for m in DIGITS:
                row |= {f"{m}_diff": math.nan, f"{m}_lo": math.nan, f"{m}_hi": math.nan}
                row |= {f"{m}_better": 0, f"{m}_worse": 0, f"{m}_pairs": ""}
                if method == base or ref is None or p.empty:
                    continue
                q = p.iloc[0]
                row["n_pairs"] = int(q["n_pairs"])
                row[f"{m}_diff"] = float(q[f"{m}_diff_mean"])
                row[f"{m}_lo"] = float(q[f"{m}_diff_ci_low"])
                row[f"{m}_hi"] = float(q[f"{m}_diff_ci_high"])
                row[f"{m}_better"] = int(q[f"{m}_n_better"])
                row[f"{m}_worse"] = int(q[f"{m}_n_worse"])
                if row["n_pairs"] < list_below:
                    diffs = pair_differences(metrics, method, ref, res, m)
                    if len(diffs) != row["n_pairs"] or not math.isclose(
                        diffs.mean(), row[f"{m}_diff"], rel_tol=1e-9, abs_tol=1e-9
                    ):
                        raise TableError(
                            f"{root}: paired.parquet's {m} difference of {method} at {res} is not "
                            "the metrics' (stale tables? rerun the aggregate rule)"
                        )
                    digits = DIGITS[m]
                    row[f"{m}_pairs"] = " / ".join(f"{d:+.{digits}f}" for d in diffs)
                    row["pair_ids"] = " / ".join(diffs.index)
            out.append(row)
    return out


def table(runs: list[tuple[str, Path]], list_below: int = 5) -> pd.DataFrame:
    """Rows of every (run, resolution, method), the baseline first within each group."""
    rows = [r for label, root in runs for r in run_rows(label, root, list_below)]
    df = pd.DataFrame(rows)
    if "pair_ids" not in df:
        df["pair_ids"] = ""
    return df.assign(pair_ids=df["pair_ids"].fillna(""))


def _diff(r, m: str) -> str:
    d = DIGITS[m]
    if pd.isna(getattr(r, f"{m}_diff")):
        return "–"
    lo, hi = getattr(r, f"{m}_lo"), getattr(r, f"{m}_hi")
    ci = "" if pd.isna(lo) else f" [{lo:+.{d}f}, {hi:+.{d}f}]"
    return f"{getattr(r, f'{m}_diff'):+.{d}f}{ci}"


def markdown(df: pd.DataFrame) -> str:
    """The table as Markdown, and below it the pairs each set's per-pair lists follow."""
    head = (
        "| set | size | reading | pyramid | n | output | passes | PSNR | SSIM "
        "| ΔPSNR (dB) [95% CI] | per pair | ΔSSIM [95% CI] | per pair | better PSNR, SSIM |\n"
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n"
    )
    lines = []
    for r in df.itertuples():
        better = f"{r.psnr_better}/{r.n_pairs}, {r.ssim_better}/{r.n_pairs}"
        if pd.isna(r.psnr_diff):
            better = "–"
        reading = r.method
        if pd.isna(r.baseline) or r.method == r.baseline:
            reading = f"{r.method} (blurry input)"
        elif r.baseline != df["method"][df["set"] == r.set].iloc[0]:
            reading = f"{r.method} (vs {r.baseline})"
        lines.append(
            f"| {r.set} | {r.resolution} | {reading} | {r.pyramid} | {r.n} | {r.output} "
            f"| {r.passes} | {r.psnr:.2f} | {r.ssim:.3f} | {_diff(r, 'psnr')} | {r.psnr_pairs} "
            f"| {_diff(r, 'ssim')} | {r.ssim_pairs} | {better} |"
        )
    notes = []
    for label, ids in df[df["pair_ids"] != ""].groupby("set", sort=False)["pair_ids"]:
        notes.append(f"- {label}: {ids.iloc[0]}")
    tail = "\nPer-pair differences, in the order of the pairs:\n\n" + "\n".join(notes) + "\n"
    return head + "\n".join(lines) + "\n" + (tail if notes else "")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", help="LABEL=RUN_DIR")
    parser.add_argument(
        "--list-pairs-below",
        type=int,
        default=5,
        metavar="N",
        help="list each pair's difference where fewer than N pairs (default: %(default)s)",
    )
    parser.add_argument("--out-md", type=Path, help="write the Markdown table here too")
    parser.add_argument("--out-parquet", type=Path, help="write the rows as parquet here")
    args = parser.parse_args(argv)
    runs = []
    for spec in args.runs:
        label, sep, root = spec.partition("=")
        if not sep or not label or not root:
            print(f"{spec}: expected LABEL=RUN_DIR", file=sys.stderr)
            return 2
        runs.append((label, Path(root)))
    try:
        df = table(runs, args.list_pairs_below)
    except TableError as exc:
        print(exc, file=sys.stderr)
        return 2
    text = markdown(df)
    from deblur.atomic import write_bytes
    from deblur.errors import DeblurError
    from deblur.evaluation.tables import parquet_bytes

    try:
        if args.out_md:
            write_bytes(args.out_md, text.encode())
        if args.out_parquet:
            write_bytes(args.out_parquet, parquet_bytes(df))
    except DeblurError as exc:
        print(exc, file=sys.stderr)
        return 2
    sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
