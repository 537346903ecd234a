"""tv_blind against the blurry input and the true-kernel oracle, per pair, with its run time.

For every pair of a GoPro-layout dataset (``python -m deblur synth --mode uniform`` writes one
with known kernels), runs ``tv_blind`` (defaults unless ``--param``) on the blurry frame and,
where the pair has a ``kernel/`` PNG, ``oracle_tv`` with the true kernel; prints one row per
pair: full-resolution PSNR of the blurry input, tv_blind and the oracle, the error ratio
||x_est - x||^2 / ||x_oracle - x||^2, the kernel error and the seconds tv_blind took.

    python -m deblur synth --out /tmp/known --mode uniform --sequences 3 --frames 2
    python bench/tv_blind_quality.py /tmp/known
    python bench/tv_blind_quality.py ../shared/data/gopro_mini --limit 2
"""

from __future__ import annotations

import argparse
import time

from deblur.baselines import parse_params, run_baseline
from deblur.data.gopro import index_pairs
from deblur.data.imageio import read_rgb
from deblur.evaluation.kernel_metrics import error_ratio, kernel_error
from deblur.evaluation.metrics import psnr
from deblur.kernelio import read_kernel


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("root", help="dataset root (holding test/)")
    parser.add_argument("--split", default="test")
    parser.add_argument("--limit", type=int, default=0, help="first N pairs only (0: all)")
    parser.add_argument("--param", action="append", default=[], help="tv_blind key=value")
    args = parser.parse_args()
    params = parse_params("tv_blind", args.param)
    pairs = index_pairs(args.root, args.split)
    pairs = pairs[: args.limit] if args.limit else pairs
    print("pair\tsize\tkernel\tblurry_dB\ttv_blind_dB\toracle_dB\terror_ratio\tkernel_err\tsec")
    for pair in pairs:
        sharp, blurry = read_rgb(pair.sharp), read_rgb(pair.blurry)
        start = time.perf_counter()
        out, _, k_est = run_baseline("tv_blind", blurry, params, with_kernel=True)
        seconds = time.perf_counter() - start
        row = [pair.pair_id, f"{blurry.shape[1]}x{blurry.shape[0]}"]
        oracle_db = ratio = k_err = "-"
        side = "-"
        if pair.kernel is not None:
            k_true = read_kernel(pair.kernel)
            side = str(k_true.shape[0])
            oracle, _ = run_baseline("oracle_tv", blurry, kernel=k_true)
            oracle_db = f"{psnr(oracle, sharp):.2f}"
            ratio = f"{error_ratio(out, oracle, sharp):.2f}"
            k_err = f"{kernel_error(k_est, k_true):.3f}"
        row += [side, f"{psnr(blurry, sharp):.2f}", f"{psnr(out, sharp):.2f}", oracle_db]
        row += [ratio, k_err, f"{seconds:.1f}"]
        print("\t".join(row), flush=True)


if __name__ == "__main__":
    main()
