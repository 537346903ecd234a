"""The geometry of each inference reading: how many generator passes, of what factor, to what size.

The workflow checks a configuration with these before any job runs, with the same arithmetic
the ``deblur`` command uses. No torch or numpy: the CLI imports this module to build ``--help``.

Readings (``mode``):

``g0``
    The paper's: the blurry image at the finest scale's size, downscaled by ``r ** k`` and
    brought back in ``k`` passes of upsampling by ``1 / r`` and G_0. Output: the finest size.
``inject``
    The reference's paint-to-image: enters at one scale, every finer generator runs once.
``sr``
    The reference SinGAN's super-resolution (``SR.py``): starting from the image at the finest
    scale's size, each pass upsamples by a factor a little above 1 and runs G_0, until the
    overall factor ``sr_factor`` is reached. ``sr_step="reference"`` follows the reference's
    rule: ``passes = round(log s / log 2 ** (1 / 3))`` (Python's ``round``, halves to even)
    passes of ``s ** (1 / passes)`` each; ``"pyramid"`` takes steps of exactly ``1 / r`` (the
    factor G_0 was trained to add detail at), ``ceil(log s / log (1 / r))`` passes, the last
    one a shorter step onto the output size.
``sample``
    A random sample of the pyramid: the coarsest scale up with fresh noise, the blurry image
    unused. Output: the finest size.

Defaults: :data:`DEFAULT_SR_FACTOR` (4, the reference's), :data:`DEFAULT_SR_STEP`
(``"reference"``), :data:`DEFAULT_MAX_OUTPUT_PIXELS` (2048 x 2048).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence

MODES = ("g0", "inject", "sr", "sample")
SR_STEPS = ("reference", "pyramid")
SR_FULL = "full"
DEFAULT_SR_FACTOR = 4.0  # the reference SR.py's --sr_factor default
DEFAULT_SR_STEP = "reference"
REFERENCE_STEP = 2.0 ** (1.0 / 3.0)  # the reference's calc_init_scale base, about 1.26
# the largest sr output, in pixels: a pass holds a few activations of channels x pixels float32
# (64 channels: about 1 KiB per output pixel), so 2048 x 2048 is about 4 GiB of peak memory
DEFAULT_MAX_OUTPUT_PIXELS = 2048 * 2048
_EPS = 1e-9


def _scaled(h: int, w: int, scale: float) -> tuple[int, int]:
    """``deblur.resize.scaled_size`` (rounded up like the reference's ``imresize``), without
    importing torch."""
    return max(1, math.ceil(h * scale - _EPS)), max(1, math.ceil(w * scale - _EPS))


@dataclasses.dataclass(frozen=True)
class ReadingPlan:
    """What one reading does: its generator passes and where they end.

    Attributes
    ----------
    mode : str
        One of :data:`MODES`.
    passes : int
        Generator passes (g0: k; inject: the generators from the injection scale up; sr: G_0
        passes; sample: every scale).
    pass_factor : float
        The upsampling factor of a pass (``1 / r`` for the pyramid readings; sr: the
        reference rule's ``s ** (1 / passes)``, or ``1 / r`` for the pyramid step, whose last
        pass may be shorter).
    sizes : tuple of (h, w)
        Each pass's output size, in order; the last is the output size.
    sr_factor : float or None
        sr: the overall factor (for ``full``, the original frame's longer side over the model's).
    sr_factor_setting : str or None
        sr: the factor as configured (``"4"``, ``"2.5"``, ``"full"``).
    sr_step : str or None
        sr: ``"reference"`` or ``"pyramid"``.
    """

    mode: str
    passes: int
    pass_factor: float
    sizes: tuple[tuple[int, int], ...]
    sr_factor: float | None = None
    sr_factor_setting: str | None = None
    sr_step: str | None = None

    @property
    def out_size(self) -> tuple[int, int]:
        """The output's (h, w)."""
        return self.sizes[-1]

    def columns(self) -> dict[str, object]:
        """The plan as metrics columns (the ``deblur`` command's ``--info`` JSON)."""
        h, w = self.out_size
        return dict(
            deblur_passes=self.passes,
            deblur_pass_factor=round(self.pass_factor, 6),
            deblur_out_height=h,
            deblur_out_width=w,
            sr_factor=self.sr_factor_setting,
            sr_step=self.sr_step,
        )


def parse_sr_factor(value: object) -> float | str:
    """An ``sr_factor`` setting: a number >= 1 or ``"full"``.

    Raises
    ------
    ValueError
        For anything else (the message says what is allowed).
    """
    if isinstance(value, str):
        text = value.strip().lower()
        if text == SR_FULL:
            return SR_FULL
        try:
            value = float(text)
        except ValueError:
            raise ValueError(f"sr_factor must be a number >= 1 or 'full', got {value!r}") from None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"sr_factor must be a number >= 1 or 'full', got {value!r}")
    if not math.isfinite(value) or value < 1:
        raise ValueError(
            f"sr_factor must be >= 1 (the output is the model size times it; 1 = one G_0 pass "
            f"at the model size) or 'full', got {value}"
        )
    return float(value)


def factor_text(factor: float | str) -> str:
    """``4.0`` -> ``"4"``, ``2.5`` -> ``"2.5"``, ``"full"`` -> ``"full"``."""
    if isinstance(factor, str):
        return factor
    return f"{factor:g}"


