"""End-to-end Snakemake runs on tiny configs: the real DAG, real training, real metrics."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from workflow_helpers import SHARED_DATA, make_workdir, snakemake

from deblur.data.imageio import read_rgb
from deblur.evaluation.metrics import psnr, ssim
from deblur.resize import resize_array
from deblur.sizes import capped_size

pytestmark = pytest.mark.slow

TABLES = ["metrics.parquet", "summary.parquet", "paired.parquet", "cost.parquet"]
PLOTS = ["psnr_by_method.png", "ssim_by_method.png", "psnr_vs_ssim.png", "examples.png"]


def check_outputs(wd, n_pairs, methods=("singan", "identity")):
    tables = wd / "results" / "tables"
    for name in TABLES + ["paper_table.md"]:
        assert (tables / name).is_file(), name
    for name in PLOTS:
        assert (wd / "results" / "plots" / name).stat().st_size > 10_000, name
    metrics = pd.read_parquet(tables / "metrics.parquet")
    assert len(metrics) == n_pairs * len(methods) * 2  # pairs x methods x {model, full}
    assert set(metrics["method"]) == set(methods)
    assert set(metrics["resolution"]) == {"model", "full"}
    assert np.isfinite(metrics[["psnr", "ssim"]].to_numpy()).all()
    for col in (
        "pair_id",
        "sequence",
        "frame",
        "config_hash",
        "torch_version",
        "metric_convention",
    ):
        assert metrics[col].notna().any(), col
    singan = metrics[metrics["method"] == "singan"]
    assert singan["train_seconds"].gt(0).all()
    assert singan["reference_mode"].eq("same").all()
    assert singan[["deblur_steps", "device", "config_hash"]].notna().all().all()
    return metrics


def check_identity_rows(wd, metrics, max_size):
    """The identity rows are exactly the blurry input scored against the sharp frame."""
    for row in metrics[metrics["method"] == "identity"].itertuples():
        blurry, sharp = read_rgb(wd / row.blurry_path), read_rgb(wd / row.sharp_path)
        if row.resolution == "model":
            size = capped_size(*sharp.shape[:2], max_size)
            blurry, sharp = resize_array(blurry, size), resize_array(sharp, size)
        assert row.psnr == pytest.approx(psnr(blurry, sharp), abs=1e-9)
        assert row.ssim == pytest.approx(ssim(blurry, sharp), abs=1e-9)


def test_tiny_pipeline_end_to_end(tmp_path):
    wd = make_workdir(tmp_path, "tiny.yaml")
    snakemake(wd, "--cores", "2", "--configfile", "tiny.yaml")
    metrics = check_outputs(wd, n_pairs=3)
    check_identity_rows(wd, metrics, max_size=40)
    paper = (wd / "results/tables/paper_table.md").read_text()
    assert "0.52" in paper and "15.3" in paper
    cost = pd.read_parquet(wd / "results/tables/cost.parquet")
    assert {"train_singan", "evaluate"} <= set(cost["rule"])
    for rule in ("train_singan", "deblur_singan", "evaluate"):
        assert any((wd / "logs" / rule).rglob("*.log")), rule
    # nothing left to do, and the report builds
    assert "Nothing to be done" in snakemake(wd, "-n", "--configfile", "tiny.yaml").stdout
    snakemake(wd, "--configfile", "tiny.yaml", "--report", "results/report.html")
    assert (wd / "results/report.html").stat().st_size > 50_000


@pytest.mark.shared
def test_pipeline_on_real_gopro_pairs(tmp_path):
    root = SHARED_DATA / "gopro_mini"
    if not root.is_dir():
        pytest.skip(f"{root} is absent (real GoPro pairs live in ../shared, not in the repo)")
    wd = make_workdir(tmp_path, "tiny.yaml")
    snakemake(
        wd,
        "--cores",
        "2",
        "--configfile",
        "tiny.yaml",
        "--config",
        f"dataset={{kind: gopro, root: {root}}}",
        "sample={n: 2}",
    )
    metrics = check_outputs(wd, n_pairs=2)
    check_identity_rows(wd, metrics, max_size=40)
    full = metrics[(metrics["method"] == "identity") & (metrics["resolution"] == "full")]
    # README of gopro_mini: blurry vs sharp full-res PSNR 25.11 / 24.05 dB
    assert sorted(full["psnr"].round(2)) == [24.05, 25.11]
