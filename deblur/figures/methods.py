"""The per-method figures, from the aggregated tables (saved by :mod:`deblur.figures.write`).

- ``psnr_by_method.png`` / ``ssim_by_method.png``: box + jittered per-pair points per method, one
  panel per resolution, the paper's value as a labelled dashed line.
- ``psnr_vs_ssim.png``: per-pair scatter coloured by method, the paper's point as a star.
- ``examples.png``: blurry | each method | sharp for a few pairs spread over the reproduced
  method's PSNR range, all shown at one display size.
- ``paired_vs_<baseline>.png``: per-pair differences to the baseline (always written; says so
  when there is no paired data).
"""

from __future__ import annotations

import logging
import math
import re
import textwrap
from collections.abc import Sequence

import matplotlib

matplotlib.use("Agg")  # before pyplot: never needs a display

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402

from deblur.evaluation.settings import RESOLUTIONS  # noqa: E402
from deblur.figures.settings import METRIC_LABELS, PlotSettings  # noqa: E402
from deblur.figures.style import (  # noqa: E402
    REFERENCE_COLOR,
    boxes_and_points,
    theme,
)

log = logging.getLogger(__name__)

HORIZONTAL_AFTER = 8  # more methods than this: by-method plots list methods down the y axis


def method_order(methods: Sequence[str], settings: PlotSettings) -> list[str]:
    """Baseline first, other methods alphabetically, the reproduced method last."""
    methods = sorted(set(methods))
    first = [m for m in methods if m == settings.baseline_method]
    last = [m for m in methods if m == settings.reproduced_method and m not in first]
    return first + [m for m in methods if m not in first + last] + last


def method_palette(methods: Sequence[str], settings: PlotSettings) -> dict[str, tuple]:
    """A fixed colour per method, shared by all figures: the baseline grey, the reproduced
    method blue, the others from the rest of the colour-blind palette (no red: that is the
    paper's reference colour)."""
    cb = sns.color_palette("colorblind", 10)
    rest = [cb[i] for i in (1, 2, 4, 5, 6, 8, 9)]
    colors, k = {}, 0
    for m in methods:
        if m == settings.baseline_method:
            colors[m] = cb[7]
        elif m == settings.reproduced_method:
            colors[m] = cb[0]
        else:
            colors[m] = rest[k % len(rest)]
            k += 1
    return colors


def _resolutions(metrics: pd.DataFrame) -> list[str]:
    present = set(metrics["resolution"].dropna())
    return [r for r in RESOLUTIONS if r in present] + sorted(present - set(RESOLUTIONS))


def _reference_line(ax, value: float | None, metric: str, vertical: bool = False) -> None:
    """The paper's value as a dashed line, labelled in a legend placed away from the data;
    ``vertical`` when the metric runs along the x axis (methods down the y axis)."""
    if value is None or not math.isfinite(value):
        return
    unit = " dB" if metric == "psnr" else ""
    line = ax.axvline if vertical else ax.axhline
    line(
        value, ls="--", lw=1.6, color=REFERENCE_COLOR, zorder=1,
        label=f"reported (paper): {value:g}{unit}",
    )  # fmt: skip
    ax.legend(loc="lower right" if vertical else "best", fontsize=9, frameon=True, framealpha=0.9)


def _n_pairs(n: int) -> str:
    return f"n = {n} pair" + ("" if n == 1 else "s")


def _rotate_ticks(ax, labels: Sequence[str]) -> None:
    if len(labels) > 3 or max((len(x) for x in labels), default=0) > 10:
        ax.tick_params(axis="x", labelrotation=25)
        for t in ax.get_xticklabels():
            t.set_horizontalalignment("right")


