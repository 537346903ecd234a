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
- ``singan``: SinGAN G_0 (trained on the sharp image, one G_0 pass) at the default size
  unless ``--singan-set key=value``; not in the default ``--methods`` (hours per image on a CPU).

``--report`` writes report.md (table, per-pair rows, times) and error_ratio_curve.png.

    nice python bench/tv_blind_levin_protocol.py --methods oracle,oracle_before,after,before
    python bench/tv_blind_levin_protocol.py --report

An ablation of the estimate (``--param key=value``, say ``tv_lambda=1e-3``) goes to its own
``--out``; copy the ``oracle*``/``before`` cache files there to report it beside them.

``--seed`` (default 0, the set every earlier output was made on) draws another set: other
crops, kernels and noise from the same generator, for a held-out check of settings chosen on
seed 0. Its outputs go to their own ``--out`` (the pair names do not carry the seed; the
report names it); pass the same ``--seed`` to ``--report``. SinGAN's training seed stays 0.
"""

from __future__ import annotations

import argparse
import dataclasses
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

from deblur import hyperlaplacian, tvblind
from deblur.baselines import parse_params
from deblur.data.kernels import random_shake_kernel
from deblur.evaluation.aligned import aligned_scores

SIDE = 255  # image side (px), as in the held-out set
KERNEL_SIDES = (13, 15, 17, 19, 21, 23, 25, 27)
IMAGES = ("camera", "astronaut", "coffee", "chelsea")  # skimage.data photographs
NOISE = 0.01  # Gaussian sigma on [0, 1]
MAX_SHIFT, CROP = 10, 15  # the authors' scoring
SEED = 0  # the set's default seed, and SinGAN's training and inference seed
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


def estimate_params(args, k_true: np.ndarray) -> tvblind.TVBlindParams:
    """tv_blind's parameters for the estimate: the defaults, ``--param`` overrides, and with
    ``--kernel-size true`` the true kernel's side as the support (the authors' protocol on
    Levin et al.'s set, where the kernel size is given)."""
    params = parse_params("tv_blind", args.param)
    if args.kernel_size == "true":
        side = max(k_true.shape)
        params = dataclasses.replace(params, kernel_size=side + 1 - side % 2)
    return params


def run_method(method: str, pair: dict, args) -> dict[str, np.ndarray | float]:
    """Outputs (gray, named by variant) and the seconds, for one method on one pair."""
    blurry, k_true = pair["blurry"], pair["kernel"]
    if method == "before":
        old = load_before(args.before_commit)
        (out, k), wall, cpu = timed(lambda: old.tv_blind_deconvolution(rgb(blurry)))
        return {"before": out[..., 0], "kernel": k, "wall": wall, "cpu": cpu}
    if method == "after":  # the raw estimate; the final steps are run by --report
        params = estimate_params(args, k_true)
        k, wall, cpu = timed(lambda: tvblind.estimate_kernel(blurry, params))
        return {"kernel": k, "wall_kernel": wall, "cpu_kernel": cpu}
    if method == "oracle_before":  # the before-commit's oracle: its final TV step, true kernel
        old = load_before(args.before_commit)
        p = old.TVBlindParams()
        out = old.tv_deconvolve(blurry, k_true, p.final_lambda, p.final_iterations, p.tv_epsilon)
        return {"oracle_before": np.clip(out, 0.0, 1.0)}
    if method == "singan":
        return run_singan(pair, args)
    raise SystemExit(f"unknown method {method!r}")


