"""tv_blind on a uniform-blur set built like Levin et al.'s (CVPR 2009), from the project's data.

The set: 8 grayscale 255x255 crops of scikit-image's embedded photographs (4 images, 2 crops
each), each blurred by its own camera-shake kernel from the project's generator
(:func:`deblur.data.kernels.random_shake_kernel`, seeded) of side 13, 15, ..., 27 px (valid
convolution of a larger crop, so no boundary is invented), plus 1% Gaussian noise (sigma
0.01 on [0, 1]). Scores as the held-out benchmark's authors score: the best shift within
+-10 px, a 15-px border cropped, PSNR (:func:`deblur.evaluation.aligned.aligned_scores`); the
error ratio is ||x_est - x||^2 / ||x_oracle - x||^2 at the best shift of each, the oracle
being the same non-blind step run with the true kernel; the error-ratio curve is the fraction
of pairs with a ratio at most r.

Methods (``--methods``, each result cached under ``--out``/cache, so runs resume and can be
split over processes):

- ``before``: ``deblur/tvblind.py`` as of ``--before-commit`` (loaded from git), its defaults;
- ``after``: the current :func:`deblur.tvblind.estimate_kernel` at its defaults (cached: the
  raw kernel); ``--report`` finishes it as tv_blind does (threshold, then the non-blind step),
  with both non-blind steps (``tv`` and ``hyper_laplacian``, the default one being tv_blind's
  output) and with the default step on the unthresholded kernel;
- ``oracle``: the true kernel with both non-blind steps (current defaults);
- ``singan``: SinGAN G_0 (trained on the blurry image, one G_0 pass) at the default size
  unless ``--singan-set key=value``; not in the default ``--methods`` (hours per image on a CPU).

``--report`` writes report.md (table, per-pair rows, times) and error_ratio_curve.png.

    nice python bench/tv_blind_levin_protocol.py --methods oracle,oracle_before,after,before
    python bench/tv_blind_levin_protocol.py --report

An ablation of the estimate (``--param key=value``, say ``tv_lambda=1e-3``) goes to its own
``--out``; copy the ``oracle*``/``before`` cache files there to report it beside them.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from scipy import signal

from deblur import tvblind
from deblur.baselines import parse_params
from deblur.data.kernels import random_shake_kernel
from deblur.evaluation.aligned import aligned_scores

SIDE = 255  # image side (px), as in the held-out set
KERNEL_SIDES = (13, 15, 17, 19, 21, 23, 25, 27)
IMAGES = ("camera", "astronaut", "coffee", "chelsea")  # skimage.data photographs
NOISE = 0.01  # Gaussian sigma on [0, 1]
MAX_SHIFT, CROP = 10, 15  # the authors' scoring
SEED = 0
RATIO_TARGET = 3.0  # Levin et al. call a ratio at most 3 a success
NONBLIND = ("tv", "hyper_laplacian")


def make_pairs(seed: int = SEED) -> list[dict]:
    """The 8 (sharp, blurry, kernel) triples of the set (deterministic for ``seed``)."""
    from skimage import color, data

    rng = np.random.default_rng(seed)
    pairs = []
    for i, ks in enumerate(KERNEL_SIDES):
        name = IMAGES[i % len(IMAGES)]
        img = getattr(data, name)()
        gray = color.rgb2gray(img) if img.ndim == 3 else img / 255.0
        big = SIDE + ks - 1
        top = int(rng.integers(0, gray.shape[0] - big + 1))
        left = int(rng.integers(0, gray.shape[1] - big + 1))
        crop = gray[top : top + big, left : left + big].astype(np.float64)
        k = random_shake_kernel(rng, ks)
        blurry = signal.fftconvolve(crop, k, mode="valid")
        blurry = np.clip(blurry + rng.normal(0.0, NOISE, blurry.shape), 0.0, 1.0)
        h = ks // 2
        pairs.append(
            dict(
                pair=f"{i}_{name}_k{ks}",
                sharp=crop[h : h + SIDE, h : h + SIDE],
                blurry=blurry,
                kernel=k,
            )
        )
    return pairs


def load_before(commit: str):
    """``deblur/tvblind.py`` as of ``commit``, imported as a standalone module."""
    root = Path(__file__).resolve().parent.parent
    text = subprocess.run(
        ["git", "-C", str(root), "show", f"{commit}:deblur/tvblind.py"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    path = Path(tempfile.mkdtemp()) / "tvblind_before.py"
    path.write_text(text)
    spec = importlib.util.spec_from_file_location("tvblind_before", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def rgb(x: np.ndarray) -> np.ndarray:
    return np.repeat(np.clip(x, 0.0, 1.0)[..., None], 3, axis=2).astype(np.float32)


def timed(fn):
    wall, cpu = time.perf_counter(), time.process_time()
    out = fn()
    return out, time.perf_counter() - wall, time.process_time() - cpu


def run_method(method: str, pair: dict, args) -> dict[str, np.ndarray | float]:
    """Outputs (gray, named by variant) and the seconds, for one method on one pair."""
    blurry, k_true = pair["blurry"], pair["kernel"]
    params = parse_params("tv_blind", args.param)
    if method == "before":
        old = load_before(args.before_commit)
        (out, k), wall, cpu = timed(lambda: old.tv_blind_deconvolution(rgb(blurry)))
        return {"before": out[..., 0], "kernel": k, "wall": wall, "cpu": cpu}
    if method == "after":  # the raw estimate; the final steps are run by --report
        k, wall, cpu = timed(lambda: tvblind.estimate_kernel(blurry, params))
        return {"kernel": k, "wall_kernel": wall, "cpu_kernel": cpu}
    if method == "oracle":
        res = {}
        for nb in NONBLIND:
            p = tvblind.TVBlindParams(nonblind=nb)
            out = tvblind.final_deconvolution(blurry[..., None], k_true, p)
            res[f"oracle_{nb}"] = out[..., 0]
        return res
    if method == "oracle_before":  # the before-commit's oracle: its final TV step, true kernel
        old = load_before(args.before_commit)
        p = old.TVBlindParams()
        out = old.tv_deconvolve(blurry, k_true, p.final_lambda, p.final_iterations, p.tv_epsilon)
        return {"oracle_before": np.clip(out, 0.0, 1.0)}
    if method == "singan":
        return run_singan(pair, args)
    raise SystemExit(f"unknown method {method!r}")


def run_singan(pair: dict, args) -> dict[str, np.ndarray | float]:
    """SinGAN G_0 via the CLI: train on the blurry image (default settings unless
    ``--singan-set``), then one G_0 pass (the paper's setting); the output (the finest scale's
    size) resized back to the pair's size."""
    from deblur.data.imageio import read_rgb, write_png

    with tempfile.TemporaryDirectory() as tmp:
        src, model, out = Path(tmp) / "blurry.png", Path(tmp) / "model", Path(tmp) / "out.png"
        write_png(src, rgb(pair["blurry"]))
        train = [sys.executable, "-m", "deblur", "-q", "train", "--image", str(src)]
        train += ["--out", str(model), "--device", "cpu", "--seed", str(SEED)]
        for kv in args.singan_set:
            train += ["--set", kv]
        deblur = [sys.executable, "-m", "deblur", "-q", "deblur", "--model", str(model)]
        deblur += ["--image", str(src), "--out", str(out), "--steps", "1"]
        wall, cpu0 = time.perf_counter(), os.times()
        subprocess.run(train, check=True)
        subprocess.run(deblur, check=True)
        cpu1 = os.times()
        cpu = cpu1.children_user - cpu0.children_user + cpu1.children_system - cpu0.children_system
        img = read_rgb(out).mean(axis=2)
        if img.shape != pair["blurry"].shape:
            img = tvblind.resize(img, pair["blurry"].shape)
        return {"singan": img, "wall": time.perf_counter() - wall, "cpu": cpu}


