"""What each job of a run is given, from its :class:`~deblur.plan.build.Plan`: paths, inputs,
command-line flags and resources.

The workflow's ``get_*`` helpers (``workflow/rules/common.smk``) call these with the names a
job's wildcards hold and pass the result on to Snakemake unchanged; nothing here needs
Snakemake, so every job's inputs and flags can be checked on a plan alone. Flags come back as
one string of shell words (each value shell-quoted), as a rule's ``{params.x}`` puts them into
its command.
"""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Iterable, Mapping
from pathlib import Path

from deblur.errors import DeblurError
from deblur.kernelio import kernel_path_for
from deblur.plan.build import Plan, TrainBatch
from deblur.plan.memory import estimate_mem_mb, frame_mem_mb
from deblur.plan.methods import SELFDEBLUR, SINGAN, baseline_param_args, selfdeblur_param_args, thaw

MODELS_DIR = "results/models"
DEBLURRED_DIR = "results/deblurred"
BENCHMARKS_DIR = "results/benchmarks"
METRICS_DIR = "results/metrics"


def alternatives(names: Iterable[str]) -> str:
    """A regex matching exactly one of ``names`` (a wildcard constraint; none: matches
    nothing)."""
    return "|".join(re.escape(n) for n in names) or "(?!)"


def model_dir(key: str, reference_id: str) -> str:
    """The directory of the pyramid of model key ``key`` on frame ``reference_id``."""
    return f"{MODELS_DIR}/{key}/{reference_id}"


def train_history(key: str, reference_id: str) -> str:
    """Every training run's output for this pyramid, appended (its log shows it whole)."""
    return f"{model_dir(key, reference_id)}/train_runs.log"


def model_json(plan: Plan, method: str, pair_id: str) -> str:
    """The finished-model marker of the pyramid singan ``method`` uses for ``pair_id``."""
    return f"{model_dir(*plan.model_job(method, pair_id))}/model.json"


def deblur_flags(plan: Plan, method: str) -> str:
    """The ``deblur`` command's reading options of singan ``method``."""
    return " ".join(plan.methods[method].deblur_args(plan.max_output_pixels))


def train_settings(plan: Plan, key: str) -> str:
    """``--settings-json '{...}'``: model key ``key``'s SinGAN settings, typed, shell-quoted."""
    settings = json.dumps(thaw(plan.settings_by_key[key]), sort_keys=True)
    return f"--settings-json {shlex.quote(settings)}"


def batch_pairs(plan: Plan, batch: TrainBatch) -> str:
    """``--image IMG --out DIR`` of every member of ``batch``, in its order, shell-quoted."""
    return " ".join(
        f"--image {shlex.quote(str(plan.sharp_by_id[job.reference_id]))}"
        f" --out {shlex.quote(model_dir(*job))}"
        for job in batch.jobs
    )


def batch_histories(batch: TrainBatch) -> str:
    """Each member's training history (``train_runs.log``), shell-quoted, space-separated."""
    return " ".join(shlex.quote(train_history(*job)) for job in batch.jobs)


def job_resources(section: Mapping) -> dict:
    """``gpu`` (0 for device cpu, else 1), ``mem_mb`` and ``runtime`` of a job class, from
    its config section (``train``, ``inference``, ``selfdeblur``)."""
    gpu = 0 if section["device"] == "cpu" else 1
    return dict(gpu=gpu, mem_mb=section["mem_mb"], runtime=section["runtime"])


def batch_resources(single: Mapping, overrides: Mapping, size: int, train: Mapping) -> dict:
    """A batch training job's resources: the single training job's (``single``) with
    ``overrides`` over them (a profile's settings for the single training rule, raw values),
    and for each member after the first ``train["batch_mem_mb_per_member"]`` more ``mem_mb``
    and ``train["batch_runtime_per_member"]`` more ``runtime`` (``None``: the single job's
    runtime again, N times in all, as a batch costs on a CPU). A value given as text (a size
    or time with a unit) is kept as it is."""
    merged = {**single, **overrides}
    per_member = {
        "mem_mb": train["batch_mem_mb_per_member"],
        "runtime": train["batch_runtime_per_member"],
    }
    for key, extra in per_member.items():
        if isinstance(merged.get(key), int):
            merged[key] += (merged[key] if extra is None else extra) * (size - 1)
    return merged