def run_singan(pair: dict, args) -> dict[str, np.ndarray | float]:
    """SinGAN G_0 as the paper runs it: a pyramid trained on the pair's *sharp* image (its
    settings from ``--singan-config``, the project's default config unless given; seed, one
    thread and fp32 as the workflow trains), then one G_0 pass on the blurry image. Both
    images are gray replicated to 3 channels; the output's channel mean is scored. Returns the
    output at the model's size (``singan_model``) and resized back to the pair's size
    (``singan``), and the CPU seconds of training and inference (child processes)."""
    from deblur.data.imageio import read_rgb, write_png
    from deblur.resize import resize_array

    work = args.out / "singan" / pair["pair"]  # kept: a killed training resumes here
    work.mkdir(parents=True, exist_ok=True)
    sharp, blurry, model = work / "sharp.png", work / "blurry.png", work / "model"
    out = work / "g0.png"
    write_png(sharp, rgb(pair["sharp"]))
    write_png(blurry, rgb(pair["blurry"]))
    train = [sys.executable, "-m", "deblur", "-q", "train", "--image", str(sharp)]
    train += ["--out", str(model), "--config", str(args.singan_config), "--device", "cpu"]
    train += ["--seed", str(SEED), "--threads", "1", "--precision", "fp32"]
    for kv in args.singan_set:
        train += ["--set", kv]
    deblur = [sys.executable, "-m", "deblur", "-q", "deblur", "--model", str(model)]
    deblur += ["--image", str(blurry), "--out", str(out), "--steps", "1", "--threads", "1"]
    deblur += ["--device", "cpu", "--seed", str(SEED)]
    wall, cpu0 = time.perf_counter(), os.times()
    subprocess.run(train, check=True)
    subprocess.run(deblur, check=True)
    cpu1 = os.times()
    cpu = cpu1.children_user - cpu0.children_user + cpu1.children_system - cpu0.children_system
    img = read_rgb(out).mean(axis=2)
    full = resize_array(img[..., None], pair["blurry"].shape)[..., 0]
    return {"singan": full, "singan_model": img, "wall": time.perf_counter() - wall, "cpu": cpu}


def nonblind_variants() -> dict[str, tuple[tvblind.TVBlindParams, dict]]:
    """The final steps reported: each of tv_blind's non-blind kinds at the defaults, and the
    hyper-Laplacian step with Krishnan & Fergus's own boundary handling (``hl_circular``) and
    with alpha 1/2 (their test script's; ``hl_alpha05``)."""
    out = {nb: (tvblind.TVBlindParams(nonblind=nb), {}) for nb in tvblind.NONBLIND_KINDS}
    out["hl_circular"] = (
        tvblind.TVBlindParams(nonblind="hyper_laplacian"),
        {"boundary": "circular"},
    )
    out["hl_alpha05"] = (tvblind.TVBlindParams(nonblind="hyper_laplacian", hl_alpha=0.5), {})
    return out


def deconvolve(blurry: np.ndarray, k: np.ndarray, params, extra: dict) -> np.ndarray:
    """One channel deconvolved by ``k`` with ``params``' final step (``extra``: further
    hyper-Laplacian settings), clipped to [0, 1]."""
    if extra:
        settings = dataclasses.replace(
            tvblind.hyper_laplacian_settings(params.hl_lambda, params.hl_alpha), **extra
        )
        return np.clip(hyperlaplacian.hyper_laplacian_deconvolve(blurry, k, settings), 0, 1)
    return tvblind.final_deconvolution(blurry[..., None], k, params)[..., 0]


def oracle(pair: dict) -> dict[str, np.ndarray | float]:
    """The true kernel with every reported final step (cheap: recomputed by ``--report``)."""
    res = {}
    for name, (p, extra) in nonblind_variants().items():
        out, wall, cpu = timed(
            lambda p=p, extra=extra: deconvolve(pair["blurry"], pair["kernel"], p, extra)
        )
        res[f"oracle_{name}"] = out
        res[f"wall_{name}"], res[f"cpu_{name}"] = np.float64(wall), np.float64(cpu)
    return res


def finish(blurry: np.ndarray, k_raw: np.ndarray) -> dict[str, np.ndarray | float]:
    """tv_blind's last steps from its raw kernel: every reported final step (the kernel
    thresholded at the default ``kernel_threshold``), and the default one and the authors'
    (``sparse_irls``) with no threshold."""
    defaults = tvblind.TVBlindParams()
    res = {}
    k_thr = tvblind.threshold_kernel(k_raw, defaults.kernel_threshold)
    for name, (p, extra) in nonblind_variants().items():
        out, wall, cpu = timed(lambda p=p, extra=extra: deconvolve(blurry, k_thr, p, extra))
        res[f"after_{name}"] = out
        res[f"wall_{name}"], res[f"cpu_{name}"] = np.float64(wall), np.float64(cpu)
    k_raw_c = tvblind.threshold_kernel(k_raw, 0.0)
    for nb in dict.fromkeys([defaults.nonblind, "sparse_irls"]):  # the published final step
        p = dataclasses.replace(defaults, nonblind=nb)
        res[f"after_{nb}_nothreshold"] = deconvolve(blurry, k_raw_c, p, {})
    return res


def cache_path(out: Path, method: str, pair: str) -> Path:
    return out / "cache" / f"{method}__{pair}.npz"


