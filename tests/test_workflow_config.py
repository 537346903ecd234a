"""Parse-time behaviour of the workflow: lint, dry runs, presets and config errors (no jobs run)."""

from __future__ import annotations

import numpy as np
import pytest
import yaml
from PIL import Image
from workflow_helpers import REPO, job_counts, make_workdir, snakemake

from deblur.singan.config import SinGANConfig, load_config


def fake_gopro_tree(root, sequences=3, frames=40, size=(16, 9)):
    """A GOPRO_Large-shaped tree of tiny images: enough pairs for the paper's 100-pair sample."""
    rng = np.random.default_rng(0)
    for s in range(sequences):
        for kind in ("blur", "blur_gamma", "sharp"):
            d = root / "test" / f"GOPR{s:04d}_11_00" / kind
            d.mkdir(parents=True)
            for f in range(1, frames + 1):
                px = rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
                Image.fromarray(px).save(d / f"{f:06d}.png")
    return root


def test_lint_is_clean(tmp_path):
    proc = snakemake(make_workdir(tmp_path), "--lint", check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_default_dry_run_lists_every_job(tmp_path):
    wd = make_workdir(tmp_path)
    counts = job_counts(snakemake(wd, "-n", "--cores", "2").stdout)
    cfg = yaml.safe_load((REPO / "config.yaml").read_text())
    n, n_methods = cfg["sample"]["n"], len(cfg["methods"])
    n_singan = sum(m["kind"] == "singan" for m in cfg["methods"])
    assert counts["synthesize_dataset"] == 1
    assert counts["train_singan"] == n  # reference "same": one pyramid per pair
    assert counts["deblur_singan"] == n * n_singan
    assert counts["deblur_baseline"] == n * (n_methods - n_singan)
    assert counts["evaluate"] == n * n_methods
    assert counts["aggregate"] == counts["plot"] == 1


def test_paper_preset_dry_run_has_100_trainings(tmp_path):
    root = fake_gopro_tree(tmp_path / "GOPRO_Large")
    (tmp_path / "wd").mkdir()
    wd = make_workdir(tmp_path / "wd")
    proc = snakemake(
        wd,
        "-n",
        "--cores",
        "all",
        "--configfile",
        str(REPO / "workflow/presets/paper.yaml"),
        "--config",
        f"dataset={{root: {root}}}",
    )
    counts = job_counts(proc.stdout)
    assert counts["train_singan"] == 100  # shared by the paper's setting and the other readings
    assert counts["deblur_singan"] == 100 * 4  # g0 k=1, sr x4, sr full, sample
    assert counts["evaluate"] == 100 * 5
    assert "synthesize_dataset" not in counts


def test_train_batch_makes_one_training_job_per_batch(tmp_path):
    # tiny: 3 same-size pyramids, train.batch 2 -> batches of 2 and 1; batch 1 (the default)
    # keeps the single training rule (test_default_dry_run_lists_every_job)
    wd = make_workdir(tmp_path, "tiny.yaml")
    args = ("-n", "-p", "--configfile", "tiny.yaml", "--config", "train={batch: 2}")
    # a profile's per-rule settings for the single training rule reach the batch rules
    args += ("--set-resources", "train_singan:slurm_partition=gpu")
    out = snakemake(wd, *args).stdout
    counts = job_counts(out)
    batches = sorted(r for r in counts if r.startswith("train_singan_batch_"))
    assert "train_singan" not in counts and len(batches) == 2
    assert counts["deblur_singan"] == 3 and counts["evaluate"] == 6
    commands = [line for line in out.splitlines() if "python -m deblur train" in line]
    assert sorted(c.count("--image ") for c in commands) == [1, 2]
    assert all(c.count("--image ") == c.count("--out ") for c in commands)
    # the second member adds batch_mem_mb_per_member and (null: the single job's) runtime
    cfg = yaml.safe_load((REPO / "config.yaml").read_text())["train"]
    mem_pair = cfg["mem_mb"] + cfg["batch_mem_mb_per_member"]
    lines = [r.split(": ", 1)[1] for r in out.splitlines() if r.startswith("    resources:")]
    resources = [set(line.split(", ")) for line in lines if "slurm_partition=gpu" in line]
    assert len(resources) == 2
    pair, single = sorted(resources, key=lambda r: f"mem_mb={cfg['mem_mb']}" in r)
    assert {f"runtime={2 * cfg['runtime']}", f"mem_mb={mem_pair}"} <= pair
    assert {f"runtime={cfg['runtime']}", f"mem_mb={cfg['mem_mb']}"} <= single
    assert "logs/train_singan_batch/" in out


def test_paper_preset_uses_reference_singan_defaults():
    preset = yaml.safe_load((REPO / "workflow/presets/paper.yaml").read_text())
    assert load_config(preset["singan"]) == SinGANConfig()
    assert preset["sample"]["n"] == 100
    singan = [m for m in preset["methods"] if m["kind"] == "singan"]
    assert {m["reference"] for m in singan} == {"same"}
    paper = next(m for m in singan if m["name"] == "singan")  # paper.method of config.yaml
    assert (paper["mode"], paper["steps"], paper["noise"]) == ("g0", 1, True)
    assert [m.get("mode") for m in singan] == ["g0", "sr", "sr", "sample"]


@pytest.mark.parametrize(
    "override, expected",
    [
        (["sample={n: 0}"], "'n'"),
        (["dataset={blur_dir: blurry}"], "blur_dir"),
        (["singan={nitre: 10}"], "nitre"),
        (
            ["dataset={kind: gopro, root: /nonexistent/GOPRO_Large}"],
            "/nonexistent/GOPRO_Large",
        ),
        (["paper={method: nosuch}"], "paper.method"),
        (
            ["methods=[{name: x, kind: singan, mode: inject, inject_scale: 0}]"],
            "'x' has inject_scale 0, but the image enters",
        ),
    ],
)
def test_bad_config_fails_before_any_job_naming_the_key(tmp_path, override, expected):
    proc = snakemake(make_workdir(tmp_path), "-n", "--config", *override, check=False)
    assert proc.returncode != 0
    assert expected in proc.stdout + proc.stderr
    assert not (tmp_path / "results").exists()
