"""The study and plot commands on fake metrics with real images: files, determinism, errors, and
figures that stay readable (same-resolution example panels, labels that never overlap)."""

from __future__ import annotations

import json

import matplotlib
import numpy as np
import pandas as pd
import pytest
from PIL import Image
from test_study_tables import fake_study_metrics
from workflow_helpers import PLOTS, assert_pngs

from deblur.cli import main
from deblur.data.imageio import write_png
from deblur.evaluation.study import StudySettings, ablation_table, by_sequence
from deblur.evaluation.tables import write_parquet
from deblur.figures.methods import plot_examples
from deblur.figures.settings import PlotSettings
from deblur.figures.study import plot_by_sequence, plot_study_paired
from deblur.sizes import capped_size

matplotlib.use("Agg")

FULL = (54, 96)  # h, w of the fake frames
MAX_SIZE = 40
MODEL = capped_size(*FULL, MAX_SIZE)
STUDY_OUTPUTS = (
    "ablation.parquet",
    "ablation_summary.parquet",
    "ablation_contrasts.parquet",
    "by_sequence.parquet",
    "ablation.md",
)


def run_cli(*argv):
    return main(["-q", *map(str, argv)])


def with_images(metrics: pd.DataFrame, root) -> pd.DataFrame:
    """Give every row real image paths: full-size blurry/sharp frames and baseline outputs,
    model-size SinGAN outputs (as the pipeline writes them), with matching height/width."""
    rng = np.random.default_rng(0)
    m = metrics.copy()
    for col in ("blurry_path", "sharp_path", "pred_path"):
        m[col] = m[col].astype("object")
    for pair in m["pair_id"].unique():
        sharp = rng.uniform(0, 1, FULL + (3,))
        write_png(root / f"{pair}_sharp.png", sharp)
        write_png(root / f"{pair}_blur.png", 0.5 * sharp + 0.25)
    for (method, pair), idx in m.groupby(["method", "pair_id"]).groups.items():
        singan = m.loc[idx[0], "kind"] == "singan"
        path = root / f"{method}_{pair}.png"
        write_png(path, rng.uniform(0, 1, (MODEL if singan else FULL) + (3,)))
        m.loc[idx, "pred_path"] = str(path)
        m.loc[idx, "sharp_path"] = str(root / f"{pair}_sharp.png")
        m.loc[idx, "blurry_path"] = str(root / f"{pair}_blur.png")
    for res, (h, w) in (("model", MODEL), ("full", FULL)):
        m.loc[m["resolution"] == res, "height"] = h
        m.loc[m["resolution"] == res, "width"] = w
    return m


@pytest.fixture(scope="module")
def tables(tmp_path_factory):
    root = tmp_path_factory.mktemp("study")
    (root / "img").mkdir()
    metrics = with_images(fake_study_metrics(n_per_seq=2), root / "img")
    write_parquet(metrics, root / "tables" / "metrics.parquet")
    return root


def study_args(tables, n_boot: int) -> list:
    """``study`` on the fixture's metrics with the paper's setting as reproduced method."""
    return [
        "study",
        "--metrics",
        tables / "tables" / "metrics.parquet",
        "--out-dir",
        tables / "tables",
        "--reproduced-method",
        "singan_same_k1",
        "--n-boot",
        n_boot,
    ]


def test_study_cli_writes_deterministic_tables(tables, capsys):
    args = study_args(tables, 300)
    args += ["--skipped", json.dumps({"singan_nb10_k1": "sequence seqA has 2 frame(s)"})]
    assert run_cli(*args) == 0
    first = {n: (tables / "tables" / n).read_bytes() for n in STUDY_OUTPUTS}
    assert run_cli(*args) == 0
    assert {n: (tables / "tables" / n).read_bytes() for n in STUDY_OUTPUTS} == first
    ablation = pd.read_parquet(tables / "tables" / "ablation.parquet")
    assert len(ablation) == 8 * 6 * 2  # variants x pairs x resolutions
    summary = pd.read_parquet(tables / "tables" / "ablation_summary.parquet")
    assert summary.groupby("resolution")["rank_psnr"].min().eq(1).all()
    text = (tables / "tables" / "ablation.md").read_text()
    assert "- `singan_nb10_k1`: sequence seqA has 2 frame(s)" in text
    assert "300 resamples" in text

    capsys.readouterr()
    assert run_cli(*args[:5], "--baseline-method", "nosuch") == 2
    err = capsys.readouterr().err
    assert err.startswith("error: baseline method 'nosuch' has no rows") and "\n" == err[-1]
    assert run_cli(*args[:5], "--skipped", "[1]") == 2
    assert "--skipped must be a JSON object" in capsys.readouterr().err
    assert run_cli("study", "--metrics", tables / "none.parquet", "--out-dir", tables) == 2
    assert "run `python -m deblur aggregate` first" in capsys.readouterr().err


