"""Metrics rows built from Python (deblur.evaluation.scoring), and the CLI writing the same rows."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import ndimage

from deblur.cli import main
from deblur.data.imageio import read_rgb, write_png
from deblur.evaluation.kernel_metrics import error_ratio, kernel_error
from deblur.evaluation.metrics import METRIC_CONVENTION, psnr
from deblur.evaluation.scoring import metrics_rows
from deblur.evaluation.settings import AlignSettings
from deblur.evaluation.tables import metrics_frame
from deblur.kernelio import write_kernel
from deblur.resize import resize_array

H, W = 72, 128


@pytest.fixture
def frames():
    rng = np.random.default_rng(3)
    sharp = ndimage.gaussian_filter(rng.uniform(0, 1, (H, W, 3)), (2, 2, 0))
    sharp = (sharp - sharp.min()) / (sharp.max() - sharp.min())
    blurry = ndimage.uniform_filter(sharp, (1, 7, 1), mode="reflect")
    oracle = np.clip(0.5 * (sharp + blurry), 0, 1)
    return sharp, blurry, oracle


def test_rows_from_arrays_with_keyword_settings(frames):
    sharp, blurry, oracle = frames
    k_true = np.zeros((7, 7))
    k_true[3, :] = 1 / 7
    k_est = np.zeros((9, 9))
    k_est[2, 1:8] = 1 / 7  # the same kernel, padded and off centre: no kernel error
    rows = metrics_rows(
        blurry,
        sharp,
        max_size=64,
        align=AlignSettings(max_shift=2, crop=2),
        oracle=oracle,
        kernel_est=k_est,
        kernel_true=k_true,
        meta={"method": "identity", "pair_id": "p1", "psnr": -1.0},
    )
    by_res = {r["resolution"]: r for r in rows}
    assert list(by_res) == ["model", "full"]
    model, full = by_res["model"], by_res["full"]
    assert (model["height"], model["width"]) == (36, 64)
    assert (full["height"], full["width"]) == (H, W)
    assert full["psnr"] == pytest.approx(psnr(blurry, sharp))  # computed, not the meta's -1
    small = resize_array(sharp, (36, 64))
    assert model["psnr"] == pytest.approx(psnr(resize_array(blurry, (36, 64)), small))
    for row in rows:
        assert row["method"] == "identity" and row["eval_max_size"] == 64
        assert row["metric_convention"] == METRIC_CONVENTION
        assert row["pred_path"] is None and row["sharp_path"] is None
        assert row["error_ratio"] == pytest.approx(error_ratio(blurry, oracle, sharp))
        assert row["error_ratio"] > 1  # the oracle is closer to sharp than the blurry input
        assert row["kernel_error"] == pytest.approx(kernel_error(k_est, k_true)) == 0
        assert np.isfinite(row["error_ratio_aligned"]) and "psnr_aligned" in row
    assert len(metrics_frame(rows)) == 2  # the table accepts them as they are


def test_rows_default_to_no_aligned_scores_and_no_kernel_columns(frames):
    sharp, blurry, _ = frames
    (row,) = metrics_rows(blurry, sharp, max_size=32, resolutions=("model",))
    assert (row["height"], row["width"]) == (18, 32)
    assert not {"psnr_aligned", "error_ratio", "kernel_error", "kernel_path"} & set(row)


def test_bad_input_names_what_to_fix(frames):
    sharp, blurry, _ = frames
    with pytest.raises(ValueError, match="max_size must be a positive integer"):
        metrics_rows(blurry, sharp, max_size=0)
    with pytest.raises(ValueError, match="cannot score pred against sharp: .*aspect"):
        metrics_rows(blurry[:, :60], sharp, max_size=64)
    with pytest.raises(ValueError, match="kernel_true must be finite and non-negative"):
        metrics_rows(blurry, sharp, max_size=64, kernel_true=-np.ones((3, 3)))


def test_cli_writes_the_rows_metrics_rows_builds(frames, tmp_path):
    sharp, blurry, oracle = frames
    paths = {name: tmp_path / f"{name}.png" for name in ("sharp", "pred", "oracle")}
    for name, img in zip(paths, (sharp, blurry, oracle), strict=True):
        write_png(paths[name], img)
    kernel = tmp_path / "k.png"
    write_kernel(kernel, np.full((5, 5), 1 / 25))
    out = tmp_path / "m.parquet"
    argv = ["-q", "evaluate", "--pred", paths["pred"], "--sharp", paths["sharp"]]
    argv += ["--max-size", 64, "--oracle", paths["oracle"], "--kernel-est", kernel]
    argv += ["--kernel-true", kernel, "--meta", '{"method": "identity", "pair_id": "p1"}']
    argv += ["--out", out]
    assert main([str(a) for a in argv]) == 0
    rows = metrics_rows(
        paths["pred"],
        paths["sharp"],
        max_size=64,
        align=AlignSettings(),  # the command's default window
        oracle=paths["oracle"],
        kernel_est=kernel,
        kernel_true=kernel,
        meta={"method": "identity", "pair_id": "p1"},
    )
    assert rows[0]["pred_path"] == str(paths["pred"]) and rows[0]["kernel_path"] == str(kernel)
    written = pd.read_parquet(out)
    expected = metrics_frame(rows)
    common = [c for c in expected.columns if expected[c].notna().any()]
    pd.testing.assert_frame_equal(
        written[common].reset_index(drop=True), expected[common].reset_index(drop=True)
    )
    assert read_rgb(paths["sharp"]).shape == (H, W, 3)