def plot_by_method(metrics: pd.DataFrame, metric: str, settings: PlotSettings):
    """Box + jittered per-pair points per method, one panel per resolution. With more than
    :data:`HORIZONTAL_AFTER` methods (a study) the methods run down the y axis instead."""
    theme()
    resolutions = _resolutions(metrics)
    order = method_order(metrics["method"], settings)
    palette = method_palette(order, settings)
    horizontal = len(order) > HORIZONTAL_AFTER
    if horizontal:
        figsize = (6.0 * len(resolutions) + 2.5, 0.36 * len(order) + 1.6)
    else:
        figsize = (max(4.5, 1.1 * len(order) + 1.5) * len(resolutions), 4.8)
    fig, axes = plt.subplots(1, len(resolutions), figsize=figsize, squeeze=False, sharey=True)
    cat, val = ("method", metric) if not horizontal else (metric, "method")
    for ax, resolution in zip(axes[0], resolutions, strict=True):
        d = metrics[metrics["resolution"] == resolution]
        present = [m for m in order if m in set(d["method"])]
        common = dict(
            data=d, x=cat, y=val, order=present, hue="method", hue_order=present,
            palette=palette, ax=ax, legend=False,
        )  # fmt: skip
        boxes_and_points(box_linewidth=1.2, **common)
        n = d["pair_id"].nunique()
        ax.set_title(f"{resolution} resolution ({_n_pairs(n)})", fontsize=11)
        if horizontal:
            _reference_line(ax, settings.reported(metric), metric, vertical=True)
            ax.set_ylabel("")
            ax.set_xlabel(METRIC_LABELS[metric])
        else:
            _reference_line(ax, settings.reported(metric), metric)
            ax.set_xlabel("")
            ax.set_ylabel(METRIC_LABELS[metric])
            _rotate_ticks(ax, present)
    fig.suptitle(f"{METRIC_LABELS[metric]} per pair, by method", fontsize=13, y=1.0)
    fig.tight_layout()
    return fig


def compact(metrics: pd.DataFrame, settings: PlotSettings) -> tuple[pd.DataFrame, str]:
    """``metrics`` limited to the highlighted methods when there are more than
    ``settings.max_highlight`` (a study), with a note for the title ("" when all are shown)."""
    from deblur.evaluation.study import highlight_methods

    methods = set(metrics["method"].dropna())
    if len(methods) <= settings.max_highlight and not settings.highlight:
        return metrics, ""
    keep = highlight_methods(metrics, settings)
    note = f" ({len(keep)} of {len(methods)} methods; all variants: study_paired.png)"
    return metrics[metrics["method"].isin(keep)], note


def plot_psnr_vs_ssim(metrics: pd.DataFrame, settings: PlotSettings):
    """Per-pair PSNR vs SSIM, coloured by method, one panel per resolution (highlighted
    methods only when there are many)."""
    theme()
    metrics, note = compact(metrics, settings)
    resolutions = _resolutions(metrics)
    order = method_order(metrics["method"], settings)
    palette = method_palette(order, settings)
    fig, axes = plt.subplots(
        1, len(resolutions), figsize=(5.6 * len(resolutions) + 1.8, 4.8), squeeze=False
    )
    for i, (ax, resolution) in enumerate(zip(axes[0], resolutions, strict=True)):
        d = metrics[metrics["resolution"] == resolution]
        sns.scatterplot(
            data=d,
            x="ssim",
            y="psnr",
            hue="method",
            hue_order=order,
            palette=palette,
            s=34,
            alpha=0.85,
            edgecolor="0.2",
            linewidth=0.4,
            ax=ax,
            legend=i == len(resolutions) - 1,
        )
        ps, ss = settings.reported_psnr, settings.reported_ssim
        if ps is not None and ss is not None:
            ax.scatter(
                [ss],
                [ps],
                marker="*",
                s=260,
                color=REFERENCE_COLOR,
                edgecolor="black",
                linewidth=0.8,
                zorder=5,
                label="reported (paper)",
            )
            ax.annotate(
                f"paper: SSIM {ss:g}, {ps:g} dB",
                (ss, ps),
                xytext=(8, -14),
                textcoords="offset points",
                color=REFERENCE_COLOR,
                fontsize=9,
                fontweight="bold",
            )
        ax.set_title(f"{resolution} resolution ({_n_pairs(d['pair_id'].nunique())})", fontsize=11)
        ax.set_xlabel(METRIC_LABELS["ssim"])
        ax.set_ylabel(METRIC_LABELS["psnr"])
    last = axes[0][-1]
    handles, labels = last.get_legend_handles_labels()
    if last.get_legend() is not None:
        last.get_legend().remove()
    fig.legend(
        handles, labels, loc="center left", bbox_to_anchor=(1.0, 0.5), frameon=False, title="method"
    )
    fig.suptitle(f"PSNR vs SSIM per pair{note}", fontsize=13, y=1.0)
    fig.tight_layout()
    return fig


