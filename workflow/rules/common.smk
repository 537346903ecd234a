# Parse-time setup: validate the config, make the run's plan (deblur.plan: methods, pairs,
# references, pyramids to train; decided before any job runs, so `snakemake -n` lists every job
# and a cluster knows the job count) and the small get_* helpers the rules call.
import json
import os
import shlex
import sys
from pathlib import Path

import yaml
from snakemake.exceptions import WorkflowError
from snakemake.logging import logger
from snakemake.settings.types import DeploymentMethod
from snakemake.utils import validate

from deblur import gpu_slots as GPU_SLOTS
from deblur import outputs as OUT
from deblur.commands.report_options import paper_args, report_args
from deblur.errors import DeblurError
from deblur.kernelio import kernel_path_for
from deblur.plan import make_plan
from deblur.plan.methods import baseline_param_args, selfdeblur_param_args, thaw

SCHEMA = Path(workflow.basedir) / "workflow" / "schemas" / "config.schema.yaml"


def _coerce_cli_strings(value, schema):
    """Snakemake reads nested ``--config key='{a: 1}'`` values with YAML's BaseLoader, so they
    arrive as strings; convert those the schema wants as numbers or booleans."""
    if isinstance(value, dict):
        props = schema.get("properties", {})
        return {k: _coerce_cli_strings(v, props.get(k, {})) for k, v in value.items()}
    if isinstance(value, list):
        return [_coerce_cli_strings(v, schema.get("items", {})) for v in value]
    types = schema.get("type", [])
    types = [types] if isinstance(types, str) else types
    if isinstance(value, str) and "string" not in types:
        if {"integer", "number", "boolean", "null"} & set(types):
            return yaml.safe_load(value)
    return value


# the only changes to `config`: command-line strings typed, then the schema's defaults filled in
config.update(_coerce_cli_strings(config, yaml.safe_load(SCHEMA.read_text())))
validate(config, str(SCHEMA))


def _complete_methods(entries):
    """Fill the schema's defaults into method entries the plan generates (the ladder's)."""
    validate({**config, "methods": entries}, str(SCHEMA))


try:
    PLAN = make_plan(config, complete=_complete_methods)
except DeblurError as exc:
    raise WorkflowError(f"configuration error: {exc}")
for _warning in PLAN.warnings:
    logger.warning(_warning)
METHODS = PLAN.methods

# Rules call `python -m deblur ...`. Put the interpreter running Snakemake first on PATH so that
# `python` has the package even when its venv is not activated (jobs inherit the environment, and
# cluster jobs re-run this file). Under --sdm conda the rule's env comes first instead and finds
# the package of this checkout through PYTHONPATH.
_env = os.environ
_env.update(
    PATH=os.pathsep.join([str(Path(sys.executable).parent), _env.get("PATH", "")])
)
if DeploymentMethod.CONDA in workflow.deployment_settings.deployment_method:
    _env.update(
        PYTHONPATH=os.pathsep.join(
            filter(None, [workflow.basedir, _env.get("PYTHONPATH")])
        )
    )
SOFTWARE = "../envs/deblur.yaml"


def _alternatives(names):
    """A regex matching exactly one of ``names`` (wildcard constraint)."""
    import re

    return "|".join(re.escape(n) for n in names) or "(?!)"


wildcard_constraints:
    pair=_alternatives(PLAN.pair_ids),
    ref=_alternatives(sorted({job.reference_id for job in PLAN.model_jobs})),
    singan_method=_alternatives(PLAN.singan_methods),
    baseline_method=_alternatives(PLAN.plain_baselines),
    kernel_method=_alternatives(PLAN.kernel_methods),
    selfdeblur_method=_alternatives(PLAN.selfdeblur_methods),
    method=_alternatives(METHODS),
    cfg=_alternatives(sorted(PLAN.settings_by_key)),


def job_resources(section):
    """threads/mem/runtime/gpu of a job class from config; gpu only when the device is not cpu."""
    c = config[section]
    return dict(
        gpu=0 if c["device"] == "cpu" else 1, mem_mb=c["mem_mb"], runtime=c["runtime"]
    )


