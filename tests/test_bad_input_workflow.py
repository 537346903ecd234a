"""Inputs that used to break the workflow late: paths with spaces, cost tables after other runs
and after a resume, stale plot temp files, and settings that can never work (checked at parse
time). One real tiny run (on paths with spaces, then resumed); the rest are dry runs."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from workflow_helpers import make_workdir, snakemake

from deblur.errors import DeblurError
from deblur.figures.settings import PlotSettings
from deblur.figures.write import figure_names, write_all

SPACED_ROOT = "data sp/synthetic"  # the dataset root, inside a working directory with a space


@pytest.fixture(scope="module")
def spaced_run(tmp_path_factory):
    """The tiny pipeline run in ``work dir/`` on a dataset root ``.../data sp/synthetic``."""
    wd = tmp_path_factory.mktemp("bad input") / "work dir"
    wd.mkdir()
    make_workdir(wd, "tiny.yaml")
    root = wd.parent / SPACED_ROOT
    args = ["--cores", "2", "--configfile", "tiny.yaml", "--config", f"dataset={{root: '{root}'}}"]
    snakemake(wd, *args)
    return wd, args


@pytest.mark.slow
def test_paths_with_spaces_run_every_job(spaced_run):
    wd, args = spaced_run
    tables = wd / "results" / "tables"
    metrics = pd.read_parquet(tables / "metrics.parquet")
    assert set(metrics["method"]) == {"singan", "identity"}
    assert metrics["blurry_path"].str.contains("data sp").all()
    assert (wd / "results" / "plots" / "examples.png").stat().st_size > 0
    assert "Nothing to be done" in snakemake(wd, "-n", *args).stdout


def _models(wd):
    return sorted((wd / "results" / "models").glob("*/*/model.json"))


@pytest.mark.slow
def test_resume_keeps_log_costs_whole_training_and_clears_stale_plot_temps(spaced_run):
    wd, args = spaced_run
    models = _models(wd)
    killed = models[0]  # a kill after the last scale, before model.json: the rerun resumes
    before = json.loads(killed.read_text())
    cfg, ref = killed.parent.parent.name, killed.parent.name
    log = wd / "logs" / "train_singan" / cfg / f"{ref}.log"
    first_log = log.read_text()
    killed.unlink()
    # another run's benchmarks (other SinGAN settings) in the same folder
    other = wd / "results" / "benchmarks" / "train_singan" / "othercfg"
    other.mkdir()
    for tsv in (wd / "results" / "benchmarks" / "train_singan" / cfg).glob("*.tsv"):
        (other / tsv.name).write_text(tsv.read_text())
    # a plot killed mid-write, and files of other names that must stay
    plots = wd / "results" / "plots"
    stale = plots / ".examples.png.tmp.k1ll3d.png"
    stale.write_bytes(b"")
    keep = [plots / ".notaplot.png.tmp.abc.png", plots / "examples.png.tmp.abc.png"]
    for path in keep:
        path.write_bytes(b"")

    # the killed job's model.json is missing while everything after it is present: name it as
    # a target beside the default one, as a rerun that is needed would build it
    snakemake(wd, str(killed.relative_to(wd)), "all", *args)

    after = json.loads(killed.read_text())
    assert after["train_seconds"] == pytest.approx(before["train_seconds"])
    text = log.read_text()
    assert text.startswith(first_log)  # appended, not overwritten
    assert text.count("== run started") == 2
    assert "resuming" in text[len(first_log) :]

    tables = wd / "results" / "tables"
    cost = pd.read_parquet(tables / "cost.parquet")
    train = cost[cost["rule"] == "train_singan"]
    assert len(train) == len(models)  # only this run's jobs, not othercfg's
    assert set(train["job"]) == {f"{m.parent.parent.name}/{m.parent.name}" for m in models}
    whole = {
        f"{m.parent.parent.name}/{m.parent.name}": json.loads(m.read_text())["train_seconds"]
        for m in models
    }
    assert dict(zip(train["job"], train["train_seconds"], strict=True)) == pytest.approx(whole)
    by_rule = pd.read_parquet(tables / "cost_by_rule.parquet").set_index("rule")
    assert by_rule.loc["train_singan", "jobs"] == len(models)
    assert by_rule.loc["train_singan", "train_total_seconds"] == pytest.approx(sum(whole.values()))
    paper = (tables / "paper_table.md").read_text()
    assert f"| train_singan | {len(models)} | {sum(whole.values()):.1f} |" in paper
    assert "sum of model.json train_seconds (whole training, across resumes)" in paper

    assert not stale.exists()
    assert all(path.exists() for path in keep)


def test_plot_removes_only_its_own_stale_temp_files(tmp_path):
    plots = tmp_path / "plots"
    plots.mkdir()
    settings = PlotSettings(baseline_method="blurry")
    stale = [plots / f".{name}.png.tmp.x1y2z3.png" for name in figure_names(settings)]
    keep = [
        plots / ".notaplot.png.tmp.x1y2z3.png",  # not a figure of plot
        plots / "examples.png.tmp.x1y2z3.png",  # not the temp pattern
        plots / ".examples.png.tmp.x1y2z3.txt",
        plots / "examples.png",
    ]
    for path in stale + keep:
        path.write_bytes(b"")
    assert any("paired_vs_blurry" in p.name for p in stale)
    with pytest.raises(DeblurError, match="metrics.parquet"):  # no tables: fails after cleaning
        write_all(tmp_path / "tables", plots, settings)
    assert not any(p.exists() for p in stale)
    assert all(p.exists() for p in keep)


@pytest.mark.parametrize(
    "method, expected",
    [
        (
            "{name: sharpen, kind: unsharp, params: {radius: -1}}",
            "methods: 'sharpen' (unsharp) params: unsharp radius must be > 0, got -1",
        ),
        (
            "{name: rl, kind: richardson_lucy, params: {psf_size: 4}}",
            "methods: 'rl' (richardson_lucy) params: psf_size must be an odd integer >= 5",
        ),
        (
            "{name: rl, kind: richardson_lucy, params: {num_iter: 2.5}}",
            "must be an integer, got '2.5'",
        ),
        ("{name: sharpen, kind: unsharp, params: {sigma: 1}}", "bad parameter 'sigma=1'"),
        ("{name: ident, kind: identity, params: {radius: 1}}", "bad parameter 'radius=1'"),
        (
            "{name: inj, kind: singan, mode: inject, inject_scale: 99}",
            "methods: 'inj' has inject_scale 99, but its pyramids have 3 scales (",
        ),
        (
            "{name: inj, kind: singan, mode: inject, inject_scale: -3}",
            "use 1..2 (from the coarsest) or -2..-1 (from the finest)",
        ),
        (
            "{name: sr, kind: singan, mode: sr, sr_factor: 0.5}",
            "methods: 'sr': sr_factor must be >= 1",
        ),
        ("{name: sr, kind: singan, mode: sr, sr_factor: big}", "a number >= 1 or 'full'"),
        (
            "{name: smp, kind: unsharp, mode: sample}",
            "methods: 'smp' has mode sample, a SinGAN reading, but kind unsharp has no pyramid",
        ),
        (
            "{name: sr, kind: singan, mode: sr, sr_factor: 1000}",
            "above the limit of 4194304 (max_output_pixels",
        ),
    ],
)
def test_impossible_method_settings_fail_at_parse_time(tmp_path, method, expected):
    wd = make_workdir(tmp_path, "tiny.yaml")
    proc = snakemake(
        wd,
        "-n",
        "--configfile",
        "tiny.yaml",
        "--config",
        f"methods=[{method}, {{name: identity, kind: identity}}]",
        "paper={method: identity}",
        check=False,
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0 and expected in out, out[-3000:]
    assert not (wd / "results").exists()


@pytest.mark.parametrize(
    "method",
    [
        "{name: sharpen, kind: unsharp, params: {radius: 0.5, amount: 2}}",
        "{name: rl, kind: richardson_lucy, params: {psf_size: 21, length: none}}",
        "{name: inj, kind: singan, mode: inject, inject_scale: 2}",
        "{name: inj, kind: singan, mode: inject, inject_scale: -2}",
        "{name: inj, kind: singan, mode: inject}",
        "{name: sr, kind: singan, mode: sr}",
        "{name: sr, kind: singan, mode: sr, sr_factor: full, sr_step: pyramid}",
        "{name: smp, kind: singan, mode: sample, noise: false}",
    ],
)
def test_working_method_settings_pass_the_dry_run(tmp_path, method):
    wd = make_workdir(tmp_path, "tiny.yaml")
    snakemake(
        wd,
        "-n",
        "--configfile",
        "tiny.yaml",
        "--config",
        f"methods=[{method}, {{name: identity, kind: identity}}]",
        "paper={method: identity}",
    )


def test_dry_run_quotes_paths_and_keeps_flags_separate(tmp_path):
    wd = tmp_path / "work dir"
    wd.mkdir()
    make_workdir(wd, "tiny.yaml")
    root = wd.parent / SPACED_ROOT
    proc = snakemake(
        wd,
        "-n",
        "-p",
        "--configfile",
        "tiny.yaml",
        "--config",
        f"dataset={{root: '{root}'}}",
        "methods=[{name: sharpen, kind: unsharp, params: {radius: 1.5, amount: 2}}, "
        "{name: singan, kind: singan}, {name: identity, kind: identity}]",
    )
    out = proc.stdout
    assert f"synth --out '{root}' --split" in out
    assert f"sample --root '{root}' --split" in out
    assert "--param amount=2 --param radius=1.5 >" in out
    assert """--settings-json '{"max_size": 40, "min_size": 16, "niter": 6}' --device""" in out


def test_dry_run_passes_the_sr_settings_and_records_the_geometry(tmp_path):
    wd = make_workdir(tmp_path, "tiny.yaml")
    proc = snakemake(
        wd,
        "-n",
        "-p",
        "--configfile",
        "tiny.yaml",
        "--config",
        "methods=[{name: sr, kind: singan, mode: sr}, {name: singan, kind: singan}, "
        "{name: identity, kind: identity}]",
    )
    out = proc.stdout
    # tiny: 40x22 model size (max_size 40), x4 in 6 passes of 2^(1/3)
    assert "--mode sr --sr-factor 4 --sr-step reference --max-output-pixels 4194304" in out
    assert '"deblur_out_width": 160' in out and '"deblur_passes": 6' in out
    assert "--steps 1 --mode g0 --device" in out  # the g0 command as before