def _read_for_display(path: object, size: tuple[int, int], crop: float) -> np.ndarray | None:
    """Read an image and resize it to ``size`` (h, w) exactly as the metrics do (antialiased
    bicubic), then optionally keep a centred crop of fraction ``crop``. None (and a warning)
    if it cannot be read."""
    from deblur.data.imageio import read_rgb
    from deblur.resize import resize_array

    img = _read_or_warn(read_rgb, path)
    if img is None:
        return None
    h, w = size
    img = resize_array(img, (h, w)) if img.shape[:2] != (h, w) else img
    if crop > 0:
        ch, cw = max(1, round(h * crop)), max(1, round(w * crop))
        y0, x0 = (h - ch) // 2, (w - cw) // 2
        img = img[y0 : y0 + ch, x0 : x0 + cw]
    return img


def _read_or_warn(reader, path: object):
    """``reader(path)``; None when ``path`` is missing (None/NaN/NA) or unreadable (warned)."""
    from deblur.errors import DeblurError

    if path is None or path is pd.NA or (isinstance(path, float) and math.isnan(path)):
        return None
    try:
        return reader(path)
    except DeblurError as exc:
        log.warning("examples: %s", exc)
        return None


def _kernel_inset(ax, path: object) -> bool:
    """Draw the kernel PNG at ``path`` in the panel's upper-left corner (peak white on black,
    one block per kernel pixel); False (and a warning if unreadable) when there is none."""
    from deblur.kernelio import read_kernel

    k = _read_or_warn(read_kernel, path)
    if k is None:
        return False
    inset = ax.inset_axes([0.02, 0.54, 0.44, 0.44])
    inset.imshow(k / k.max(), cmap="gray", vmin=0, vmax=1, interpolation="nearest")
    inset.set_xticks([])
    inset.set_yticks([])
    for spine in inset.spines.values():
        spine.set_edgecolor("white")
        spine.set_linewidth(0.8)
    return True


def _row_value(row, column: str) -> object:
    """``row[column]``, None when the row or the column is missing."""
    return None if row is None or column not in row.index else row[column]


def _wrap(text: str, width: int) -> str:
    """Break a long identifier at '_' / '-' so column titles and row labels stay narrow."""
    if len(text) <= width:
        return text
    lines, line = [], ""
    for part in re.split(r"(?<=[_-])", text):
        if line and len(line) + len(part) > width:
            lines.append(line)
            line = ""
        line += part
    return "\n".join(lines + [line])


def choose_examples(metrics: pd.DataFrame, settings: PlotSettings) -> list[str]:
    """Pair ids spread evenly over the reproduced method's PSNR (best to worst) at the chosen
    resolution; by pair id when that method is absent."""
    d = metrics[metrics["resolution"] == settings.resolution]
    if d.empty:
        d = metrics
    ranked = (
        d[d["method"] == settings.reproduced_method]
        .sort_values(["psnr", "pair_id"], ascending=[False, True], kind="mergesort")["pair_id"]
        .tolist()
    )
    if not ranked:
        ranked = sorted(d["pair_id"].dropna().unique())
    k = min(settings.n_examples, len(ranked))
    if k == 0:
        return []
    idx = np.unique(np.round(np.linspace(0, len(ranked) - 1, k)).astype(int))
    return [ranked[i] for i in idx]


def example_methods(metrics: pd.DataFrame, settings: PlotSettings) -> list[str]:
    """Method columns of ``examples.png``: the highlighted methods (:func:`highlight_methods`)
    except identity ones (the blurry input has its own column), classical baselines first."""
    from deblur.evaluation.study import highlight_methods

    kinds = metrics.drop_duplicates("method").set_index("method")["kind"]
    chosen = [m for m in highlight_methods(metrics, settings) if kinds.get(m) != "identity"]
    return sorted(chosen, key=lambda m: (kinds.get(m) == "singan", chosen.index(m)))