def test_plot_cli_draws_study_figures_and_compact_views(tables):
    assert run_cli(*study_args(tables, 200)) == 0
    plots = tables / "plots"
    assert (
        run_cli(
            "plot",
            "--tables",
            tables / "tables",
            "--out-dir",
            plots,
            "--reproduced-method",
            "singan_same_k1",
            "--max-highlight",
            4,
        )
        == 0
    )
    assert_pngs(plots, PLOTS + ("study_steps", "study_paired", "study_by_sequence"), 600, 250)
    # 8 methods: the by-method plot lists them down the y axis (taller than wide per method)
    with Image.open(plots / "psnr_by_method.png") as im:
        assert im.size[1] > 500


def _boxes(fig, artists):
    renderer = fig.canvas.get_renderer()
    return [a.get_window_extent(renderer) for a in artists]


def _overlap(a, b) -> bool:
    return a.x0 < b.x1 and b.x0 < a.x1 and a.y0 < b.y1 and b.y0 < a.y1


def test_examples_show_every_panel_at_the_model_resolution_with_clear_row_labels(tables):
    metrics = pd.read_parquet(tables / "tables" / "metrics.parquet")
    # long GoPro-like sequence names must not run into the next row or the images
    long = {
        s: f"GOPR0{i}84_11_00_{s}_with_a_long_name" for i, s in enumerate(["seqA", "seqB", "seqC"])
    }
    metrics["sequence"] = metrics["sequence"].map(long)
    settings = PlotSettings(reproduced_method="singan_same_k1", n_examples=4, max_highlight=4)
    fig = plot_examples(metrics, settings)
    fig.canvas.draw()
    axes = np.array(fig.axes).reshape(4, -1)
    # blurry | baselines | paper's setting | its neighbor twin | sharp: identity not repeated
    titles = [ax.get_title().replace("\n", "") for ax in axes[0]]
    assert titles == [
        "blurry input",
        "unsharp",
        "singan_same_k1",
        "singan_nb5_k1",
        "sharp (ground truth)",
    ]
    shapes = {ax.images[0].get_array().shape[:2] for ax in axes.ravel()}
    assert shapes == {MODEL}  # full-size frames and baselines were downscaled like the metrics
    assert f"{MODEL[1]}x{MODEL[0]} px" in fig._suptitle.get_text()
    labels = [ax.yaxis.label for ax in axes[:, 0]]
    assert all(lbl.get_rotation() == 0 for lbl in labels)
    label_boxes = _boxes(fig, labels)
    image_boxes = _boxes(fig, axes.ravel())
    for i, a in enumerate(label_boxes):
        assert not any(_overlap(a, b) for b in image_boxes)
        assert not any(_overlap(a, b) for b in label_boxes[i + 1 :])

    full = plot_examples(
        metrics, PlotSettings(reproduced_method="singan_same_k1", resolution="full")
    )
    shapes = {ax.images[0].get_array().shape[:2] for ax in full.axes if ax.images}
    assert shapes == {FULL} and "upsampled" in full._suptitle.get_text()


def test_study_figures_stay_readable_with_100_pairs_and_30_sequences():
    sequences = [f"GOPR{i:04d}_11_00" for i in range(30)]
    metrics = fake_study_metrics(n_per_seq=3, sequences=sequences)  # 90 pairs
    settings = StudySettings(n_boot=100, reproduced_method="singan_same_k1")
    table = by_sequence(ablation_table(metrics, settings), settings)
    plot_settings = PlotSettings(reproduced_method="singan_same_k1")
    methods = ["identity", "singan_same_k1", "unsharp", "singan_nb5_k1"]
    fig = plot_by_sequence(table, methods, plot_settings)
    fig.canvas.draw()
    ticks = [t for t in fig.axes[0].get_yticklabels() if t.get_text()]
    assert len(ticks) == 30
    boxes = _boxes(fig, ticks)
    assert not any(_overlap(a, b) for i, a in enumerate(boxes) for b in boxes[i + 1 :])
    # strongest blur (lowest blurry-input PSNR) on top
    assert ticks[0].get_text().startswith("GOPR0000") and ticks[-1].get_text().startswith(
        "GOPR0029"
    )

    from deblur.evaluation.study import rank_variants

    ranking = rank_variants(metrics, settings)
    fig = plot_study_paired(ranking, plot_settings)
    fig.canvas.draw()
    ticks = [t for t in fig.axes[0].get_yticklabels() if t.get_text()]
    assert len(ticks) == 7  # every variant but the baseline
    assert ticks[0].get_text() == "singan_same_k1_nonoise"  # sorted by ΔPSNR
    boxes = _boxes(fig, ticks)
    assert not any(_overlap(a, b) for i, a in enumerate(boxes) for b in boxes[i + 1 :])


def test_study_and_plot_refuse_a_max_highlight_below_two(tables, capsys):
    out = tables / "refused"
    for args in (
        [*study_args(tables, 50), "--max-highlight", 1],
        ["plot", "--tables", tables / "tables", "--out-dir", out, "--max-highlight", 1],
    ):
        capsys.readouterr()
        assert run_cli(*args) == 2
        assert "--max-highlight must be >= 2, got 1" in capsys.readouterr().err
    assert not out.exists()
