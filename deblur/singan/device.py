"""Pick the torch device and CPU thread count for training and inference."""

from __future__ import annotations

import contextlib
import logging
import re
from collections.abc import Iterator

import torch

from deblur.errors import DeblurError

log = logging.getLogger(__name__)

DEVICES = ("auto", "cpu", "cuda", "cuda:N")
PRECISIONS = ("fp32", "bf16")  # training arithmetic: float32, or bfloat16 autocast


def resolve_device(name: str | torch.device = "auto") -> torch.device:
    """``"auto"`` -> CUDA when available, else CPU; ``"cuda[:N]"`` without that GPU is an error."""
    if isinstance(name, torch.device):
        return name
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cpu":
        return torch.device("cpu")
    match = re.fullmatch(r"cuda(?::(\d+))?", name)
    if not match:
        raise DeblurError(f"unknown device {name!r}; use one of {', '.join(DEVICES)}")
    index = int(match.group(1) or 0)
    if not torch.cuda.is_available() or index >= torch.cuda.device_count():
        raise DeblurError(
            f"device {name!r} requested but that CUDA device is not available "
            f"({torch.cuda.device_count()} found); use --device cpu or auto"
        )
    return torch.device(name)


def set_threads(threads: int | None) -> None:
    """Limit torch's intra-op CPU threads (Snakemake passes its ``threads``); None keeps them."""
    if threads is None:
        return
    if threads < 1:
        raise DeblurError(f"--threads must be >= 1, got {threads}")
    torch.set_num_threads(threads)
    log.debug("torch threads: %d", threads)


@contextlib.contextmanager
def flush_denormals(device: torch.device) -> Iterator[None]:
    """On CPU, treat denormal floats as zero inside the block (restored to off afterwards).

    Freshly initialised wide scales produce denormal values in the backward pass, which x86
    CPUs process in microcode: measured here, one 1280x720 scale ran 6.6x slower (5.3 vs
    0.8 s/iter). Flushing them changes results only below 1.2e-38 and stays deterministic.
    GPUs handle denormals at full speed, so CUDA is left alone.
    """
    global _flushing
    if device.type != "cpu" or not torch.set_flush_denormal(True):
        yield
        return
    _flushing = True
    try:
        yield
    finally:
        _flushing = False
        torch.set_flush_denormal(False)


_flushing = False  # torch has no getter; the flag is per thread, helper threads copy this


def denormals_flushed() -> bool:
    """Whether a :func:`flush_denormals` block is active (for threads that should match it)."""
    return _flushing


@contextlib.contextmanager
def cuda_settings(device: torch.device, tf32: bool) -> Iterator[None]:
    """On CUDA, inside the block: ``cudnn.benchmark`` on (a scale's shapes stay fixed for all
    its iterations, so timing the algorithms once pays) and TF32 for float32 convolutions and
    matrix products exactly as ``tf32`` says (torch's own default allows it for convolutions,
    which would make "fp32" runs TF32 without saying so). The previous settings are restored
    afterwards. Nothing changes on CPU."""
    if device.type != "cuda":
        yield
        return
    backends = torch.backends
    saved = (backends.cudnn.benchmark, backends.cudnn.allow_tf32, backends.cuda.matmul.allow_tf32)
    backends.cudnn.benchmark = True
    backends.cudnn.allow_tf32 = tf32
    backends.cuda.matmul.allow_tf32 = tf32
    try:
        yield
    finally:
        (backends.cudnn.benchmark, backends.cudnn.allow_tf32,
         backends.cuda.matmul.allow_tf32) = saved  # fmt: skip


def accelerator_info(device: torch.device, tf32: bool) -> dict[str, object]:
    """What ``model.json`` records about the arithmetic: TF32 (in effect on CUDA only), and
    on CUDA the CUDA and cuDNN versions and ``cudnn.benchmark`` (the GPU's name is
    ``device_name``, :func:`deblur.gpu_slots.device_record`)."""
    if device.type != "cuda":
        return dict(tf32=False, cuda_version=None, cudnn_version=None)
    return dict(
        tf32=tf32,
        cuda_version=torch.version.cuda,
        cudnn_version=torch.backends.cudnn.version(),
        cudnn_benchmark=True,
    )


def check_precision(precision: str) -> str:
    """``precision`` if it is one of :data:`PRECISIONS`, else a DeblurError listing them."""
    if precision not in PRECISIONS:
        raise DeblurError(f"unknown precision {precision!r}; use one of {', '.join(PRECISIONS)}")
    return precision


def native_bf16(device: torch.device) -> bool:
    """Whether ``device`` computes bf16 convolutions natively: any CUDA GPU torch runs on, or a
    CPU for which oneDNN has bf16 kernels (AVX512-BF16, AMX, or AVX-512 emulation). Without
    them (AVX2-only CPUs) torch falls back to generic kernels: measured on a 2-core AVX2 EPYC,
    a 25-px scale at 32 channels trained 6.7x slower in bf16 than in fp32."""
    if device.type != "cpu":
        return True
    return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())


def warn_slow_bf16(device: torch.device, precision: str) -> None:
    """Log a warning when ``precision`` is bf16 on a CPU without native bf16 kernels."""
    if precision == "bf16" and not native_bf16(device):
        log.warning(
            "this CPU has no native bf16 kernels (no AVX512-BF16, AMX or AVX-512): bf16 training "
            "runs several times slower than fp32 here; use --precision fp32"
        )


def autocast(device: torch.device, precision: str) -> contextlib.AbstractContextManager:
    """The arithmetic of ``precision`` on ``device``: "fp32" is plain float32, "bf16" is
    ``torch.autocast`` to bfloat16 (convolutions in bf16, reductions and the optimizer in
    float32)."""
    if check_precision(precision) == "fp32":
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=torch.bfloat16)
