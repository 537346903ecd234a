"""Two independent halves of a training step at once, on CPU threads.

On small images most of an iteration's time goes into parallel regions too short to keep two
cores busy (a 25x45 scale runs about 1.4x faster on two threads than on one, not 2x). The
critic and generator steps each split into two independent halves whose gradients are summed
(the penalty and the scores; the adversarial and the reconstruction loss), so
:class:`BranchPair` runs one half in a worker thread and the other in the caller, each with
half of torch's threads: both cores stay busy with single-threaded kernels, which run at their
best. PyTorch releases the GIL inside its kernels and autograd, so the halves overlap.

Thread-local state is carried over to the worker: the intra-op thread count and the denormal
flush flag (x86's MXCSR is per thread). Autocast and grad mode are thread-local too; the halves
set what they need themselves. Results stay deterministic: each half is single-threaded and
the caller sums the two gradients in a fixed order.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import torch

from deblur.singan.device import denormals_flushed


class BranchPair:
    """Runs ``(first, second)`` concurrently with ``threads // 2`` intra-op threads each."""

    def __init__(self, threads: int):
        if threads < 2:
            raise ValueError(f"a branch pair needs at least 2 threads, got {threads}")
        self.threads = threads
        self.half = threads // 2
        self._worker = ThreadPoolExecutor(1, thread_name_prefix="deblur-branch")

    def _in_worker(self, fn: Callable[[], Any], flush: bool) -> Any:
        torch.set_num_threads(self.half)
        torch.set_flush_denormal(flush)
        return fn()

    @contextlib.contextmanager
    def split(self) -> Iterator[None]:
        """Inside the block the caller runs on half of the threads, like the worker.

        Held for a whole iteration, not per call: after a parallel region on all threads,
        the OpenMP team's idle threads spin for a while, on the cores the halves need
        (measured: a pair at 25x45 ran 1.5x slower than one thread per half)."""
        torch.set_num_threads(self.half)
        try:
            yield
        finally:
            torch.set_num_threads(self.threads)

    def __call__(self, first: Callable[[], Any], second: Callable[[], Any]) -> tuple[Any, Any]:
        """``(first(), second())``, ``first`` in the worker thread, inside :meth:`split`;
        errors of either propagate (after both have finished, so neither is left running on
        shared tensors)."""
        future = self._worker.submit(self._in_worker, first, denormals_flushed())
        try:
            result = second()
        finally:
            done = future.result()
        return done, result

    def close(self) -> None:
        self._worker.shutdown()


class RunningCopies:
    """BatchNorm running statistics for passes that run alongside others using the modules'
    own buffers: the copies' passes come first in the reference's order, the buffers' after.

    A running statistic is an exponential moving average, linear in each pass's batch
    statistic: from ``r0``, the passes on the copies give ``r_c`` and ``k`` later passes on the
    buffers give ``r_b``; in order, together, they give ``r_b + (1 - m)^k (r_c - r0)``.
    """

    def __init__(self, bns: list[torch.nn.BatchNorm2d]):
        self.bns = bns
        self.start = [(bn.running_mean.clone(), bn.running_var.clone()) for bn in bns]
        self.running = [(mean.clone(), var.clone()) for mean, var in self.start]

    def merge(self, passes: int, later: int) -> None:
        """Fold ``passes`` updates of the copies in before the buffers' ``later`` updates."""
        for bn, (mean0, var0), (mean, var) in zip(self.bns, self.start, self.running, strict=True):
            decay = (1 - bn.momentum) ** later
            # through .data, as BatchNorm's own update: graphs made earlier saved the buffers
            # (unused by a training-mode backward) and check their version counters
            bn.running_mean.data.add_(mean - mean0, alpha=decay)
            bn.running_var.data.add_(var - var0, alpha=decay)
            bn.num_batches_tracked.add_(passes)
