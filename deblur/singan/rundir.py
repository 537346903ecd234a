"""A model directory's bookkeeping: the run's identity, the writer's lock, stale temporary
files, another run's pyramid set aside, whether a finished model is already there, and what
``model.json`` records.

Training (:func:`deblur.singan.train.train`) uses these around its scale loop; the files
themselves (``scale_NN.pt``, ``train_log.tsv``, ``model.json``) are read and written by
:mod:`deblur.singan.checkpoint`.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import torch

import deblur
from deblur.atomic import output_error
from deblur.cpuinfo import cpu_record
from deblur.errors import DeblurError
from deblur.gpu_slots import device_record
from deblur.singan.checkpoint import (
    MODEL_JSON,
    TRAIN_LOG,
    ScaleCheckpoint,
    file_sha256,
    load_scale,
    read_model_json,
    run_mismatch,
    scale_files,
    scale_mismatch,
    scale_path,
)
from deblur.singan.config import SinGANConfig

log = logging.getLogger(__name__)

LOCK_FILE = ".lock"
# temporary names of the atomic writers: left behind only by a killed run
STALE_PATTERNS = (".scale_*.tmp.*", f".{TRAIN_LOG}.tmp.*", f".{MODEL_JSON}.tmp.*")


def run_identity(
    config: SinGANConfig, seed: int, image_path: Path, precision: str
) -> dict[str, object]:
    """What makes two runs the same run: a directory is resumed only by an identical one."""
    return dict(
        config=config.to_dict(),
        config_hash=config.config_hash(),
        seed=seed,
        image_sha256=file_sha256(image_path),
        precision=precision,
    )


@contextlib.contextmanager
def model_dir_lock(out_dir: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``out_dir/.lock`` for the block, so one trainer writes a model.

    ``flock`` locks die with their process, so a lock file left by a killed run never blocks
    (the file itself stays; it is empty and harmless).

    Raises
    ------
    DeblurError
        If another process (or another open of the file) holds the lock, or the lock file
        cannot be created.
    """
    path = out_dir / LOCK_FILE
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    except OSError as exc:
        raise output_error(path, exc) from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise DeblurError(
                f"{out_dir} is being written by another trainer (it holds {path}); wait for it "
                "to finish, or stop it, or train into another --out directory"
            ) from None
        yield
    finally:
        os.close(fd)  # releases the lock


@contextlib.contextmanager
def open_model_dir(out_dir: Path) -> Iterator[Path]:
    """Create ``out_dir``, hold its lock for the block and remove a killed run's temporaries.

    Raises DeblurError (one line) if ``out_dir`` is a file, cannot be created, or is held by
    another trainer.
    """
    if out_dir.exists() and not out_dir.is_dir():
        raise DeblurError(f"--out {out_dir} is a file; give a directory for the model")
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise output_error(out_dir, exc) from None
    with model_dir_lock(out_dir):
        for pattern in STALE_PATTERNS:
            for stale in out_dir.glob(pattern):
                stale.unlink()
        yield out_dir


def set_aside_other_run(out_dir: Path, run: dict[str, object]) -> tuple[Path, str] | None:
    """Move a pyramid of another run (other config, seed, image or precision) out of ``out_dir``.

    Its files (``scale_*.pt``, ``train_log.tsv``, ``model.json``) go to a sibling directory
    ``<out_dir>.replaced-<UTC time>``, kept, not deleted; other files (a workflow's history log)
    stay. This is what a rerun needs when the training image or seed changed under the same model
    directory: the old scales cannot be resumed, and refusing would stop the rerun.

    Returns
    -------
    (directory the files went to, how the runs differ), or None if ``out_dir`` holds nothing of
    another run.
    """
    problem = None
    if (out_dir / MODEL_JSON).is_file():
        with contextlib.suppress(DeblurError):  # a damaged model.json is is_finished's case
            problem = run_mismatch(read_model_json(out_dir), run)
    for path in scale_files(out_dir):
        with contextlib.suppress(DeblurError):  # an unreadable scale is retrained in place
            problem = problem or run_mismatch(load_scale(path, torch.device("cpu")).run, run)
    if problem is None:
        return None
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    out_dir = out_dir.absolute()  # `--out .` has no name of its own
    dest = out_dir.with_name(f"{out_dir.name}.replaced-{stamp}")
    names = [p.name for p in scale_files(out_dir)] + [TRAIN_LOG, MODEL_JSON]
    try:
        dest.mkdir()
    except OSError as exc:
        raise output_error(dest, exc) from None
    moved = []
    try:
        for name in names:
            if (out_dir / name).is_file():
                (out_dir / name).rename(dest / name)
                moved.append(name)
    except OSError as exc:
        for name in moved:  # put back what was moved (a rename within one folder tree)
            with contextlib.suppress(OSError):
                (dest / name).rename(out_dir / name)
        with contextlib.suppress(OSError):
            dest.rmdir()  # only if empty: nothing is lost
        raise output_error(dest, exc) from None
    return dest, problem


