"""The ``--seed`` option's type: one range for every command's seed."""

from __future__ import annotations

import argparse

# numpy's and torch's generators take any seed in this range; training derives a seed per
# scale (seed * 1000 + scale), which stays below torch's limit of 2**64
MAX_SEED = 2**32 - 1


def seed_arg(text: str) -> int:
    """``--seed`` value: an integer in [0, :data:`MAX_SEED`]; argparse reports anything else
    as a one-line usage error naming the option."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if not 0 <= value <= MAX_SEED:
        raise argparse.ArgumentTypeError(f"{value} is outside 0..{MAX_SEED}; pick a seed in range")
    return value