def plot_examples(metrics: pd.DataFrame, settings: PlotSettings):
    """Grid: blurry | highlighted methods | sharp, for a few pairs, every panel at the same
    resolution (``settings.resolution``): exactly the images the metrics compare."""
    theme()
    resolution = settings.resolution
    d = metrics[metrics["resolution"] == resolution]
    if d.empty:
        resolution = _resolutions(metrics)[0]
        d = metrics[metrics["resolution"] == resolution]
    shown = example_methods(d, settings)
    pairs = choose_examples(metrics, settings)
    columns = ["blurry input"] + shown + ["sharp (ground truth)"]
    fig, axes = plt.subplots(
        len(pairs),
        len(columns),
        figsize=(2.5 * len(columns) + 1.2, 1.8 * len(pairs) + 0.9),
        squeeze=False,
    )
    sizes, kernels = set(), False
    for r, pair in enumerate(pairs):
        rows = d[d["pair_id"] == pair]
        first = rows.iloc[0]
        size = (int(first["height"]), int(first["width"]))  # what the metrics compared
        sizes.add(size)
        blurry_path = (
            rows["blurry_path"].dropna().iloc[0] if rows["blurry_path"].notna().any() else None
        )
        base = rows[rows["kind"] == "identity"]
        cells = [(blurry_path, base.iloc[0] if len(base) else None)]
        for m in shown:
            hit = rows[rows["method"] == m]
            cells.append((hit.iloc[0]["pred_path"], hit.iloc[0]) if len(hit) else (None, None))
        cells.append((first["sharp_path"], None))
        truth = rows["kernel_true_path"].dropna() if "kernel_true_path" in rows else []
        for c, (path, row) in enumerate(cells):
            ax = axes[r][c]
            img = _read_for_display(path, size, settings.example_crop)
            if img is None:
                ax.set_facecolor("0.9")
                ax.text(0.5, 0.5, "missing", ha="center", va="center",
                        transform=ax.transAxes, color="0.4")  # fmt: skip
            else:
                # nearest: one screen block per pixel, so a 64-px image looks like one
                ax.imshow(img, interpolation="nearest" if img.shape[1] < 400 else "antialiased")
                # the kernel a method estimated, and the true one on the sharp frame
                kernel = truth.iloc[0] if c == len(cells) - 1 and len(truth) else None
                kernels |= _kernel_inset(ax, kernel or _row_value(row, "kernel_path"))
            ax.set_xticks([])
            ax.set_yticks([])
            for spine in ax.spines.values():
                spine.set_visible(False)
            if row is not None:
                ax.set_xlabel(f"{row['psnr']:.2f} dB / SSIM {row['ssim']:.3f}", fontsize=8.5)
            if r == 0:
                ax.set_title(_wrap(columns[c], 18), fontsize=9.5, fontweight="bold")
            if c == 0:  # horizontal, wrapped: long GoPro ids never run into the next row
                has_parts = pd.notna(first["sequence"]) and pd.notna(first["frame"])
                label = f"{first['sequence']}\n{first['frame']}" if has_parts else pair
                label = "\n".join(_wrap(part, 16) for part in label.split("\n"))
                ax.set_ylabel(label, rotation=0, ha="right", va="center", fontsize=8.5,
                              labelpad=6)  # fmt: skip
    size_text = " or ".join(f"{w}x{h}" for h, w in sorted(sizes))
    if resolution == "model":
        what = (
            f"all panels at the model resolution, {size_text} px (the finest SinGAN scale): "
            "blurry, sharp and baseline images downscaled as the metrics do; enlarged for display"
        )
    else:
        what = (
            f"all panels at the original frame size, {size_text} px: SinGAN outputs (model "
            "size) upsampled as the full-resolution metrics do"
        )
    view = f"; centre crop {settings.example_crop:.0%}" if settings.example_crop else ""
    if kernels:
        view += "; insets: the estimated kernel (on the sharp frame: the true kernel)"
    chosen = (
        f"pairs spread over {settings.reproduced_method} PSNR"
        if settings.reproduced_method in set(d["method"])
        else "first pairs by id"
    )
    width = round(12 * (2.5 * len(columns) + 1.2))  # characters that fit the figure
    fig.suptitle(
        f"Examples ({chosen}; scores at {resolution} resolution)\n"
        + textwrap.fill(what + view, width),
        fontsize=10.5,
        y=1.0,
    )
    fig.tight_layout()
    return fig


