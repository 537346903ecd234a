"""The environment the workflow's jobs inherit: the package's interpreter on PATH and, for a
local run, the GPU slots (:mod:`deblur.gpu_slots`).

Jobs inherit the environment of the Snakemake process that parses the workflow (and cluster
jobs parse it again), so the workflow sets it once at parse time with
:func:`prepare_environment`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, MutableMapping
from pathlib import Path

from deblur import gpu_slots

GPU_SLOTS_DIR = "results/.gpu_slots"
# the GPU commands and the config section whose runtime bounds their wait for a slot
SLOT_SECTIONS = (("train", "train"), ("deblur", "inference"), ("selfdeblur", "selfdeblur"))


def slot_timeouts(config: Mapping) -> dict[str, float]:
    """How long each GPU command waits for a slot: its job's runtime (minutes) in seconds."""
    return {command: config[section]["runtime"] * 60 for command, section in SLOT_SECTIONS}


def prepare_environment(
    environ: MutableMapping[str, str],
    config: Mapping,
    *,
    python: str,
    basedir: str,
    use_conda: bool,
    remote: bool,
) -> None:
    """Set what the jobs' commands need in ``environ`` (``os.environ`` in the workflow).

    Rules call ``python -m deblur ...``: the directory of ``python`` (the interpreter running
    Snakemake) goes first on PATH, so that ``python`` has the package even when its venv is not
    activated. Under ``use_conda`` (``--sdm conda``) the rule's env comes first instead and finds
    the package of this checkout through PYTHONPATH (``basedir`` first on it).

    The GPU jobs of a local run take GPU slots: a GPU each, or a share (``gpus``,
    ``jobs_per_gpu``). The settings reach their commands through the environment, not as
    params: Snakemake reruns a job whose params changed, and where a job runs must not make it
    retrain. Jobs a cluster runs (``remote``: Snakemake runs each with --mode remote in its
    allocation) get none, also when the submitting process's environment is passed on: the
    scheduler assigns their GPUs.
    """
    environ["PATH"] = os.pathsep.join([str(Path(python).parent), environ.get("PATH", "")])
    if use_conda:
        environ["PYTHONPATH"] = os.pathsep.join(
            filter(None, [str(basedir), environ.get("PYTHONPATH")])
        )
    for key in gpu_slots.WORKFLOW_ENV:
        environ.pop(key, None)
    if not remote:
        environ.update(
            gpu_slots.workflow_env(
                GPU_SLOTS_DIR, config["gpus"], config["jobs_per_gpu"], slot_timeouts(config)
            )
        )
