"""PSNR and SSIM of one deblurred image against its sharp frame -> one parquet file.

Writes (atomically) one row per resolution:
  model  the sharp frame resized to capped_size(H, W, --max-size) (the finest SinGAN scale; the
         paper's setting); the prediction is resized to that size if it differs
  full   the prediction resized to the sharp frame's original size, against the original
(antialiased bicubic, the same resize the model uses). Each row also holds shift-tolerant
scores (psnr_aligned, ssim_aligned: the best shift within --align-shift px and a cropped border,
deblur/evaluation/aligned.py), the protocol recorded as aligned_convention. Where the true
kernel is known, --oracle adds error_ratio = ||pred - sharp||^2 / ||oracle - sharp||^2 at the
full resolution (Levin et al. 2009; oracle = the non-blind deconvolution with the true kernel)
and error_ratio_aligned, the same ratio with both images aligned by the shift-tolerant window,
and --kernel-est with --kernel-true add kernel_error (L1 after centring,
deblur/evaluation/kernel_metrics.py; an estimate made at SelfDeblur's working size, recorded in
--meta, against the true kernel resampled to it), in every row.
The metric convention (skimage, RGB, float [0,1], data_range=1, Gaussian SSIM sigma 1.5,
population covariance) is recorded in every row, with the provenance given by --meta and
--model.

Example:
  python -m deblur evaluate --pred results/deblurred/singan/P.png --sharp data/P_sharp.png \\
      --max-size 250 --model results/models/P --meta '{"pair_id": "P", "method": "singan"}' \\
      --out results/metrics/singan/P.parquet
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

from deblur.evaluation.settings import AlignSettings

HELP = "PSNR/SSIM of one output against its sharp frame -> parquet"
ALIGN_DEFAULTS = AlignSettings()

log = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--pred", required=True, type=Path, help="deblurred image (any size)")
    parser.add_argument(
        "--sharp", required=True, type=Path, help="ground-truth sharp frame at its original size"
    )
    parser.add_argument(
        "--max-size",
        required=True,
        type=int,
        help="longer side of the model size (SinGAN max_size, 250 in the paper); defines the "
        "'model' resolution",
    )
    parser.add_argument("--out", required=True, type=Path, help="output parquet file")
    parser.add_argument(
        "--model",
        type=Path,
        metavar="DIR",
        help="trained model directory; config_hash, seed, device, torch_version and "
        "train_seconds are read from DIR/model.json",
    )
    parser.add_argument(
        "--meta",
        action="append",
        default=[],
        metavar="JSON",
        help="provenance as a JSON object, inline or a path to a .json file (pair_id, sequence, "
        "frame, method, kind, reference_*, deblur_*, seed, blurry_path, ...); unknown keys "
        "become extra columns; repeatable, later keys win",
    )
    parser.add_argument(
        "--oracle",
        type=Path,
        metavar="PNG",
        help="the non-blind oracle's output for this pair: adds error_ratio (and, with aligned "
        "scores on, error_ratio_aligned)",
    )
    parser.add_argument(
        "--kernel-est",
        type=Path,
        metavar="PNG",
        help="the method's estimated kernel: recorded as kernel_path (examples.png shows it)",
    )
    parser.add_argument(
        "--align-shift",
        type=int,
        default=ALIGN_DEFAULTS.max_shift,
        metavar="PX",
        help="shift-tolerant scores (psnr_aligned, ssim_aligned): largest shift searched per "
        "axis in full-resolution pixels, scaled to each resolution; 0 = off (default: "
        "%(default)s)",
    )
    parser.add_argument(
        "--align-crop",
        type=int,
        default=ALIGN_DEFAULTS.crop,
        metavar="PX",
        help="border cropped before the aligned scores, in full-resolution pixels, on top of "
        "the shift (default: %(default)s)",
    )
    parser.add_argument(
        "--kernel-true",
        type=Path,
        metavar="PNG",
        help="the pair's true kernel: recorded as kernel_true_path; with --kernel-est adds "
        "kernel_error",
    )


def read_meta(values: list[str]) -> dict:
    """Merge ``--meta`` values (inline JSON objects or paths to JSON files), later keys win."""
    from deblur.errors import DeblurError
    from deblur.evaluation.tables import normalize_meta

    merged: dict = {}
    for value in values:
        text, where = value, "--meta"
        if not value.lstrip().startswith("{"):
            path = Path(value)
            if not path.is_file():
                raise DeblurError(
                    f"--meta {value!r} is neither a JSON object nor an existing file; pass "
                    """e.g. '{"method": "singan"}'"""
                )
            text, where = path.read_text(), str(path)
        try:
            meta = json.loads(text)
        except ValueError as exc:
            raise DeblurError(f"invalid JSON in {where}: {exc}; fix the quoting") from None
        if not isinstance(meta, dict):
            raise DeblurError(f"{where} must be a JSON object, got {type(meta).__name__}")
        merged.update(normalize_meta(meta, where))
    return merged


def run(args: argparse.Namespace) -> int:
    import skimage

    from deblur import __version__
    from deblur.atomic import check_output_file
    from deblur.data.imageio import read_rgb
    from deblur.errors import DeblurError
    from deblur.evaluation.metrics import METRIC_CONVENTION, evaluate_images, target_size
    from deblur.evaluation.tables import (
        MODEL_FILLED,
        load_model_info,
        metrics_frame,
        model_columns,
        write_parquet,
    )

    check_output_file(args.out)
    meta = read_meta(args.meta)
    base = dict(meta)
    pred, sharp = read_rgb(args.pred), read_rgb(args.sharp)
    if args.max_size < 1:
        raise DeblurError(f"--max-size must be a positive integer, got {args.max_size}")
    if args.model is not None:
        info = load_model_info(args.model)
        for key, value in model_columns(info).items():
            if key in meta and meta[key] != value:
                log.warning(
                    "meta %s=%r differs from model.json (%r); using model.json",
                    key,
                    meta[key],
                    value,
                )
            base[key] = value
        finest = tuple(info["sizes"][-1])
        model_size = target_size(sharp.shape[:2], "model", args.max_size)
        if finest != model_size:
            log.warning(
                "%s/model.json finest scale is %dx%d but the model resolution of %s is %dx%d "
                "(max_size %d); metrics use the latter",
                args.model,
                finest[1],
                finest[0],
                args.sharp,
                model_size[1],
                model_size[0],
                args.max_size,
            )
    try:
        align = AlignSettings(max_shift=args.align_shift, crop=args.align_crop)
        scores = evaluate_images(pred, sharp, args.max_size, align=align)
    except ValueError as exc:
        raise DeblurError(f"cannot score {args.pred} against {args.sharp}: {exc}") from None
    common = dict(
        eval_max_size=args.max_size,  # the longer side at model resolution
        metric_convention=METRIC_CONVENTION,
        package_version=__version__,
        skimage_version=skimage.__version__,
        pred_path=str(args.pred),
        sharp_path=str(args.sharp),
    )
    base.update(kernel_scores(args, pred, sharp, scores, align, base))
    for key in MODEL_FILLED:
        base.setdefault(key, None)
    df = metrics_frame([base | common | s for s in scores])
    write_parquet(df, args.out)
    for s in scores:
        log.info(
            "%s %s: PSNR %.3f dB, SSIM %.4f at %dx%d",
            base.get("method") or args.pred,
            s["resolution"],
            s["psnr"],
            s["ssim"],
            s["width"],
            s["height"],
        )
    log.info("wrote %s", args.out)
    return 0


def kernel_scores(
    args: argparse.Namespace, pred, sharp, rows: list[dict], align: AlignSettings, meta: dict
) -> dict[str, float]:
    """``error_ratio`` and, with aligned scores on, ``error_ratio_aligned`` (with --oracle), the
    kernels' paths and ``kernel_error`` (with both kernel options; for an estimate at a working
    size recorded in ``meta``, ``kernel_scale`` too). ``rows`` are the prediction's scores
    (:func:`evaluate_images`)."""
    from deblur.data.imageio import read_rgb
    from deblur.errors import DeblurError
    from deblur.evaluation.kernel_metrics import (
        aligned_error_ratio,
        error_ratio,
        kernel_error,
        resample_kernel,
    )
    from deblur.evaluation.metrics import evaluate_images
    from deblur.kernelio import read_kernel
    from deblur.resize import resize_array

    scores: dict[str, object] = {}
    full = sharp.shape[:2]
    if args.oracle is not None:
        oracle = read_rgb(args.oracle)
        ratio = error_ratio(resize_array(pred, full), resize_array(oracle, full), sharp)
        scores["error_ratio"] = ratio
        pred_full = [r for r in rows if r["resolution"] == "full"]
        if align.enabled and pred_full and "psnr_aligned" in pred_full[0]:
            # the oracle aligned by the same window, so both are scored on one interior
            try:
                (oracle_full,) = evaluate_images(oracle, sharp, args.max_size, ("full",), align)
            except ValueError as exc:
                msg = f"cannot score {args.oracle} against {args.sharp}: {exc}"
                raise DeblurError(msg) from None
            scores["error_ratio_aligned"] = aligned_error_ratio(
                pred_full[0]["psnr_aligned"], oracle_full["psnr_aligned"]
            )
    if args.kernel_est is not None:
        est = read_kernel(args.kernel_est)  # a clear error now if it is not a kernel
        scores["kernel_path"] = str(args.kernel_est)
    if args.kernel_true is not None:
        true = read_kernel(args.kernel_true)
        scores["kernel_true_path"] = str(args.kernel_true)
        if args.kernel_est is not None:
            # an estimate made on a downscaled image (SelfDeblur records its working width)
            # is compared with the true kernel as it acts at that scale
            scale = float(meta.get("selfdeblur_work_width") or full[1]) / full[1]
            if scale != 1.0:
                true = resample_kernel(true, scale)
                scores["kernel_scale"] = scale
            scores["kernel_error"] = kernel_error(est, true)
    return scores
