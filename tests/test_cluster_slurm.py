"""workflow/profiles/slurm: the resources it requests per rule, the checks of the real-cluster test,
and (opt-in here, always in CI via .ci/run) the real one-node SLURM test itself."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml
from workflow_helpers import REPO, make_workdir, snakemake

sys.path.insert(0, str(REPO / "tests" / "cluster"))
import slurm_checks  # noqa: E402

PROFILES = REPO / "workflow" / "profiles"
CLUSTER = REPO / "tests" / "cluster"


def planned_resources(wd: Path, *args: str) -> dict[str, list[dict[str, str]]]:
    """rule -> the resources of each of its jobs, from a dry run's output."""
    out = snakemake(wd, "-n", *args).stdout
    jobs: dict[str, list[dict[str, str]]] = {}
    for block in re.split(r"\n(?=\S*rule \w+:)", out):
        rule = re.match(r"\S*rule (\w+):", block.strip())
        res = re.search(r"^\s+resources: (.+)$", block, flags=re.M)
        if rule and res:
            pairs = (kv.split("=", 1) for kv in res[1].split(", "))
            jobs.setdefault(rule[1], []).append(dict(pairs))
    return jobs


@pytest.fixture(scope="module")
def slurm_plan(tmp_path_factory):
    wd = make_workdir(tmp_path_factory.mktemp("plan"), "tiny.yaml")
    return planned_resources(wd, "--profile", str(PROFILES / "slurm"), "--configfile", "tiny.yaml")


def test_training_asks_for_a_gpu_and_cpus_per_gpu_in_the_gpu_partition(slurm_plan):
    for job in slurm_plan["train_singan"]:
        assert job["gpu"] == "1" and job["cpus_per_gpu"] == "4"
        assert job["slurm_partition"] == "gpu"
        assert job["mem_mb"] == "2000" and job["runtime"] == "30"  # config train: section


def test_everything_else_runs_on_cpu(slurm_plan):
    others = {r: jobs for r, jobs in slurm_plan.items() if r not in ("train_singan", "all")}
    assert {"deblur_singan", "evaluate", "aggregate", "plot"} <= set(others)
    for rule, jobs in others.items():
        for job in jobs:
            assert job.get("gpu", "0") == "0", rule
            assert job["slurm_partition"] == "cpu", rule
            assert int(job["runtime"]) > 0, rule
            if rule in ("evaluate", "deblur_baseline"):  # from the frame's size, once the
                assert job["mem_mb"] == "<TBD>"  # dataset is written (tests/test_job_memory.py)
            else:
                assert int(job["mem_mb"]) > 0, rule
    assert slurm_plan["deblur_singan"][0]["runtime"] == "10"  # config inference: section


