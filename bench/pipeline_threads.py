"""Pairs per hour of the pipeline on this machine: fewer jobs with more threads, or the reverse.

Runs ``snakemake --cores CORES`` on the real pipeline (gopro_mini's frames or any GoPro-layout
root, the reference SinGAN sizes, ``--niter`` iterations per scale instead of 2000) once per
``train.threads`` value in ``--threads``, each in a fresh working directory, and reports the
wall time of the training phase and pairs per hour (scaled to niter 2000 by the per-iteration
rate). With CORES = 2: threads 2 runs the training jobs one after the other, threads 1 two at
a time.

    python bench/pipeline_threads.py ../shared/data/gopro_mini --niter 20 --threads 2 1
"""

from __future__ import annotations

import argparse
import csv
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]


def run(root: Path, threads: int, args, workdir: Path) -> dict:
    config = yaml.safe_load((REPO / "config.yaml").read_text())
    config["dataset"].update(kind="gopro", root=str(root.resolve()), split="test")
    config["sample"].update(n=args.pairs, allow_fewer=True)
    config["singan"] = {"niter": args.niter}  # reference sizes: max_size 250, 8 scales
    config["train"].update(threads=threads, precision=args.precision)
    config["methods"] = [m for m in config["methods"] if m["kind"] in ("singan", "identity")]
    (workdir / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    cmd = [sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile")]
    cmd += ["--directory", str(workdir), "--cores", str(args.cores), "--quiet", "all"]
    cmd += ["--until", "train_singan"]  # the training phase: >95% of a real run
    start = time.perf_counter()
    subprocess.run(cmd, cwd=workdir, check=True, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - start
    jobs = sorted((workdir / "results" / "benchmarks" / "train_singan").rglob("*.tsv"))
    job_seconds = [float(next(csv.DictReader(p.open(), delimiter="\t"))["s"]) for p in jobs]
    return dict(threads=threads, jobs=len(jobs), wall=wall, job_seconds=job_seconds)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("root", type=Path, help="GoPro-layout dataset root (with test/)")
    parser.add_argument("--pairs", type=int, default=2, help="pairs (= training jobs)")
    parser.add_argument("--niter", type=int, default=20, help="iterations per scale")
    parser.add_argument("--cores", type=int, default=os.cpu_count())
    parser.add_argument("--threads", type=int, nargs="+", default=[2, 1])
    parser.add_argument("--precision", default="fp32", choices=("fp32", "bf16"))
    args = parser.parse_args(argv)
    print(
        f"# {args.root}: {args.pairs} pairs, niter {args.niter}, --cores {args.cores}, "
        f"precision {args.precision}; load average {os.getloadavg()}"
    )
    results = []
    for threads in args.threads:
        with tempfile.TemporaryDirectory(prefix="deblur-threads-") as tmp:
            results.append(run(args.root, threads, args, Path(tmp)))
        r = results[-1]
        per_job = ", ".join(f"{s:.0f}" for s in r["job_seconds"])
        print(
            f"threads {threads}: {r['jobs']} training jobs ({per_job} s each), pipeline wall "
            f"{r['wall']:.0f} s -> {3600 * r['jobs'] / r['wall']:.1f} pairs/h at niter "
            f"{args.niter}, about {3600 * r['jobs'] / r['wall'] * args.niter / 2000:.2f} "
            f"pairs/h at niter 2000",
            flush=True,
        )
    print(f"# load average at the end {os.getloadavg()}")


if __name__ == "__main__":
    main()
