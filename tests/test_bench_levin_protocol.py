"""The Levin-shaped benchmark's set: seeded, reproducible, and guarded against mixing sets."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

SCRIPT = Path(__file__).resolve().parent.parent / "bench" / "tv_blind_levin_protocol.py"


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("tv_blind_levin_protocol", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    yield module
    sys.modules.pop(spec.name, None)


def test_set_shape_and_seed(bench):
    default, again, other = bench.make_pairs(), bench.make_pairs(0), bench.make_pairs(1)
    assert [p["pair"] for p in default] == [p["pair"] for p in other]
    for a, b, c in zip(default, again, other, strict=True):
        side = int(a["pair"].rsplit("_k", 1)[1])
        assert a["kernel"].shape == (side, side) and c["kernel"].shape == (side, side)
        assert a["sharp"].shape == a["blurry"].shape == (bench.SIDE, bench.SIDE)
        assert np.isclose(c["kernel"].sum(), 1.0) and c["kernel"].min() >= 0.0
        # the default is seed 0, reproducibly; seed 1 draws other crops, kernels and noise
        for key in ("sharp", "blurry", "kernel"):
            assert np.array_equal(a[key], b[key])
            assert not np.array_equal(a[key], c[key])


def test_results_of_another_seed_are_refused(bench, tmp_path):
    old = tmp_path / "old"  # a results folder from before --seed: seed 0
    (old / "cache").mkdir(parents=True)
    bench.check_seed(old, 0)
    with pytest.raises(SystemExit, match="seed 0, not 1"):
        bench.check_seed(old, 1)
    new = tmp_path / "new"
    bench.check_seed(new, 1, mark=True)
    assert (new / "set_seed.txt").read_text().strip() == "1"
    bench.check_seed(new, 1)
    with pytest.raises(SystemExit, match="seed 1, not 0"):
        bench.check_seed(new, 0)
