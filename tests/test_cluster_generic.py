"""workflow/profiles/cluster-generic against a fake SGE/PBS scheduler (tests/cluster).

The profile's submit/status/cancel scripts are run as Snakemake runs them, with fake ``qsub``,
``qstat``, ``qacct`` and ``qdel`` first on PATH; the end-to-end test runs the real pipeline on
the tiny config through the profile.
"""

from __future__ import annotations

import json
import math
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from workflow_helpers import REPO, make_workdir, snakemake

from deblur.data.gopro import image_size

sys.path.insert(0, str(REPO / "tests" / "cluster"))
import fake_scheduler  # noqa: E402

PROFILE = REPO / "workflow" / "profiles" / "cluster-generic"


@pytest.fixture
def cluster(tmp_path, monkeypatch):
    """A fake scheduler on PATH; returns its state directory."""
    state = tmp_path / "scheduler"
    fake_scheduler.install(tmp_path / "bin", state)
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.delenv("DEBLUR_SCHEDULER", raising=False)
    monkeypatch.delenv("DEBLUR_QSUB_ARGS", raising=False)
    return state


def script(tmp_path, body: str) -> Path:
    path = tmp_path / f"job{abs(hash(body))}.sh"
    path.write_text(f"#!/bin/sh\n{body}\n")
    return path


def submit(tmp_path, jobscript, *args, scheduler="sge", check=True):
    env = {**os.environ, "DEBLUR_SCHEDULER": scheduler}
    cmd = [str(PROFILE / "submit.sh"), *args, str(jobscript)]
    proc = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True)
    if check:
        assert proc.returncode == 0, proc.stderr
    return proc


def status(job_id, scheduler="sge"):
    env = {**os.environ, "DEBLUR_SCHEDULER": scheduler}
    proc = subprocess.run(
        [str(PROFILE / "status.sh"), job_id], env=env, capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip()


def submissions(state) -> list[dict]:
    path = state / "submissions.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def wait_finished(state, job_id, timeout=20):
    exit_file = state / "jobs" / f"{job_id.split('.')[0]}.exit"
    deadline = time.monotonic() + timeout
    while not exit_file.exists():
        assert time.monotonic() < deadline, f"job {job_id} did not finish in {timeout} s"
        time.sleep(0.05)


GPU_JOB = ["--name", "smk.train", "--threads", "4", "--mem-mb", "8000", "--gpus", "1"]
GPU_JOB += ["--runtime", "240", "--log-dir", "logs/cluster/train_singan"]
CPU_JOB = ["--name", "smk.evaluate", "--threads", "1", "--mem-mb", "2000", "--gpus", "0"]
CPU_JOB += ["--runtime", "30", "--log-dir", "logs/cluster/evaluate"]


def test_sge_submission_maps_threads_memory_gpu_runtime(tmp_path, cluster, monkeypatch):
    monkeypatch.setenv("DEBLUR_QSUB_ARGS", "-q gpu.q -P vision")
    job = script(tmp_path, "exit 0")
    gpu_id = submit(tmp_path, job, *GPU_JOB).stdout.strip()
    cpu_id = submit(tmp_path, job, *CPU_JOB).stdout.strip()
    assert re.fullmatch(r"\d+", gpu_id) and cpu_id != gpu_id
    gpu, cpu = (" ".join(s["argv"]) for s in submissions(cluster))
    # 8000 MB over 4 slots: h_vmem is per slot on SGE
    assert "-terse -cwd -V -N smk.train -pe smp 4 -l h_vmem=2000M -l h_rt=4:00:00" in gpu
    assert "-l gpu=1" in gpu and "-q gpu.q -P vision" in gpu
    assert "-pe smp 1 -l h_vmem=2000M -l h_rt=0:30:00" in cpu
    assert "gpu" not in cpu.replace("gpu.q", "")
    assert gpu.endswith(str(job)) and (tmp_path / "logs/cluster/train_singan").is_dir()


def test_pbs_submission_uses_select_and_walltime(tmp_path, cluster, monkeypatch):
    monkeypatch.setenv("SGE_PE", "ignored-on-pbs")
    job = script(tmp_path, "exit 0")
    job_id = submit(tmp_path, job, *GPU_JOB, scheduler="pbs").stdout.strip()
    submit(tmp_path, job, *CPU_JOB, scheduler="pbs")
    assert job_id.endswith(".fakepbs")  # the full id PBS prints is what Snakemake keeps
    gpu, cpu = (" ".join(s["argv"]) for s in submissions(cluster))
    assert "-l select=1:ncpus=4:mem=8000mb:ngpus=1 -l walltime=4:00:00" in gpu
    assert "-l select=1:ncpus=1:mem=2000mb -l walltime=0:30:00" in cpu
    assert "-j oe -o logs/cluster/evaluate/" in cpu


def test_scheduler_is_detected_from_qacct(tmp_path):
    bin_dir = tmp_path / "bin"
    fake_scheduler.install(bin_dir, tmp_path / "state", commands=("qsub", "qstat"))
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}/usr/bin:/bin"}
    env.pop("DEBLUR_SCHEDULER", None)
    cmd = [str(PROFILE / "submit.sh"), *CPU_JOB, str(script(tmp_path, "exit 0"))]
    out = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip().endswith(".fakepbs")  # no qacct: PBS
    fake_scheduler.install(bin_dir, tmp_path / "state", commands=("qacct",))
    out = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip().isdigit()  # qacct: SGE


