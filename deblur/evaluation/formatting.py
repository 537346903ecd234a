"""Numbers as the Markdown tables print them (paper table, study, ladder): one place for the
digits per metric and for how missing values and p-values read."""

from __future__ import annotations

import math

import pandas as pd

from deblur.evaluation.settings import DIGITS


def is_missing(value: object) -> bool:
    """None, NaN or pandas' NA."""
    return value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value))


def format_number(value: object, digits: int) -> str:
    """``value`` with ``digits`` decimals; ``n/a`` when missing or not finite."""
    if is_missing(value) or (isinstance(value, float) and not math.isfinite(value)):
        return "n/a"
    return f"{value:.{digits}f}"


def format_signed(value: object, digits: int) -> str:
    """``value`` with a sign and ``digits`` decimals; ``n/a`` when missing."""
    return "n/a" if is_missing(value) else f"{value:+.{digits}f}"


def format_metric(metric: str, value: object) -> str:
    """``value`` of ``metric`` ("psnr", "ssim") at that metric's digits."""
    return format_number(value, DIGITS[metric])


def format_ci(metric: str, mean: object, low: object, high: object, signed: bool = False) -> str:
    """``mean [low, high]`` at ``metric``'s digits (with signs for differences)."""
    fmt = format_signed if signed else format_number
    d = DIGITS[metric]
    return f"{fmt(mean, d)} [{fmt(low, d)}, {fmt(high, d)}]"


def format_p(p: object) -> str:
    """A p-value: two significant digits, ``<1e-4`` below that, ``n/a`` when missing."""
    if is_missing(p):
        return "n/a"
    return f"{p:.2g}" if p >= 1e-4 else "<1e-4"
