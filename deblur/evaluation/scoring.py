"""One output's metrics rows, from Python: the scores at each resolution plus the kernel scores.

:func:`metrics_rows` is what ``python -m deblur evaluate`` computes, callable without the
command line: a prediction and its sharp frame (arrays or image files), the model size and
explicit keyword settings in, one row dict per resolution out, ready for
:func:`deblur.evaluation.tables.metrics_frame`. :func:`evaluate_images` gives the bare scores
(plain and shift-tolerant PSNR/SSIM) the rows are built from.

It sits above :mod:`~deblur.evaluation.metrics` (the pixel scores and the resolutions),
:mod:`~deblur.evaluation.aligned` (the shift-tolerant scores) and
:mod:`~deblur.evaluation.kernel_metrics` (kernel error, error ratio), each of which imports
none of the others above it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence

import numpy as np

from deblur.evaluation.aligned import aligned_scores
from deblur.evaluation.metrics import (
    METRIC_CONVENTION,
    SSIM_MIN_SIDE,
    check_image,
    psnr,
    ssim,
    target_size,
)
from deblur.evaluation.settings import RESOLUTIONS, AlignSettings
from deblur.resize import resize_array, same_aspect

ImageLike = np.ndarray | str | os.PathLike
NO_ALIGN = AlignSettings(max_shift=0)


def evaluate_images(
    pred: np.ndarray,
    sharp: np.ndarray,
    max_size: int,
    resolutions: Sequence[str] = RESOLUTIONS,
    align: AlignSettings | None = None,
) -> list[dict]:
    """Score ``pred`` against the original ``sharp`` frame at each resolution.

    Parameters
    ----------
    pred : ndarray
        (h, w, 3) float prediction in [0, 1], of any size (resized as described in
        :mod:`deblur.evaluation.metrics`).
    sharp : ndarray
        (H, W, 3) float sharp frame in [0, 1] at its original size.
    max_size : int
        Longer side of the model size (``capped_size(H, W, max_size)``).
    resolutions : sequence of str
        Subset of :data:`~deblur.evaluation.settings.RESOLUTIONS`.
    align : AlignSettings, optional
        If given and enabled, each dict also holds the shift-tolerant scores of
        :func:`deblur.evaluation.aligned.aligned_scores` (its window scaled to the resolution)
        and ``aligned_convention``.

    Returns
    -------
    list of dict
        One dict per resolution with ``resolution``, ``height``, ``width``, ``psnr``, ``ssim``.

    Raises
    ------
    ValueError
        On an invalid image, images of different aspect ratios or a size below SSIM's window.
    """
    check_image(pred, "pred")
    check_image(sharp, "sharp")
    (ph, pw), (sh, sw) = pred.shape[:2], sharp.shape[:2]
    # a resize rounds each side by at most a pixel; a larger mismatch means the wrong image
    if not same_aspect((ph, pw), (sh, sw)):
        raise ValueError(
            f"pred is {pw}x{ph} but sharp is {sw}x{sh}: different aspect ratios, so pred is not "
            "a resized version of this frame"
        )
    rows = []
    for resolution in resolutions:
        size = target_size(sharp.shape[:2], resolution, max_size)
        if min(size) < SSIM_MIN_SIDE:
            raise ValueError(
                f"the {resolution} size {size[1]}x{size[0]} is below SSIM's "
                f"{SSIM_MIN_SIDE}x{SSIM_MIN_SIDE} window; use a larger max_size"
            )
        p, s = resize_array(pred, size), resize_array(sharp, size)
        row = dict(resolution=resolution, height=size[0], width=size[1])
        row |= dict(psnr=psnr(p, s), ssim=ssim(p, s))
        if align is not None and align.enabled:
            shift, crop = align.at_scale(max(size) / max(sh, sw), min(size), SSIM_MIN_SIDE)
            if shift:
                row |= aligned_scores(p, s, shift, crop)
                row["aligned_convention"] = align.convention(shift, crop)
            else:  # too small to leave an SSIM window after any shift: no aligned scores
                row |= dict.fromkeys(("psnr_aligned", "ssim_aligned"), float("nan"))
                row |= dict(align_dy=float("nan"), align_dx=float("nan"))
                row["aligned_convention"] = "aligned: not scored, frame too small to align"
        rows.append(row)
    return rows


def kernel_scores(
    pred: np.ndarray,
    sharp: np.ndarray,
    rows: Sequence[Mapping[str, object]],
    *,
    max_size: int,
    align: AlignSettings = NO_ALIGN,
    oracle: np.ndarray | None = None,
    kernel_est: np.ndarray | None = None,
    kernel_true: np.ndarray | None = None,
    work_width: float | None = None,
) -> dict[str, float]:
    """The scores that need the oracle or the kernels, shared by every row of one output.

    Parameters
    ----------
    pred, sharp : ndarray
        The prediction (any size) and the sharp frame at its original size, float in [0, 1].
    rows : sequence of dict
        The prediction's scores (:func:`evaluate_images`), for the aligned error ratio.
    max_size : int
        Longer side of the model size.
    align : AlignSettings
        The shift-tolerant window the rows were scored with.
    oracle : ndarray, optional
        The non-blind oracle's output: adds ``error_ratio`` and, with aligned scores in the
        full-resolution row, ``error_ratio_aligned``.
    kernel_est, kernel_true : ndarray, optional
        With both, adds ``kernel_error``.
    work_width : float, optional
        The width the estimate was made at (SelfDeblur's working size); the true kernel is
        resampled to that scale first and ``kernel_scale`` recorded. Default: full width.

    Raises
    ------
    ValueError
        When the oracle cannot be scored against ``sharp``.
    """
    from deblur.evaluation.kernel_metrics import (
        aligned_error_ratio,
        error_ratio,
        kernel_error,
        resample_kernel,
    )

    scores: dict[str, float] = {}
    full = sharp.shape[:2]
    if oracle is not None:
        scores["error_ratio"] = error_ratio(
            resize_array(pred, full), resize_array(oracle, full), sharp
        )
        pred_full = [r for r in rows if r["resolution"] == "full"]
        if align.enabled and pred_full and "psnr_aligned" in pred_full[0]:
            # the oracle aligned by the same window, so both are scored on one interior
            (oracle_full,) = evaluate_images(oracle, sharp, max_size, ("full",), align)
            scores["error_ratio_aligned"] = aligned_error_ratio(
                pred_full[0]["psnr_aligned"], oracle_full["psnr_aligned"]
            )
    if kernel_est is not None and kernel_true is not None:
        # an estimate made on a downscaled image is compared with the true kernel as it acts
        # at that scale
        scale = float(work_width or full[1]) / full[1]
        if scale != 1.0:
            kernel_true = resample_kernel(kernel_true, scale)
            scores["kernel_scale"] = scale
        scores["kernel_error"] = kernel_error(kernel_est, kernel_true)
    return scores


def metrics_rows(
    pred: ImageLike,
    sharp: ImageLike,
    *,
    max_size: int,
    align: AlignSettings = NO_ALIGN,
    oracle: ImageLike | None = None,
    kernel_est: ImageLike | None = None,
    kernel_true: ImageLike | None = None,
    work_width: float | None = None,
    meta: Mapping[str, object] | None = None,
    resolutions: Sequence[str] = RESOLUTIONS,
    sharp_path: str | None = None,
) -> list[dict]:
    """One metrics row per resolution for one output, as ``python -m deblur evaluate`` writes.

    Parameters
    ----------
    pred, sharp : ndarray or path
        The prediction (any size) and the sharp frame at its original size: (H, W, 3) float
        arrays in [0, 1], or image files (read with :func:`deblur.data.imageio.read_rgb`, their
        paths recorded as ``pred_path`` / ``sharp_path``).
    max_size : int
        Longer side of the model size (the finest SinGAN scale), keyword only.
    align : AlignSettings
        The shift-tolerant window; default off (the command's default is
        ``AlignSettings()``).
    oracle : ndarray or path, optional
        The non-blind oracle's output: adds ``error_ratio`` (and ``error_ratio_aligned``).
    kernel_est, kernel_true : ndarray or path, optional
        The estimated and true kernels (paths recorded as ``kernel_path`` /
        ``kernel_true_path``); with both, ``kernel_error``.
    work_width : float, optional
        Width the kernel was estimated at (default: the sharp frame's width).
    meta : mapping, optional
        Provenance columns (pair, method, model settings, ...), copied into every row; the
        computed columns win over it.
    resolutions : sequence of str
        Subset of :data:`~deblur.evaluation.settings.RESOLUTIONS`.
    sharp_path : str, optional
        The file an array ``sharp`` was read from (a caller that read it already): recorded as
        ``sharp_path`` and named in errors, as when ``sharp`` is that path.

    Returns
    -------
    list of dict
        One row per resolution: ``meta``, the kernel scores, ``eval_max_size``,
        ``metric_convention``, versions, paths, and the scores of :func:`evaluate_images`.

    Raises
    ------
    ValueError
        On an invalid image or kernel, or a size that cannot be scored; the message names the
        file (or ``pred`` / ``sharp`` / ``oracle`` for arrays).

    Examples
    --------
    >>> import numpy as np
    >>> sharp = np.random.default_rng(0).random((36, 64, 3))
    >>> rows = metrics_rows(sharp * 0.9, sharp, max_size=32, meta={"method": "dim"})
    >>> [(r["resolution"], r["width"], r["method"]) for r in rows]
    [('model', 32, 'dim'), ('full', 64, 'dim')]
    """
    import skimage

    from deblur import __version__

    if not isinstance(max_size, int) or isinstance(max_size, bool) or max_size < 1:
        raise ValueError(f"max_size must be a positive integer, got {max_size!r}")
    pred_img, pred_path = _image(pred)
    sharp_img, read_from = _image(sharp)
    sharp_path = read_from or sharp_path
    sharp_name = sharp_path or "sharp"
    try:
        scores = evaluate_images(pred_img, sharp_img, max_size, resolutions, align)
    except ValueError as exc:
        raise ValueError(
            f"cannot score {pred_path or 'pred'} against {sharp_name}: {exc}"
        ) from None
    base = dict(meta or {})
    est, est_path = _kernel(kernel_est, "kernel_est")
    true, true_path = _kernel(kernel_true, "kernel_true")
    if est_path is not None:
        base["kernel_path"] = est_path
    if true_path is not None:
        base["kernel_true_path"] = true_path
    oracle_img, oracle_path = (None, None) if oracle is None else _image(oracle)
    try:
        base |= kernel_scores(
            pred_img,
            sharp_img,
            scores,
            max_size=max_size,
            align=align,
            oracle=oracle_img,
            kernel_est=est,
            kernel_true=true,
            work_width=work_width,
        )
    except ValueError as exc:  # the kernels are checked above: the oracle failed
        raise ValueError(
            f"cannot score {oracle_path or 'oracle'} against {sharp_name}: {exc}"
        ) from None
    common = dict(
        eval_max_size=max_size,  # the longer side at model resolution
        metric_convention=METRIC_CONVENTION,
        package_version=__version__,
        skimage_version=skimage.__version__,
        pred_path=pred_path,
        sharp_path=sharp_path,
    )
    return [base | common | s for s in scores]


def _image(value: ImageLike) -> tuple[np.ndarray, str | None]:
    if isinstance(value, np.ndarray):
        return value, None
    from deblur.data.imageio import read_rgb

    return read_rgb(value), str(value)


def _kernel(value: ImageLike | None, what: str) -> tuple[np.ndarray | None, str | None]:
    from deblur.kernelio import check_kernel, read_kernel

    if value is None:
        return None, None
    if isinstance(value, np.ndarray):
        return check_kernel(value, what), None
    return read_kernel(value), str(value)
