"""Shift-tolerant scores: the shift is found, recorded, summarised and reported."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import ndimage

from deblur.cli import main
from deblur.data.imageio import write_png
from deblur.evaluation.aligned import aligned_scores
from deblur.evaluation.metrics import psnr
from deblur.evaluation.scoring import evaluate_images
from deblur.evaluation.settings import AlignSettings, StudySettings
from deblur.evaluation.statistics import summarize
from deblur.evaluation.study import rank_variants
from deblur.evaluation.study_text import ablation_markdown


def textured(h=90, w=160, seed=0):
    rng = np.random.default_rng(seed)
    img = ndimage.gaussian_filter(rng.uniform(0, 1, (h, w, 3)), (1.5, 1.5, 0))
    return (img - img.min()) / (img.max() - img.min())


def moved(img, dy, dx):
    """``img`` with its content moved down by dy and right by dx (cubic spline)."""
    return np.clip(ndimage.shift(img, (dy, dx, 0), order=3, mode="nearest"), 0, 1)


@pytest.mark.parametrize("dy, dx", [(2, -3), (-1, 0), (1.4, -0.6)])
def test_the_shift_is_recovered_and_undone(dy, dx):
    sharp = textured()
    pred = moved(sharp, dy, dx)
    r = aligned_scores(pred, sharp, max_shift=4, crop=2)
    assert r["align_dy"] == pytest.approx(dy, abs=0.15)
    assert r["align_dx"] == pytest.approx(dx, abs=0.15)
    assert r["psnr_aligned"] > psnr(pred, sharp) + 10
    assert r["ssim_aligned"] > 0.98


def test_an_unshifted_output_keeps_its_score_and_a_far_shift_is_not_found():
    sharp = textured()
    noisy = np.clip(sharp + np.random.default_rng(1).normal(0, 0.02, sharp.shape), 0, 1)
    r = aligned_scores(noisy, sharp, max_shift=3, crop=0)
    assert abs(r["align_dy"]) < 0.5 and abs(r["align_dx"]) < 0.5
    far = aligned_scores(moved(sharp, 6, 0), sharp, max_shift=3, crop=0)
    assert far["align_dy"] == 3  # the window's edge: the shift is larger than searched
    with pytest.raises(ValueError, match="lower max_shift or crop"):
        aligned_scores(sharp[:20, :20], sharp[:20, :20], max_shift=3, crop=2)


def test_the_window_scales_with_the_resolution_and_zero_turns_it_off():
    assert AlignSettings(max_shift=8, crop=8).at_scale(0.05) == (1, 1)
    assert AlignSettings(max_shift=8, crop=4).at_scale(0.5) == (4, 2)
    assert AlignSettings(max_shift=8, crop=8).at_scale(1.0, shorter_side=23) == (2, 2)
    # a tiny frame keeps an SSIM window after the crop, or is not aligned at all
    shift, crop = AlignSettings(8, 8).at_scale(0.5, shorter_side=18, min_interior=11)
    assert shift >= 1 and 18 - 2 * (shift + crop) >= 11
    assert AlignSettings(8, 8).at_scale(0.5, shorter_side=12, min_interior=11) == (0, 0)
    with pytest.raises(ValueError, match="max_shift"):
        AlignSettings(max_shift=-1)
    sharp = textured()
    rows = evaluate_images(moved(sharp, 2, 0), sharp, 64, align=AlignSettings(4, 2))
    full = {r["resolution"]: r for r in rows}["full"]
    assert (
        full["align_dy"] == pytest.approx(2, abs=0.15) and "aligned" in full["aligned_convention"]
    )
    assert "psnr_aligned" not in evaluate_images(sharp, sharp, 64, align=AlignSettings(0))[0]
    # 16x12 at full resolution: no shift leaves an 11-px window, so NaN and a convention saying so
    tiny = textured(12, 16)
    (row,) = evaluate_images(tiny, tiny, 16, resolutions=("full",), align=AlignSettings(8, 8))
    assert np.isnan(row["psnr_aligned"]) and "not scored" in row["aligned_convention"]
    assert row["psnr"] == np.inf


def test_evaluate_cli_records_aligned_scores_and_the_summary_and_study_report_them(tmp_path):
    sharp = textured()
    write_png(tmp_path / "sharp.png", sharp)
    frames = []
    for i, (method, pred) in enumerate(
        [("identity", moved(sharp, 0, 0)), ("blind", moved(sharp, 2, 1))]
    ):
        write_png(tmp_path / f"{method}.png", pred)
        out = tmp_path / f"{method}.parquet"
        meta = f'{{"method": "{method}", "kind": "{method}", "pair_id": "p{i}"}}'
        argv = ["-q", "evaluate", "--pred", tmp_path / f"{method}.png"]
        argv += ["--sharp", tmp_path / "sharp.png", "--max-size", 80, "--out", out]
        argv += ["--align-shift", 4, "--align-crop", 2, "--meta", meta]
        assert main([str(a) for a in argv]) == 0
        frames.append(pd.read_parquet(out))
    rows = pd.concat(frames)
    blind = rows[(rows["method"] == "blind") & (rows["resolution"] == "full")].iloc[0]
    assert blind["align_dy"] == pytest.approx(2, abs=0.15)
    assert blind["psnr_aligned"] > blind["psnr"] + 10
    assert rows["aligned_convention"].str.contains("+-4 px and 2 px", regex=False).all()
    # the same pair for both methods, so the study can pair them
    rows["pair_id"] = "p0"
    rows["sequence"] = "s"
    settings = StudySettings(n_boot=200, reproduced_method="blind")
    summary = summarize(rows, settings)
    s = summary.set_index(["method", "resolution"]).loc[("blind", "full")]
    assert s["n_aligned"] == 1 and s["psnr_aligned_mean"] == pytest.approx(blind["psnr_aligned"])
    assert s["n_known_kernel"] == 0 and np.isnan(s["error_ratio_median"])
    ranking = rank_variants(rows, settings)
    empty = pd.DataFrame(columns=["resolution", "factor", "method"])
    seq = pd.DataFrame(columns=["resolution", "method", "sequence"])
    text = ablation_markdown(ranking, empty, seq, rows, settings)
    assert "## Shift-tolerant scores" in text and "error ratio" not in text
    # known kernels: the error ratio's median and success rate (ratio <= 3) join the section
    rows["error_ratio"] = np.where(rows["method"] == "blind", 2.5, np.nan)
    rows["kernel_error"] = np.where(rows["method"] == "blind", 0.4, np.nan)
    text = ablation_markdown(rank_variants(rows, settings), empty, seq, rows, settings)
    assert "error ratio (median)" in text and "| 2.50 | 1.00 | n/a | n/a | 0.40 |" in text
    rows["error_ratio_aligned"] = np.where(rows["method"] == "blind", 3.5, np.nan)
    s = summarize(rows, settings).set_index(["method", "resolution"]).loc[("blind", "full")]
    assert s["n_known_kernel"] == 1 and s["error_ratio_success"] == 1.0
    assert s["error_ratio_aligned_median"] == 3.5 and s["error_ratio_aligned_success"] == 0.0
    text = ablation_markdown(rank_variants(rows, settings), empty, seq, rows, settings)
    assert "aligned error ratio (median)" in text and "| 2.50 | 1.00 | 3.50 | 0.00 | 0.40 |" in text
