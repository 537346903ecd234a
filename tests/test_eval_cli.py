"""CLI round trips: baseline -> evaluate -> aggregate -> plot, in tmp_path."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from scipy import ndimage
from workflow_helpers import PLOTS, assert_pngs

from deblur.baselines import linear_motion_psf
from deblur.cli import main
from deblur.data.imageio import read_rgb, write_png
from deblur.evaluation.metrics import METRIC_CONVENTION, psnr, ssim
from deblur.evaluation.tables import METRICS_SCHEMA
from deblur.outputs import AGGREGATE_TABLES
from deblur.resize import resize_array
from deblur.sizes import capped_size

H, W, MAX_SIZE = 72, 128, 48


def make_pair(root, i):
    """A textured sharp frame and a motion-blurred, noisy blurry frame (16:9, 128x72)."""
    rng = np.random.default_rng(i)
    sharp = ndimage.gaussian_filter(rng.uniform(0, 1, (H, W, 3)), (2, 2, 0))
    sharp = (sharp - sharp.min()) / (sharp.max() - sharp.min())
    psf = linear_motion_psf(7, 30 * i, 11)[:, :, None]
    blurry = ndimage.convolve(sharp, psf, mode="reflect") + rng.normal(0, 0.01, sharp.shape)
    paths = root / f"sharp_{i}.png", root / f"blur_{i}.png"
    write_png(paths[0], sharp)
    write_png(paths[1], np.clip(blurry, 0, 1))
    return paths


def run_cli(*argv):
    return main(["-q", *map(str, argv)])


def test_baseline_cli_writes_same_size_png_and_info(tmp_path, capsys):
    _, blurry = make_pair(tmp_path, 1)
    for kind in ("identity", "unsharp", "richardson_lucy"):
        out = tmp_path / f"{kind}.png"
        assert (
            run_cli(
                "baseline",
                "--kind",
                kind,
                "--image",
                blurry,
                "--out",
                out,
                "--info",
                tmp_path / f"{kind}.json",
            )
            == 0
        )
        assert Image.open(out).size == (W, H)
    assert np.array_equal(read_rgb(tmp_path / "identity.png"), read_rgb(blurry))
    info = json.loads((tmp_path / "richardson_lucy.json").read_text())
    assert info["kind"] == "richardson_lucy" and info["param_num_iter"] == 10
    assert 3 <= info["psf_length"] <= 39
    assert (
        run_cli(
            "baseline",
            "--kind",
            "unsharp",
            "--image",
            blurry,
            "--out",
            tmp_path / "x.png",
            "--param",
            "sigma=3",
        )
        == 2
    )
    err = capsys.readouterr().err.strip()
    assert err == "error: bad parameter 'sigma=3' for unsharp: use key=value, key in radius, amount"
    assert (
        run_cli(
            "baseline",
            "--kind",
            "identity",
            "--image",
            tmp_path / "none.png",
            "--out",
            tmp_path / "y.png",
        )
        == 2
    )
    assert "image not found" in capsys.readouterr().err


def write_model_json(model_dir, **overrides):
    info = dict(
        config={"max_size": MAX_SIZE},
        config_hash="c0ffee",
        seed=7,
        device="cpu",
        torch_version="2.13.0",
        package_version="0.1.0",
        train_seconds=12.5,
        image="x.png",
        image_size=[H, W],
        sizes=[[25, 44], [27, 48]],
        scale_factor=0.75,
        noise_amp=[1.0, 0.1],
        num_scales=2,
    )
    info.update(overrides)
    model_dir.mkdir(parents=True, exist_ok=True)
    (model_dir / "model.json").write_text(json.dumps(info))
    return model_dir


def test_evaluate_cli_rows_schema_and_provenance(tmp_path, capsys):
    sharp, blurry = make_pair(tmp_path, 0)
    out = tmp_path / "m" / "identity.parquet"
    meta = dict(
        pair_id="S-000000",
        sequence="S",
        frame="000000",
        method="identity",
        kind="identity",
        blurry_path=str(blurry),
        dataset="synthetic",
        sample_seed=3,
    )
    assert (
        run_cli(
            "evaluate",
            "--pred",
            blurry,
            "--sharp",
            sharp,
            "--max-size",
            MAX_SIZE,
            "--out",
            out,
            "--meta",
            json.dumps(meta),
        )
        == 0
    )
    df = pd.read_parquet(out)
    assert list(df.columns) == list(METRICS_SCHEMA) + ["dataset", "sample_seed"]
    assert {c: str(df[c].dtype) for c in METRICS_SCHEMA} == METRICS_SCHEMA
    assert str(df["sample_seed"].dtype) == "Int64"
    assert list(df["resolution"]) == ["model", "full"]
    b, s = read_rgb(blurry), read_rgb(sharp)
    full = df[df["resolution"] == "full"].iloc[0]
    assert full["psnr"] == psnr(b, s) and full["ssim"] == ssim(b, s)
    assert (full["height"], full["width"]) == (H, W)
    size = capped_size(H, W, MAX_SIZE)
    model = df[df["resolution"] == "model"].iloc[0]
    assert (model["height"], model["width"]) == size
    assert model["psnr"] == psnr(resize_array(b, size), resize_array(s, size))
    assert model["metric_convention"] == METRIC_CONVENTION
    assert model["pred_path"] == str(blurry) and model["blurry_path"] == str(blurry)
    assert pd.isna(model["config_hash"]) and pd.isna(model["deblur_steps"])
    assert pd.isna(model["cpu_isa"])

    # a model-size prediction with --model and a meta file
    pred = tmp_path / "pred.png"
    write_png(pred, resize_array(s, size))
    meta_file = tmp_path / "meta.json"
    meta_file.write_text(
        json.dumps(
            meta
            | dict(
                method="singan", kind="singan", deblur_steps=2, deblur_noise=True, inject_scale=None
            )
        )
    )
    model_dir = write_model_json(tmp_path / "model", cpu_isa="avx2")
    out2 = tmp_path / "m" / "singan.parquet"
    assert (
        run_cli(
            "evaluate",
            "--pred",
            pred,
            "--sharp",
            sharp,
            "--max-size",
            MAX_SIZE,
            "--out",
            out2,
            "--meta",
            meta_file,
            "--model",
            model_dir,
        )
        == 0
    )
    df2 = pd.read_parquet(out2)
    row = df2[df2["resolution"] == "model"].iloc[0]
    assert row["config_hash"] == "c0ffee" and row["seed"] == 7 and row["train_seconds"] == 12.5
    assert row["device"] == "cpu" and row["torch_version"] == "2.13.0"
    assert row["cpu_isa"] == "avx2"  # the training CPU's class, which its rounding depends on
    assert row["deblur_steps"] == 2 and bool(row["deblur_noise"]) and pd.isna(row["inject_scale"])
    assert row["psnr"] > 35  # the prediction is the sharp frame at the model size (8-bit PNG)

    capsys.readouterr()
    args = ["evaluate", "--pred", pred, "--sharp", sharp, "--max-size", MAX_SIZE, "--out", out2]
    assert run_cli(*args, "--model", tmp_path / "nomodel") == 2
    assert "model.json is missing" in capsys.readouterr().err
    write_model_json(tmp_path / "half", train_seconds=None)
    assert run_cli(*args, "--model", tmp_path / "half") == 2
    assert "unfinished or damaged model" in capsys.readouterr().err
    # one route for the model resolution: a --max-size the pyramid was not trained at is refused
    wrong = ["evaluate", "--pred", pred, "--sharp", sharp, "--max-size", MAX_SIZE + 8]
    assert run_cli(*wrong, "--out", out2, "--model", model_dir) == 2
    err = capsys.readouterr().err
    assert "finest scale" in err and "--max-size" in err and err.count("\n") == 1
    assert run_cli(*args, "--meta", '{"psnr": 3}') == 2
    assert "computed by evaluate" in capsys.readouterr().err
    assert run_cli(*args, "--meta", "{bad json") == 2
    err = capsys.readouterr().err
    assert err.startswith("error: invalid JSON") and err.count("\n") == 1


@pytest.fixture
def pipeline_outputs(tmp_path):
    """Metrics for 3 pairs x (identity, unsharp, a fake model-size 'singan'), plus benchmarks."""
    for i in range(3):
        sharp, blurry = make_pair(tmp_path / "data", i)
        s = read_rgb(sharp)
        size = capped_size(H, W, MAX_SIZE)
        fake = np.clip(
            resize_array(s, size) + np.random.default_rng(i).normal(0, 0.15, (*size, 3)), 0, 1
        )
        write_png(tmp_path / "out" / "singan" / f"P{i}.png", fake)
        for method, kind in (("identity", "identity"), ("unsharp", "unsharp")):
            assert (
                run_cli(
                    "baseline",
                    "--kind",
                    kind,
                    "--image",
                    blurry,
                    "--out",
                    tmp_path / "out" / method / f"P{i}.png",
                )
                == 0
            )
        for method in ("identity", "unsharp", "singan"):
            meta = dict(
                pair_id=f"P{i}",
                sequence="P",
                frame=str(i),
                method=method,
                kind=method,
                blurry_path=str(blurry),
            )
            assert (
                run_cli(
                    "evaluate",
                    "--pred",
                    tmp_path / "out" / method / f"P{i}.png",
                    "--sharp",
                    sharp,
                    "--max-size",
                    MAX_SIZE,
                    "--meta",
                    json.dumps(meta),
                    "--out",
                    tmp_path / "metrics" / method / f"P{i}.parquet",
                )
                == 0
            )
    bench = tmp_path / "benchmarks" / "evaluate" / "singan"
    bench.mkdir(parents=True)
    (bench / "P0.tsv").write_text(
        "s\th:m:s\tmax_rss\tmax_vms\tmax_uss\tmax_pss\tio_in\tio_out\tmean_load\tcpu_time\n"
        "1.5000\t0:00:01\t250.10\t900.00\t240.00\t241.00\t1.00\t0.10\t90.00\t1.35\n"
    )
    return tmp_path


def test_aggregate_and_plot_cli(pipeline_outputs, capsys):
    root = pipeline_outputs
    tables = root / "tables"
    args = [
        "aggregate",
        "--metrics",
        root / "metrics",
        "--benchmarks",
        root / "benchmarks",
        "--out-dir",
        tables,
        "--n-boot",
        500,
    ]
    assert run_cli(*args) == 0
    names = list(AGGREGATE_TABLES.values())
    assert sorted(p.name for p in tables.iterdir()) == sorted(names)  # all and only these
    first = {n: (tables / n).read_bytes() for n in names}
    assert run_cli(*args) == 0  # deterministic: byte-identical outputs
    assert {n: (tables / n).read_bytes() for n in names} == first
    metrics = pd.read_parquet(tables / "metrics.parquet")
    assert len(metrics) == 3 * 3 * 2
    summary = pd.read_parquet(tables / "summary.parquet")
    assert set(summary["method"]) == {"identity", "unsharp", "singan"} and summary["n"].eq(3).all()
    paired = pd.read_parquet(tables / "paired.parquet")
    assert set(paired["method"]) == {"unsharp", "singan"} and paired["n_pairs"].eq(3).all()
    cost = pd.read_parquet(tables / "cost.parquet")
    assert list(cost["rule"]) == ["evaluate"] and cost["max_rss_mb"].iloc[0] == 250.1
    text = (tables / "paper_table.md").read_text()
    assert "| reproduced (SinGAN G_0) | `singan` | 3 |" in text and "| other | `unsharp` |" in text
    assert "| evaluate | 1 | 1.5 |" in text

    plots = root / "plots"
    assert run_cli("plot", "--tables", tables, "--out-dir", plots, "--n-examples", 2) == 0
    assert_pngs(plots, PLOTS, 600, 300)
    figures = {p.name: p.read_bytes() for p in plots.glob("*.png")}
    again = root / "plots_again"  # jittered points too: the same tables, the same bytes
    np.random.seed(1)  # noqa: NPY002 (as another process would start: seaborn jitters with it)
    assert run_cli("plot", "--tables", tables, "--out-dir", again, "--n-examples", 2) == 0
    assert {p.name: p.read_bytes() for p in again.glob("*.png")} == figures

    capsys.readouterr()
    assert run_cli("aggregate", "--metrics", root / "data", "--out-dir", root / "t2") == 2
    err = capsys.readouterr().err
    assert err.startswith("error: no metrics files") and str(root / "data") in err
    assert run_cli("plot", "--tables", root / "t2", "--out-dir", plots) == 2
    assert "run `python -m deblur aggregate` first" in capsys.readouterr().err


def test_plot_cli_survives_a_single_method_and_missing_images(tmp_path):
    from deblur.evaluation.tables import metrics_frame, write_parquet

    rows = [
        dict(
            pair_id="P0",
            method="identity",
            kind="identity",
            resolution=res,
            psnr=p,
            ssim=s,
            height=h,
            width=w,
            pred_path=str(tmp_path / "gone.png"),
            sharp_path=str(tmp_path / "gone_sharp.png"),
            blurry_path=None,
        )
        for res, p, s, h, w in (("model", 27.5, 0.89, 27, 48), ("full", 24.1, 0.72, 72, 128))
    ]
    write_parquet(metrics_frame(rows), tmp_path / "tables" / "metrics.parquet")
    assert run_cli("plot", "--tables", tmp_path / "tables", "--out-dir", tmp_path / "plots") == 0
    names = sorted(p.name for p in (tmp_path / "plots").iterdir())
    assert names == [
        "examples.png",
        "paired_vs_identity.png",
        "psnr_by_method.png",
        "psnr_vs_ssim.png",
        "ssim_by_method.png",
    ]


def test_evaluate_reads_each_image_once(tmp_path, monkeypatch):
    import deblur.data.imageio as imageio

    sharp, blurry = make_pair(tmp_path, 0)
    reads, read = [], imageio.read_rgb

    def counting(path, *args, **kwargs):
        reads.append(str(path))
        return read(path, *args, **kwargs)

    monkeypatch.setattr(imageio, "read_rgb", counting)
    out = tmp_path / "identity.parquet"
    meta = json.dumps({"method": "identity"})
    argv = ("--pred", blurry, "--sharp", sharp, "--max-size", MAX_SIZE, "--meta", meta)
    assert run_cli("evaluate", *argv, "--out", out) == 0
    assert sorted(reads) == sorted([str(blurry), str(sharp)])
    assert set(pd.read_parquet(out)["sharp_path"]) == {str(sharp)}  # recorded as before