def set_gpu_slot_env():
    """GPU jobs of a local run take GPU slots (deblur/gpu_slots.py): a GPU each, or a share.

    The settings reach their commands through the environment, not as params: Snakemake reruns
    a job whose params changed, and where a job runs must not make it retrain. Jobs a cluster
    runs (Snakemake runs each with --mode remote in its allocation) get none, also when the
    submitting process's environment is passed on: the scheduler assigns their GPUs.
    """
    for key in GPU_SLOTS.WORKFLOW_ENV:
        os.environ.pop(key, None)
    if workflow.remote_exec:
        return
    timeouts = {
        command: config[section]["runtime"] * 60
        for command, section in (
            ("train", "train"),
            ("deblur", "inference"),
            ("selfdeblur", "selfdeblur"),
        )
    }
    os.environ.update(
        GPU_SLOTS.workflow_env(
            "results/.gpu_slots", config["gpus"], config["jobs_per_gpu"], timeouts
        )
    )


set_gpu_slot_env()


def model_dir(cfg, ref):
    return f"results/models/{cfg}/{ref}"


def train_history(wildcards):
    """Every training run's output for this pyramid, appended (its log shows it whole)."""
    return f"{model_dir(wildcards.cfg, wildcards.ref)}/train_runs.log"


def get_reference_image(wildcards):
    return str(PLAN.sharp_by_id[wildcards.ref])


def get_blurry(wildcards):
    return str(PLAN.pairs[wildcards.pair].blurry)


def get_sharp(wildcards):
    return str(PLAN.pairs[wildcards.pair].sharp)


def model_json(method, pair):
    """The finished-model marker of the pyramid ``method`` uses for ``pair``."""
    return f"{model_dir(*PLAN.model_job(method, pair))}/model.json"


def get_model(wildcards):
    return model_json(wildcards.singan_method, wildcards.pair)


def get_deblur_flags(wildcards):
    limit = config["inference"]["max_output_pixels"]
    return " ".join(METHODS[wildcards.singan_method].deblur_args(limit))


def baseline_flags(method, pair):
    """``--param key=VALUE ...``, each value shell-quoted (the flags stay separate words), and
    ``--kernel PNG`` for an oracle (only there, so the other methods' commands are as before).
    """
    flags = [
        f"--param {shlex.quote(a)}" for a in baseline_param_args(METHODS[method].params)
    ]
    if method in PLAN.oracle_methods:
        flags.append(f"--kernel {shlex.quote(str(PLAN.kernel_by_id[pair]))}")
    return " ".join(flags)


def get_baseline_flags(wildcards):
    return baseline_flags(wildcards.baseline_method, wildcards.pair)


def estimated_kernel(method, pair):
    """The kernel PNG a kernel-estimating method writes beside its output (None for others)."""
    if method not in (*PLAN.kernel_methods, *PLAN.selfdeblur_methods):
        return None
    return str(kernel_path_for(f"results/deblurred/{method}/{pair}.png"))


def get_baseline_kernel(wildcards):
    """The true kernel an oracle method reads; nothing for the others."""
    if wildcards.baseline_method in PLAN.oracle_methods:
        return [str(PLAN.kernel_by_id[wildcards.pair])]
    return []


def get_sheet_references():
    """``--reference MODE[:K] ...`` of the sample sheet: each reference the singan methods use."""
    specs = PLAN.sheet_references
    texts = [mode if mode == "same" else f"{mode}:{k}" for mode, k in specs] or ["same"]
    return " ".join(f"--reference {t}" for t in texts)


def get_selfdeblur_flags(wildcards):
    """``--param key=VALUE ...`` of the method's settings, each shell-quoted."""
    args = selfdeblur_param_args(METHODS[wildcards.selfdeblur_method])
    return " ".join(f"--param {shlex.quote(a)}" for a in args)


def selfdeblur_checkpoint(wildcards):
    """Where a selfdeblur job keeps its resume file (deleted when it finishes)."""
    return f"results/checkpoints/selfdeblur/{wildcards.selfdeblur_method}/{wildcards.pair}.ckpt"


