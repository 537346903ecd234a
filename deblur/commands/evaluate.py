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
            where = str(path)
            try:
                text = path.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as exc:
                raise DeblurError(
                    f"cannot read --meta file {path}: {exc}; pass a UTF-8 JSON file"
                ) from None
        try:
            meta = json.loads(text)
        except ValueError as exc:
            raise DeblurError(f"invalid JSON in {where}: {exc}; fix the quoting") from None
        if not isinstance(meta, dict):
            raise DeblurError(f"{where} must be a JSON object, got {type(meta).__name__}")
        merged.update(normalize_meta(meta, where))
    return merged


def run(args: argparse.Namespace) -> int:
    from deblur.atomic import check_output_file
    from deblur.data.imageio import read_rgb
    from deblur.errors import DeblurError
    from deblur.evaluation.metrics import target_size
    from deblur.evaluation.scoring import metrics_rows
    from deblur.evaluation.tables import (
        MODEL_FILLED,
        metrics_frame,
        model_columns,
        write_parquet,
    )
    from deblur.modelfile import read_model_json

    check_output_file(args.out)
    meta = read_meta(args.meta)
    base = dict(meta)
    sharp = read_rgb(args.sharp)
    if args.max_size < 1:
        raise DeblurError(f"--max-size must be a positive integer, got {args.max_size}")
    if args.model is not None:
        info = read_model_json(args.model)
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
            # one route for the model resolution: --max-size, checked against the pyramid
            raise DeblurError(
                f"{args.model}/model.json: finest scale {finest[1]}x{finest[0]} is not the "
                f"model resolution {model_size[1]}x{model_size[0]} of {args.sharp} at "
                f"--max-size {args.max_size}; pass the max_size the model was trained with"
            )
    try:
        rows = metrics_rows(
            args.pred,
            sharp,  # read once, above
            max_size=args.max_size,
            align=AlignSettings(max_shift=args.align_shift, crop=args.align_crop),
            oracle=args.oracle,
            kernel_est=args.kernel_est,
            kernel_true=args.kernel_true,
            work_width=meta.get("selfdeblur_work_width"),
            meta=base,
            sharp_path=str(args.sharp),
        )
    except ValueError as exc:
        raise DeblurError(str(exc)) from None
    for row in rows:
        for key in MODEL_FILLED:
            row.setdefault(key, None)
    write_parquet(metrics_frame(rows), args.out)
    for s in rows:
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