@pytest.mark.parametrize(
    "args, message",
    [
        (["--threads", "two"], "--threads must be a whole number, got 'two'"),
        (["--mem-mb", "8G"], "--mem-mb must be a whole number, got '8G'"),
        (["--queue", "x"], "unknown option --queue"),
    ],
)
def test_submission_rejects_bad_values(tmp_path, cluster, args, message):
    proc = submit(tmp_path, script(tmp_path, "exit 0"), *args, check=False)
    assert proc.returncode == 2 and message in proc.stderr
    assert submissions(cluster) == []


def test_unknown_scheduler_is_an_error(tmp_path, cluster):
    proc = submit(tmp_path, script(tmp_path, "exit 0"), *CPU_JOB, scheduler="lsf", check=False)
    assert proc.returncode == 2 and "DEBLUR_SCHEDULER must be sge or pbs" in proc.stderr


@pytest.mark.parametrize("scheduler", ["sge", "pbs"])
def test_status_follows_the_job_to_success_failure_or_cancel(tmp_path, cluster, scheduler):
    ok = submit(tmp_path, script(tmp_path, "exit 0"), *CPU_JOB, scheduler=scheduler).stdout
    bad = submit(tmp_path, script(tmp_path, "exit 3"), *CPU_JOB, scheduler=scheduler).stdout
    slow = submit(tmp_path, script(tmp_path, "sleep 60"), *CPU_JOB, scheduler=scheduler).stdout
    ok, bad, slow = ok.strip(), bad.strip(), slow.strip()
    assert status(slow, scheduler) == "running"
    wait_finished(cluster, ok)
    wait_finished(cluster, bad)
    assert status(ok, scheduler) == "success"
    assert status(bad, scheduler) == "failed"
    subprocess.run([str(PROFILE / "cancel.sh"), slow], check=True, capture_output=True)
    wait_finished(cluster, slow)
    assert status(slow, scheduler) == "failed"


def test_status_sge_error_state_is_failed(tmp_path, cluster):
    job_id = submit(tmp_path, script(tmp_path, "sleep 60"), *CPU_JOB).stdout.strip()
    assert status(job_id) == "running"
    (cluster / "jobs" / f"{job_id}.eqw").touch()  # Eqw: SGE keeps it queued, forever
    assert status(job_id) == "failed"
    subprocess.run([str(PROFILE / "cancel.sh"), job_id], check=True, capture_output=True)


def test_status_pbs_unknown_job_is_failed(cluster):
    assert status("999.fakepbs", scheduler="pbs") == "failed"


def test_status_sge_waits_for_accounting(tmp_path, cluster):
    """A job that left qstat but is not in qacct yet is still running, not failed."""
    job_id = submit(tmp_path, script(tmp_path, "exit 0"), *CPU_JOB).stdout.strip()
    wait_finished(cluster, job_id)
    exit_file = cluster / "jobs" / f"{job_id}.exit"
    exit_file.rename(exit_file.with_suffix(".hidden"))
    (cluster / "jobs" / f"{job_id}.pid").unlink()  # qstat -j: gone; qacct: no record yet
    assert status(job_id) == "running"


def planned_outputs(wd, *args) -> list[str]:
    """Output files of the jobs a dry run plans."""
    out = snakemake(wd, "-n", *args).stdout
    return re.findall(r"^\s+output: (.+)$", out, flags=re.M)


