"""The CPU record of model.json: the instruction-set class the kernels are chosen by, and the
caps set in the environment."""

import platform

import pytest
import torch

from deblur import cpuinfo


@pytest.mark.parametrize(
    "flags, expected",
    [
        ({"avx2", "avx512f", "avx512_bf16", "amx_tile", "amx_bf16"}, "amx"),
        ({"avx2", "avx512f", "avx512_bf16"}, "avx512_bf16"),
        ({"avx2", "avx512f"}, "avx512"),
        ({"sse4_2", "avx", "avx2", "fma"}, "avx2"),
    ],
)
def test_isa_class_is_the_richest_the_flags_allow(flags, expected):
    assert cpuinfo.isa_class(flags) == expected


def test_isa_class_without_x86_flags_names_the_machine():
    assert cpuinfo.isa_class({"fp", "asimd"}) == platform.machine()


def test_cpu_record_names_the_cpu_and_the_caps(monkeypatch):
    for key in cpuinfo.ONEDNN_ISA_ENV:
        monkeypatch.delenv(key, raising=False)
    record = cpuinfo.cpu_record()
    assert record["cpu_name"] and record["cpu_isa"]
    assert record["cpu_capability"] == torch.backends.cpu.get_cpu_capability()
    assert record["onednn_max_cpu_isa"] == ""
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "AVX2")
    assert cpuinfo.cpu_record()["onednn_max_cpu_isa"] == "AVX2"


def test_cpu_name_reads_the_model_name(tmp_path, monkeypatch):
    info = tmp_path / "cpuinfo"
    info.write_text("processor\t: 0\nmodel name\t: Some CPU 9000\nflags\t\t: fpu avx2 avx512f\n")
    monkeypatch.setattr(cpuinfo, "CPUINFO", info)
    assert cpuinfo.cpu_name() == "Some CPU 9000"
    assert cpuinfo.isa_class() == "avx512"