def baseline_mem_mb(plan: Plan, coefficients: Mapping, method: str, blurry: str) -> int:
    """``mem_mb`` of baseline ``method``'s job on the frame ``blurry``: the method's own
    ``mem_mb``, else ``coefficients[kind]`` (the config's ``baselines.mem_mb``: ``base`` +
    ``per_megapixel`` of the frame, :func:`~deblur.plan.memory.frame_mem_mb`)."""
    m = plan.methods[method]
    if m.mem_mb is not None:
        return m.mem_mb
    c = coefficients[m.kind]
    return frame_mem_mb(blurry, c["base"], c["per_megapixel"])


def deblur_mem_mb(plan: Plan, inference: Mapping, method: str, pair_id: str) -> int:
    """``mem_mb`` of singan ``method``'s deblur job on ``pair_id``: the method's own
    ``mem_mb``, else ``inference["mem_mb"]``, plus ``sr_mem_mb_per_megapixel`` per megapixel
    of the planned output for an sr reading (model size x factor, the frame's size for
    ``full``). A frame whose size cannot be read gets the base (the job then names it)."""
    m, base = plan.methods[method], inference["mem_mb"]
    if m.mem_mb is not None:
        return m.mem_mb
    if m.mode != "sr":
        return base
    try:
        height, width = plan.reading_plan(method, pair_id).out_size
    except DeblurError:
        return base
    return estimate_mem_mb(width, height, base, inference["sr_mem_mb_per_megapixel"])


def selfdeblur_mem_mb(plan: Plan, section: Mapping, method: str, blurry: str) -> int:
    """``mem_mb`` of selfdeblur ``method``'s job on the frame ``blurry``: the method's own
    ``mem_mb``, else ``section["mem_mb"]`` + ``mem_mb_per_megapixel`` of the frame (it works
    at its max_size, but reads and downscales the whole frame)."""
    own = plan.methods[method].mem_mb
    if own is not None:
        return own
    return frame_mem_mb(blurry, section["mem_mb"], section["mem_mb_per_megapixel"])


def synth_mem_mb(dataset: Mapping) -> int:
    """``mem_mb`` of the job writing the synthetic dataset: the config's
    ``dataset.synthetic_mem_mb`` (``base`` + ``per_megapixel`` of the configured frame size;
    frames are made one at a time, so their number does not count)."""
    from deblur.data.synthetic import parse_size

    width, height = parse_size(dataset["synthetic"]["size"])
    c = dataset["synthetic_mem_mb"]
    return estimate_mem_mb(width, height, c["base"], c["per_megapixel"])


def evaluate_mem_mb(section: Mapping, sharp: str) -> int:
    """``mem_mb`` of an evaluate job against the frame ``sharp`` (every score is also computed
    at full resolution): ``mem_mb_base`` + ``mem_mb_per_megapixel`` of the frame."""
    return frame_mem_mb(sharp, section["mem_mb_base"], section["mem_mb_per_megapixel"])


def baseline_flags(plan: Plan, method: str, pair_id: str) -> str:
    """``--param key=VALUE ...``, each value shell-quoted (the flags stay separate words), and
    ``--kernel PNG`` for an oracle (only there, so the other methods' commands are as before).
    """
    params = baseline_param_args(plan.methods[method].params)
    flags = [f"--param {shlex.quote(a)}" for a in params]
    if method in plan.oracle_methods:
        flags.append(f"--kernel {shlex.quote(str(plan.kernel_by_id[pair_id]))}")
    return " ".join(flags)


