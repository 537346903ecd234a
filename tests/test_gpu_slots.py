"""deblur.gpu_slots: GPU slots for the GPU jobs of a local run, tested with faked GPU counts.

The concurrent tests run real processes (tests/gpu_slot_job.py, or the CLI) that take slots in a
shared lock directory; what they check does not depend on timing: jobs on one GPU count
themselves with O_EXCL marker files, and waiting jobs are held back by holders that only let go
when the test says so.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from deblur import gpu_slots
from deblur.errors import DeblurError

REPO = Path(__file__).resolve().parents[1]
JOB = Path(__file__).with_name("gpu_slot_job.py")
PATIENCE_S = 60  # a loaded machine may be slow to start processes; nothing here waits this long


def job_env(gpus: int, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("CUDA_VISIBLE_DEVICES",)}
    env.pop(gpu_slots.SLOT_ENV, None)
    env.update({gpu_slots.FAKE_COUNT_ENV: str(gpus), "PYTHONPATH": str(REPO)}, **extra)
    return env


def start(lock, out, name, per_gpu=1, hold="release", gpus=2, timeout=None):
    args = [sys.executable, str(JOB), str(lock), str(out), name, str(per_gpu), str(hold)]
    args += [] if timeout is None else [str(timeout)]
    return subprocess.Popen(args, env=job_env(gpus), stderr=subprocess.PIPE, text=True)


def wait_for(path: Path) -> dict:
    deadline = time.monotonic() + PATIENCE_S
    while not path.exists():
        assert time.monotonic() < deadline, f"{path.name} never appeared"
        time.sleep(0.02)
    return json.loads(path.read_text())


def finish(proc: subprocess.Popen) -> str:
    _, err = proc.communicate(timeout=PATIENCE_S)
    assert proc.returncode == 0, err
    return err


@pytest.fixture
def dirs(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    return tmp_path / "locks", out


# --- devices and slots ----------------------------------------------------------------------


def test_visible_devices_parsing():
    assert gpu_slots.parse_visible("2,3") == ["2", "3"]
    assert gpu_slots.parse_visible("GPU-ab12, 1") == ["GPU-ab12", "1"]
    assert gpu_slots.parse_visible("") == [] and gpu_slots.parse_visible("-1") == []
    assert gpu_slots.parse_visible("0,-1,2") == ["0"]  # CUDA stops at an invalid entry
    smi = (
        "GPU 0: NVIDIA A100-SXM4-40GB (UUID: GPU-aaa)\n"
        "  MIG 3g.20gb     Device  0: (UUID: MIG-one)\n"
        "  MIG 3g.20gb     Device  1: (UUID: MIG-two)\n"
        "GPU 1: NVIDIA A100-SXM4-40GB (UUID: GPU-bbb)\n"
    )
    assert gpu_slots.parse_nvidia_smi(smi) == ["MIG-one", "MIG-two", "1"]


def test_devices_come_from_cuda_visible_devices_then_the_fake_count(monkeypatch):
    monkeypatch.setenv(gpu_slots.FAKE_COUNT_ENV, "3")
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    assert gpu_slots.visible_devices() == ["0", "1", "2"]
    assert gpu_slots.visible_devices(2) == ["0", "1"]
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "5,7")  # given to Snakemake: only these
    assert gpu_slots.visible_devices("auto") == ["5", "7"]
    with pytest.raises(DeblurError, match="gpus: 3 but only 2 GPU"):
        gpu_slots.visible_devices("3")
    with pytest.raises(DeblurError, match="'two' is not 'auto'"):
        gpu_slots.visible_devices("two")


def test_slots_spread_over_gpus_before_sharing_one():
    assert gpu_slots.slot_order(["0", "1"], 2) == [("0", 0), ("1", 0), ("0", 1), ("1", 1)]
    with pytest.raises(DeblurError, match="jobs_per_gpu must be >= 1"):
        gpu_slots.slot_order(["0"], 0)


def test_claim_steps_aside_for_cpu_explicit_devices_and_no_lock_dir(tmp_path, monkeypatch):
    monkeypatch.setenv(gpu_slots.FAKE_COUNT_ENV, "2")
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    for lock_dir, device in ((None, "cuda"), (tmp_path, "cpu"), (tmp_path, "cuda:1")):
        assert gpu_slots.claim_gpu(lock_dir, device) is None
    monkeypatch.setenv(gpu_slots.FAKE_COUNT_ENV, "0")
    assert gpu_slots.claim_gpu(tmp_path, "auto") is None  # no GPUs: auto runs on the CPU
    assert "CUDA_VISIBLE_DEVICES" not in os.environ and not list(tmp_path.iterdir())


def test_a_released_slot_is_taken_again_in_process(tmp_path):
    first = gpu_slots.acquire(tmp_path, ["0"], timeout=0)
    with pytest.raises(DeblurError, match="no free GPU slot"):
        gpu_slots.acquire(tmp_path, ["0"], timeout=0)
    gpu_slots.release(first)
    again = gpu_slots.acquire(tmp_path, ["0"], timeout=0)
    assert again.path == first.path == tmp_path / "gpu0-0.lock"
    gpu_slots.release(again)


# --- concurrent jobs ------------------------------------------------------------------------


@pytest.mark.parametrize(("gpus", "per_gpu", "jobs"), [(2, 1, 6), (2, 2, 8)])
def test_concurrent_jobs_never_exceed_their_share_of_a_gpu(dirs, gpus, per_gpu, jobs):
    lock, out = dirs
    procs = [start(lock, out, f"j{i}", per_gpu, hold=0.2, gpus=gpus) for i in range(jobs)]
    for proc in procs:
        finish(proc)  # more jobs than slots: they waited, none failed
    assert not list(out.glob("violation-*")), [p.read_text() for p in out.glob("violation-*")]
    got = [json.loads((out / f"acquired-j{i}").read_text()) for i in range(jobs)]
    assert {g["device"] for g in got} <= {str(d) for d in range(gpus)}
    for g in got:  # the job's device is its slot's, and the slot is announced to the job
        assert Path(g["slot"]).name.startswith(f"gpu{g['device']}-")
        assert g["env_slot"] == g["slot"]


def test_k_jobs_share_a_gpu_and_the_next_one_waits(dirs):
    lock, out = dirs
    holders = [start(lock, out, f"h{i}", per_gpu=2, gpus=1) for i in range(2)]
    slots = {wait_for(out / f"acquired-h{i}")["slot"] for i in range(2)}
    assert slots == {str(lock / "gpu0-0.lock"), str(lock / "gpu0-1.lock")}  # both at once
    waiter = start(lock, out, "w", per_gpu=2, hold=0, gpus=1)
    assert "are taken: waiting" in waiter.stderr.readline()  # its first word: it waits
    assert not (out / "acquired-w").exists()
    (out / "release").touch()
    for proc in [*holders, waiter]:
        finish(proc)
    assert wait_for(out / "acquired-w")["device"] == "0"
    assert not list(out.glob("violation-*"))


def test_a_killed_job_frees_its_slot(dirs):
    lock, out = dirs
    holder = start(lock, out, "killed", gpus=1)
    held = wait_for(out / "acquired-killed")["slot"]
    waiter = start(lock, out, "next", hold=0, gpus=1)
    assert "are taken: waiting" in waiter.stderr.readline()  # the slot is taken
    holder.send_signal(signal.SIGKILL)  # no cleanup runs: the kernel drops the lock
    holder.wait(timeout=PATIENCE_S)
    finish(waiter)
    assert wait_for(out / "acquired-next")["slot"] == held


def test_no_slot_within_the_timeout_is_a_one_line_cli_error(dirs, tmp_path):
    lock, out = dirs
    holder = start(lock, out, "holder", gpus=1)
    wait_for(out / "acquired-holder")
    cmd = [sys.executable, "-m", "deblur", "-q", "train", "--image", str(tmp_path / "none.png"),
           "--out", str(tmp_path / "m"), "--device", "auto", "--gpu-slots", str(lock),
           "--slot-timeout", "0.3"]  # fmt: skip
    proc = subprocess.run(cmd, env=job_env(1), cwd=REPO, capture_output=True, text=True)
    (out / "release").touch()
    finish(holder)
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1, proc.stderr
    assert proc.stderr.startswith(f"error: no free GPU slot in {lock} after ")
    assert "gpu0-0.lock (pid " in proc.stderr and "holder" in proc.stderr  # who holds it


def test_train_and_inference_in_a_slot_record_it(dirs, tmp_path):
    """The real commands: each takes a slot of two faked GPUs, sets CUDA_VISIBLE_DEVICES for
    itself and (no CUDA here, device auto) runs on the CPU, recording all of it."""
    from PIL import Image

    lock, _ = dirs
    image = tmp_path / "sharp.png"
    Image.new("RGB", (40, 30), (90, 120, 200)).save(image)
    cmd = [sys.executable, "-m", "deblur", "train", "--image", str(image), "--out",
           str(tmp_path / "m"), "--device", "auto", "--threads", "1", "--set", "niter=1",
           "--set", "max_size=24", "--set", "min_size=16", "--set", "nfc=8", "--set",
           "max_nfc=8", "--gpu-slots", str(lock), "--gpus", "2"]  # fmt: skip
    proc = subprocess.run(cmd, env=job_env(4), cwd=REPO, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert f"GPU slot {lock / 'gpu0-0.lock'}: CUDA_VISIBLE_DEVICES=0" in proc.stderr
    meta = json.loads((tmp_path / "m" / "model.json").read_text())
    assert meta["cuda_visible_devices"] == "0" and meta["gpu_slot"] == str(lock / "gpu0-0.lock")
    assert meta["device"] == "cpu" and meta["device_name"] == "cpu"
    assert meta["cuda_device_count"] == 0
    # inference with the model in a slot: recorded in its info (and log)
    cmd = [sys.executable, "-m", "deblur", "deblur", "--model", str(tmp_path / "m"), "--image",
           str(image), "--out", str(tmp_path / "out.png"), "--info", str(tmp_path / "out.json"),
           "--device", "auto", "--gpu-slots", str(lock), "--gpus", "2"]  # fmt: skip
    proc = subprocess.run(cmd, env=job_env(4), cwd=REPO, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    info = json.loads((tmp_path / "out.json").read_text())
    assert info["deblur_gpu_slot"] == str(lock / "gpu0-0.lock")
    assert info["deblur_cuda_visible_devices"] == "0" and info["deblur_device"] == "cpu"


def test_selfdeblur_in_a_slot_records_it_in_its_info(dirs, tmp_path):
    from PIL import Image

    lock, _ = dirs
    image = tmp_path / "blurry.png"
    Image.effect_mandelbrot((48, 40), (-2, -1, 1, 1), 30).convert("RGB").save(image)
    slots = ["--device", "auto", "--threads", "1", "--gpu-slots", str(lock)]
    cmd = [sys.executable, "-m", "deblur", "selfdeblur", "--image", str(image), "--out",
           str(tmp_path / "out.png"), "--info", str(tmp_path / "out.json"), "--iterations", "2",
           "--kernel-size", "3", "--no-progress", *slots]  # fmt: skip
    proc = subprocess.run(cmd, env=job_env(2), cwd=REPO, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    info = json.loads((tmp_path / "out.json").read_text())
    assert info["selfdeblur_gpu_slot"] == str(lock / "gpu0-0.lock")
    assert info["selfdeblur_cuda_visible_devices"] == "0" and info["selfdeblur_device"] == "cpu"


# --- the workflow ---------------------------------------------------------------------------


def test_the_workflow_environment_sets_the_options_per_command(monkeypatch):
    env = gpu_slots.workflow_env("results/.gpu_slots", "auto", 2, {"train": 1800, "deblur": 600})
    assert env == {
        "DEBLUR_GPU_SLOTS": "results/.gpu_slots", "DEBLUR_GPUS": "auto",
        "DEBLUR_JOBS_PER_GPU": "2", "DEBLUR_SLOT_TIMEOUT": "train=1800,deblur=600",
    }  # fmt: skip
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    assert gpu_slots._env_timeout("train") == 1800 and gpu_slots._env_timeout("deblur") == 600
    assert gpu_slots._env_timeout("selfdeblur") is None  # not given: wait
    monkeypatch.setenv(gpu_slots.TIMEOUT_ENV, "90")
    assert gpu_slots._env_timeout("selfdeblur") == 90
    monkeypatch.setenv(gpu_slots.TIMEOUT_ENV, "train=soon")
    with pytest.raises(DeblurError, match="DEBLUR_SLOT_TIMEOUT='train=soon'"):
        gpu_slots._env_timeout("train")


@pytest.mark.slow
def test_a_local_run_takes_slots_and_slot_settings_never_rerun_a_job(tmp_path, monkeypatch):
    """Local training jobs (device auto: GPU jobs; no CUDA here, so they train on the CPU) take
    slots of two faked GPUs; other slot settings afterwards leave the finished jobs alone (the
    settings are not params, which would make Snakemake retrain)."""
    from workflow_helpers import make_workdir, snakemake

    monkeypatch.setenv(gpu_slots.FAKE_COUNT_ENV, "2")
    monkeypatch.setenv("PYTHONPATH", str(REPO))  # the jobs run this checkout's package
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    for key in gpu_slots.WORKFLOW_ENV:
        monkeypatch.delenv(key, raising=False)
    wd = make_workdir(tmp_path, "tiny.yaml")
    (wd / "gpu.yaml").write_text("train: {device: auto}\n")
    args = ("--until", "train_singan", "--configfile", "tiny.yaml", "gpu.yaml")
    snakemake(wd, "--cores", "2", *args)
    models = sorted((wd / "results/models").glob("*/*/model.json"))
    assert len(models) == 3
    for path in models:
        meta = json.loads(path.read_text())
        device = meta["cuda_visible_devices"]
        assert device in ("0", "1") and meta["gpu_slot"] == f"results/.gpu_slots/gpu{device}-0.lock"
    again = snakemake(wd, "-n", *args, "--config", "jobs_per_gpu=2", "gpus=1")
    assert re.search(r"^total +0$", again.stdout, flags=re.M), again.stdout  # no job to run


@pytest.mark.parametrize(("key", "value"), [("gpus", "0")])
def test_bad_slot_settings_fail_naming_the_key(tmp_path, key, value):
    from workflow_helpers import make_workdir, snakemake

    proc = snakemake(make_workdir(tmp_path), "-n", "--config", f"{key}={value}", check=False)
    assert proc.returncode != 0 and key in proc.stdout + proc.stderr
