"""What a CPU run's arithmetic depends on: the CPU's model and instruction-set class, and the
instruction sets torch's kernels were allowed to use.

Two CPUs of the same model name ("AMD EPYC") can round differently: oneDNN (convolutions) and
ATen (BatchNorm, element-wise operations, reductions, Adam) pick kernels by the instruction sets
the CPU has, and AVX-512 kernels sum in another order than AVX2 ones. ``model.json`` records
:func:`cpu_record` so that two pyramids' provenance says whether they could be bit-identical
(docs/speed.md, "Reproducibility").
"""

from __future__ import annotations

import os
import platform
from pathlib import Path

CPUINFO = Path("/proc/cpuinfo")
# the environment variables that cap the instruction sets oneDNN's kernels use (the second is
# its older name)
ONEDNN_ISA_ENV = ("ONEDNN_MAX_CPU_ISA", "DNNL_MAX_CPU_ISA")
# /proc/cpuinfo flags -> ISA class, the richest first (the classes the kernels are chosen by)
ISA_CLASSES = (
    ("amx", ("amx_tile",)),
    ("avx512_bf16", ("avx512_bf16",)),
    ("avx512", ("avx512f",)),
    ("avx2", ("avx2",)),
)


def _cpuinfo_field(name: str) -> str | None:
    """The first ``name : value`` line's value in /proc/cpuinfo, None if absent or unreadable."""
    try:
        for line in CPUINFO.read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() == name:
                return value.strip()
    except OSError:
        pass
    return None


def cpu_name() -> str:
    """The CPU model of this machine (``model name`` of /proc/cpuinfo, else platform's)."""
    return _cpuinfo_field("model name") or platform.processor() or platform.machine()


def isa_class(flags: set[str] | None = None) -> str:
    """The CPU's instruction-set class: ``amx``, ``avx512_bf16``, ``avx512``, ``avx2``, or
    ``platform.machine()`` (e.g. ``aarch64``) when none applies or the flags are unknown.

    ``flags`` defaults to this CPU's (/proc/cpuinfo)."""
    if flags is None:
        flags = set((_cpuinfo_field("flags") or "").split())
    for name, needed in ISA_CLASSES:
        if all(f in flags for f in needed):
            return name
    return platform.machine() or "unknown"


def cpu_record() -> dict[str, str]:
    """``model.json``'s record of the CPU: ``cpu_name``, ``cpu_isa`` (:func:`isa_class`),
    ``cpu_capability`` (the kernels ATen uses, e.g. ``AVX512``; lowered by
    ``ATEN_CPU_CAPABILITY``) and ``onednn_max_cpu_isa`` (oneDNN's cap from the environment, ""
    when unset: oneDNN then uses everything the CPU has)."""
    import torch

    cap = next((os.environ[k] for k in ONEDNN_ISA_ENV if os.environ.get(k)), "")
    return dict(
        cpu_name=cpu_name(),
        cpu_isa=isa_class(),
        cpu_capability=torch.backends.cpu.get_cpu_capability(),
        onednn_max_cpu_isa=cap,
    )