def is_finished(out_dir: Path, run: dict[str, object]) -> bool:
    """True if ``out_dir`` holds a finished model of this run whose every scale file is there,
    loads and belongs to it; raises DeblurError if it holds one of another run (other config,
    seed, image or precision).

    A ``model.json`` that is damaged, or whose scales are missing, unreadable or not its own,
    marks nothing finished: it is removed (with a warning naming the problem) so that
    training resumes and retrains what is missing.
    """
    path = out_dir / MODEL_JSON
    if not path.is_file():
        return False
    try:
        meta = read_model_json(out_dir)
    except DeblurError as exc:
        return _unfinish(path, str(exc))
    problem = run_mismatch(meta, run)
    if problem:
        raise DeblurError(
            f"{out_dir} already holds a finished model trained with {problem}; delete it "
            f"or train into another --out directory"
        )
    for scale in range(meta["num_scales"]):
        scale_file = scale_path(out_dir, scale)
        if not scale_file.is_file():
            return _unfinish(path, f"{scale_file.name} is missing")
        try:
            ckpt = load_scale(scale_file, torch.device("cpu"))
        except DeblurError as exc:
            return _unfinish(path, str(exc).split("; re-run")[0])
        mismatch = scale_mismatch(ckpt, scale, meta)
        if mismatch:
            return _unfinish(path, f"{scale_file.name} does not match it: {mismatch}")
    return True


def _unfinish(model_json: Path, problem: str) -> bool:
    """Remove a finished marker that does not hold (the trainer then resumes); False."""
    log.warning("%s does not hold (%s); removing it and training what is missing", model_json,
                problem)  # fmt: skip
    model_json.unlink()
    return False


def usable_scales(
    out_dir: Path, run: dict[str, object], sizes: Sequence[tuple[int, int]], device
) -> list[ScaleCheckpoint]:
    """The finished scales of this run in ``out_dir`` to resume from (0, 1, ... without gaps).

    The first missing or unreadable scale file ends the list (it is retrained, with a warning
    for an unreadable one); scale files after it were trained on top of it and are removed.

    Raises
    ------
    DeblurError
        If a readable scale file was written by a different run.
    """
    done: list[ScaleCheckpoint] = []
    while len(done) < len(sizes) and (path := scale_path(out_dir, len(done))).is_file():
        try:
            ckpt = load_scale(path, device)
        except DeblurError as exc:
            log.warning("%s; retraining scale %d", str(exc).split("; re-run")[0], len(done))
            break
        problem = run_mismatch(ckpt.run, run)
        if problem:
            raise DeblurError(
                f"{path} was written with {problem}; refusing to resume. Delete {out_dir} "
                f"or train into another --out directory"
            )
        if ckpt.scale != len(done) or tuple(ckpt.size) != tuple(sizes[len(done)]):
            log.warning("%s holds scale %d of size %s, not scale %d of %s; retraining it", path,
                        ckpt.scale, ckpt.size, len(done), list(sizes[len(done)]))  # fmt: skip
            break
        done.append(ckpt)
    for later in scale_files(out_dir):
        if int(later.stem.split("_")[1]) > len(done):
            log.warning("removing %s: it was trained on top of scale %d, retrained now", later,
                        len(done))  # fmt: skip
            later.unlink()
    return done


def model_info(
    run: dict[str, object],
    settings: dict[str, object],
    device: torch.device,
    image_path: Path,
    image_size: tuple[int, int],
    sizes: Sequence[tuple[int, int]],
    scale_factor: float,
    done: Sequence[ScaleCheckpoint],
) -> dict[str, object]:
    """The ``model.json`` record of a finished pyramid: the run's identity, the trainer's
    ``settings`` (step, compile, branch_max_channels), the machine (with the CPU's instruction-set
    class and the kernels' caps, :func:`deblur.cpuinfo.cpu_record`), the total training time over
    every process that trained a scale, the pyramid's sizes and each scale's noise amplitude."""
    return dict(
        config=run["config"],
        config_hash=run["config_hash"],
        seed=run["seed"],
        precision=run["precision"],
        **settings,
        # device (cuda:I or cpu), device_name, cuda_visible_devices, gpu_slot, ...
        **device_record(device),
        threads=torch.get_num_threads(),
        # cpu_name, cpu_isa, cpu_capability, onednn_max_cpu_isa: what CPU rounding depends on
        **cpu_record(),
        flush_denormals=device.type == "cpu",
        torch_version=torch.__version__,
        package_version=deblur.__version__,
        train_seconds=sum(c.stats["seconds"] for c in done),
        image=str(image_path),
        image_sha256=run["image_sha256"],
        image_size=list(image_size),
        sizes=[list(s) for s in sizes],
        scale_factor=scale_factor,
        noise_amp=[c.noise_amp for c in done],
        channels=[c.channels for c in done],
        num_scales=len(sizes),
    )