def baseline_kernel(plan: Plan, method: str, pair_id: str) -> list[str]:
    """The true kernel an oracle method reads (a one-item list); nothing for the others."""
    if method in plan.oracle_methods:
        return [str(plan.kernel_by_id[pair_id])]
    return []


def deblurred(method: str, pair_id: str) -> str:
    """The output image of ``method`` on ``pair_id``."""
    return f"{DEBLURRED_DIR}/{method}/{pair_id}.png"


def estimated_kernel(plan: Plan, method: str, pair_id: str) -> str | None:
    """The kernel PNG a kernel-estimating method writes beside its output (None for others)."""
    if method not in (*plan.kernel_methods, *plan.selfdeblur_methods):
        return None
    return str(kernel_path_for(deblurred(method, pair_id)))


def sheet_references(plan: Plan) -> str:
    """``--reference MODE[:K] ...`` of the sample sheet: each reference the singan methods
    use (``same`` when there are none)."""
    specs = plan.sheet_references
    texts = [mode if mode == "same" else f"{mode}:{k}" for mode, k in specs] or ["same"]
    return " ".join(f"--reference {t}" for t in texts)


def selfdeblur_flags(plan: Plan, method: str) -> str:
    """``--param key=VALUE ...`` of a selfdeblur method's resolved settings, each
    shell-quoted."""
    args = selfdeblur_param_args(plan.methods[method])
    return " ".join(f"--param {shlex.quote(a)}" for a in args)


def selfdeblur_checkpoint(method: str, pair_id: str) -> str:
    """Where a selfdeblur job keeps its resume file (deleted when it finishes)."""
    return f"results/checkpoints/selfdeblur/{method}/{pair_id}.ckpt"


def eval_inputs(plan: Plan, method: str, pair_id: str) -> dict[str, str]:
    """The named inputs of the evaluate job of ``method`` on ``pair_id``.

    ``pred`` (the output), ``model`` (singan: its pyramid's ``model.json``), ``kernel_est`` (a
    kernel-estimating method's estimate, recorded as kernel_path), ``kernel`` (the true kernel,
    where known: kernel_error), ``oracle`` (the oracle's output on a known-kernel pair:
    error_ratio), ``info`` (selfdeblur: its resolved settings join the metrics row) and
    ``sharp``, in this order.
    """
    kind = plan.methods[method].kind
    inputs = {"pred": deblurred(method, pair_id)}
    if kind == SINGAN:
        inputs["model"] = model_json(plan, method, pair_id)
    known = plan.kernel_by_id.get(pair_id)
    estimate = estimated_kernel(plan, method, pair_id)
    if estimate:
        inputs["kernel_est"] = estimate
        # SelfDeblur's kernel is in working pixels (the image downscaled to its max_size):
        # evaluate resamples the true kernel to the working size its info records
        if known:
            inputs["kernel"] = str(known)
        if known and plan.oracle_method:
            inputs["oracle"] = deblurred(plan.oracle_method, pair_id)
    if kind == SELFDEBLUR:
        inputs["info"] = f"{DEBLURRED_DIR}/{method}/{pair_id}.json"
    inputs["sharp"] = str(plan.pairs[pair_id].sharp)
    return inputs


def eval_flags(inputs: Mapping[str, str]) -> str:
    """``--model DIR`` for singan methods; for a kernel-estimating method on a pair with a known
    kernel and an oracle method configured, ``--oracle``, ``--kernel-est`` and ``--kernel-true``
    (adding error_ratio and kernel_error). Empty otherwise, so existing commands are unchanged.

    ``inputs``: the job's named inputs (:func:`eval_inputs`).
    """
    flags = []
    if "model" in inputs:
        flags.append(f"--model {shlex.quote(str(Path(inputs['model']).parent))}")
    for key, flag in (("oracle", "--oracle"), ("kernel_est", "--kernel-est")):
        if key in inputs:
            flags.append(f"{flag} {shlex.quote(str(inputs[key]))}")
    if "kernel" in inputs:
        flags.append(f"--kernel-true {shlex.quote(str(inputs['kernel']))}")
    return " ".join(flags)


