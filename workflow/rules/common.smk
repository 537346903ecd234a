# Parse-time setup: validate the config, make the run's plan (deblur.plan: methods, pairs,
# references, pyramids to train; decided before any job runs, so `snakemake -n` lists every job
# and a cluster knows the job count) and the small get_* helpers the rules call.
import os
import sys
from pathlib import Path

import yaml
from snakemake.exceptions import WorkflowError
from snakemake.logging import logger
from snakemake.settings.types import DeploymentMethod
from snakemake.utils import validate

from deblur import outputs as OUT
from deblur.commands.report_options import paper_args, report_args
from deblur.errors import DeblurError
from deblur.plan import jobs as J
from deblur.plan import make_plan
from deblur.plan.config import coerce_cli_strings
from deblur.plan.environment import prepare_environment
from deblur.plan.methods import thaw

SCHEMA = Path(workflow.basedir) / "workflow" / "schemas" / "config.schema.yaml"


# the only changes to `config`: command-line strings typed, then the schema's defaults filled in
config.update(coerce_cli_strings(config, yaml.safe_load(SCHEMA.read_text())))
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

# jobs inherit this process's environment: the package's interpreter first on PATH (or this
# checkout on PYTHONPATH under --sdm conda), a local run's GPU slots (deblur.plan.environment)
prepare_environment(
    os.environ,
    config,
    python=sys.executable,
    basedir=workflow.basedir,
    use_conda=DeploymentMethod.CONDA in workflow.deployment_settings.deployment_method,
    remote=workflow.remote_exec,
)
SOFTWARE = "../envs/deblur.yaml"


wildcard_constraints:
    pair=J.alternatives(PLAN.pair_ids),
    ref=J.alternatives(sorted({job.reference_id for job in PLAN.model_jobs})),
    singan_method=J.alternatives(PLAN.singan_methods),
    baseline_method=J.alternatives(PLAN.plain_baselines),
    kernel_method=J.alternatives(PLAN.kernel_methods),
    selfdeblur_method=J.alternatives(PLAN.selfdeblur_methods),
    method=J.alternatives(METHODS),
    cfg=J.alternatives(sorted(PLAN.settings_by_key)),


# the get_* helpers: a job's wildcards -> what deblur.plan.jobs gives for those names


def job_resources(section):
    """threads/mem/runtime/gpu of a job class from config; gpu only when the device is not cpu."""
    return J.job_resources(config[section])


def batch_resources(batch):
    """A batch training job's resources: the single training job's, the ``train_singan``
    rule's --set-resources of a profile over them (a batch rule has its own name), plus each
    further member's share (``train.batch_mem_mb_per_member``, ``batch_runtime_per_member``).
    """
    profile = workflow.resource_settings.overwrite_resources.get("train_singan", {})
    # Snakemake holds them parsed (Resource objects); the rule takes their raw values
    raw = {k: getattr(v, "raw", v) for k, v in profile.items()}
    return J.batch_resources(
        job_resources("train"), raw, len(batch.jobs), config["train"]
    )


def get_model_dir(wildcards):
    return J.model_dir(wildcards.cfg, wildcards.ref)


def get_train_history(wildcards):
    return J.train_history(wildcards.cfg, wildcards.ref)


def get_train_settings(wildcards):
    return J.train_settings(PLAN, wildcards.cfg)


def get_reference_image(wildcards):
    return str(PLAN.sharp_by_id[wildcards.ref])


def get_blurry(wildcards):
    return str(PLAN.pairs[wildcards.pair].blurry)


def get_model(wildcards):
    return J.model_json(PLAN, wildcards.singan_method, wildcards.pair)


def get_deblur_flags(wildcards):
    return J.deblur_flags(PLAN, wildcards.singan_method)


def get_baseline_flags(wildcards):
    return J.baseline_flags(PLAN, wildcards.baseline_method, wildcards.pair)


def get_kernel_baseline_flags(wildcards):
    return J.baseline_flags(PLAN, wildcards.kernel_method, wildcards.pair)


def get_baseline_mem_mb(wildcards, input):
    return J.baseline_mem_mb(
        PLAN, config["baselines"]["mem_mb"], wildcards.baseline_method, input.blurry
    )


def get_kernel_baseline_mem_mb(wildcards, input):
    return J.baseline_mem_mb(
        PLAN, config["baselines"]["mem_mb"], wildcards.kernel_method, input.blurry
    )


def get_deblur_mem_mb(wildcards):
    return J.deblur_mem_mb(
        PLAN, config["inference"], wildcards.singan_method, wildcards.pair
    )


def get_selfdeblur_mem_mb(wildcards, input):
    return J.selfdeblur_mem_mb(
        PLAN, config["selfdeblur"], wildcards.selfdeblur_method, input.blurry
    )


def get_eval_mem_mb(wildcards, input):
    return J.evaluate_mem_mb(config["evaluate"], input.sharp)


def get_baseline_kernel(wildcards):
    """The true kernel an oracle method reads; nothing for the others."""
    return J.baseline_kernel(PLAN, wildcards.baseline_method, wildcards.pair)


def get_selfdeblur_flags(wildcards):
    return J.selfdeblur_flags(PLAN, wildcards.selfdeblur_method)


def get_selfdeblur_checkpoint(wildcards):
    return J.selfdeblur_checkpoint(wildcards.selfdeblur_method, wildcards.pair)


def get_eval_inputs(wildcards):
    return J.eval_inputs(PLAN, wildcards.method, wildcards.pair)


def get_eval_flags(wildcards, input):
    return J.eval_flags(dict(input.items()))


def get_eval_info_flag(wildcards, input):
    return J.eval_info_flag(dict(input.items()))


def get_eval_meta(wildcards):
    return J.eval_meta(PLAN, wildcards.method, wildcards.pair)


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