def test_evaluate_asks_for_memory_by_frame_size(tmp_path):
    """With the dataset written, each evaluate job asks for evaluate.mem_mb_base plus
    mem_mb_per_megapixel per megapixel of its frame (96x54 in tiny.yaml)."""
    wd = make_workdir(tmp_path, "tiny.yaml")
    settings = yaml.safe_load((REPO / "config.yaml").read_text())["evaluate"]
    root = wd / "results" / "data" / "synthetic"
    cmd = [sys.executable, "-m", "deblur", "synth", "--out", str(root), "--sequences", "2",
           "--frames", "2", "--size", "96x54", "--seed", "0"]  # fmt: skip
    subprocess.run(cmd, check=True, cwd=REPO, capture_output=True)
    plan = planned_resources(wd, "--profile", str(PROFILES / "slurm"), "--configfile", "tiny.yaml")
    expected = settings["mem_mb_base"] + settings["mem_mb_per_megapixel"] * 96 * 54 / 1e6
    assert {job["mem_mb"] for job in plan["evaluate"]} == {str(int(-(-expected // 1)))}


@pytest.mark.parametrize("profile", sorted(p.name for p in PROFILES.iterdir() if p.is_dir()))
def test_no_profile_limits_gpu_globally(profile):
    """`resources: gpu=1` in a profile would allow one GPU job across the whole cluster."""
    config = yaml.safe_load((PROFILES / profile / "config.yaml").read_text())
    assert "resources" not in config


def test_test_profile_only_adds_polling_settings():
    """The real-cluster test must submit exactly what workflow/profiles/slurm asks for."""
    test = yaml.safe_load((CLUSTER / "profile" / "config.yaml").read_text())
    slurm = yaml.safe_load((PROFILES / "slurm" / "config.yaml").read_text())
    assert not set(test) & set(slurm)
    assert set(test) <= {
        "slurm-status-command",
        "slurm-init-seconds-before-status-checks",
        "seconds-between-status-checks",
    }


# --- the checks of tests/cluster/slurm_pipeline_test.sh --------------------------------------

PLAN = """\
Job stats:
job                   count
------------------  -------
all                       1
evaluate                  2
train_singan              1
total                     4
"""


def write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text)
    return path


def jobcomp_for(squeue_lines):
    return "".join(
        f"JobId={line.split('|')[0]} UserId=root(0) Name=deblur_x JobState={line.split('|')[2]} "
        "Partition=cpu ExitCode=0:0\n"
        for line in squeue_lines
    )


GOOD = [
    "1|rule_train_singan_wildcards_944259dedb5b_synth00-000002|COMPLETED|gpu|gres:gpu:1",
    "2|rule_evaluate_wildcards_identity_synth00-000002|COMPLETED|cpu|N/A",
    "3|rule_evaluate_wildcards_singan_synth00-000002|COMPLETED|cpu|N/A",
]


def run_jobs_check(tmp_path, lines, *failed, jobcomp=None):
    plan = write(tmp_path, "plan.txt", PLAN)
    squeue = write(tmp_path, "squeue.txt", "\n".join(lines) + "\n")
    comp = write(tmp_path, "jobcomp.log", jobcomp if jobcomp is not None else jobcomp_for(lines))
    args = ["jobs", str(plan), str(squeue), str(comp)]
    if failed:
        args += ["--failed", *failed]
    return slurm_checks.main(args)


def test_jobs_check_accepts_a_complete_run(tmp_path, capsys):
    assert run_jobs_check(tmp_path, GOOD) == 0
    assert "evaluate 2, train_singan 1" in capsys.readouterr().out


def test_jobs_check_accepts_an_injected_failure_that_was_resumed(tmp_path):
    failed = "4|rule_train_singan_wildcards_944259dedb5b_synth00-000002|FAILED|gpu|gres:gpu:1"
    assert run_jobs_check(tmp_path, [failed, *GOOD], "train_singan") == 0
    assert run_jobs_check(tmp_path, [failed, *GOOD]) == 1  # not announced: a real failure


@pytest.mark.parametrize(
    "lines, reason",
    [
        (GOOD[:2], "!= planned"),  # a job did not run on the cluster
        (GOOD + [GOOD[0].replace("1|", "9|", 1)], "!= planned"),  # a training redone
        ([GOOD[0].replace("|gpu|gres:gpu:1", "|cpu|N/A"), *GOOD[1:]], "partition cpu with 0"),
        ([GOOD[0], GOOD[1].replace("|cpu|", "|gpu|"), GOOD[2]], "partition gpu"),
        (GOOD + ["7|rule_evaluate_wildcards_x|RUNNING|cpu|N/A"], "neither completed nor failed"),
        (["8|sbatch --wrap hostname|COMPLETED|cpu|N/A"], "not a Snakemake job"),
    ],
)
def test_jobs_check_rejects(tmp_path, capsys, lines, reason):
    assert run_jobs_check(tmp_path, lines) == 1
    assert reason in capsys.readouterr().err


def test_jobs_check_cross_checks_the_completion_log(tmp_path, capsys):
    comp = jobcomp_for(GOOD).replace("JobState=COMPLETED", "JobState=FAILED", 1)
    assert run_jobs_check(tmp_path, GOOD, jobcomp=comp) == 1
    assert "completion log says FAILED for job 1" in capsys.readouterr().err


def fake_results(wd: Path, psnr=20.0, seconds=1.0, png=b"png"):
    tables = wd / "results" / "tables"
    tables.mkdir(parents=True)
    rows = dict(pair_id=["a", "b"], psnr=[psnr, 21.0], train_seconds=[seconds, 2.0])
    for name in slurm_checks.TABLES:
        pd.DataFrame(rows).to_parquet(tables / name)
    (wd / "results" / "deblurred" / "singan").mkdir(parents=True)
    (wd / "results" / "deblurred" / "singan" / "a.png").write_bytes(png)


def test_compare_ignores_only_timings(tmp_path, capsys):
    fake_results(tmp_path / "slurm")
    fake_results(tmp_path / "local", seconds=7.5)
    assert slurm_checks.main(["compare", str(tmp_path / "slurm"), str(tmp_path / "local")]) == 0
    assert "ignoring timing/placement columns ['train_seconds']" in capsys.readouterr().out


def fake_models(wd, *records):
    for i, record in enumerate(records):
        path = wd / "results/models/cfg" / f"ref{i}" / "model.json"
        path.parent.mkdir(parents=True)
        path.write_text(json.dumps(record))


@pytest.mark.parametrize(
    "slurm, local, reason",
    [
        ({"cuda_visible_devices": "1", "gpu_slot": ""}, None, None),
        ({"cuda_visible_devices": "1", "gpu_slot": "results/.gpu_slots/gpu1-0.lock"}, None,
         "(SLURM)"),  # a slot under SLURM: the allocator did not step aside
        ({"cuda_visible_devices": "", "gpu_slot": ""}, None, "(SLURM)"),  # no GPU from SLURM
        (None, {"cuda_visible_devices": "", "gpu_slot": ""}, "(local)"),  # no slot locally
        (None, {"cuda_visible_devices": "0", "gpu_slot": "results/.gpu_slots/gpu1-0.lock"},
         "(local)"),  # another GPU than the slot's
    ],
)  # fmt: skip
def test_devices_check(tmp_path, capsys, slurm, local, reason):
    fake_models(tmp_path / "s", slurm or {"cuda_visible_devices": "0", "gpu_slot": ""})
    good_local = {"cuda_visible_devices": "1", "gpu_slot": "results/.gpu_slots/gpu1-0.lock"}
    fake_models(tmp_path / "l", local or good_local)
    rc = slurm_checks.main(["devices", str(tmp_path / "s"), str(tmp_path / "l"), "2"])
    assert rc == (0 if reason is None else 1)
    if reason:
        assert reason in capsys.readouterr().err


@pytest.mark.parametrize(
    "local, reason",
    [
        (dict(psnr=20.000000001), "metrics.parquet differs"),
        (dict(png=b"other"), "a.png differs"),
    ],
)
def test_compare_detects_any_other_difference(tmp_path, capsys, local, reason):
    fake_results(tmp_path / "slurm")
    fake_results(tmp_path / "local", **local)
    assert slurm_checks.main(["compare", str(tmp_path / "slurm"), str(tmp_path / "local")]) == 1
    assert reason in capsys.readouterr().err


def test_reference_is_the_input_of_a_training_job(tmp_path, capsys):
    plan = write(
        tmp_path,
        "plan.txt",
        "rule sample_pairs:\n    input: x.png\n\nrule train_singan:\n"
        "    input: results/data/s/sharp/2.png\n    output: m.json\n",
    )
    assert slurm_checks.main(["reference", str(plan)]) == 0
    assert capsys.readouterr().out.strip() == "results/data/s/sharp/2.png"


# --- the real thing --------------------------------------------------------------------------


@pytest.mark.slow
def test_real_slurm_cluster():
    """Start a one-node SLURM, run the tiny pipeline through the profile, compare, stop."""
    if os.environ.get("DEBLUR_SLURM_TEST") != "1":
        pytest.skip(
            "the real SLURM test runs in CI from .ci/run (tests/cluster/slurm_local.sh test); "
            "set DEBLUR_SLURM_TEST=1 to run it from pytest (root, apt or slurm-wlm installed)"
        )
    if os.geteuid() != 0:
        pytest.skip("the real SLURM test needs root (slurmctld, slurmd and munged)")
    if not shutil.which("slurmctld") and not shutil.which("apt-get"):
        pytest.skip("neither slurm-wlm nor apt-get to install it")
    proc = subprocess.run(
        [str(CLUSTER / "slurm_local.sh"), "test"], capture_output=True, text=True, timeout=900
    )
    assert proc.returncode == 0, proc.stderr[-6000:]
    assert "PASSED" in proc.stderr