def score(pred: np.ndarray, sharp: np.ndarray) -> float:
    return aligned_scores(rgb(pred), rgb(sharp), MAX_SHIFT, CROP)["psnr_aligned"]


def model_scores(row: dict, pair: dict, res: dict) -> None:
    """SinGAN at its own (model) resolution: its raw output and the blurry input, both against
    the sharp image resized to the model's size (the workflow's antialiased bicubic), with the
    shift window and border scaled by the same factor."""
    from deblur.resize import resize_array

    small = res["singan_model"]
    factor = small.shape[0] / pair["sharp"].shape[0]
    shift, crop = max(1, round(MAX_SHIFT * factor)), max(1, round(CROP * factor))

    def at_model(img):
        return resize_array(img[..., None], small.shape)[..., 0]

    sharp = at_model(pair["sharp"])
    row["singan@model"] = aligned_scores(rgb(small), rgb(sharp), shift, crop)["psnr_aligned"]
    blurry = at_model(pair["blurry"])
    row["blurry@model"] = aligned_scores(rgb(blurry), rgb(sharp), shift, crop)["psnr_aligned"]


def check_seed(folder: Path, seed: int, mark: bool = False) -> None:
    """Refuse to mix sets: ``folder``'s results must be of the set drawn with ``seed``
    (``set_seed.txt``; a results folder without one predates ``--seed``: seed 0). With
    ``mark``, record ``seed`` in a folder that has none."""
    path = folder / "set_seed.txt"
    if path.exists():
        have = int(path.read_text())
    else:
        have = SEED if (folder / "cache").exists() or (folder / "singan").exists() else None
    if have is not None and have != seed:
        raise SystemExit(
            f"{folder}: results of the set with seed {have}, not {seed}: "
            f"use another --out/--shared or pass --seed {have}"
        )
    if mark and not path.exists():
        folder.mkdir(parents=True, exist_ok=True)
        path.write_text(f"{seed}\n")


def load_cached(out: Path, shared: list[Path], method: str, pair: str) -> dict | None:
    """A cached result from ``out``, else from the first ``--shared`` folder that has it."""
    for folder in [out, *shared]:
        path = cache_path(folder, method, pair)
        if path.exists():
            return dict(np.load(path))
    return None


