"""scripts/readings_table.py on a tiny fake run (no training): the paired tables come from the
aggregate step's own function, the per-pair differences and the row order are checked against
numbers chosen by hand, and stale tables or bad arguments fail in one line."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pandas as pd
import pytest

from deblur.evaluation.settings import ReportSettings
from deblur.evaluation.statistics import paired_differences
from deblur.evaluation.tables import coerce_metrics

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "readings_table.py"
PAIRS = ["p0", "p1", "p2"]
# method -> (row settings, PSNR per pair, SSIM per pair) at the model size; full = model - 3 dB
METHODS = {
    "singan_sample": (dict(deblur_mode="sample", deblur_passes=5), [15.0, 16.0, 14.0],
                      [0.30, 0.35, 0.25]),
    "singan_sr4": (dict(deblur_mode="sr", deblur_passes=6, deblur_pass_factor=1.259921,
                        deblur_out_height=144, deblur_out_width=256, sr_factor="4"),
                   [19.0, 20.5, 21.0], [0.60, 0.70, 0.65]),
    "identity": (dict(kind="identity"), [20.0, 22.0, 24.0], [0.80, 0.85, 0.90]),
    "singan_k2": (dict(deblur_mode="g0", deblur_steps=2), [20.0, 21.0, 23.0],
                  [0.78, 0.86, 0.85]),
    "singan_k1": (dict(deblur_mode="g0", deblur_steps=1), [21.0, 21.5, 26.0],
                  [0.82, 0.84, 0.91]),
    # a second pyramid (a ladder's next cell) and a baseline that is not a reading
    "a_n500_k1": (dict(deblur_mode="g0", deblur_steps=1, niter=500), [20.5, 22.0, 25.0],
                  [0.81, 0.85, 0.90]),
    "richardson": (dict(kind="richardson_lucy"), [23.0, 24.0, 25.0], [0.9, 0.9, 0.95]),
}  # fmt: skip


@pytest.fixture(scope="module")
def script():
    spec = importlib.util.spec_from_file_location("readings_table", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# a ladder's second cell: its methods scored at the model resolution of 128 px, the blurry input
# too (identity_s128); at full resolution every method is scored on the same frame
CELL_128 = {
    "identity_s128": (dict(kind="identity"), [25.0, 26.0, 27.0], [0.82, 0.86, 0.88]),
    "singan_s128_k1": (dict(deblur_mode="g0", deblur_steps=1, max_size=128),
                       [24.0, 26.5, 26.0], [0.80, 0.87, 0.86]),
}  # fmt: skip


def make_run(root: Path, cell_128: bool = False) -> Path:
    rows = []
    methods = METHODS | (CELL_128 if cell_128 else {})
    for method, (settings, psnr, ssim) in methods.items():
        singan = settings.get("kind") != "identity"
        extra = dict(kind="singan", max_size=64, num_scales=5, niter=200) if singan else {}
        for res, offset in (("model", 0.0), ("full", -3.0)):
            size = dict(height=36, width=64) if res == "model" else dict(height=180, width=320)
            size["eval_max_size"] = 128 if method.endswith(("_s128", "128_k1")) else 64
            if res == "full" and method in CELL_128:  # the same frames as the 64-px methods
                psnr, ssim = (psnr, ssim) if method != "identity_s128" else METHODS["identity"][1:]
            for pair, p, s in zip(PAIRS, psnr, ssim, strict=True):
                rows.append(
                    dict(pair_id=pair, method=method, resolution=res, psnr=p + offset, ssim=s)
                    | size | extra | settings
                )  # fmt: skip
    metrics = coerce_metrics(pd.DataFrame(rows))
    paired = paired_differences(metrics, ReportSettings(n_boot=500))
    tables = root / "results" / "tables"
    tables.mkdir(parents=True)
    metrics.to_parquet(tables / "metrics.parquet", index=False)
    paired.to_parquet(tables / "paired.parquet", index=False)
    return root


def test_rows_order_and_per_pair_differences(script, tmp_path):
    run = make_run(tmp_path / "run")
    df = script.table([("fake", run)], list_below=5)
    model = df[df["resolution"] == "model"]
    expected = ["identity", "singan_k1", "singan_k2", "singan_sr4", "singan_sample"]
    assert list(model["method"]) == [*expected, "a_n500_k1", "richardson"]
    assert list(df["resolution"]) == ["model"] * 7 + ["full"] * 7
    k1 = df[(df["method"] == "singan_k1") & (df["resolution"] == "full")].iloc[0]
    # 21-20, 21.5-22, 26-24 (the -3 dB of full cancels); SSIM .82-.80, .84-.85, .91-.90
    assert k1["psnr_pairs"] == "+1.00 / -0.50 / +2.00"
    assert k1["ssim_pairs"] == "+0.020 / -0.010 / +0.010"
    assert k1["psnr_diff"] == pytest.approx(2.5 / 3)
    assert (k1["psnr_better"], k1["psnr_worse"], k1["n_pairs"]) == (2, 1, 3)
    # the aggregate's bootstrap CI is carried over and lies within the pairs' range
    assert -0.5 <= k1["psnr_lo"] <= k1["psnr_diff"] <= k1["psnr_hi"] <= 2.0
    sr = df[(df["method"] == "singan_sr4") & (df["resolution"] == "model")].iloc[0]
    assert sr["psnr_pairs"] == "-1.00 / -1.50 / -3.00"
    assert (sr["output"], sr["passes"]) == ("256×144", "6 × 1.2599")
    assert sr["pyramid"] == "64 px, 5 scales, 200 it"
    by_method = model.set_index("method")
    assert by_method.loc["singan_k2", "output"] == "64×36"
    assert by_method.loc["singan_k2", "passes"] == "k = 2"
    assert by_method.loc["singan_sample", "passes"] == "5 scales"
    assert by_method.loc["identity", "output"] == "frame"
    assert by_method.loc["richardson", "output"] == "frame"
    assert by_method.loc["a_n500_k1", "pyramid"] == "64 px, 5 scales, 500 it"
    assert by_method.loc["identity", "psnr"] == pytest.approx(22.0)
    assert pd.isna(by_method.loc["identity", "psnr_diff"])


def test_per_pair_lists_only_below_the_threshold(script, tmp_path):
    df = script.table([("fake", make_run(tmp_path / "run"))], list_below=3)
    assert (df["psnr_pairs"] == "").all() and (df["pair_ids"] == "").all()
    assert df["psnr_diff"].notna().sum() == 12


def test_markdown_and_files(script, tmp_path, capsys):
    run = make_run(tmp_path / "run")
    md, pq = tmp_path / "out" / "t.md", tmp_path / "out" / "t.parquet"
    assert script.main([f"fake={run}", "--out-md", str(md), "--out-parquet", str(pq)]) == 0
    text = md.read_text()
    assert text == capsys.readouterr().out
    line = next(x for x in text.splitlines() if "| full | singan_k1 |" in x)
    assert "| +0.83 [" in line and "| +1.00 / -0.50 / +2.00 |" in line and "| 2/3, 2/3 |" in line
    assert "- fake: p0 / p1 / p2" in text
    assert len(pd.read_parquet(pq)) == 14


def test_stale_paired_table_and_bad_arguments(script, tmp_path, capsys):
    run = make_run(tmp_path / "run")
    path = run / "results" / "tables" / "paired.parquet"
    paired = pd.read_parquet(path)
    paired.loc[paired["method"] == "singan_sr4", "psnr_diff_mean"] += 0.5
    paired.to_parquet(path, index=False)
    assert script.main([f"fake={run}"]) == 2
    err = capsys.readouterr().err
    assert "singan_sr4" in err and "rerun the aggregate rule" in err and "\n" == err[-1]
    assert script.main([str(run)]) == 2
    assert "expected LABEL=RUN_DIR" in capsys.readouterr().err
    assert script.main([f"x={tmp_path / 'none'}"]) == 2
    assert "metrics.parquet: not found" in capsys.readouterr().err


def test_a_cell_at_another_model_size_is_paired_with_the_blurry_input_at_that_size(
    script, tmp_path
):
    df = script.table([("fake", make_run(tmp_path / "run", cell_128=True))], list_below=5)
    at = df.set_index(["resolution", "method"])
    k1 = at.loc[("model", "singan_s128_k1")]
    # against identity_s128 (25, 26, 27), not identity (20, 22, 24)
    assert k1["baseline"] == "identity_s128"
    assert k1["psnr_pairs"] == "-1.00 / +0.50 / -1.00"
    assert k1["psnr_diff"] == pytest.approx(-0.5)
    assert -1.0 <= k1["psnr_lo"] <= k1["psnr_hi"] <= 0.5
    assert pd.isna(at.loc[("model", "identity_s128"), "psnr_diff"])
    full = at.loc[("full", "singan_s128_k1")]  # the full frame: the run's baseline
    assert full["baseline"] == "identity" and full["psnr_pairs"] == "+4.00 / +4.50 / +2.00"
    text = script.markdown(df)
    assert "| singan_s128_k1 (vs identity_s128) |" in text
    assert "| identity_s128 (blurry input) |" in text
