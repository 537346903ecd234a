"""Checks of the SLURM cluster test (tests/cluster/slurm_pipeline_test.sh).

    python slurm_checks.py jobs PLAN SQUEUE JOBCOMP [--failed RULE ...] [--allow-failed RULE ...]
        every job of the dry-run PLAN ran as a SLURM job (squeue records, cross-checked with
        slurmctld's job completion log), COMPLETED exactly once, in the right partition, with a
        GPU exactly when the profile asks for one; the --failed rules also have FAILED jobs, and
        no other rule than those and --allow-failed has any
    python slurm_checks.py compare SLURM_WORKDIR LOCAL_WORKDIR
        the SLURM run's results equal the local run's (CPU, same seeds, same threads)
    python slurm_checks.py reference PLAN
        the input image of one train_singan job of PLAN (the image the test corrupts)
    python slurm_checks.py devices SLURM_WORKDIR LOCAL_WORKDIR GPUS
        where the trainings ran (train.device auto, no CUDA here: on the CPU): under SLURM each
        on the one GPU SLURM gave it (its CUDA_VISIBLE_DEVICES, one of 0..GPUS-1), without a GPU
        slot; locally (GPUS faked by DEBLUR_GPU_COUNT) each in a GPU slot of the workflow's
        results/.gpu_slots, with CUDA_VISIBLE_DEVICES set to that slot's GPU
    python slurm_checks.py batch WORKDIR SQUEUE JOBCOMP
        after the finished trainings were regrouped as one batch (train.batch 2): exactly one
        batch job ran, COMPLETED (squeue and the completion log agree), in the GPU partition
        with one GPU and train.mem_mb + batch_mem_mb_per_member of memory (SQUEUE lines are
        JOBID|COMMENT|STATE|PARTITION|MIN_MEMORY|TRES_PER_JOB, as for jobs), and every
        model.json records
        the batch with its own index

Each command prints what it checked and exits non-zero with a one-line reason on a mismatch.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import sys
from collections import Counter
from pathlib import Path

import pandas as pd
import yaml

# what workflow/profiles/slurm asks for: rule -> (partition, GPUs per job)
GPU_RULES = {"train_singan": ("gpu", 1)}
CPU_PARTITION = "cpu"
# "all" only collects targets: Snakemake finishes it in the main process, no SLURM job
NOT_SUBMITTED = {"all"}

# metrics.parquet columns that legitimately differ between two runs: wall-clock timings, and
# where a job ran (the GPU SLURM or a local GPU slot gave it: CUDA_VISIBLE_DEVICES, slot file)
TIMING_COLUMN = re.compile(r"seconds|cuda_visible_devices|gpu_slot")
TABLES = ("metrics.parquet", "summary.parquet", "paired.parquet")


class CheckError(Exception):
    pass


def planned_jobs(plan: str) -> dict[str, int]:
    """rule -> job count from the first 'Job stats' table of a dry run's output."""
    match = re.search(r"^Job stats:\njob +count\n[- ]+\n((?:\S+ +\d+\n)+)", plan, flags=re.M)
    if not match:
        raise CheckError("no 'Job stats' table: not the output of a Snakemake dry run")
    counts = dict(line.split() for line in match[1].splitlines())
    return {r: int(n) for r, n in counts.items() if r != "total" and r not in NOT_SUBMITTED}


def read_squeue(path: Path) -> pd.DataFrame:
    """``squeue -h -t all -o '%i|%k|%T|%P|%m'`` plus ``-O tres-per-job`` joined as
    JOBID|...|TRES (the minimum memory, ``%m``, may be left out; then ``memory`` is "")."""
    rows = []
    for line in path.read_text().splitlines():
        job_id, comment, state, partition, *memory, tres = (f.strip() for f in line.split("|"))
        match = re.fullmatch(r"rule_(\w+?)(?:_wildcards_(.*))?", comment)
        if not match:
            raise CheckError(f"SLURM job {job_id} has comment {comment!r}: not a Snakemake job")
        rows.append(
            dict(
                job_id=job_id,
                rule=match[1],
                wildcards=match[2] or "",
                state=state,
                partition=partition,
                memory=memory[0] if memory else "",
                gpus=int(m[1]) if (m := re.search(r"gpu:(\d+)", tres)) else 0,
            )
        )
    return pd.DataFrame(rows)


def read_jobcomp(path: Path) -> dict[str, str]:
    """Job id -> final state from slurmctld's jobcomp/filetxt log."""
    states = {}
    for line in path.read_text().splitlines():
        fields = dict(f.split("=", 1) for f in line.split() if "=" in f)
        states[fields["JobId"]] = fields["JobState"]
    return states