def report(out: Path, pairs: list[dict], args) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    default = tvblind.TVBlindParams().nonblind
    variants = list(nonblind_variants())
    rows = []
    for pair in pairs:
        pid, sharp = pair["pair"], pair["sharp"]
        row = {"pair": pid, "blurry": score(pair["blurry"], sharp)}
        results = {"oracle": oracle(pair)}
        for method in ("before", "after", "oracle_before", "singan"):
            shared = args.shared if method != "after" else []
            res = load_cached(out, shared, method, pid)
            if res is None:
                continue
            if method == "after":  # tv_blind's final steps on the cached raw kernel estimate
                res.update(finish(pair["blurry"], res["kernel"]))
            if method == "singan":
                model_scores(row, pair, res)
                res = {k: v for k, v in res.items() if k != "singan_model"}
            results[method] = res
        for method, res in results.items():
            for key, val in res.items():
                if val.ndim == 2 and key != "kernel":
                    row[key] = score(val, sharp)
                elif val.ndim == 0:
                    row[f"{method}:{key}"] = float(val)
        rows.append(row)
    # error ratios against the oracle with the same non-blind step
    ratio_of = {"before": "oracle_before"}
    ratio_of |= {f"after_{v}": f"oracle_{v}" for v in variants}
    for nb in dict.fromkeys([default, "sparse_irls"]):
        ratio_of[f"after_{nb}_nothreshold"] = f"oracle_{nb}"
    ratio_of["singan"] = f"oracle_{default}"
    for row in rows:
        for est, orc in ratio_of.items():
            if est in row and orc in row:
                row[f"ratio_{est}"] = 10 ** ((row[orc] - row[est]) / 10)
    cols = ["blurry", "before", *[f"after_{v}" for v in variants]]
    cols += [f"after_{nb}_nothreshold" for nb in dict.fromkeys([default, "sparse_irls"])]
    cols += ["oracle_before", *[f"oracle_{v}" for v in variants]]
    cols += ["singan", "blurry@model", "singan@model"]
    cols = [c for c in cols if any(c in r for r in rows)]
    est_cols = [e for e in ratio_of if any(f"ratio_{e}" in r for r in rows)]
    lines = ["| pair | " + " | ".join(cols) + " |", "|" + "---|" * (len(cols) + 1)]
    for row in rows:
        vals = [f"{row[c]:.2f}" if c in row else "-" for c in cols]
        lines.append(f"| {row['pair']} | " + " | ".join(vals) + " |")
    lines += ["", "Error ratios (aligned squared error over the oracle's with the same step):", ""]
    lines += ["| pair | " + " | ".join(est_cols) + " |", "|" + "---|" * (len(est_cols) + 1)]
    for row in rows:
        vals = [f"{row[f'ratio_{e}']:.2f}" if f"ratio_{e}" in row else "-" for e in est_cols]
        lines.append(f"| {row['pair']} | " + " | ".join(vals) + " |")
    summary = ["", "| method | mean aligned PSNR (dB) | gain over blurry (dB) | ratio <= 3 |"]
    summary.append("|---|---|---|---|")
    for c in cols:
        have = [r for r in rows if c in r]
        base = "blurry@model" if c.endswith("@model") else "blurry"
        gain = np.mean([r[c] - r[base] for r in have])
        key = f"ratio_{c}"
        ok = f"{sum(r[key] <= RATIO_TARGET for r in have if key in r)}/{len(have)}"
        ok = ok if any(key in r for r in have) else "-"
        summary.append(
            f"| {c} ({len(have)} pairs) | {np.mean([r[c] for r in have]):.2f} | "
            f"{gain:+.2f} | {ok} |"
        )
    times = ["", "| timing (s per 255x255 image, mean) | wall | CPU (user+sys) |", "|---|---|---|"]
    timing = [("before (whole method)", "before:wall", "before:cpu")]
    timing.append(("after: kernel estimate", "after:wall_kernel", "after:cpu_kernel"))
    timing += [(f"final step {v}", f"oracle:wall_{v}", f"oracle:cpu_{v}") for v in variants]
    timing.append(("singan (train on sharp + G_0)", "singan:wall", "singan:cpu"))
    for label, wall, cpu in timing:
        have = [r for r in rows if wall in r]
        if have:
            times.append(
                f"| {label} | {np.mean([r[wall] for r in have]):.1f} | "
                f"{np.mean([r[cpu] for r in have]):.1f} |"
            )
    head = [f"Set: seed {args.seed} ({len(rows)} pairs).", ""]
    text = "\n".join(head + lines + summary + times) + "\n"
    (out / "report.md").write_text(text)
    (out / "rows.json").write_text(json.dumps(rows, indent=1))
    print(text)
    fig, ax = plt.subplots(figsize=(5, 3.5))
    grid = np.linspace(1, 6, 501)
    shown = ["before", f"after_{default}", "after_tv", "after_sparse_irls"]
    shown += [f"after_{default}_nothreshold", "singan"]
    for est in shown:
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
    parser.add_argument("--methods", default="oracle_before,after,before")
    parser.add_argument("--before-commit", default="88da919")
    parser.add_argument("--pairs", default="", help="comma-separated pair indices (default all)")
    parser.add_argument(
        "--param", action="append", default=[], help="tv_blind key=value for the kernel estimate"
    )
    parser.add_argument(
        "--kernel-size", choices=("default", "true"), default="default",
        help="kernel support of the estimate: tv_blind's (default) or the true kernel's side",
    )  # fmt: skip
    parser.add_argument(
        "--singan-config", type=Path, default=Path("config.yaml"),
        help="SinGAN settings for the singan method (a pipeline config with a singan: section; "
        "default: the project's default config)",
    )  # fmt: skip
    parser.add_argument(
        "--singan-set", action="append", default=[], metavar="KEY=VALUE",
        help="SinGAN setting on top of --singan-config",
    )  # fmt: skip
    parser.add_argument(
        "--shared", action="append", type=Path, default=[],
        help="--report: read before, oracle_before and singan results missing from --out here",
    )  # fmt: skip
    parser.add_argument(
        "--seed", type=int, default=SEED,
        help="seed of the set's crops, kernels and noise (default 0: the set of the docs)",
    )  # fmt: skip
    parser.add_argument("--report", action="store_true")
    args = parser.parse_args()
    pairs = make_pairs(args.seed)
    if args.pairs:
        pairs = [pairs[int(i)] for i in args.pairs.split(",")]
    for folder in [args.out, *args.shared]:
        check_seed(folder, args.seed, mark=folder == args.out and not args.report)
    if args.report:
        report(args.out, make_pairs(args.seed), args)
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