def sr_passes(factor: float, step: str, scale_factor: float) -> tuple[int, float]:
    """(passes, per-pass factor) to upsample by ``factor`` >= 1.

    ``"reference"``: ``round(log factor / log 2 ** (1 / 3))`` passes (at least one: the
    reference divides by zero below ``2 ** (1 / 6)``) of ``factor ** (1 / passes)``.
    ``"pyramid"``: ``ceil(log factor / log (1 / scale_factor))`` passes (at least one) of
    ``1 / scale_factor``, the last one shorter; a factor below ``1 / scale_factor`` is one pass
    of that factor.

    >>> sr_passes(4.0, "reference", 0.75)
    (6, 1.2599210498948732)
    >>> sr_passes(4.0, "pyramid", 0.75)
    (5, 1.3333333333333333)
    """
    if step not in SR_STEPS:
        raise ValueError(f"sr_step must be one of {', '.join(SR_STEPS)}, got {step!r}")
    if factor < 1:
        raise ValueError(f"sr_factor must be >= 1, got {factor}")
    if step == "reference":
        passes = max(1, round(math.log(factor) / math.log(REFERENCE_STEP)))
        return passes, factor ** (1.0 / passes)
    base = 1.0 / scale_factor
    passes = max(1, math.ceil(math.log(factor) / math.log(base) - _EPS))
    return passes, base if passes > 1 else factor


def sr_output_size(
    model_size: Sequence[int], factor: float | str, frame_size: Sequence[int] | None
) -> tuple[tuple[int, int], float]:
    """(output (h, w), overall factor) of an sr reading.

    A number: the model size times it, rounded down per side like the reference's final crop
    (``int(s * h)``). ``"full"``: the original frame's size (``frame_size``), the factor its
    longer side over the model's.
    """
    h, w = model_size
    if factor == SR_FULL:
        if frame_size is None:
            raise ValueError("sr_factor 'full' needs the original frame's size")
        fh, fw = (int(v) for v in frame_size)
        return (fh, fw), max(1.0, max(fh, fw) / max(h, w))
    s = float(factor)
    return (max(1, math.floor(h * s + _EPS)), max(1, math.floor(w * s + _EPS))), s


def plan_sr(
    model_size: Sequence[int],
    scale_factor: float,
    factor: float | str = DEFAULT_SR_FACTOR,
    step: str = DEFAULT_SR_STEP,
    frame_size: Sequence[int] | None = None,
) -> ReadingPlan:
    """The passes of an sr reading from an image at ``model_size`` (the finest scale's).

    Intermediate sizes are the model size scaled by the cumulative factor, rounded up like
    the reference's ``imresize``; the last pass goes straight to the output size (the reference
    rounds up at every pass and crops the few extra rows and columns at the end; the content
    scale is the same).

    >>> plan = plan_sr((141, 250), 0.781, 4)
    >>> plan.passes, plan.out_size
    (6, (564, 1000))
    """
    factor = parse_sr_factor(factor)
    out, overall = sr_output_size(model_size, factor, frame_size)
    passes, pass_factor = sr_passes(overall, step, scale_factor)
    h, w = model_size
    sizes = []
    for j in range(1, passes):
        sh, sw = _scaled(h, w, pass_factor**j)
        sizes.append((min(sh, out[0]), min(sw, out[1])))
    sizes.append(out)
    return ReadingPlan(
        mode="sr",
        passes=passes,
        pass_factor=pass_factor,
        sizes=tuple(sizes),
        sr_factor=overall,
        sr_factor_setting=factor_text(factor),
        sr_step=step,
    )


def check_output_size(plan: ReadingPlan, max_pixels: int) -> None:
    """Raise ValueError when the plan's output has more than ``max_pixels`` pixels."""
    h, w = plan.out_size
    if h * w > max_pixels:
        raise ValueError(
            f"the {plan.mode} output would be {w}x{h} = {h * w} pixels, above the limit of "
            f"{max_pixels} (max_output_pixels; each pass needs about 1 KiB per output pixel at "
            f"64 channels); lower sr_factor or raise the limit"
        )


def plan_reading(
    mode: str,
    sizes: Sequence[Sequence[int]],
    scale_factor: float,
    steps: int = 1,
    inject_scale: int | None = None,
    sr_factor: float | str = DEFAULT_SR_FACTOR,
    sr_step: str = DEFAULT_SR_STEP,
    frame_size: Sequence[int] | None = None,
) -> ReadingPlan:
    """The :class:`ReadingPlan` of ``mode`` on a pyramid of ``sizes`` (coarsest first).

    ``steps`` and ``inject_scale`` are taken as given (``deblur_image`` checks their range);
    ``inject_scale`` None is the default, the scale below the finest.
    """
    sizes = [tuple(int(v) for v in s) for s in sizes]
    n = len(sizes)
    base = 1.0 / scale_factor
    finest = sizes[-1]
    if mode == "g0":
        h, w = finest
        chain = tuple(_scaled(h, w, scale_factor**k) for k in range(steps - 1, -1, -1))
        return ReadingPlan(mode, steps, base, chain[:-1] + (finest,))
    if mode == "inject":
        at = max(1, n - 2) if inject_scale is None else inject_scale
        at = at + n if at < 0 else at
        return ReadingPlan(mode, n - at, base, tuple(sizes[at:]))
    if mode == "sample":
        return ReadingPlan(mode, n, base, tuple(sizes))
    if mode == "sr":
        return plan_sr(finest, scale_factor, sr_factor, sr_step, frame_size)
    raise ValueError(f"mode must be one of {', '.join(MODES)}, got {mode!r}")