def check_jobs(
    plan: Path, squeue: Path, jobcomp: Path, failed: list[str], allow_failed: list[str]
) -> None:
    expected = planned_jobs(plan.read_text())
    jobs = read_squeue(squeue)
    completed = jobs[jobs["state"] == "COMPLETED"]
    got = Counter(completed["rule"])
    if dict(got) != expected:
        raise CheckError(f"COMPLETED SLURM jobs per rule {dict(got)} != planned {expected}")
    dup = completed[completed.duplicated(["rule", "wildcards"])]
    if len(dup):
        redone = (dup["rule"] + " " + dup["wildcards"]).tolist()
        raise CheckError(f"jobs completed twice (finished work redone): {redone}")
    other = jobs[~jobs["state"].isin(["COMPLETED", "FAILED"])]
    if len(other):
        raise CheckError(f"SLURM jobs neither completed nor failed: {other.to_dict('records')}")
    for rule in failed:
        if not (jobs[(jobs["rule"] == rule)]["state"] == "FAILED").any():
            raise CheckError(f"no FAILED SLURM job of rule {rule}")
    unexpected = set(jobs[jobs["state"] == "FAILED"]["rule"]) - set(failed) - set(allow_failed)
    if unexpected:
        raise CheckError(f"unexpected FAILED jobs of rules {sorted(unexpected)}")
    for row in jobs.itertuples():
        want = GPU_RULES.get(row.rule, (CPU_PARTITION, 0))
        if (row.partition, row.gpus) != want:
            raise CheckError(
                f"SLURM job {row.job_id} ({row.rule}) ran in partition {row.partition} with "
                f"{row.gpus} GPU(s); the profile asks for {want[0]} with {want[1]}"
            )
    comp = read_jobcomp(jobcomp)
    for row in jobs.itertuples():
        if comp.get(row.job_id) != row.state:
            raise CheckError(
                f"job completion log says {comp.get(row.job_id)} for job {row.job_id}, "
                f"squeue says {row.state}"
            )
    print(
        f"SLURM jobs: {len(jobs)} ({len(completed)} COMPLETED: "
        + ", ".join(f"{r} {n}" for r, n in sorted(got.items()))
        + f"; {len(jobs) - len(completed)} FAILED as injected: "
        + ", ".join(sorted(set(jobs[jobs["state"] == "FAILED"]["rule"])))
        + "), partitions and GPUs as the profile asks, all in slurmctld's completion log"
    )


def read_table(path: Path) -> pd.DataFrame:
    if not path.is_file():
        raise CheckError(f"missing {path}")
    return pd.read_parquet(path)


def compare(slurm: Path, local: Path) -> None:
    for name in TABLES:
        a = read_table(slurm / "results/tables" / name)
        b = read_table(local / "results/tables" / name)
        timing = sorted(c for c in a.columns if TIMING_COLUMN.search(c))
        if list(a.columns) != list(b.columns):
            raise CheckError(f"{name}: columns differ: {list(a.columns)} vs {list(b.columns)}")
        if len(a) == 0 or len(a) != len(b):
            raise CheckError(f"{name}: {len(a)} rows from SLURM, {len(b)} locally")
        a, b = a.drop(columns=timing), b.drop(columns=timing)
        try:
            pd.testing.assert_frame_equal(a, b, check_exact=True)
        except AssertionError as exc:
            raise CheckError(f"{name} differs between the SLURM and the local run: {exc}") from exc
        print(f"{name}: {len(a)} rows identical (ignoring timing/placement columns {timing})")
    images = sorted(p.relative_to(slurm) for p in (slurm / "results/deblurred").rglob("*.png"))
    if not images:
        raise CheckError("no deblurred images in the SLURM run")
    for rel in images:
        if digest(slurm / rel) != digest(local / rel):
            raise CheckError(f"{rel} differs between the SLURM and the local run")
    print(f"deblurred images: {len(images)} byte-identical")


def model_records(workdir: Path) -> list[dict]:
    paths = sorted((workdir / "results/models").glob("*/*/model.json"))
    if not paths:
        raise CheckError(f"no model.json under {workdir}/results/models")
    return [dict(json.loads(p.read_text()), path=str(p.relative_to(workdir))) for p in paths]


def check_devices(slurm: Path, local: Path, gpus: int) -> None:
    ids = {str(i) for i in range(gpus)}
    for m in model_records(slurm):
        if m.get("gpu_slot", "missing") != "" or m.get("cuda_visible_devices") not in ids:
            raise CheckError(
                f"{m['path']} (SLURM): CUDA_VISIBLE_DEVICES {m.get('cuda_visible_devices')!r}, "
                f"GPU slot {m.get('gpu_slot')!r}; expected one of SLURM's GPUs {sorted(ids)} "
                "as given, and no slot"
            )
    for m in model_records(local):
        device = m.get("cuda_visible_devices")
        if device not in ids or m.get("gpu_slot") != f"results/.gpu_slots/gpu{device}-0.lock":
            raise CheckError(
                f"{m['path']} (local): CUDA_VISIBLE_DEVICES {device!r}, GPU slot "
                f"{m.get('gpu_slot')!r}; expected a slot of results/.gpu_slots and its GPU"
            )
    print(
        "devices: SLURM's CUDA_VISIBLE_DEVICES used as given (no GPU slots); locally each "
        "training in a GPU slot with CUDA_VISIBLE_DEVICES set to its GPU"
    )