def finish(blurry: np.ndarray, k_raw: np.ndarray) -> dict[str, np.ndarray | float]:
    """tv_blind's last steps from its raw kernel: both non-blind steps at the defaults (the
    kernel thresholded at ``kernel_threshold``), and the default one with no threshold."""
    defaults = tvblind.TVBlindParams()
    res = {}
    for nb, threshold in [(nb, defaults.kernel_threshold) for nb in NONBLIND] + [
        (defaults.nonblind, 0.0)
    ]:
        p = tvblind.TVBlindParams(nonblind=nb)
        k = tvblind.threshold_kernel(k_raw, threshold)
        out, wall, cpu = timed(
            lambda p=p, k=k: tvblind.final_deconvolution(blurry[..., None], k, p)
        )
        name = nb if threshold == defaults.kernel_threshold else f"{nb}_nothreshold"
        res[f"after_{name}"] = out[..., 0]
        res[f"wall_{name}"], res[f"cpu_{name}"] = np.float64(wall), np.float64(cpu)
    return res


def cache_path(out: Path, method: str, pair: str) -> Path:
    return out / "cache" / f"{method}__{pair}.npz"


def score(pred: np.ndarray, sharp: np.ndarray) -> float:
    return aligned_scores(rgb(pred), rgb(sharp), MAX_SHIFT, CROP)["psnr_aligned"]


