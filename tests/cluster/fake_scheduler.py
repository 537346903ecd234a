"""A fake SGE/PBS scheduler for testing workflow/profiles/cluster-generic without a cluster.

Install it as ``qsub``, ``qstat``, ``qacct`` and ``qdel`` (small wrappers that call
``python fake_scheduler.py <command> ARGS``); its state lives in ``$FAKE_SCHEDULER_DIR``:

- ``submissions.jsonl``: one record per qsub call (job id, argv, working directory);
- ``jobs/<id>.pid``, ``jobs/<id>.exit``: the detached runner and the job script's exit code.

qsub runs the job script at once with ``/bin/sh`` in a new session, in the background, with the
output in the ``-o`` directory like the real schedulers. Only what the profile's scripts use is
implemented: ``qsub`` (any flags, job script last; ``-terse`` means SGE), ``qstat -j ID`` and
``qacct -j ID`` (SGE), ``qstat -x -f ID`` (PBS), ``qdel ID...``. A file ``jobs/<id>.eqw`` makes
``qstat -j`` report the SGE error state Eqw.
"""

from __future__ import annotations

import fcntl
import json
import os
import signal
import subprocess
import sys
from pathlib import Path


def state_dir() -> Path:
    root = Path(os.environ["FAKE_SCHEDULER_DIR"])
    (root / "jobs").mkdir(parents=True, exist_ok=True)
    return root


def next_job_id(root: Path) -> int:
    """A counter shared by concurrent qsub calls (file lock)."""
    with open(root / "counter", "a+") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        fh.seek(0)
        last = int(fh.read() or 0)
        fh.seek(0)
        fh.truncate()
        fh.write(str(last + 1))
        return last + 1


def option(argv: list[str], flag: str) -> str | None:
    return argv[argv.index(flag) + 1] if flag in argv[:-1] else None


def qsub(argv: list[str]) -> int:
    root, jobscript = state_dir(), argv[-1]
    if not Path(jobscript).is_file():
        print(f"qsub: script file {jobscript} does not exist", file=sys.stderr)
        return 1
    job_id = next_job_id(root)
    name = option(argv, "-N") or Path(jobscript).name
    out = option(argv, "-o") or "."
    log = Path(out, f"{name}.o{job_id}") if out.endswith("/") or Path(out).is_dir() else Path(out)
    record = {"id": job_id, "argv": argv, "cwd": os.getcwd(), "log": str(log)}
    with open(root / "submissions.jsonl", "a") as fh:
        fh.write(json.dumps(record) + "\n")
    runner = subprocess.Popen(
        [sys.executable, __file__, "_run", str(job_id), jobscript, str(log)],
        start_new_session=True,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    (root / "jobs" / f"{job_id}.pid").write_text(str(runner.pid))
    print(job_id if "-terse" in argv else f"{job_id}.fakepbs")
    return 0


def run(job_id: str, jobscript: str, log: str) -> int:
    """The detached job: run the script, then record its exit code atomically."""
    jobs = state_dir() / "jobs"
    Path(log).parent.mkdir(parents=True, exist_ok=True)
    with open(log, "w") as fh:
        code = subprocess.call(["/bin/sh", jobscript], stdout=fh, stderr=subprocess.STDOUT)
    tmp = jobs / f"{job_id}.exit.tmp"
    tmp.write_text(str(code))
    tmp.rename(jobs / f"{job_id}.exit")
    return 0


def exit_code(job_id: str) -> int | None:
    path = state_dir() / "jobs" / f"{job_id}.exit"
    return int(path.read_text()) if path.exists() else None


def known(job_id: str) -> bool:
    return (state_dir() / "jobs" / f"{job_id}.pid").exists()


def qstat(argv: list[str]) -> int:
    job_id = argv[-1].split(".")[0]
    if "-j" in argv:  # SGE: only queued/running jobs
        if not known(job_id) or exit_code(job_id) is not None:
            print(f"Following jobs do not exist:\n{job_id}", file=sys.stderr)
            return 1
        print(f"job_number:                 {job_id}")
        if (state_dir() / "jobs" / f"{job_id}.eqw").exists():
            print("error reason    1:          can't chdir to directory: No such file")
        return 0
    if not known(job_id):  # PBS, qstat -x -f
        print(f"qstat: Unknown Job Id {job_id}.fakepbs", file=sys.stderr)
        return 153
    code = exit_code(job_id)
    print(f"Job Id: {job_id}.fakepbs")
    print(f"    job_state = {'R' if code is None else 'F'}")
    if code is not None:
        print(f"    Exit_status = {code}")
    return 0


def qacct(argv: list[str]) -> int:
    job_id = argv[-1]
    code = exit_code(job_id)
    if code is None:
        print(f"error: job id {job_id} not found", file=sys.stderr)
        return 1
    print("=" * 62)
    print(f"jobnumber    {job_id}")
    print("failed       0")
    print(f"exit_status  {code}")
    return 0


def qdel(argv: list[str]) -> int:
    for arg in argv:
        job_id = arg.split(".")[0]
        pid_file = state_dir() / "jobs" / f"{job_id}.pid"
        if pid_file.exists() and exit_code(job_id) is None:
            try:
                os.killpg(int(pid_file.read_text()), signal.SIGKILL)
            except ProcessLookupError:
                pass
            # the killed runner records nothing: a deleted job ends like SIGKILL
            (state_dir() / "jobs" / f"{job_id}.exit").write_text("137")
        print(f"deleted job {job_id}")
    return 0


COMMANDS = {"qsub": qsub, "qstat": qstat, "qacct": qacct, "qdel": qdel}


def main(argv: list[str]) -> int:
    command, args = argv[0], argv[1:]
    if command == "_run":
        return run(*args)
    return COMMANDS[command](args)


def install(bin_dir: Path, state: Path, commands=("qsub", "qstat", "qacct", "qdel")) -> None:
    """Write wrappers for ``commands`` into ``bin_dir``, using state directory ``state``."""
    bin_dir.mkdir(parents=True, exist_ok=True)
    for command in commands:
        wrapper = bin_dir / command
        wrapper.write_text(
            f"#!/bin/sh\nFAKE_SCHEDULER_DIR={state} exec {sys.executable} {__file__} "
            f'{command} "$@"\n'
        )
        wrapper.chmod(0o755)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
