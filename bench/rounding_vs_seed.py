"""How far one pyramid's score moves: G_0 k = 1 PSNR/SSIM of the same pairs under other training
seeds, under the rounding of another CPU class, and under other inference seeds.

    nice python bench/rounding_vs_seed.py --data results/data/synthetic \
        --pairs synth01_rocket-000004 synth02_astronaut-000002 --out results/rounding_vs_seed
    # another cell, some variants:  --niter 500 --variants seed0 seed0_avx2
    # the 128-px cell:  --max-size 128

Per pair it runs the workflow's commands for the ladder's 64 px / 200 iterations cell
(``train --settings-json '{"max_size": 64, "min_size": 25, "niter": 200}' --threads 1``, the
size set by ``--max-size``, the iterations by ``--niter``;
``deblur --steps 1 --mode g0 --seed S --threads 1``; ``evaluate --max-size 64 --align-shift 8
--align-crop 8``, its max size the pyramid's) for these variants:

- ``seed0``, ``seed1``, ``seed2``: training seeds 0, 1, 2 (inference seed 0);
- ``seed0_avx2``: training seed 0 with ``ONEDNN_MAX_CPU_ISA=AVX2 ATEN_CPU_CAPABILITY=avx2``
  (the kernels an AVX2-only CPU runs; inference as the others);
- ``seed0_threads2``: training seed 0 with ``--threads 2`` (step halves at once);
- ``seed0_infer1``, ``seed0_infer2``: the ``seed0`` pyramid, inference seeds 1 and 2;
- ``seed0_infer_avx2``: the ``seed0`` pyramid deblurred under the AVX2 caps.

Every step whose output exists is skipped, so a stopped run resumes. Writes
``OUT/scores.parquet`` (one row per variant, pair and resolution) and prints a Markdown table.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd

SETTINGS = {"min_size": 25}  # and max_size (--max-size), niter (--niter)
AVX2 = {"ONEDNN_MAX_CPU_ISA": "AVX2", "ATEN_CPU_CAPABILITY": "avx2"}
# name -> (training seed, training env, training threads, inference seed, inference env)
VARIANTS = {
    "seed0": (0, {}, 1, 0, {}),
    "seed1": (1, {}, 1, 0, {}),
    "seed2": (2, {}, 1, 0, {}),
    "seed0_avx2": (0, AVX2, 1, 0, {}),
    "seed0_threads2": (0, {}, 2, 0, {}),
    "seed0_infer1": (0, {}, 1, 1, {}),
    "seed0_infer2": (0, {}, 1, 2, {}),
    "seed0_infer_avx2": (0, {}, 1, 0, AVX2),
}

# the spreads printed under the table: max - min over these variants, per pair and of the mean
SPREADS = {
    "training seeds": ("seed0", "seed1", "seed2"),
    "seed 0 under other roundings": ("seed0", "seed0_avx2", "seed0_threads2"),
    "all trainings": ("seed0", "seed1", "seed2", "seed0_avx2", "seed0_threads2"),
    "inference seeds": ("seed0", "seed0_infer1", "seed0_infer2"),
}


def model_name(seed: int, env: dict, threads: int) -> str:
    return f"seed{seed}" + ("_avx2" if env else "") + (f"_threads{threads}" if threads > 1 else "")


def run(command: list[str], env: dict, log: Path) -> None:
    with open(log, "a") as f:
        subprocess.run(command, env={**os.environ, **env}, stdout=f, stderr=f, check=True)


@functools.cache
def pairs_of(data: Path) -> dict:
    """pair id -> Pair of the test split of ``data``, indexed once per run."""
    from deblur.data.gopro import index_pairs

    return {p.pair_id: p for p in index_pairs(data)}


def pair_paths(data: Path, pair: str) -> tuple[Path, Path]:
    """(sharp, blurry) of ``pair`` in the test split of ``data`` (any layout the pipeline reads)."""
    found = pairs_of(data)
    if pair not in found:
        sys.exit(f"no pair {pair} in {data}/test")
    return found[pair].sharp, found[pair].blurry


def score(variant: str, pair: str, args) -> pd.DataFrame:
    seed, train_env, threads, infer_seed, infer_env = VARIANTS[variant]
    sharp, blurry = pair_paths(args.data, pair)
    model = args.out / "models" / model_name(seed, train_env, threads) / pair
    log = args.out / "logs" / f"{variant}_{pair}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    py = [sys.executable, "-m", "deblur"]
    settings = json.dumps({**SETTINGS, "max_size": args.max_size, "niter": args.niter})
    if not (model / "model.json").exists():
        run(
            py + ["train", "--image", str(sharp), "--out", str(model), "--settings-json",
                  settings, "--device", "cpu", "--seed", str(seed),
                  "--threads", str(threads), "--precision", "fp32"],
            train_env, log,
        )  # fmt: skip
    pred = args.out / "deblurred" / variant / f"{pair}.png"
    if not pred.exists():
        pred.parent.mkdir(parents=True, exist_ok=True)
        run(
            py + ["deblur", "--model", str(model), "--image", str(blurry), "--out", str(pred),
                  "--steps", "1", "--mode", "g0", "--device", "cpu", "--seed", str(infer_seed),
                  "--threads", "1"],
            infer_env, log,
        )  # fmt: skip
    metrics = args.out / "metrics" / variant / f"{pair}.parquet"
    if not metrics.exists():
        meta = dict(method=variant, pair_id=pair, deblur_seed=infer_seed)
        run(
            py + ["evaluate", "--pred", str(pred), "--sharp", str(sharp),
                  "--max-size", str(args.max_size), "--align-shift", "8", "--align-crop", "8",
                  "--model", str(model),
                  "--meta", json.dumps(meta), "--out", str(metrics)],
            {}, log,
        )  # fmt: skip
    table = pd.read_parquet(metrics)[["resolution", "psnr", "ssim"]]
    return table.assign(variant=variant, pair=pair, train_seed=seed, infer_seed=infer_seed)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, required=True, help="synthetic (or GoPro) root")
    parser.add_argument("--pairs", nargs="+", required=True, help="SEQUENCE-FRAME ids")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--niter", type=int, default=200, help="iterations per scale")
    parser.add_argument("--max-size", type=int, default=64, help="the pyramid's max_size")
    parser.add_argument("--variants", nargs="*", default=list(VARIANTS))
    args = parser.parse_args(argv)
    rows = []
    for variant in args.variants:
        for pair in args.pairs:
            print(f"{variant} {pair}", flush=True)
            rows.append(score(variant, pair, args))
    table = pd.concat(rows, ignore_index=True)
    table.to_parquet(args.out / "scores.parquet")
    for resolution in ("full", "model"):
        part = table[table.resolution == resolution]
        psnr = part.pivot(index="variant", columns="pair", values="psnr").loc[args.variants]
        ssim = part.pivot(index="variant", columns="pair", values="ssim").loc[args.variants]
        print(f"\n{resolution} resolution: PSNR dB / SSIM per pair, mean")
        print("| variant | " + " | ".join(psnr.columns) + " | mean |")
        print("|---" * (len(psnr.columns) + 2) + "|")
        for v in psnr.index:
            cells = [f"{psnr.loc[v, p]:.2f} / {ssim.loc[v, p]:.3f}" for p in psnr.columns]
            mean = f"{psnr.loc[v].mean():.2f} / {ssim.loc[v].mean():.3f}"
            print(f"| {v} | " + " | ".join(cells) + f" | {mean} |")
        for label, group in SPREADS.items():
            rows = [v for v in group if v in psnr.index]
            if len(rows) < 2:
                continue
            p, s = psnr.loc[rows], ssim.loc[rows]
            p, s = p.assign(mean=p.mean(axis=1)), s.assign(mean=s.mean(axis=1))
            cells = [f"{np.ptp(p[c]):.2f} / {np.ptp(s[c]):.3f}" for c in p.columns]
            print(f"| spread (max - min), {label} ({len(rows)}) | " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
