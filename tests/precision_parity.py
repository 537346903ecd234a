"""Paired bf16-vs-fp32 trajectories of the optimized trainer, one oneDNN path per process.

Run as a script (``tests/test_speed_precision.py`` starts one per path, with
``ONEDNN_MAX_CPU_ISA`` set, because oneDNN reads it once, at its first kernel)::

    ONEDNN_MAX_CPU_ISA=AVX2 python tests/precision_parity.py --seeds 0 1 2

For each seed it trains the same pyramid twice through :func:`deblur.singan.train.train`, in
fp32 and in bf16, from the same initial weights and the same random numbers, and prints one
JSON object: per seed, the coarsest scale's per-iteration log ratios
``log(rec_loss_bf16 / rec_loss_fp32)``. ``--stale-weights`` reproduces a known bug, an
autocast region spanning the optimizer steps (autocast caches each weight's bf16 copy until
its outermost region ends, so the later critic and generator steps compute with the weights
from before the first step), so that the test can show it would catch it.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import tempfile
from pathlib import Path

import torch

from deblur.data import synthetic
from deblur.singan import fast
from deblur.singan.device import native_bf16
from deblur.singan.train import train

# the real runs' widths and coarsest scale: 32 channels (the reference's nfc and max_nfc),
# min_size 25 (a 25x44 coarsest scale here); niter short enough that the two runs' only
# difference is still rounding, not the GAN's chaotic divergence (measured: bf16 and fp32
# agree to 1-2% for about 6 iterations, then drift apart)
CONFIG = dict(nfc=32, max_nfc=32, min_size=25, max_size=48, niter=6)
IMAGE_SIZE = "80x45"
call = fast.FastStep.__call__


class _Enough(Exception):
    """Raised by the recording step once the coarsest scale's iterations are recorded."""


def recording_step(record: list[float], stale_weights: bool):
    """FastStep.__call__ that appends each iteration's reconstruction loss to ``record`` and
    stops training (:class:`_Enough`) after the coarsest scale."""

    def step(self, *args):
        if stale_weights:
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=self.precision == "bf16"):
                losses = call(self, *args)
        else:
            losses = call(self, *args)
        record.append(losses[2].item())
        if len(record) == CONFIG["niter"]:
            raise _Enough
        return losses

    return step


def log_ratios(seed: int, sharp: Path, work: Path, stale_weights: bool) -> list[float]:
    """Per iteration of the coarsest scale: log(bf16 rec loss / fp32 rec loss)."""
    runs = {}
    for precision in ("fp32", "bf16"):
        record: list[float] = []
        fast.FastStep.__call__ = recording_step(record, stale_weights)
        try:
            train(
                sharp, work / f"{precision}-{seed}", CONFIG, device="cpu", seed=seed, threads=1,
                progress=False, precision=precision,
            )  # fmt: skip
        except _Enough:
            pass
        finally:
            fast.FastStep.__call__ = call
        runs[precision] = record
    return [math.log(b / f) for f, b in zip(runs["fp32"], runs["bf16"], strict=True)]


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--stale-weights", action="store_true", help="reproduce the known bug")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="deblur-parity-") as tmp:
        work = Path(tmp)
        (pair,) = synthetic.synthesize(
            work / "data", sequences=1, frames=1, size=IMAGE_SIZE, progress=False
        )
        ratios = {s: log_ratios(s, pair.sharp, work, args.stale_weights) for s in args.seeds}
    isa = os.environ.get("ONEDNN_MAX_CPU_ISA", "default")
    native = native_bf16(torch.device("cpu"))
    print(json.dumps(dict(isa=isa, native_bf16=native, log_ratios=ratios)))


if __name__ == "__main__":
    main()
