"""bench/train_memory.py: one row per batch size, a second run resumes (measures nothing
again), and the fit it prints is the least-squares line through the rows."""

from __future__ import annotations

import csv
import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image
from workflow_helpers import REPO

pytestmark = pytest.mark.skipif(not os.path.exists("/usr/bin/time"), reason="needs /usr/bin/time")
SCRIPT = REPO / "bench" / "train_memory.py"


def run(tmp_path, *args: str) -> str:
    cmd = [sys.executable, str(SCRIPT), "--config", str(REPO / "tests/configs/tiny.yaml"),
           "--iters", "1", "--work", str(tmp_path / "work"), "--out", str(tmp_path / "m.tsv"),
           *args]  # fmt: skip
    return subprocess.run(cmd, check=True, capture_output=True, text=True, cwd=REPO).stdout


def test_rows_per_batch_size_resume_and_fit(tmp_path):
    rng = np.random.default_rng(0)
    images = []
    for i in range(2):
        images.append(tmp_path / f"sharp{i}.png")
        Image.fromarray(rng.integers(0, 256, (30, 40, 3), dtype=np.uint8)).save(images[-1])
    out = run(tmp_path, "--image", *map(str, images), "--batch", "1", "2", "3")
    with (tmp_path / "m.tsv").open() as f:
        rows = list(csv.DictReader(f, delimiter="\t"))
    assert [r["batch"] for r in rows] == ["1", "2", "3"]
    assert all(r["config"] == "tests/configs/tiny.yaml" and r["iters"] == "1" for r in rows)
    peaks = [float(r["peak_mb"]) for r in rows]
    assert all(p > 50 for p in peaks)  # a python process with torch loaded
    slope, base = np.polyfit([1, 2, 3], peaks, 1)
    assert out.splitlines()[-1].split("\t")[:2] == [f"{base:.0f}", f"{slope:.0f}"]
    assert not (tmp_path / "work" / "n2_i1").exists()  # the trainings are removed
    again = run(tmp_path, "--image", *map(str, images), "--batch", "1", "3")
    with (tmp_path / "m.tsv").open() as f:
        assert len(list(csv.DictReader(f, delimiter="\t"))) == 3  # nothing measured again
    assert again.splitlines()[-1] == out.splitlines()[-1]