@pytest.mark.slow
def test_pipeline_runs_through_the_profile(tmp_path, cluster):
    """The tiny pipeline for one pair: every job is a qsub with the rule's resources."""
    (tmp_path / "wd").mkdir()
    wd = make_workdir(tmp_path / "wd", "tiny.yaml")
    outputs = planned_outputs(wd, "--configfile", "tiny.yaml")
    pair_metrics = sorted(o for o in outputs if o.startswith("results/metrics/singan/"))[0]
    pair = Path(pair_metrics).stem
    targets = [pair_metrics, f"results/metrics/identity/{pair}.parquet"]
    run = ["--profile", str(PROFILE), "--configfile", "tiny.yaml", "--jobs", "2", *targets]
    run += ["--seconds-between-status-checks", "1"]  # the production default is 10 s
    proc = snakemake(wd, *run)
    for target in targets:
        assert (wd / target).is_file(), target
    subs = submissions(cluster)
    rules = sorted(re.search(r"-N smk\.(\w+)\.\d+", " ".join(s["argv"]))[1] for s in subs)
    assert rules == sorted(
        ["synthesize_dataset", "train_singan", "deblur_singan", "deblur_baseline"]
        + ["evaluate"] * 2
    ), proc.stderr[-3000:]
    by_rule = {re.search(r"-N smk\.(\w+)\.", " ".join(s["argv"]))[1]: s for s in subs}
    train = " ".join(by_rule["train_singan"]["argv"])
    # threads, memory and runtime from the config's train: section, gpu from the profile
    assert "-pe smp 1 -l h_vmem=2000M -l h_rt=0:30:00 -l gpu=1" in train
    deblur = " ".join(by_rule["deblur_singan"]["argv"])
    assert "-l h_rt=0:10:00" in deblur and "gpu=" not in deblur
    evaluate = " ".join(by_rule["evaluate"]["argv"])
    # evaluate's memory is estimated from its frame: evaluate.mem_mb_base + per megapixel
    conf = yaml.safe_load((REPO / "config.yaml").read_text())["evaluate"]
    frames = {image_size(f) for f in (wd / "results").rglob("sharp/*.png")}
    assert len(frames) == 1, frames
    (width, height) = frames.pop()
    mem = math.ceil(conf["mem_mb_base"] + conf["mem_mb_per_megapixel"] * width * height / 1e6)
    assert f"-pe smp 1 -l h_vmem={mem}M -l h_rt=0:30:00" in evaluate and "gpu=" not in evaluate
    assert all(Path(s["cwd"]) == wd for s in subs)
    assert (wd / "logs/cluster/train_singan").is_dir()
    # done: a second run submits nothing
    snakemake(wd, *run)
    assert len(submissions(cluster)) == len(subs)


@pytest.mark.slow
def test_a_training_batch_is_one_qsub_with_the_batch_s_memory(tmp_path, cluster):
    """train.batch 2: the two members of the first batch are one submission, with one GPU,
    train.mem_mb + batch_mem_mb_per_member and batch_runtime_per_member added per member."""
    (tmp_path / "wd").mkdir()
    wd = make_workdir(tmp_path / "wd", "tiny.yaml")
    batch = "train={batch: 2, batch_runtime_per_member: 7}"
    args = ["--configfile", "tiny.yaml", "--config", batch]
    pairs = [o.split(", ") for o in planned_outputs(wd, *args) if o.count("model.json") == 2]
    assert len(pairs) == 1, pairs
    run = ["--profile", str(PROFILE), *args, "--jobs", "2", *pairs[0]]
    snakemake(wd, *run, "--seconds-between-status-checks", "1")
    metas = [json.loads((wd / p).read_text()) for p in pairs[0]]
    assert [m["batch"]["index"] for m in metas] == [0, 1]
    subs = submissions(cluster)
    trains = [" ".join(s["argv"]) for s in subs if "smk.train_singan_batch_" in " ".join(s["argv"])]
    assert len(trains) == 1, [s["argv"] for s in subs]
    train = yaml.safe_load((REPO / "config.yaml").read_text())["train"]
    mem = train["mem_mb"] + train["batch_mem_mb_per_member"]
    minutes = train["runtime"] + 7
    assert f"-l h_vmem={mem}M -l h_rt={minutes // 60}:{minutes % 60:02d}:00 -l gpu=1" in trains[0]