def merged_train_config(workdir: Path) -> dict:
    """The train section as the test's run merges it: config.yaml, tiny.yaml, tiny_cluster.yaml."""
    train = {}
    for name in ("config.yaml", "tiny.yaml", "tiny_cluster.yaml"):
        train.update(yaml.safe_load((workdir / name).read_text()).get("train") or {})
    return train


def check_batch(workdir: Path, squeue: Path, jobcomp: Path) -> None:
    jobs = read_squeue(squeue)
    batch = jobs[jobs["rule"].str.startswith("train_singan_batch_")]
    if len(batch) != 1:
        found = batch.to_dict("records")
        raise CheckError(f"expected one batch training job in squeue, got {found}")
    job_id, rule, state, partition, memory, gpus = batch.iloc[0][
        ["job_id", "rule", "state", "partition", "memory", "gpus"]
    ]
    train = merged_train_config(workdir)
    want_mb = train["mem_mb"] + train["batch_mem_mb_per_member"]
    got = (state, partition, gpus, memory)
    want = ("COMPLETED", GPU_RULES["train_singan"][0], GPU_RULES["train_singan"][1], f"{want_mb}M")
    if got != want:
        raise CheckError(
            f"batch job {job_id} ({rule}): state, partition, GPUs, memory {got}; want {want}"
        )
    if read_jobcomp(jobcomp).get(job_id) != state:
        raise CheckError(f"job completion log disagrees with squeue on batch job {job_id}")
    records = model_records(workdir)
    indices = sorted((m.get("batch") or {}).get("index", -1) for m in records)
    sizes = {(m.get("batch") or {}).get("size") for m in records}
    if indices != list(range(len(records))) or sizes != {len(records)}:
        raise CheckError(f"model.json batch records: sizes {sizes}, indices {indices}")
    print(
        f"batch: one SLURM job ({rule}) COMPLETED in partition {partition} with {gpus} GPU "
        f"and {memory} (mem_mb {train['mem_mb']} + {train['batch_mem_mb_per_member']}), "
        f"{len(records)} model.json files with their batch index"
    )


def digest(path: Path) -> str:
    if not path.is_file():
        raise CheckError(f"missing {path}")
    return hashlib.sha256(path.read_bytes()).hexdigest()


def training_input(plan: Path) -> str:
    """The input image of the first train_singan job in a dry run's output."""
    blocks = re.split(r"\n(?=\S*rule \w+:)", plan.read_text())
    for block in blocks:
        if re.match(r"\S*rule train_singan:", block.strip()):
            return re.search(r"^\s+input: (\S+)$", block, flags=re.M)[1]
    raise CheckError(f"no train_singan job in {plan}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("jobs", help="every planned job ran as a SLURM job")
    p.add_argument("plan", type=Path, help="output of the dry run (snakemake -n)")
    p.add_argument("squeue", type=Path, help="JOBID|COMMENT|STATE|PARTITION|TRES_PER_JOB lines")
    p.add_argument("jobcomp", type=Path, help="slurmctld's jobcomp/filetxt log")
    p.add_argument("--failed", nargs="*", default=[], help="rules that must have a FAILED job")
    p.add_argument("--allow-failed", nargs="*", default=[], help="rules that may have FAILED jobs")
    p = sub.add_parser("compare", help="SLURM results equal local results")
    p.add_argument("slurm", type=Path)
    p.add_argument("local", type=Path)
    p = sub.add_parser("reference", help="input image of a train_singan job")
    p.add_argument("plan", type=Path)
    p = sub.add_parser("devices", help="SLURM assigns GPUs, local runs use GPU slots")
    p.add_argument("slurm", type=Path)
    p.add_argument("local", type=Path)
    p.add_argument("gpus", type=int, help="the node's (fake) GPUs")
    p = sub.add_parser("batch", help="the regrouped trainings ran as one batch job")
    p.add_argument("workdir", type=Path)
    p.add_argument("squeue", type=Path, help="JOBID|COMMENT|STATE|PARTITION|MIN_MEMORY|TRES lines")
    p.add_argument("jobcomp", type=Path, help="slurmctld's jobcomp/filetxt log")
    args = parser.parse_args(argv)
    try:
        if args.command == "jobs":
            check_jobs(args.plan, args.squeue, args.jobcomp, args.failed, args.allow_failed)
        elif args.command == "compare":
            compare(args.slurm, args.local)
        elif args.command == "batch":
            check_batch(args.workdir, args.squeue, args.jobcomp)
        elif args.command == "devices":
            check_devices(args.slurm, args.local, args.gpus)
        else:
            print(training_input(args.plan))
    except CheckError as exc:
        print(f"check failed: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
