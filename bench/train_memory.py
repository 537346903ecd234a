"""Peak memory of a training job by batch size: what ``train.batch_mem_mb_per_member`` rests on.

Runs ``python -m deblur train`` with N (image, model directory) pairs, for each N in
``--batch``, under ``/usr/bin/time -v`` on the CPU, with a pipeline config's SinGAN settings
(default: the paper preset's, 8 scales up to 250 px on a 1280x720 frame) but ``--iters``
iterations per scale: a scale's arrays (weights, Adam moments, one iteration's activations)
are all allocated by its first iteration, so the peak does not grow with the iteration count
(``--check-iterations`` verifies this at N = 1 with 10 times as many). The images cycle
through ``--image`` (the cost does not depend on the pixels, only on the shared size). Appends
maximum resident set (MB, 1e6 bytes), CPU and wall seconds to a TSV (rows already there are
skipped: the script resumes), then fits ``peak = base + per_member * N`` by least squares and
prints it beside the config's ``train.mem_mb`` and ``train.batch_mem_mb_per_member``.

On CUDA the activations live in GPU memory, so the host's peak is the CPU run's or lower; the
GPU's own peak per batch size is ``bench/train_batch.py``'s ``peak_gpu_mb``.

    nice python bench/train_memory.py --image ../shared/data/gopro_mini/test/*/sharp/000001.png \\
        --batch 1 2 4 8 --out results/bench/train_memory.tsv
"""

from __future__ import annotations

import argparse
import csv
import os
import shutil
import sys
import tempfile
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from job_memory import append_row, fit, measure  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
COLUMNS = ["config", "iters", "batch", "threads", "peak_mb", "cpu_s", "wall_s"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--image", nargs="+", required=True, type=Path,
                        help="sharp frames of one size, cycled through the batch")  # fmt: skip
    parser.add_argument("--batch", nargs="+", type=int, default=[1, 2, 4, 8])
    parser.add_argument("--config", type=Path, default=REPO / "workflow/presets/paper.yaml")
    parser.add_argument("--iters", type=int, default=2, help="iterations per scale")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--check-iterations", action="store_true",
                        help="also run N = 1 with 10x --iters")  # fmt: skip
    parser.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "train_memory")
    parser.add_argument("--out", type=Path, default=REPO / "results/bench/train_memory.tsv")
    args = parser.parse_args()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    # the TSV names a config by its path in the repository when it is one of the repository's
    config_path = args.config.resolve()
    config = str(config_path.relative_to(REPO) if config_path.is_relative_to(REPO) else config_path)
    done = []
    if args.out.exists():
        with args.out.open() as f:
            done = list(csv.DictReader(f, delimiter="\t"))
    runs = [(n, args.iters) for n in args.batch]
    if args.check_iterations:
        runs.append((1, 10 * args.iters))
    for n, iters in runs:
        key = (config, str(iters), str(n), str(args.threads))
        if any(tuple(r[c] for c in COLUMNS[:4]) == key for r in done):
            continue
        work = args.work / f"n{n}_i{iters}"
        shutil.rmtree(work, ignore_errors=True)  # a fresh training, never a resume
        pairs = []
        for i in range(n):
            pairs += ["--image", str(args.image[i % len(args.image)].resolve()),
                      "--out", str(work / f"member{i}")]  # fmt: skip
        argv = ["train", *pairs, "--config", str(config_path), "--set", f"niter={iters}",
                "--device", "cpu", "--threads", str(args.threads)]  # fmt: skip
        peak, cpu, wall = measure(argv)
        shutil.rmtree(work, ignore_errors=True)
        row = dict(zip(COLUMNS, [*key, round(peak), round(cpu, 1), round(wall, 1)], strict=True))
        append_row(args.out, COLUMNS, row)
        done.append({k: str(v) for k, v in row.items()})
        print("\t".join(str(v) for v in row.values()), flush=True)
    # the fit: this config, iteration count and thread count, over the batch sizes
    same = (config, str(args.iters), str(args.threads))
    rows = [r for r in done if (r["config"], r["iters"], r["threads"]) == same]
    base, slope = fit(rows, by="batch")
    # the config's train section over config.yaml's, as the workflow merges a --configfile
    train = yaml.safe_load((REPO / "config.yaml").read_text())["train"]
    train.update(yaml.safe_load(config_path.read_text()).get("train", {}))
    print("fit base MB\tfit MB/member\tconfigured mem_mb\tconfigured batch_mem_mb_per_member")
    print(f"{base:.0f}\t{slope:.0f}\t{train['mem_mb']}\t{train['batch_mem_mb_per_member']}")


if __name__ == "__main__":
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    main()