def plot_paired(metrics: pd.DataFrame, paired: pd.DataFrame, settings: PlotSettings):
    """Per-pair differences (method - baseline): rows resolution, columns PSNR / SSIM
    (highlighted methods only when there are many)."""
    theme()
    base = settings.baseline_method
    metrics, note = compact(metrics, settings)
    diffs = []
    for resolution in _resolutions(metrics):
        d = metrics[metrics["resolution"] == resolution]
        b = d[d["method"] == base][["pair_id", "psnr", "ssim"]]
        others = d[d["method"] != base]
        j = others.merge(b, on="pair_id", suffixes=("", "_base"))
        for m in ("psnr", "ssim"):
            diffs.append(
                pd.DataFrame(
                    dict(
                        method=j["method"],
                        resolution=resolution,
                        metric=m,
                        diff=j[m] - j[f"{m}_base"],
                    )
                )
            )
    diffs = pd.concat(diffs, ignore_index=True) if diffs else pd.DataFrame()
    if diffs.empty or paired.empty:
        fig, ax = plt.subplots(figsize=(6, 2.5))
        ax.axis("off")
        ax.text(
            0.5,
            0.5,
            f"no paired data vs {base}\n(no other method, or no {base} rows)",
            ha="center",
            va="center",
            fontsize=12,
        )
        return fig
    resolutions = [r for r in _resolutions(metrics) if r in set(diffs["resolution"])]
    order = [m for m in method_order(diffs["method"], settings) if m != base]
    palette = method_palette(method_order(metrics["method"], settings), settings)
    fig, axes = plt.subplots(
        len(resolutions),
        2,
        figsize=(max(9, 2.4 * len(order) + 4), 4.2 * len(resolutions)),
        squeeze=False,
    )
    for r, resolution in enumerate(resolutions):
        for c, m in enumerate(("psnr", "ssim")):
            ax = axes[r][c]
            d = diffs[(diffs["resolution"] == resolution) & (diffs["metric"] == m)]
            boxes_and_points(
                data=d, x="method", y="diff", order=order, hue="method", hue_order=order,
                palette=palette, ax=ax, legend=False,
            )  # fmt: skip
            ax.axhline(0, color="0.25", lw=1.2, ls="--", zorder=1)
            stats = paired[(paired["resolution"] == resolution)].set_index("method")
            labels = []
            for meth in order:
                if meth in stats.index:
                    s = stats.loc[meth]
                    p = s[f"{m}_wilcoxon_p"]
                    ptxt = "n/a" if pd.isna(p) else (f"= {p:.2g}" if p >= 1e-4 else "< 1e-4")
                    digits = 2 if m == "psnr" else 3
                    mean = s[f"{m}_diff_mean"]
                    labels.append(f"{_wrap(meth, 15)}\nmean {mean:+.{digits}f}\np {ptxt}")
                else:
                    labels.append(_wrap(meth, 15))
            ax.set_xticks(range(len(order)))
            ax.set_xticklabels(labels, fontsize=8.5)
            n = int(stats["n_pairs"].max()) if len(stats) else 0
            ax.set_title(
                f"Δ{METRIC_LABELS[m]} vs {base}, {resolution} resolution ({_n_pairs(n)})",
                fontsize=10.5,
            )
            ax.set_xlabel("")
            ax.set_ylabel(f"Δ{METRIC_LABELS[m]} (method − {base})")
    fig.suptitle(
        f"Per-pair difference to {base} (above 0: better than {base}); p: Wilcoxon "
        f"signed-rank{note}",
        fontsize=12,
        y=1.0,
    )
    fig.tight_layout()
    return fig
