"""bench/gpu_check.sh, dry-run on CPU with tiny settings: every phase runs and writes the
files a device call brings back (at most 8, with names the device tool accepts)."""

import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]


def test_gpu_check_dry_run_on_cpu(tmp_path):
    rng = np.random.default_rng(0)
    for pair in ("flower", "istanbul"):
        for kind in ("blur", "sharp"):
            folder = tmp_path / "inputs" / "data" / "test" / pair / kind
            folder.mkdir(parents=True)
            image = (rng.random((27, 48, 3)) * 255).astype(np.uint8)
            Image.fromarray(image).save(folder / "000001.png")
    out = tmp_path / "out"
    env = dict(
        os.environ, GPU_CHECK_DEVICE="cpu", GPU_CHECK_TINY="1", GPU_CHECK_BUDGET="3000",
        GPU_CHECK_INPUTS=str(tmp_path / "inputs"), OUT=str(out), PYTHON=sys.executable,
        TMPDIR=str(tmp_path),
    )  # fmt: skip
    run = subprocess.run(
        ["bash", str(ROOT / "bench" / "gpu_check.sh")], env=env, capture_output=True, text=True,
        timeout=1200,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    files = sorted(p.name for p in out.iterdir())
    assert files == sorted(
        ["env.txt", "grouped_conv.tsv", "train_batch.tsv", "concurrent.tsv", "pipeline.tsv",
         "readings.tsv", "log.txt"]
    )  # fmt: skip
    assert all(re.fullmatch(r"[A-Za-z0-9._-]+", name) for name in files)
    log = (out / "log.txt").read_text()
    assert "CUT SHORT" not in log and "Traceback" not in log, log[-3000:]

    def table(name):
        lines = (out / name).read_text().strip().splitlines()
        header = lines[0].split("\t")
        return [dict(zip(header, line.split("\t"), strict=True)) for line in lines[1:]]

    assert {r["way"] for r in table("grouped_conv.tsv")} == {"grouped", "separate"}
    assert {(r["scale"], r["batch"]) for r in table("train_batch.tsv")} == {
        ("0", "1"),
        ("0", "2"),
        ("1", "1"),
        ("1", "2"),
    }
    assert {r["process"] for r in table("concurrent.tsv")} == {"1", "2"}
    models = table("pipeline.tsv")
    assert [m["model"] for m in models] == ["flower", "istanbul"]
    assert all('"size": 2' in m["batch"] for m in models)
    readings = table("readings.tsv")
    assert {r["pyramid"] for r in readings} == {"flower", "istanbul"}
