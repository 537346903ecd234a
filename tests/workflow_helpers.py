"""Helpers for tests that run Snakemake on the project's Snakefile in a temporary directory,
and for checking what the pipeline's commands write."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from PIL import Image

from deblur.outputs import STUDY_FIGURES, figure_names

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"

# the figures `plot` always writes (baseline: identity; the study ones need the study tables)
PLOTS = tuple(n for n in figure_names("identity") if n not in STUDY_FIGURES)


def assert_pngs(directory: Path, names, min_width: int, min_height: int) -> None:
    """Each ``<name>.png`` in ``directory`` is a PNG wider and taller than the given sizes."""
    for name in names:
        with Image.open(directory / f"{name}.png") as im:
            assert im.format == "PNG", name
            assert im.size[0] > min_width and im.size[1] > min_height, (name, im.size)


def snakemake(workdir: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    """Run Snakemake on the repo's Snakefile with ``workdir`` as working directory."""
    cmd = [sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile")]
    cmd += ["--directory", str(workdir), *args]
    proc = subprocess.run(cmd, cwd=workdir, capture_output=True, text=True)
    if check and proc.returncode != 0:
        raise AssertionError(
            f"snakemake failed ({proc.returncode}): {' '.join(cmd)}\n"
            f"--- stdout ---\n{proc.stdout[-4000:]}\n--- stderr ---\n{proc.stderr[-6000:]}"
        )
    return proc


def make_workdir(tmp_path: Path, *configs: str) -> Path:
    """A fresh working directory with the default config.yaml and the named test configs."""
    shutil.copy(REPO / "config.yaml", tmp_path / "config.yaml")
    for name in configs:
        shutil.copy(REPO / "tests" / "configs" / name, tmp_path / name)
    return tmp_path


def job_counts(output: str) -> dict[str, int]:
    """Parse Snakemake's 'Job stats' table (job name -> count) from a dry run's output."""
    counts, in_table = {}, False
    for line in output.splitlines():
        parts = line.split()
        if parts[:2] == ["job", "count"]:
            in_table = True
            continue
        if in_table and parts and parts[0] == "total":
            break
        if in_table and len(parts) == 2 and parts[1].isdigit():
            counts[parts[0]] = int(parts[1])
    return counts
