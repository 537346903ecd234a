"""Known-kernel data: random shake kernels, the synthetic uniform mode, optional kernel/ folders."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from scipy.signal import fftconvolve

from deblur.data.gopro import index_pairs
from deblur.data.imageio import read_rgb, write_png
from deblur.data.kernels import TrajectoryParams, pad_kernel, random_shake_kernel, rasterize
from deblur.data.synthetic import MANIFEST, UNIFORM_FIELDS, plan_pairs, synthesize
from deblur.errors import DeblurError
from deblur.kernelio import read_kernel, write_kernel

UNIFORM = dict(sequences=2, frames=2, size="80x56", seed=0, mode="uniform")
UNIFORM_KERNELS = dict(kernel_min=5, kernel_max=13, noise=0.01)


@pytest.fixture(scope="module")
def uniform(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("uniform") / "data"
    synthesize(out, **UNIFORM, **UNIFORM_KERNELS, progress=False)
    return out


@pytest.mark.parametrize("size", [11, 21, 31])
def test_shake_kernels_are_valid_centred_and_seeded(size):
    k = random_shake_kernel(np.random.default_rng(3), size)
    assert k.shape == (size, size) and k.min() >= 0 and k.sum() == pytest.approx(1.0)
    rows, cols = np.indices(k.shape)
    assert (k * rows).sum() == pytest.approx(size // 2, abs=1e-6)  # centroid at the centre
    assert (k * cols).sum() == pytest.approx(size // 2, abs=1e-6)
    assert (k > 0).sum() > size  # a path, not a dot
    assert np.array_equal(k, random_shake_kernel(np.random.default_rng(3), size))
    assert not np.array_equal(k, random_shake_kernel(np.random.default_rng(4), size))
    assert pad_kernel(k, size + 4)[2:-2, 2:-2].tolist() == k.tolist()


def test_kernel_helpers_name_bad_arguments():
    with pytest.raises(ValueError, match="steps must be >= 2"):
        TrajectoryParams(steps=1)
    with pytest.raises(ValueError, match=r"shake_prob must be in \[0, 1\]"):
        TrajectoryParams(shake_prob=2)
    with pytest.raises(ValueError, match="size must be an odd integer"):
        rasterize(np.zeros(3, complex), 10)
    with pytest.raises(ValueError, match="size must be >= 9"):
        pad_kernel(np.ones((9, 9)), 7)


def test_uniform_mode_writes_each_kernel_and_its_exact_blur(uniform):
    pairs = index_pairs(uniform)
    assert pairs == plan_pairs(uniform, **UNIFORM, **UNIFORM_KERNELS)
    assert all(p.kernel == p.sharp.parent.parent / "kernel" / p.sharp.name for p in pairs)
    sides = set()
    for p in pairs:
        k = read_kernel(p.kernel)
        sides.add(k.shape[0])
        assert 5 <= k.shape[0] <= 13 and k.shape[0] % 2 == 1
        sharp, blurry = read_rgb(p.sharp), read_rgb(p.blurry)
        h = k.shape[0] // 2
        predicted = np.stack([fftconvolve(sharp[..., c], k, mode="valid") for c in range(3)], -1)
        residual = blurry[h:-h, h:-h] - predicted
        # the valid forward model holds inside the frame, up to the noise and 8-bit rounding
        assert residual.std() == pytest.approx(0.01, abs=0.003)
        assert abs(residual.mean()) < 0.003
    assert len(sides) > 1
    params = json.loads((uniform / MANIFEST).read_text())["parameters"]
    assert params["mode"] == "uniform" and params["kernel_max"] == 13


def test_uniform_mode_is_deterministic_and_camera_mode_is_unchanged(uniform, tmp_path):
    again = tmp_path / "again"
    synthesize(again, **UNIFORM, **UNIFORM_KERNELS, progress=False)
    for p in sorted(uniform.rglob("*.png")):
        assert (again / p.relative_to(uniform)).read_bytes() == p.read_bytes()
    camera = tmp_path / "camera"
    synthesize(camera, **{**UNIFORM, "mode": "camera"}, progress=False)
    assert not list(camera.rglob("kernel"))
    assert all(p.kernel is None for p in index_pairs(camera))
    params = json.loads((camera / MANIFEST).read_text())["parameters"]
    assert not set(UNIFORM_FIELDS) & set(params)  # the manifest of before the modes existed
    with pytest.raises(DeblurError, match="unknown synthetic mode"):
        plan_pairs(camera, **{**UNIFORM, "mode": "shake"})
    with pytest.raises(DeblurError, match="kernel_max must be an odd integer"):
        plan_pairs(camera, **UNIFORM, kernel_max=12)
    with pytest.raises(DeblurError, match="kernel_min <= kernel_max"):
        plan_pairs(camera, **UNIFORM, kernel_min=15, kernel_max=13)


def test_reader_picks_up_optional_kernel_folders_in_both_layouts(tmp_path):
    img = np.full((6, 8, 3), 0.5, np.float32)
    k = np.ones((3, 3)) / 9
    seq = tmp_path / "gopro" / "test" / "seq"
    for name in ("000001", "000002"):
        write_png(seq / "blur" / f"{name}.png", img)
        write_png(seq / "sharp" / f"{name}.png", img)
    write_kernel(seq / "kernel" / "000002.png", k)
    pairs = index_pairs(tmp_path / "gopro")
    assert [p.kernel for p in pairs] == [None, seq / "kernel" / "000002.png"]
    flat = tmp_path / "flat" / "test"
    write_png(flat / "input" / "s-000001.png", img)
    write_png(flat / "target" / "s-000001.png", img)
    write_kernel(flat / "kernel" / "s-000001.png", k)
    assert index_pairs(tmp_path / "flat")[0].kernel == flat / "kernel" / "s-000001.png"


def test_synth_cli_uniform_mode(tmp_path):
    from deblur.cli import main

    args = ["-q", "synth", "--out", str(tmp_path / "d"), "--sequences", "1", "--frames", "1"]
    args += ["--size", "48x32", "--mode", "uniform", "--kernel-min", "5", "--kernel-max", "7"]
    assert main(args) == 0
    (kernel,) = (tmp_path / "d").rglob("kernel/*.png")
    assert read_kernel(kernel).shape[0] in (5, 7)


def test_workflow_uniform_mode_plans_the_kernels(tmp_path):
    from workflow_helpers import make_workdir, snakemake

    wd = make_workdir(tmp_path)
    syn = "dataset={synthetic: {mode: uniform, kernel_max: 21}}"
    proc = snakemake(wd, "-n", "-p", "--config", syn)
    assert "--mode uniform --kernel-min 11 --kernel-max 21 --noise 0.01" in proc.stdout
    assert "/kernel/000001.png" in proc.stdout
    camera = snakemake(wd, "-n", "-p")
    assert "--kernel-min" not in camera.stdout and "/kernel/" not in camera.stdout


def test_workflow_oracle_needs_known_kernels_and_feeds_the_error_ratio(tmp_path):
    from workflow_helpers import make_workdir, snakemake

    wd = make_workdir(tmp_path)
    methods = (
        "methods=[{name: identity, kind: identity}, {name: tv, kind: tv_blind},"
        " {name: oracle, kind: oracle_tv}]"
    )
    args = ["-n", "-p", "--config", methods, "paper={method: tv}"]
    camera = snakemake(wd, *args, check=False)
    assert camera.returncode != 0
    assert "'oracle' (oracle_tv) needs each pair's true kernel" in camera.stdout + camera.stderr
    proc = snakemake(wd, *args[:-1], "paper={method: tv}", "dataset={synthetic: {mode: uniform}}")
    out = proc.stdout
    assert "--kind oracle_tv" in out and "--kernel results/data/synthetic/test/" in out
    assert "--oracle results/deblurred/oracle/" in out and "_kernel.png --kernel-true" in out
