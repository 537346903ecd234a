"""The pyramid-size ladder: method generation, per-cell table, command, and the workflow's
per-method SinGAN settings (own model key per cell)."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from deblur.evaluation.ladder import ladder_markdown, ladder_table
from deblur.evaluation.tables import metrics_frame, write_parquet
from deblur.plan.ladder import baseline_name, ladder_methods, reading_name, singan_name

BASELINES = [{"name": "identity", "kind": "identity"}]


def test_ladder_methods_per_cell_and_size():
    methods = ladder_methods([[64, 200], [128, 200], [64, 500]], [1, 2], BASELINES)
    names = [m["name"] for m in methods]
    assert names[:2] == ["identity_s64", "identity_s128"]  # one baseline per size
    assert singan_name(64, 500, 2) in names and len(names) == 2 + 3 * 2
    cell = next(m for m in methods if m["name"] == "singan_s128_n200_k2")
    assert cell["singan"] == {"max_size": 128, "niter": 200}
    assert (cell["reference"], cell["mode"], cell["steps"], cell["noise"]) == (
        "same",
        "g0",
        2,
        True,
    )
    assert next(m for m in methods if m["name"] == "identity_s128")["singan"] == {"max_size": 128}


@pytest.mark.parametrize("cells", [[[64, 200], [64, 200]], [[64]]])
def test_ladder_methods_refuses_bad_cells(cells):
    with pytest.raises(ValueError, match="ladder.cells"):
        ladder_methods(cells, [1], BASELINES)


def test_ladder_readings_per_cell():
    methods = ladder_methods([[64, 200]], [1], BASELINES, readings=["sr4", "srfull", "sample"])
    names = [m["name"] for m in methods]
    assert names == ["identity_s64", "singan_s64_n200_k1", "singan_s64_n200_sr4",
                     "singan_s64_n200_srfull", "singan_s64_n200_sample"]  # fmt: skip
    sr = next(m for m in methods if m["name"] == reading_name(64, 200, "srfull"))
    assert (sr["mode"], sr["sr_factor"], sr["sr_step"]) == ("sr", "full", "reference")
    assert sr["singan"] == {"max_size": 64, "niter": 200} and sr["reference"] == "same"
    with pytest.raises(ValueError, match="ladder.readings"):
        ladder_methods([[64, 200]], [1], BASELINES, readings=["sr8"])


def test_ladder_table_lists_the_readings_beside_k():
    rows = _rows()
    extra = rows[rows["method"] == singan_name(64, 200, 1)].copy()
    extra["method"], extra["deblur_mode"], extra["sr_factor"] = "singan_s64_n200_sr4", "sr", "4"
    extra["deblur_steps"] = pd.NA
    table = ladder_table(pd.concat([rows, extra], ignore_index=True))
    assert len(table) == 5
    sr = table[table["method"] == "singan_s64_n200_sr4"].iloc[0]
    assert sr["reading"] == "sr x4" and pd.isna(sr["steps"])
    md = ladder_markdown(table, {}, 15.3, 0.52)
    assert "| 64 | 3 | 200 | sr x4 | 2 |" in md and "| 64 | 3 | 200 | 1 | 2 |" in md


def _rows():
    rows = []
    for pair, blurry in (("a", 30.0), ("b", 20.0)):
        for size in (64, 128):
            common = dict(
                pair_id=pair, sequence=pair, frame="1", resolution="model", dataset="gopro"
            )
            rows.append(
                common
                | dict(
                    method=baseline_name("identity", size), kind="identity", psnr=blurry, ssim=0.9
                )
            )
            for niter, gain in ((200, -2.0), (500, -1.0)):
                rows.append(
                    common
                    | dict(
                        method=singan_name(size, niter, 1),
                        kind="singan",
                        psnr=blurry + gain,
                        ssim=0.8,
                        deblur_steps=1,
                        max_size=size,
                        min_size=25,
                        niter=niter,
                        num_scales=3 if size == 64 else 5,
                        precision="fp32",
                        config_hash=f"h{size}{niter}",
                        reference_id=pair,
                        train_seconds=10.0 * niter / 200,
                    )
                )
    return metrics_frame(rows)


def test_ladder_table_pairs_each_cell_with_the_blurry_input_at_its_size():
    table = ladder_table(_rows())
    assert len(table) == 4  # 2 sizes x 2 lengths, k = 1, one resolution
    cell = table[(table["max_size"] == 128) & (table["niter"] == 500)].iloc[0]
    assert cell["psnr"] == pytest.approx(24.0) and cell["blurry_psnr"] == pytest.approx(25.0)
    assert cell["delta_psnr"] == pytest.approx(-1.0) and cell["paired_pairs"] == 2
    assert cell["num_scales"] == 5 and cell["train_seconds_mean"] == pytest.approx(25.0)


def test_ladder_command_writes_table_markdown_and_figure(tmp_path):
    src = tmp_path / "metrics.parquet"
    write_parquet(_rows(), src)
    out = tmp_path / "measured"
    cmd = [sys.executable, "-m", "deblur", "ladder", "--metrics", str(src), "--out-dir", str(out)]
    done = subprocess.run(cmd + ["--commit", "abc1234"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    table = pd.read_parquet(out / "ladder.parquet")
    assert set(table["commit"]) == {"abc1234"} and table["cpu"].str.len().min() > 0
    md = (out / "ladder.md").read_text()
    assert "| 128 | 5 | 500 | 1 | 2 | 24.00 | 25.00 | -1.00 |" in md
    assert (out / "ladder.png").stat().st_size > 10_000
    assert "- train_cpu_isa: not recorded" in md  # models before model.json recorded it


def test_ladder_command_names_the_training_cpu_classes(tmp_path):
    """The CPU class of the pyramids' training is in ladder.md: their rounding depends on it."""
    rows = _rows()
    singan = rows["method"].str.startswith("singan")
    rows.loc[singan, "cpu_isa"] = np.where(rows.loc[singan, "niter"] == 200, "avx2", "avx512_bf16")
    rows.loc[~singan, "cpu_isa"] = "amx"  # the blurry input's rows do not count
    src = tmp_path / "metrics.parquet"
    write_parquet(rows, src)
    out = tmp_path / "measured"
    cmd = [sys.executable, "-m", "deblur", "ladder", "--metrics", str(src), "--out-dir", str(out)]
    done = subprocess.run(cmd, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "- train_cpu_isa: avx2, avx512_bf16\n" in (out / "ladder.md").read_text()


def test_ladder_command_keeps_the_cells_of_a_previous_run(tmp_path):
    rows = _rows()
    old_rows = rows[~rows["method"].str.contains("_n500_")]  # the earlier run: 200 iterations
    new_rows = rows[~rows["method"].str.contains("_n200_")]  # this one: 500 iterations
    base = [sys.executable, "-m", "deblur", "ladder"]
    for name, part, commit in (("old", old_rows, "old0001"), ("new", new_rows, "new0002")):
        write_parquet(part.reset_index(drop=True), tmp_path / f"{name}.parquet")
        cmd = base + ["--metrics", str(tmp_path / f"{name}.parquet"), "--commit", commit]
        cmd += ["--out-dir", str(tmp_path / name)]
        if name == "new":
            cmd += ["--previous", str(tmp_path / "old")]
        done = subprocess.run(cmd, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
    table = pd.read_parquet(tmp_path / "new" / "ladder.parquet")
    assert len(table) == 4  # the two 500-iteration cells measured now, the two 200 kept
    assert dict(zip(table["niter"], table["commit"], strict=False)) == {
        200: "old0001",
        500: "new0002",
    }
    pairs = pd.read_parquet(tmp_path / "new" / "ladder_pairs.parquet")
    assert set(pairs.loc[pairs["role"] == "singan", "niter"]) == {200, 500}
    md = (tmp_path / "new" / "ladder.md").read_text()
    assert "Cells by run:" in md and "gopro 64 px / 200, gopro 128 px / 200: commit old0001" in md
    missing = subprocess.run(
        base + ["--metrics", str(tmp_path / "new.parquet"), "--out-dir", str(tmp_path / "x"),
                "--previous", str(tmp_path / "nowhere")],
        capture_output=True, text=True,
    )  # fmt: skip
    assert missing.returncode != 0 and "has no ladder.parquet" in missing.stderr


def test_ladder_command_without_ladder_rows_is_one_line(tmp_path):
    src = tmp_path / "metrics.parquet"
    rows = _rows()
    write_parquet(rows[rows["kind"] == "identity"], src)
    cmd = [
        sys.executable,
        "-m",
        "deblur",
        "ladder",
        "--metrics",
        str(src),
        "--out-dir",
        str(tmp_path),
    ]
    done = subprocess.run(cmd, capture_output=True, text=True)
    assert done.returncode != 0 and "Traceback" not in done.stderr
    assert "no ladder rows" in done.stderr and len(done.stderr.strip().splitlines()) == 1


def test_gpu_ladder_script_dry_run_on_cpu(tmp_path):
    """bench/gpu_ladder.sh end to end on CPU with tiny settings: the pipeline trains the cells'
    own pyramids and the script writes the ladder table format."""
    import os

    from workflow_helpers import REPO, make_workdir

    (tmp_path / "work").mkdir()
    work = make_workdir(tmp_path / "work", "tiny.yaml")
    env = dict(
        os.environ,
        CELLS="[[32, 3], [40, 3]]",
        STEPS="[1, 2]",
        DEVICE="cpu",
        THREADS="1",
        WORKDIR=str(work),
        CONFIGFILES=str(work / "tiny.yaml"),
        PYTHON=sys.executable,
    )
    out = tmp_path / "measured"
    done = subprocess.run(
        ["bash", str(REPO / "bench" / "gpu_ladder.sh"), str(out)],
        env=env,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    table = pd.read_parquet(out / "ladder.parquet")
    assert set(table["max_size"]) == {32, 40} and set(table["steps"]) == {1, 2}
    assert set(table["niter"]) == {3} and set(table["precision"]) == {"fp32"}
    assert table["config_hash"].nunique() == 2  # each cell its own pyramids
    scales = pd.read_parquet(out / "ladder_scales.parquet")
    assert (scales["s_per_iter"] > 0).all() and set(scales["max_size"]) == {32, 40}
    assert "peak GPU memory in use n/a" in (out / "ladder.md").read_text()


def _dry_run(tmp_path, *config):
    tmp_path.mkdir(parents=True, exist_ok=True)
    from workflow_helpers import make_workdir, snakemake

    work = make_workdir(tmp_path, "tiny.yaml")
    return snakemake(
        work, "-n", "-p", "--cores", "1", "--configfile", "tiny.yaml", "--config", *config,
        check=False,
    )  # fmt: skip


def test_methods_with_own_singan_settings_train_their_own_pyramids(tmp_path):
    methods = (
        "methods=[{name: identity, kind: identity},"
        " {name: small, kind: singan}, {name: big, kind: singan, singan: {niter: 7}},"
        " {name: big_k2, kind: singan, steps: 2, singan: {niter: 7}}]"
    )
    proc = _dry_run(tmp_path, methods, "paper={method: small}")
    assert proc.returncode == 0, proc.stderr[-3000:]
    trains = [line for line in proc.stdout.splitlines() if "python -m deblur train" in line]
    assert len(trains) == 2 * 3  # two settings x three pairs; big and big_k2 share pyramids
    keys = {line.split("results/models/")[1].split("/")[0] for line in trains}
    assert len(keys) == 2
    assert sum('"niter": 7' in line for line in trains) == 3  # typed JSON settings


def test_ladder_config_expands_cells_into_methods(tmp_path):
    proc = _dry_run(
        tmp_path,
        "ladder={cells: [[32, 3], [40, 4]], steps: [1, 3], readings: [sr4, sample],"
        " baselines: [{name: identity, kind: identity}]}",
        "paper={method: singan_s32_n3_k1}",
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    for name in ("singan_s40_n4_k1", "identity_s32", "identity_s40", "singan_s32_n3_sr4"):
        assert f"results/metrics/{name}/" in proc.stdout
    assert "--max-size 32" in proc.stdout and "--max-size 40" in proc.stdout
    assert "results/metrics/singan_s40_n4_sample/" in proc.stdout
    assert "--mode sr --sr-factor 4 --sr-step reference" in proc.stdout


@pytest.mark.parametrize(
    "methods, expected",
    [
        (
            "methods=[{name: identity, kind: identity},"
            " {name: bad, kind: singan, singan: {max_size: 12}}]",
            "methods: 'bad' singan:",
        ),
        (
            "methods=[{name: identity, kind: identity},"
            " {name: bad, kind: singan, singan: {bogus: 1}}]",
            "bogus",
        ),
    ],
)
def test_impossible_per_method_settings_fail_at_parse_time(tmp_path, methods, expected):
    proc = _dry_run(tmp_path, methods, "paper={method: bad}")
    assert proc.returncode != 0 and expected in proc.stdout + proc.stderr


def test_steps_beyond_the_pyramid_fail_at_parse_time_and_ladder_cells_drop_them(tmp_path):
    # tiny.yaml: 96x54 frames, min_size 16 -> a 40-px pyramid has 3 scales, so k <= 2
    proc = _dry_run(
        tmp_path / "a",
        "methods=[{name: identity, kind: identity}, {name: deep, kind: singan, steps: 3}]",
        "paper={method: deep}",
    )
    assert proc.returncode != 0
    assert "methods: 'deep': steps 3 needs more than the 3 scales" in proc.stdout + proc.stderr
    proc = _dry_run(
        tmp_path / "b",
        "ladder={cells: [[40, 3]], steps: [1, 2, 3],"
        " baselines: [{name: identity, kind: identity}]}",
        "paper={method: singan_s40_n3_k1}",
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "skipping ladder method singan_s40_n3_k3" in proc.stdout + proc.stderr
    assert "results/metrics/singan_s40_n3_k2/" in proc.stdout
    assert "singan_s40_n3_k3/" not in proc.stdout