def train_settings(key):
    """``--settings-json '{...}'``: model key ``key``'s SinGAN settings, typed, shell-quoted."""
    settings = json.dumps(thaw(PLAN.settings_by_key[key]), sort_keys=True)
    return f"--settings-json {shlex.quote(settings)}"


def get_train_settings(wildcards):
    return train_settings(wildcards.cfg)


def batch_resources(batch):
    """A batch training job's resources: the single training job's (``train`` section), with
    the ``train_singan`` rule's --set-resources of a profile over them (a batch rule has its
    own name, so a profile's per-rule settings would miss it), mem_mb and runtime (when
    numbers) times the batch's size."""
    merged = dict(job_resources("train"))
    profile = workflow.resource_settings.overwrite_resources.get("train_singan", {})
    # Snakemake holds them parsed (Resource objects); the rule takes their raw values
    merged.update({k: getattr(v, "raw", v) for k, v in profile.items()})
    for key in ("mem_mb", "runtime"):
        if isinstance(merged.get(key), int):
            merged[key] *= len(batch.jobs)
    return merged


def batch_histories(batch):
    """Each member's training history (``train_runs.log``), shell-quoted, space-separated."""
    return " ".join(
        shlex.quote(f"{model_dir(*job)}/train_runs.log") for job in batch.jobs
    )


def batch_pairs(batch):
    """``--image IMG --out DIR`` of every member, in the batch's order, shell-quoted."""
    return " ".join(
        f"--image {shlex.quote(str(PLAN.sharp_by_id[job.reference_id]))}"
        f" --out {shlex.quote(model_dir(*job))}"
        for job in batch.jobs
    )


def get_eval_flags(wildcards, input):
    """``--model DIR`` for singan methods; for a kernel-estimating method on a pair with a known
    kernel and an oracle method configured, ``--oracle``, ``--kernel-est`` and ``--kernel-true``
    (adding error_ratio and kernel_error). Empty otherwise, so existing commands are unchanged.
    """
    flags = []
    if "model" in input.keys():
        flags.append(f"--model {shlex.quote(str(Path(input.model).parent))}")
    if "oracle" in input.keys():
        flags.append(f"--oracle {shlex.quote(str(input.oracle))}")
    if "kernel_est" in input.keys():
        flags.append(f"--kernel-est {shlex.quote(str(input.kernel_est))}")
    if "kernel" in input.keys():
        flags.append(f"--kernel-true {shlex.quote(str(input.kernel))}")
    return " ".join(flags)


def get_eval_inputs(wildcards):
    method, pair = wildcards.method, wildcards.pair
    inputs = {"pred": f"results/deblurred/{method}/{pair}.png"}
    if METHODS[method].kind == "singan":
        inputs["model"] = model_json(method, pair)
    known = PLAN.kernel_by_id.get(pair)
    estimate = estimated_kernel(method, pair)
    if estimate:
        # recorded as kernel_path (examples.png shows it); kernel_error where the truth is known
        inputs["kernel_est"] = estimate
        # SelfDeblur's kernel is in working pixels (the image downscaled to its max_size):
        # evaluate resamples the true kernel to the working size its info records
        if known:
            inputs["kernel"] = str(known)
        if known and PLAN.oracle_method:
            inputs["oracle"] = f"results/deblurred/{PLAN.oracle_method}/{pair}.png"
    if METHODS[method].kind == "selfdeblur":
        # its resolved settings (kernel size, working size, losses) join the metrics row
        inputs["info"] = f"results/deblurred/{method}/{pair}.json"
    inputs["sharp"] = get_sharp(wildcards)
    return inputs


def get_eval_meta(wildcards):
    """Provenance recorded in every metrics row of this method x pair."""
    return json.dumps(PLAN.eval_meta(wildcards.method, wildcards.pair), sort_keys=True)


def reported(paths, captions, category):
    """``paths`` with the ones named in ``captions`` marked for the Snakemake report, in
    ``category`` (a name, or a function of the key giving it)."""
    marked = dict(paths)
    for key, caption in captions.items():
        where = category(key) if callable(category) else category
        marked[key] = report(
            paths[key], caption=f"../report/{caption}.rst", category=where
        )
    return marked
