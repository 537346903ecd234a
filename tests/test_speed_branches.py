"""Step halves run at once on two threads (deblur.singan.branches): the runner itself, the
functional generator pass, and training that stays deterministic and resumable with them.

That the branched step computes the reference's math is checked in test_speed_equivalence.
"""

import copy
import json
import shutil
import threading

import pytest
import torch
from test_singan_train import TINY, assert_same_weights, image, shared_dir  # noqa: F401

from deblur.errors import DeblurError
from deblur.singan import fast
from deblur.singan.branches import BranchPair, RunningCopies
from deblur.singan.checkpoint import scale_path
from deblur.singan.config import SinGANConfig
from deblur.singan.device import flush_denormals
from deblur.singan.models import Generator
from deblur.singan.train import train

SMALLEST_NORMAL = torch.finfo(torch.float32).tiny


@pytest.fixture
def two_threads():
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    yield
    torch.set_num_threads(threads)


def test_pair_runs_first_in_a_worker_on_half_the_threads(two_threads):
    pair = BranchPair(2)
    seen = {}

    def first():
        seen["first"] = (threading.get_ident(), torch.get_num_threads())
        return "a"

    def second():
        seen["second"] = (threading.get_ident(), torch.get_num_threads())
        return "b"

    with pair.split():
        assert pair(first, second) == ("a", "b")
    assert torch.get_num_threads() == 2  # restored after the block
    assert seen["first"][0] != threading.get_ident() == seen["second"][0]
    assert seen["first"][1] == seen["second"][1] == 1
    with pytest.raises(ValueError, match="2 threads"):
        BranchPair(1)
    pair.close()


def test_pair_waits_for_both_halves_and_raises_the_error(two_threads):
    pair = BranchPair(2)
    finished = threading.Event()

    def failing():
        raise RuntimeError("worker half failed")

    def slow():
        finished.wait(0.2)
        finished.set()
        return 1

    with pytest.raises(RuntimeError, match="worker half failed"):
        pair(failing, slow)
    assert finished.is_set()

    def waits_for_the_worker():
        assert finished.wait(5)  # the worker half must be done before pair() returns
        raise ValueError("caller half failed")

    finished.clear()
    with pytest.raises(ValueError, match="caller half failed"):
        pair(lambda: finished.set(), waits_for_the_worker)
    pair.close()


def test_worker_flushes_denormals_like_the_caller(two_threads):
    """MXCSR is per thread: the worker must see the caller's flush_denormals block."""
    pair = BranchPair(2)
    tiny = torch.full((4,), SMALLEST_NORMAL / 4)  # a denormal

    def halved():
        return (tiny * 1.0).sum().item()

    with flush_denormals(torch.device("cpu")):
        flushed, _ = pair(halved, lambda: None)
    if not torch.set_flush_denormal(False):
        pytest.skip("this CPU cannot flush denormals")
    plain, _ = pair(halved, lambda: None)
    assert flushed == 0.0 and plain > 0.0
    pair.close()


def test_generator_forward_and_running_copies_match_the_module():
    """A functional pass on copies, merged before a module pass, equals two module passes."""
    torch.manual_seed(0)
    G = Generator(SinGANConfig(nfc=8, max_nfc=8), 8).double()
    G2 = copy.deepcopy(G)
    z1, z2, prev = torch.randn(3, 1, 3, 20, 26, dtype=torch.float64)
    ref1, ref2 = G(z1, prev), G(z2, prev)

    copies = RunningCopies(fast.norms(G2))
    momenta = [bn.momentum for bn in copies.bns]
    out1 = fast.generator_forward(G2, z1, prev, copies.running, momenta)
    untouched = {k: v.clone() for k, v in G2.state_dict().items()}
    out2 = G2(z2, prev)  # on the module's buffers
    copies.merge(passes=1, later=1)
    assert torch.equal(out1, ref1) and torch.equal(out2, ref2)  # batch statistics: same output
    assert any(not torch.equal(v, G2.state_dict()[k]) for k, v in untouched.items())
    for key, value in G.state_dict().items():
        assert torch.allclose(G2.state_dict()[key], value, rtol=1e-12, atol=0), key


def test_fast_step_uses_branches_only_where_asked(two_threads):
    step = fast.FastStep(branch_max_channels=32)
    cpu = torch.device("cpu")
    assert step.pair(cpu, 32) is not None and step.pair(cpu, 64) is None
    assert fast.FastStep(branch_max_channels=0).pair(cpu, 8) is None
    assert fast.FastStep(compile=True).branch_max_channels == 0
    torch.set_num_threads(1)
    assert step.pair(cpu, 32) is None


def test_branched_training_is_deterministic_and_resumes_exactly(image, tmp_path):  # noqa: F811
    """Two threads, every scale branched: same seed -> bit-identical weights, and a run cut
    after scale 2 completes to them."""

    def fit(out):
        return train(
            image, out, {**TINY, "niter": 12}, device="cpu", seed=0, threads=2, progress=False
        )

    first = fit(tmp_path / "a")
    assert json.loads((first / "model.json").read_text())["branch_max_channels"] == 32
    assert_same_weights(first, fit(tmp_path / "b"))
    cut = tmp_path / "cut"
    shutil.copytree(first, cut)
    (cut / "model.json").unlink()
    for s in (3, 4):
        scale_path(cut, s).unlink()
    assert_same_weights(first, fit(cut))


def test_negative_branch_max_channels_is_refused(image, tmp_path):  # noqa: F811
    with pytest.raises(DeblurError, match="--branch-max-channels must be >= 0"):
        train(image, tmp_path / "m", TINY, device="cpu", branch_max_channels=-1)
