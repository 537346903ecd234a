"""GPU slots: give each GPU job of a local run a GPU of its own (or a share of one).

Snakemake counts GPU jobs (``--resources gpu=G``) but does not say which GPU a local job should
use, so every job would train on the first one. Here each GPU job takes a *slot* before it
touches CUDA: one lock file per slot in a directory the run owns, ``gpu<D>-<k>.lock`` for job
``k`` (0..jobs_per_gpu-1) on device ``D``. The job holds an exclusive ``flock`` on that file until
it exits; the kernel drops the lock when the process ends, also after SIGKILL, so a killed job's
slot frees itself and no stale lock needs cleaning. The job then sets ``CUDA_VISIBLE_DEVICES`` to
its device, so inside it ``cuda`` is its GPU and ``torch.cuda.device_count()`` is 1.

The devices are the entries of ``CUDA_VISIBLE_DEVICES`` when it is set (a selection given to
Snakemake, or the GPUs of a cluster allocation Snakemake runs in), else the GPUs ``nvidia-smi -L``
lists (MIG instances by their UUIDs), else ``torch.cuda.device_count()`` asked in a child
process (this process must not initialise CUDA before it knows its device). ``gpus: N`` keeps the
first N of them; the environment variable :data:`FAKE_COUNT_ENV` replaces the detection by N
devices ``0..N-1`` (tests on machines without GPUs).

Jobs beyond the slots wait, polling with a growing pause, up to a timeout; the job that still
finds none fails with one line naming the lock directory and the jobs holding its slots. Jobs
that a cluster scheduler runs (each in its own allocation) do not use this: the workflow passes
no lock directory to them, and the scheduler's ``CUDA_VISIBLE_DEVICES`` stands as given.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from deblur.errors import DeblurError

log = logging.getLogger(__name__)

FAKE_COUNT_ENV = "DEBLUR_GPU_COUNT"  # N: pretend the machine has GPUs 0..N-1 (tests, no GPU)
SLOT_ENV = "DEBLUR_GPU_SLOT"  # set by claim_gpu: the lock file this process (and children) hold
# the defaults of the slot options, set by the workflow for the jobs of a local run
DIR_ENV = "DEBLUR_GPU_SLOTS"  # --gpu-slots
GPUS_ENV = "DEBLUR_GPUS"  # --gpus
JOBS_PER_GPU_ENV = "DEBLUR_JOBS_PER_GPU"  # --jobs-per-gpu
TIMEOUT_ENV = "DEBLUR_SLOT_TIMEOUT"  # --slot-timeout: SECONDS, or COMMAND=SECONDS,... per command
WORKFLOW_ENV = (DIR_ENV, GPUS_ENV, JOBS_PER_GPU_ENV, TIMEOUT_ENV)
VISIBLE_ENV = "CUDA_VISIBLE_DEVICES"
POLL_FIRST_S = 0.05  # first pause between tries when every slot is taken
POLL_MAX_S = 2.0  # the pause doubles up to this
DETECT_TIMEOUT_S = 60  # nvidia-smi -L / the torch child may take this long before giving up
_EXPLICIT_CUDA = re.compile(r"cuda:\d+")
_SMI_GPU = re.compile(r"^GPU (\d+):")
_SMI_MIG = re.compile(r"^\s+MIG .*\(UUID: (MIG-[^)]+)\)")


@dataclass(frozen=True)
class Slot:
    """A held GPU slot: ``device`` (the ``CUDA_VISIBLE_DEVICES`` entry) and ``index``, the job's
    place among the ``jobs_per_gpu`` on it; ``fd`` keeps the lock (closed only at exit)."""

    path: Path
    device: str
    index: int
    fd: int


def parse_visible(value: str) -> list[str]:
    """The devices of a ``CUDA_VISIBLE_DEVICES`` value ("" or "-1": none).

    CUDA stops at the first invalid entry; so does this (only for the ``-1`` convention: other
    entries, indices, ``GPU-``/``MIG-`` UUIDs, are passed on unchecked).
    """
    devices = []
    for entry in (e.strip() for e in value.split(",")):
        if not entry or entry.startswith("-"):
            break
        devices.append(entry)
    return devices


def parse_nvidia_smi(text: str) -> list[str]:
    """Devices from ``nvidia-smi -L``: GPU indices, or the MIG UUIDs of a GPU split by MIG."""
    gpus: list[tuple[str, list[str]]] = []
    for line in text.splitlines():
        if match := _SMI_GPU.match(line):
            gpus.append((match.group(1), []))
        elif (match := _SMI_MIG.match(line)) and gpus:
            gpus[-1][1].append(match.group(1))
    return [device for index, migs in gpus for device in (migs or [index])]


def detect_devices() -> list[str]:
    """The GPUs of this machine without initialising CUDA in this process (see module doc)."""
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        out = subprocess.run(
            ["nvidia-smi", "-L"], capture_output=True, text=True, timeout=DETECT_TIMEOUT_S
        )
        if out.returncode == 0:
            return parse_nvidia_smi(out.stdout)
    code = "import torch; print(torch.cuda.device_count())"
    with contextlib.suppress(OSError, subprocess.SubprocessError, ValueError):
        out = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, timeout=DETECT_TIMEOUT_S
        )
        if out.returncode == 0:
            return [str(i) for i in range(int(out.stdout.strip().splitlines()[-1]))]
    return []


def visible_devices(gpus: str | int = "auto") -> list[str]:
    """The devices slots are made of: see the module doc; ``gpus`` is "auto" or a count N >= 1
    (the first N; more than there are is an error)."""
    fake = os.environ.get(FAKE_COUNT_ENV)
    if VISIBLE_ENV in os.environ:
        devices, origin = parse_visible(os.environ[VISIBLE_ENV]), f"{VISIBLE_ENV}"
    elif fake is not None:
        if not fake.isdigit():
            raise DeblurError(f"{FAKE_COUNT_ENV}={fake!r} is not a GPU count; set it to 0, 1, ...")
        devices, origin = [str(i) for i in range(int(fake))], FAKE_COUNT_ENV
    else:
        devices, origin = detect_devices(), "nvidia-smi -L"
    if gpus == "auto":
        return devices
    count = int(gpus) if str(gpus).isdigit() else -1
    if count < 1:
        raise DeblurError(f"gpus: {gpus!r} is not 'auto' or a GPU count >= 1; fix the setting")
    if count > len(devices):
        raise DeblurError(
            f"gpus: {count} but only {len(devices)} GPU(s) visible ({origin}: "
            f"{','.join(devices) or 'none'}); lower gpus or leave it at auto"
        )
    return devices[:count]


def slot_order(devices: Sequence[str], jobs_per_gpu: int) -> list[tuple[str, int]]:
    """(device, k) of every slot, first job on each GPU first: jobs spread over the GPUs before
    any GPU gets a second one."""
    if jobs_per_gpu < 1:
        raise DeblurError(f"jobs_per_gpu must be >= 1, got {jobs_per_gpu}; fix the setting")
    return [(d, k) for k in range(jobs_per_gpu) for d in devices]


def slot_path(lock_dir: Path, device: str, k: int) -> Path:
    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", device)
    return lock_dir / f"gpu{safe}-{k}.lock"


def _try_lock(path: Path, label: str) -> int | None:
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    # who holds it, for the error of a job that waited in vain (read without locking)
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"pid {os.getpid()} on {socket.gethostname()}: {label}\n".encode(), 0)
    return fd


def holders(lock_dir: Path, slots: Sequence[tuple[str, int]]) -> list[str]:
    """What the held slots' files say about their jobs (a free slot's file may be stale)."""
    out = []
    for device, k in slots:
        path = slot_path(lock_dir, device, k)
        with contextlib.suppress(OSError):
            fd = os.open(path, os.O_RDWR)
            try:
                fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
            except BlockingIOError:  # held: its text names the holder
                out.append(f"{path.name} ({path.read_text().strip() or 'unknown job'})")
            finally:
                os.close(fd)
    return out


def acquire(
    lock_dir: str | os.PathLike,
    devices: Sequence[str],
    jobs_per_gpu: int = 1,
    timeout: float | None = None,
    label: str = "",
) -> Slot:
    """Take the first free slot of ``devices`` x ``jobs_per_gpu`` in ``lock_dir``.

    Parameters
    ----------
    lock_dir : path
        Directory of the run's lock files (created when missing).
    devices : sequence of str
        ``CUDA_VISIBLE_DEVICES`` entries, one per GPU (see :func:`visible_devices`).
    jobs_per_gpu : int
        Jobs that may share one GPU.
    timeout : float or None
        Seconds to wait for a free slot; None waits as long as it takes.
    label : str
        What the job is, written into the lock file for others' error messages.

    Returns
    -------
    Slot
        Held until the process exits (or :func:`release`).

    Raises
    ------
    DeblurError
        No device given, or no slot freed within ``timeout``.
    """
    lock_dir = Path(lock_dir)
    slots = slot_order(devices, jobs_per_gpu)
    if not slots:
        raise DeblurError(f"no GPUs to make slots of in {lock_dir}; run on cpu or give GPUs")
    try:
        lock_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DeblurError(f"cannot create the GPU lock directory {lock_dir}: {exc}") from None
    start = time.monotonic()
    pause, waited = POLL_FIRST_S, False
    while True:
        for device, k in slots:
            path = slot_path(lock_dir, device, k)
            try:
                fd = _try_lock(path, label)
            except OSError as exc:
                raise DeblurError(f"cannot lock {path}: {exc}; check the directory") from None
            if fd is not None:
                if waited:
                    log.info("GPU slot free after %.1f s of waiting", time.monotonic() - start)
                return Slot(path, device, k, fd)
        elapsed = time.monotonic() - start
        if timeout is not None and elapsed >= timeout:
            busy = "; ".join(holders(lock_dir, slots)) or "none found held now"
            raise DeblurError(
                f"no free GPU slot in {lock_dir} after {elapsed:.0f} s: all {len(slots)} "
                f"({len(devices)} GPU(s) x {jobs_per_gpu} job(s)) are taken [{busy}]; give "
                f"Snakemake --resources gpu={len(slots)} at most, or raise jobs_per_gpu"
            )
        if not waited:
            log.info(
                "all %d GPU slots in %s are taken: waiting%s for one to free",
                len(slots), lock_dir, "" if timeout is None else f" up to {timeout:.0f} s",
            )  # fmt: skip
            waited = True
        wait = pause if timeout is None else min(pause, max(timeout - elapsed, 0.0))
        time.sleep(wait)
        pause = min(pause * 2, POLL_MAX_S)


def release(slot: Slot) -> None:
    """Give a slot back before the process ends (the lock file stays for the next job)."""
    os.close(slot.fd)


def claim_gpu(
    lock_dir: str | os.PathLike | None,
    device: str,
    gpus: str | int = "auto",
    jobs_per_gpu: int = 1,
    timeout: float | None = None,
    label: str = "",
) -> Slot | None:
    """Take a GPU slot for this job and make its device the only visible one.

    Call it before anything touches CUDA. Steps aside (returns None, changes nothing) when
    ``lock_dir`` is None (no allocation asked for, e.g. a cluster job), ``device`` is ``cpu`` or
    an explicit ``cuda:N``, or there are no GPUs (``auto`` then runs on the CPU). Otherwise it
    waits for a slot (:func:`acquire`), sets ``CUDA_VISIBLE_DEVICES`` to the slot's device and
    :data:`SLOT_ENV` to its lock file, and logs both.
    """
    if lock_dir is None or device == "cpu":
        return None
    if _EXPLICIT_CUDA.fullmatch(device):
        log.info("device %s given explicitly: no GPU slot taken", device)
        return None
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_initialized():
        raise DeblurError("CUDA was initialised before a GPU slot was taken (a bug): report it")
    devices = visible_devices(gpus)
    if not devices:
        log.info("no GPUs visible: no GPU slot taken (device %s)", device)
        return None
    slot = acquire(lock_dir, devices, jobs_per_gpu, timeout, label)
    os.environ[VISIBLE_ENV] = slot.device
    os.environ[SLOT_ENV] = str(slot.path)
    log.info(
        "GPU slot %s: CUDA_VISIBLE_DEVICES=%s (job %d of up to %d on that GPU; %d GPU(s))",
        slot.path, slot.device, slot.index + 1, jobs_per_gpu, len(devices),
    )  # fmt: skip
    return slot


def device_record(device, prefix: str = "") -> dict[str, object]:
    """Where a job ran, for its model.json / info JSON (keys get ``prefix``).

    ``device``: ``cuda:I`` (with its index) or ``cpu``; ``device_name``: the GPU's name or
    ``cpu``; ``device_uuid``: the GPU's UUID ("" on CPU), the same whatever
    ``CUDA_VISIBLE_DEVICES`` says; ``cuda_device_count``: the GPUs the job could see (1 in a GPU
    slot; 0 on CPU); ``cuda_visible_devices``: as the job saw it ("" when unset, e.g. the
    scheduler's on a cluster); ``gpu_slot``: the slot's lock file ("" without one).
    """
    import torch

    device = torch.device(device)
    name, uuid, count = "cpu", "", 0
    if device.type == "cuda":
        index = device.index if device.index is not None else torch.cuda.current_device()
        props = torch.cuda.get_device_properties(index)
        device, name = torch.device("cuda", index), props.name
        uuid, count = str(getattr(props, "uuid", "")), torch.cuda.device_count()
    record = dict(
        device=str(device),
        device_name=name,
        device_uuid=uuid,
        cuda_device_count=count,
        cuda_visible_devices=os.environ.get(VISIBLE_ENV, ""),
        gpu_slot=os.environ.get(SLOT_ENV, ""),
    )
    return {prefix + k: v for k, v in record.items()}


def workflow_env(
    lock_dir: str, gpus: str | int, jobs_per_gpu: int, timeouts: dict[str, float]
) -> dict[str, str]:
    """The environment that makes the GPU commands of a local run take slots: :data:`DIR_ENV`
    and the others of :data:`WORKFLOW_ENV`, ``timeouts`` in seconds per command name.

    The workflow passes the slot settings this way rather than on the command line, as a rule's
    params: Snakemake reruns a job whose params changed, and whether a job runs locally or on a
    cluster (or how many jobs share a GPU) must not make it retrain.
    """
    return {
        DIR_ENV: str(lock_dir),
        GPUS_ENV: str(gpus),
        JOBS_PER_GPU_ENV: str(jobs_per_gpu),
        TIMEOUT_ENV: ",".join(f"{command}={seconds:g}" for command, seconds in timeouts.items()),
    }


def _env_timeout(command: str) -> float | None:
    """The slot timeout :data:`TIMEOUT_ENV` gives ``command`` (None: wait as long as it takes)."""
    value = os.environ.get(TIMEOUT_ENV, "").strip()
    if not value:
        return None
    entries = dict(e.split("=", 1) if "=" in e else ("", e) for e in value.split(","))
    text = entries.get(command, entries.get(""))
    try:
        return None if text is None else float(text)
    except ValueError:
        raise DeblurError(
            f"{TIMEOUT_ENV}={value!r}: {text!r} is not a number of seconds; give SECONDS or "
            "COMMAND=SECONDS,..."
        ) from None


def add_arguments(parser) -> None:
    """The slot options of the GPU commands (train, deblur, selfdeblur)."""
    group = parser.add_argument_group("GPU slots (local runs with several GPU jobs at once)")
    group.add_argument(
        "--gpu-slots", metavar="DIR",
        help="take a free GPU slot (a lock file in DIR) before using CUDA and run on that GPU "
        "alone (sets CUDA_VISIBLE_DEVICES); waits while all are taken. Ignored for --device cpu "
        f"or cuda:N (default: ${DIR_ENV}, which the workflow sets for local runs; unset: off, "
        "the device is used as given)",
    )  # fmt: skip
    group.add_argument(
        "--gpus", metavar="N",
        help="with --gpu-slots: GPUs to use, auto (every visible one: CUDA_VISIBLE_DEVICES, "
        f"else nvidia-smi -L; {FAKE_COUNT_ENV}=N fakes N) or the first N (default: ${GPUS_ENV}, "
        "else auto)",
    )  # fmt: skip
    group.add_argument(
        "--jobs-per-gpu", type=int, metavar="K",
        help=f"with --gpu-slots: jobs that may share one GPU (default: ${JOBS_PER_GPU_ENV}, "
        "else 1)",
    )  # fmt: skip
    group.add_argument(
        "--slot-timeout", type=float, metavar="SECONDS",
        help="with --gpu-slots: fail when no slot frees within this time (default: "
        f"${TIMEOUT_ENV}, SECONDS or COMMAND=SECONDS,...; else wait as long as it takes)",
    )  # fmt: skip


def claim_from_args(args, command: str, label: str) -> Slot | None:
    """:func:`claim_gpu` with the options of :func:`add_arguments` (unset ones from the
    environment, see :data:`WORKFLOW_ENV`), ``args.device``, for the CLI command ``command``."""
    jobs = args.jobs_per_gpu
    if jobs is None:
        text = os.environ.get(JOBS_PER_GPU_ENV, "1")
        if not text.strip().isdigit():
            raise DeblurError(f"{JOBS_PER_GPU_ENV}={text!r} is not a job count; set 1, 2, ...")
        jobs = int(text)
    return claim_gpu(
        args.gpu_slots or os.environ.get(DIR_ENV) or None, args.device,
        gpus=args.gpus or os.environ.get(GPUS_ENV) or "auto", jobs_per_gpu=jobs,
        timeout=_env_timeout(command) if args.slot_timeout is None else args.slot_timeout,
        label=label,
    )  # fmt: skip
