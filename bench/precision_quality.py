"""bf16 against fp32 training on the embedded synthetic dataset: same results, within noise?

For each of ``--pairs`` pairs of the synthetic dataset (written with the default config.yaml's
settings if missing), trains a pyramid per precision and seed with the pipeline's default SinGAN
settings (config.yaml's ``singan:``; override with ``--set KEY=VALUE``) and measures

- ``rec_mse``: MSE in [-1, 1] of the finest-scale reconstruction (fixed z_opt through every
  scale) against the training image, the quantity the reconstruction loss drives down;
- ``psnr`` and ``ssim`` of G_0 deblurring (the paper's method, one step) against the sharp frame
  at model resolution, as the pipeline scores it.

Prints every run, then per metric fp32's and bf16's mean and seed-to-seed standard deviation
(per pair, averaged over pairs) and the difference of means in units of fp32's spread.

    python bench/precision_quality.py --pairs 3 --seeds 0 1 2 --threads 1
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from pathlib import Path

import torch
import torch.nn.functional as F
import yaml

from deblur.data import synthetic
from deblur.data.imageio import read_rgb
from deblur.evaluation.scoring import evaluate_images
from deblur.singan.checkpoint import load_model
from deblur.singan.config import load_config, parse_overrides
from deblur.singan.generate import deblur_image, draw_prev
from deblur.singan.pyramid import build_pyramid, image_to_tensor
from deblur.singan.train import train

REPO = Path(__file__).resolve().parents[1]
METRICS = ("rec_mse", "psnr", "ssim")


def measure(model_dir: Path, sharp: Path, blurry: Path, max_size: int) -> dict:
    model = load_model(model_dir, "cpu")
    sizes = model.sizes
    real = build_pyramid(image_to_tensor(read_rgb(sharp)), sizes)[-1]
    rec = draw_prev(model.generators, model.noise_amps, sizes + [sizes[-1]], "rec", model.z_opts)
    deblurred = deblur_image(model, read_rgb(blurry), seed=0)
    (row,) = evaluate_images(deblurred, read_rgb(sharp), max_size, resolutions=("model",))
    return dict(rec_mse=F.mse_loss(rec, real).item(), psnr=row["psnr"], ssim=row["ssim"])


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", type=Path, help="synthetic dataset root (default: a temp dir)")
    parser.add_argument("--pairs", type=int, default=3)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    defaults = yaml.safe_load((REPO / "config.yaml").read_text())
    config = load_config({**defaults["singan"], **parse_overrides(args.set)})
    syn = defaults["dataset"]["synthetic"]
    with tempfile.TemporaryDirectory(prefix="deblur-precision-") as tmp:
        root = args.root or Path(tmp) / "synthetic"
        if not (root / synthetic.MANIFEST).is_file():
            synthetic.synthesize(root, syn["sequences"], syn["frames"], syn["size"], syn["seed"])
        pairs = synthetic.plan_pairs(
            root, sequences=syn["sequences"], frames=syn["frames"], size=syn["size"],
            seed=syn["seed"],
        )[:: max(1, syn["sequences"] * syn["frames"] // args.pairs)][: args.pairs]  # fmt: skip
        print(f"# {len(pairs)} pairs, seeds {args.seeds}, singan {config.to_dict()}")
        results = {}  # (precision, pair) -> list of metric dicts
        for pair in pairs:
            for precision in ("fp32", "bf16"):
                for seed in args.seeds:
                    out = Path(tmp) / f"{pair.pair_id}-{precision}-{seed}"
                    train(
                        pair.sharp, out, config, device="cpu", seed=seed, threads=args.threads,
                        progress=False, precision=precision,
                    )  # fmt: skip
                    m = measure(out, pair.sharp, pair.blurry, config.max_size)
                    results.setdefault((precision, pair.pair_id), []).append(m)
                    print(
                        f"{pair.pair_id} {precision} seed {seed}: "
                        + " ".join(f"{k} {v:.5g}" for k, v in m.items()),
                        flush=True,
                    )
    print("# per metric: mean over pairs of (per-pair mean, per-pair seed sd)")
    for metric in METRICS:
        stats = {}
        for precision in ("fp32", "bf16"):
            runs = [[r[metric] for r in v] for (p, _), v in results.items() if p == precision]
            stats[precision] = (
                statistics.fmean(statistics.fmean(r) for r in runs),
                statistics.fmean(statistics.stdev(r) if len(r) > 1 else 0.0 for r in runs),
            )
        (m32, s32), (m16, s16) = stats["fp32"], stats["bf16"]
        shift = (m16 - m32) / s32 if s32 > 0 else float("nan")
        print(
            f"{metric:>8}: fp32 {m32:.5g} (sd {s32:.2g}), bf16 {m16:.5g} (sd {s16:.2g}); "
            f"difference {shift:+.2f} fp32 sd"
        )


if __name__ == "__main__":
    torch.set_flush_denormal(True)
    main()