def report(out: Path, pairs: list[dict], args) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cached = {}
    for pair in pairs:
        for method in ("before", "after", "oracle", "oracle_before", "singan"):
            path = cache_path(out, method, pair["pair"])
            if path.exists():
                cached[(method, pair["pair"])] = dict(np.load(path))
    for pair in pairs:  # tv_blind's final steps on the cached raw kernel estimates
        res = cached.get(("after", pair["pair"]))
        if res is not None:
            res.update(finish(pair["blurry"], res["kernel"]))
    rows = []
    for pair in pairs:
        pid, sharp = pair["pair"], pair["sharp"]
        row = {"pair": pid, "blurry": score(pair["blurry"], sharp)}
        for (method, p), res in cached.items():
            if p != pid:
                continue
            for key, val in res.items():
                if val.ndim == 2 and key != "kernel":
                    row[key] = score(val, sharp)
                elif val.ndim == 0:
                    row[f"{method}:{key}"] = float(val)
        rows.append(row)
    # error ratios against the oracle with the same non-blind step
    ratio_of = {
        "before": "oracle_before",
        "after_tv": "oracle_tv",
        "after_hyper_laplacian": "oracle_hyper_laplacian",
        "after_hyper_laplacian_nothreshold": "oracle_hyper_laplacian",
        "singan": "oracle_hyper_laplacian",
    }
    for row in rows:
        for est, orc in ratio_of.items():
            if est in row and orc in row:
                row[f"ratio_{est}"] = 10 ** ((row[orc] - row[est]) / 10)
    cols = ["blurry", "before", "after_tv", "after_hyper_laplacian"]
    cols += ["after_hyper_laplacian_nothreshold", "oracle_before"]
    cols += ["oracle_tv", "oracle_hyper_laplacian", "singan"]
    cols = [c for c in cols if any(c in r for r in rows)]
    lines = ["| pair | " + " | ".join(cols) + " | ratios (" + ", ".join(ratio_of) + ") |"]
    lines.append("|" + "---|" * (len(cols) + 2))
    for row in rows:
        vals = [f"{row[c]:.2f}" if c in row else "-" for c in cols]
        ratios = [f"{row[f'ratio_{e}']:.2f}" if f"ratio_{e}" in row else "-" for e in ratio_of]
        lines.append(f"| {row['pair']} | " + " | ".join(vals) + " | " + ", ".join(ratios) + " |")
    summary = ["", "| method | mean aligned PSNR (dB) | gain over blurry (dB) | ratio <= 3 |"]
    summary.append("|---|---|---|---|")
    for c in cols:
        have = [r for r in rows if c in r]
        gain = np.mean([r[c] - r["blurry"] for r in have])
        key = f"ratio_{c}"
        ok = f"{sum(r[key] <= RATIO_TARGET for r in have if key in r)}/{len(have)}"
        ok = ok if any(key in r for r in have) else "-"
        summary.append(
            f"| {c} ({len(have)} pairs) | {np.mean([r[c] for r in have]):.2f} | "
            f"{gain:+.2f} | {ok} |"
        )
    times = ["", "| timing (s per 255x255 image, mean) | wall | CPU (user+sys) |", "|---|---|---|"]
    for label, wall, cpu in (
        ("before (whole method)", "before:wall", "before:cpu"),
        ("after: kernel estimate", "after:wall_kernel", "after:cpu_kernel"),
        ("after: tv final step", "after:wall_tv", "after:cpu_tv"),
        (
            "after: hyper_laplacian final step",
            "after:wall_hyper_laplacian",
            "after:cpu_hyper_laplacian",
        ),
        ("singan", "singan:wall", "singan:cpu"),
    ):
        have = [r for r in rows if wall in r]
        if have:
            times.append(
                f"| {label} | {np.mean([r[wall] for r in have]):.1f} | "
                f"{np.mean([r[cpu] for r in have]):.1f} |"
            )
    text = "\n".join(lines + summary + times) + "\n"
    (out / "report.md").write_text(text)
    (out / "rows.json").write_text(json.dumps(rows, indent=1))
    print(text)
    fig, ax = plt.subplots(figsize=(5, 3.5))
    grid = np.linspace(1, 6, 501)
    for est in ratio_of:
        vals = [r[f"ratio_{est}"] for r in rows if f"ratio_{est}" in r]
        if vals:
            ax.plot(grid, [np.mean(np.asarray(vals) <= g) for g in grid], label=est)
    ax.axvline(RATIO_TARGET, color="gray", lw=0.8, ls="--")
    ax.set_xlabel("error ratio")
    ax.set_ylabel("fraction of pairs")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out / "error_ratio_curve.png", dpi=120)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("results/bench/tv_blind_levin"))
    parser.add_argument("--methods", default="oracle,oracle_before,after,before")
    parser.add_argument("--before-commit", default="88da919")
    parser.add_argument("--pairs", default="", help="comma-separated pair indices (default all)")
    parser.add_argument(
        "--param", action="append", default=[], help="tv_blind key=value for the kernel estimate"
    )
    parser.add_argument(
        "--singan-set", action="append", default=[], metavar="KEY=VALUE",
        help="SinGAN setting for the singan method (default: none, the default size: about 4 h "
        "per image on a 2-core CPU)",
    )  # fmt: skip
    parser.add_argument("--report", action="store_true")
    args = parser.parse_args()
    pairs = make_pairs()
    if args.pairs:
        pairs = [pairs[int(i)] for i in args.pairs.split(",")]
    if args.report:
        report(args.out, make_pairs(), args)
        return
    for method in args.methods.split(","):
        for pair in pairs:
            path = cache_path(args.out, method, pair["pair"])
            if path.exists():
                continue
            res = run_method(method, pair, args)
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(".tmp.npz")
            np.savez(tmp, **res)
            tmp.replace(path)
            print(
                method, pair["pair"], {k: v for k, v in res.items() if np.ndim(v) == 0}, flush=True
            )


if __name__ == "__main__":
    main()