def eval_info_flag(inputs: Mapping[str, str]) -> str:
    """``--meta INFO`` of a selfdeblur output's info file (its settings as run); else empty."""
    return f"--meta {shlex.quote(inputs['info'])}" if "info" in inputs else ""


def eval_meta(plan: Plan, method: str, pair_id: str) -> str:
    """Provenance recorded in every metrics row of ``method`` on ``pair_id`` (JSON)."""
    return json.dumps(plan.eval_meta(method, pair_id), sort_keys=True)


def align_flags(aligned: Mapping) -> str:
    """``--align-shift N --align-crop N`` of the ``evaluate.aligned`` section."""
    return "--align-shift {max_shift} --align-crop {crop}".format(**aligned)


def highlight_flags(highlight: Iterable[str]) -> str:
    """``--highlight NAME ...`` of ``study.highlight`` (empty when it names none)."""
    names = list(highlight)
    return " ".join(["--highlight", *names]) if names else ""


def all_metrics(plan: Plan) -> list[str]:
    """Every metrics file of the run, method by method, pairs sorted."""
    return [f"{METRICS_DIR}/{m}/{p}.parquet" for m in plan.methods for p in plan.pair_ids]


def all_models(plan: Plan) -> list[str]:
    """``model.json`` of every pyramid of the run (their train_seconds cost the training)."""
    return [f"{model_dir(*job)}/model.json" for job in plan.model_jobs]


def all_benchmarks(plan: Plan, batched: bool) -> list[str]:
    """The benchmark TSVs of every job of the run (aggregated into cost.parquet; other runs'
    files in results/benchmarks are not counted): the training jobs' (one per batch when
    ``batched``, i.e. ``train.batch`` > 1), then every method x pair job's."""
    if batched:
        files = [f"{BENCHMARKS_DIR}/train_singan_batch/{b.name}.tsv" for b in plan.train_batches]
    else:
        files = [f"{BENCHMARKS_DIR}/train_singan/{k}/{r}.tsv" for k, r in plan.model_jobs]
    methods = {
        "deblur_singan": plan.singan_methods,
        "deblur_baseline": plan.baseline_methods,
        "deblur_selfdeblur": plan.selfdeblur_methods,
        "evaluate": tuple(plan.methods),
    }
    for rule, names in methods.items():
        files += [f"{BENCHMARKS_DIR}/{rule}/{m}/{p}.tsv" for m in names for p in plan.pair_ids]
    return files


def plot_images(plan: Plan) -> list[str]:
    """Every image ``plot`` may show in examples.png: outputs, estimated and true kernels,
    blurry and sharp frames."""
    ids = plan.pair_ids
    images = [deblurred(m, p) for m in plan.methods for p in ids]
    images += [k for m in plan.methods for p in ids if (k := estimated_kernel(plan, m, p))]
    images += [str(plan.pairs[p].blurry) for p in ids]
    images += [str(plan.kernel_by_id[p]) for p in ids if p in plan.kernel_by_id]
    return images + [str(plan.pairs[p].sharp) for p in ids]


def batch_images(plan: Plan, batch: TrainBatch) -> list[str]:
    """The sharp frames ``batch``'s members train on, in its order."""
    return [str(plan.sharp_by_id[job.reference_id]) for job in batch.jobs]


def batch_models(batch: TrainBatch) -> list[str]:
    """Every member's ``model.json`` (the batch job's outputs)."""
    return [f"{model_dir(*job)}/model.json" for job in batch.jobs]


def dropped_json(plan: Plan) -> str:
    """The methods the run dropped and why, as JSON (the study's ``--skipped``)."""
    return json.dumps(thaw(plan.dropped), sort_keys=True)
