# Parse-time setup: validate the config, index or plan the dataset, sample the pairs and work out
# which SinGAN pyramids are needed. Everything here is decided before any job runs, so
# `snakemake -n` lists every job (and a cluster knows the job count).
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

from deblur import __version__ as DEBLUR_VERSION
from deblur import gpu_slots as GPU_SLOTS
from deblur import outputs as OUT
from deblur.baselines import KERNEL_KINDS, ORACLE_KINDS, parse_params
from deblur.data import gopro, synthetic
from deblur.errors import DeblurError
from deblur.evaluation.settings import REPORTED_PSNR, REPORTED_SSIM
from deblur.kernelio import kernel_path_for
from deblur.evaluation.ladder import ladder_methods
from deblur.selfdeblur.params import check_params as check_selfdeblur_params
from deblur.selfdeblur.params import make_config as selfdeblur_config
from deblur.singan.config import load_config
from deblur.singan.pyramid import pyramid_sizes
from deblur.singan.readings import check_output_size, parse_sr_factor, plan_reading

SCHEMA = Path(workflow.basedir) / "workflow" / "schemas" / "config.schema.yaml"


def _coerce_cli_strings(value, schema):
    """Snakemake reads nested ``--config key='{a: 1}'`` values with YAML's BaseLoader, so they
    arrive as strings; convert those the schema wants as numbers or booleans."""
    import yaml

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


config.update(_coerce_cli_strings(config, yaml.safe_load(SCHEMA.read_text())))
validate(config, str(SCHEMA))
LADDER_NAMES = (
    set()
)  # methods the ladder generated (a k its cell cannot run is dropped)
if config["ladder"]["cells"]:
    try:
        _ladder = ladder_methods(
            config["ladder"]["cells"],
            config["ladder"]["steps"],
            config["ladder"]["baselines"],
            config["ladder"]["readings"],
        )
    except ValueError as exc:
        raise WorkflowError(f"configuration error: {exc}")
    config["methods"] = config["methods"] + _ladder
    LADDER_NAMES = {m["name"] for m in _ladder}
    config["ladder"][
        "cells"
    ] = []  # expanded: a second parse of this config adds nothing
    validate(config, str(SCHEMA))  # the generated methods get their defaults

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


def _fail(message):
    raise WorkflowError(f"configuration error: {message}")


try:
    SINGAN = load_config(config["singan"])
except DeblurError as exc:
    _fail(f"singan: {exc}")


def model_key(singan):
    """The directory key of pyramids trained with ``singan`` (a SinGANConfig): its hash plus
    what a pyramid depends on besides the settings, its arithmetic (fp32 and bf16 pyramids
    never share a directory; fp32 keeps the plain hash)."""
    precision = config["train"]["precision"]
    return singan.config_hash() + ("" if precision == "fp32" else f"-{precision}")


def _param_text(value):
    """A config value as the CLI's ``key=VALUE`` text (``none`` for null; strings as they are,
    since ``--config`` values arrive as strings)."""
    if value is None:
        return "none"
    return value if isinstance(value, str) else json.dumps(value)


def baseline_param_args(params):
    """``["key=VALUE", ...]`` of a baseline method's params (sorted by key)."""
    return [f"{k}={_param_text(v)}" for k, v in sorted(params.items())]


METHODS = {}
# method -> its SinGAN settings: the pyramids a singan method trains, a baseline's model resolution
SETTINGS_OF, SINGAN_OF = {}, {}
for _m in config["methods"]:
    if _m["name"] in METHODS:
        _fail(
            f"methods: the name {_m['name']!r} is used twice; give each method its own name"
        )
    # checked here, not in the schema: its message would not say why
    if _m["inject_scale"] == 0:
        _fail(
            f"methods: {_m['name']!r} has inject_scale 0, but the image enters at a scale from "
            f"the one below it; use 1..N-1 (from the coarsest) or -1..-(N-1) (from the finest, "
            f"-2 = the second finest)"
        )
    # the readings that need a pyramid, and sr's factor: one-line errors, not schema dumps
    if _m["mode"] in ("sr", "sample") and _m["kind"] != "singan":
        _fail(
            f"methods: {_m['name']!r} has mode {_m['mode']}, a SinGAN reading, but kind "
            f"{_m['kind']} has no pyramid; use kind singan or drop the mode"
        )
    if _m["kind"] == "singan" and _m["mode"] == "sr":
        try:
            parse_sr_factor(_m["sr_factor"])
        except ValueError as exc:
            _fail(f"methods: {_m['name']!r}: {exc}")
    METHODS[_m["name"]] = _m
    # the method's own SinGAN settings over the global ones (the pyramid-size ladder)
    SETTINGS_OF[_m["name"]] = {**config["singan"], **_m["singan"]}
    try:
        SINGAN_OF[_m["name"]] = load_config(SETTINGS_OF[_m["name"]])
    except DeblurError as exc:
        _fail(f"methods: {_m['name']!r} singan: {exc}")
    if _m["kind"] == "selfdeblur":
        # the selfdeblur command's own type and range checks, before any job runs
        if "seed" in _m["params"]:
            _fail(
                f"methods: {_m['name']!r} params: seed is set by the selfdeblur section "
                f"(selfdeblur.seed); remove it from params"
            )
        try:
            selfdeblur_config(_m["params"])
        except (ValueError, TypeError) as exc:
            _fail(f"methods: {_m['name']!r} (selfdeblur) params: {exc}")
    elif _m["kind"] != "singan":
        # the baseline command's own parsing and range checks, before any job runs
        try:
            parse_params(_m["kind"], baseline_param_args(_m["params"]))
        except (ValueError, TypeError) as exc:
            _fail(f"methods: {_m['name']!r} ({_m['kind']}) params: {exc}")
SINGAN_METHODS = [n for n, m in METHODS.items() if m["kind"] == "singan"]
SELFDEBLUR_METHODS = [n for n, m in METHODS.items() if m["kind"] == "selfdeblur"]
BASELINE_METHODS = [
    n for n, m in METHODS.items() if m["kind"] not in ("singan", "selfdeblur")
]
# baselines that estimate a kernel: their rule declares it as a second output
KERNEL_METHODS = [n for n in BASELINE_METHODS if METHODS[n]["kind"] in KERNEL_KINDS]
PLAIN_BASELINES = [n for n in BASELINE_METHODS if n not in KERNEL_METHODS]
# the paper's numbers unless the config gives others (written once, in the package)
config["paper"].setdefault("psnr", REPORTED_PSNR)
config["paper"].setdefault("ssim", REPORTED_SSIM)
for _key in ("method", "baseline"):
    if config["paper"][_key] not in METHODS:
        _fail(
            f"paper.{_key} is {config['paper'][_key]!r}, which is not in methods "
            f"({', '.join(METHODS)}); name one of them"
        )

DATASET = config["dataset"]
DATA_ROOT = Path(DATASET["root"])
# synthetic settings with the uniform-mode keys filled in; the schema gives those keys no
# default, so a camera-mode config (and the camera rule's recorded params) is as it was before
SYNTH_SETTINGS = {
    **{k: getattr(synthetic.SynthConfig, k) for k in synthetic.UNIFORM_FIELDS},
    **DATASET["synthetic"],
}
SYNTH_MODE = SYNTH_SETTINGS["mode"]


def _all_pairs():
    """Every pair of the dataset: planned (synthetic, before it is written) or indexed (gopro)."""
    if DATASET["kind"] == "synthetic":
        syn = DATASET["synthetic"]
        return synthetic.plan_pairs(
            DATA_ROOT,
            sequences=syn["sequences"],
            frames=syn["frames"],
            size=syn["size"],
            seed=syn["seed"],
            mode=SYNTH_MODE,
            kernel_min=SYNTH_SETTINGS["kernel_min"],
            kernel_max=SYNTH_SETTINGS["kernel_max"],
            noise=SYNTH_SETTINGS["noise"],
            split=DATASET["split"],
            blur_dir=DATASET["blur_dir"],
        )
    return gopro.index_pairs(
        DATA_ROOT, split=DATASET["split"], blur_dir=DATASET["blur_dir"]
    )


try:
    ALL_PAIRS = _all_pairs()
    SAMPLED = gopro.sample_pairs(
        ALL_PAIRS,
        n=config["sample"]["n"],
        seed=config["sample"]["seed"],
        strategy=config["sample"]["strategy"],
        allow_fewer=config["sample"]["allow_fewer"],
    )
    # per singan method: pair id -> reference record (which sharp frame its pyramid learns)
    REFERENCES, SKIPPED = {}, {}  # SKIPPED: method -> why the dataset cannot supply it
    for _name in SINGAN_METHODS:
        try:
            _refs = gopro.assign_references(
                SAMPLED,
                ALL_PAIRS,
                mode=METHODS[_name]["reference"],
                offset=METHODS[_name]["offset"],
            )
        except DeblurError as exc:
            if not config["study"]["skip_unavailable"]:
                raise
            SKIPPED[_name] = str(exc)
            logger.warning(f"skipping method {_name} (study.skip_unavailable): {exc}")
            continue
        REFERENCES[_name] = {r.pair_id: r for r in _refs}
except DeblurError as exc:
    _fail(str(exc))
for _name in SKIPPED:
    del METHODS[_name]
SINGAN_METHODS = [n for n in SINGAN_METHODS if n not in SKIPPED]
if config["paper"]["method"] in SKIPPED:
    _fail(
        f"paper.method {config['paper']['method']!r} cannot run on this dataset (see above)"
    )


def _num_scales(reference_id, singan):
    """Scales of the pyramid trained with ``singan`` on ``reference_id``'s sharp frame, and that
    frame's size (from the planned synthetic size or the image header; nothing is trained).
    """
    if DATASET["kind"] == "synthetic":
        width, height = synthetic.parse_size(DATASET["synthetic"]["size"])
    else:
        width, height = gopro.image_size(SHARP_BY_ID[reference_id])
    name = str(SHARP_BY_ID[reference_id])
    return len(pyramid_sizes(height, width, singan, name=name)[0]), (width, height)


def _shallowest_pyramid(name):
    """(scales, (width, height)) of the shallowest pyramid singan method ``name`` uses."""
    refs = sorted({r.reference_id for r in REFERENCES[name].values()})
    return min(_num_scales(ref, SINGAN_OF[name]) for ref in refs)


def _check_inject_scales():
    """An explicit inject_scale must name a scale of every pyramid its method uses."""
    for name in SINGAN_METHODS:
        m = METHODS[name]
        if m["mode"] != "inject" or m["inject_scale"] is None:
            continue
        singan = SINGAN_OF[name]
        n, (width, height) = _shallowest_pyramid(name)
        top = n - 1
        if not (1 <= m["inject_scale"] <= top or -top <= m["inject_scale"] <= -1):
            _fail(
                f"methods: {name!r} has inject_scale {m['inject_scale']}, but its pyramids "
                f"have {n} scales ({width}x{height} reference frames, singan max_size "
                f"{singan.max_size}, min_size {singan.min_size}, scale_factor "
                f"{singan.scale_factor}); use 1..{top} (from the coarsest) or -{top}..-1 "
                f"(from the finest)"
            )


PAIRS = {p.pair_id: p for p in SAMPLED}
PAIR_IDS = sorted(PAIRS)
SHARP_BY_ID = {p.pair_id: p.sharp for p in ALL_PAIRS}
# pair id -> its true kernel PNG, where the dataset has one (synthetic uniform mode, kernel/)
KERNEL_BY_ID = {p.pair_id: p.kernel for p in ALL_PAIRS if p.kernel is not None}
# the non-blind oracle the blind methods' error ratio is taken against (the first one listed)
ORACLE_METHOD = next((n for n, m in METHODS.items() if m["kind"] in ORACLE_KINDS), None)
if ORACLE_METHOD is not None:
    _unknown = [i for i in PAIR_IDS if i not in KERNEL_BY_ID]
    if _unknown:
        _fail(
            f"methods: {ORACLE_METHOD!r} ({METHODS[ORACLE_METHOD]['kind']}) needs each pair's "
            f"true kernel, but {len(_unknown)} sampled pair(s) have none (e.g. {_unknown[0]}); "
            "use a known-kernel dataset (dataset.synthetic.mode: uniform, or a kernel/ folder "
            "beside sharp/) or drop the method"
        )


def _steps_beyond_pyramid():
    """g0 methods whose k exceeds scales - 1 of a pyramid they use (the image would shrink below
    the coarsest scale): ``{name: why}``."""
    found = {}
    for name in SINGAN_METHODS:
        m = METHODS[name]
        if m["mode"] != "g0":
            continue
        singan = SINGAN_OF[name]
        try:
            n, (width, height) = _shallowest_pyramid(name)
        except DeblurError:
            continue  # a frame too small for any pyramid: its training job says so
        if m["steps"] > n - 1:
            found[name] = (
                f"steps {m['steps']} needs more than the {n} scales of its pyramids "
                f"({width}x{height} reference frames, singan max_size {singan.max_size}, "
                f"min_size {singan.min_size}); use 1..{n - 1}"
            )
    return found


for _name, _why in _steps_beyond_pyramid().items():
    if _name not in LADDER_NAMES:
        _fail(f"methods: {_name!r}: {_why}")
    # a ladder cell too small for this k: dropped whole, logged and listed as not run
    SKIPPED[_name] = _why
    logger.warning(f"skipping ladder method {_name}: {_why}")
    del METHODS[_name], REFERENCES[_name]
SINGAN_METHODS = [n for n in SINGAN_METHODS if n not in SKIPPED]
if config["paper"]["method"] in SKIPPED:
    _fail(
        f"paper.method {config['paper']['method']!r} cannot run: "
        f"{SKIPPED[config['paper']['method']]}"
    )
# singan method -> model key; key -> the settings its pyramids train with


def _frame_size(pair_id):
    """(h, w) of a pair's blurry frame (the planned synthetic size or the image header)."""
    if DATASET["kind"] == "synthetic":
        width, height = synthetic.parse_size(DATASET["synthetic"]["size"])
    else:
        width, height = gopro.image_size(PAIRS[pair_id].blurry)
    return height, width


def reading_plan(method, pair_id):
    """The ReadingPlan (passes, per-pass factor, output size) of singan ``method`` on a pair,
    from the sizes of the pyramid it uses (read from image headers; nothing is trained).
    """
    m = METHODS[method]
    sharp = SHARP_BY_ID[REFERENCES[method][pair_id].reference_id]
    if DATASET["kind"] == "synthetic":
        width, height = synthetic.parse_size(DATASET["synthetic"]["size"])
    else:
        width, height = gopro.image_size(sharp)
    sizes, r = pyramid_sizes(height, width, SINGAN_OF[method], name=str(sharp))
    return plan_reading(
        m["mode"],
        sizes,
        r,
        steps=m["steps"],
        inject_scale=m["inject_scale"],
        sr_factor=parse_sr_factor(m["sr_factor"]),
        sr_step=m["sr_step"],
        frame_size=_frame_size(pair_id),
    )


def _check_sr_outputs():
    """An sr method's planned output must fit inference.max_output_pixels on every pair."""
    limit = config["inference"]["max_output_pixels"]
    for name in SINGAN_METHODS:
        if METHODS[name]["mode"] != "sr":
            continue
        for pair_id in PAIR_IDS:
            try:
                check_output_size(reading_plan(name, pair_id), limit)
            except DeblurError:
                continue  # a frame too small for any pyramid: its training job says so
            except ValueError as exc:
                _fail(
                    f"methods: {name!r} on pair {pair_id}: {exc} (inference.max_output_pixels)"
                )


_check_sr_outputs()
MODEL_KEY_OF = {n: model_key(SINGAN_OF[n]) for n in SINGAN_METHODS}
SETTINGS_BY_KEY = {MODEL_KEY_OF[n]: SETTINGS_OF[n] for n in SINGAN_METHODS}
# one pyramid per (settings, reference image), shared by every method that needs it
MODEL_JOBS = sorted(
    {
        (MODEL_KEY_OF[name], r.reference_id)
        for name, refs in REFERENCES.items()
        for r in refs.values()
    }
)
try:
    _check_inject_scales()
except DeblurError as exc:
    _fail(str(exc))


def _alternatives(names):
    """A regex matching exactly one of ``names`` (wildcard constraint)."""
    import re

    return "|".join(re.escape(n) for n in names) or "(?!)"


wildcard_constraints:
    pair=_alternatives(PAIR_IDS),
    ref=_alternatives(sorted({ref for _, ref in MODEL_JOBS})),
    singan_method=_alternatives(SINGAN_METHODS),
    baseline_method=_alternatives(PLAIN_BASELINES),
    kernel_method=_alternatives(KERNEL_METHODS),
    selfdeblur_method=_alternatives(SELFDEBLUR_METHODS),
    method=_alternatives(METHODS),
    cfg=_alternatives(sorted(SETTINGS_BY_KEY)),


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
    return str(SHARP_BY_ID[wildcards.ref])


def get_blurry(wildcards):
    return str(PAIRS[wildcards.pair].blurry)


def get_sharp(wildcards):
    return str(PAIRS[wildcards.pair].sharp)


def model_json(method, pair):
    """The finished-model marker of the pyramid ``method`` uses for ``pair``."""
    ref = REFERENCES[method][pair].reference_id
    return f"{model_dir(MODEL_KEY_OF[method], ref)}/model.json"


def get_model(wildcards):
    return model_json(wildcards.singan_method, wildcards.pair)


def get_deblur_flags(wildcards):
    m = METHODS[wildcards.singan_method]
    flags = [f"--steps {m['steps']}", f"--mode {m['mode']}"]
    if m["inject_scale"] is not None:
        flags.append(f"--inject-scale {m['inject_scale']}")
    if not m["noise"]:
        flags.append("--no-noise")
    if m["mode"] == "sr":  # only here, so the other modes' commands are as before
        flags.append(
            f"--sr-factor {shlex.quote(str(m['sr_factor']))} --sr-step {m['sr_step']}"
        )
        flags.append(f"--max-output-pixels {config['inference']['max_output_pixels']}")
    return " ".join(flags)


def baseline_flags(method, pair):
    """``--param key=VALUE ...``, each value shell-quoted (the flags stay separate words), and
    ``--kernel PNG`` for an oracle (only there, so the other methods' commands are as before).
    """
    m = METHODS[method]
    args = baseline_param_args(m["params"])
    flags = [f"--param {shlex.quote(a)}" for a in args]
    if m["kind"] in ORACLE_KINDS:
        flags.append(f"--kernel {shlex.quote(str(KERNEL_BY_ID[pair]))}")
    return " ".join(flags)


def get_baseline_flags(wildcards):
    return baseline_flags(wildcards.baseline_method, wildcards.pair)


def estimated_kernel(method, pair):
    """The kernel PNG a kernel-estimating method writes beside its output (None for others)."""
    if METHODS[method]["kind"] not in (*KERNEL_KINDS, "selfdeblur"):
        return None
    return str(kernel_path_for(f"results/deblurred/{method}/{pair}.png"))


def get_baseline_kernel(wildcards):
    """The true kernel an oracle method reads; nothing for the others."""
    if METHODS[wildcards.baseline_method]["kind"] in ORACLE_KINDS:
        return [str(KERNEL_BY_ID[wildcards.pair])]
    return []


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


def get_sheet_references():
    """``--reference MODE[:K] ...`` of the sample sheet: each reference the singan methods use."""
    specs = sorted(
        {(METHODS[n]["reference"], METHODS[n]["offset"]) for n in SINGAN_METHODS}
    )
    texts = [mode if mode == "same" else f"{mode}:{k}" for mode, k in specs] or ["same"]
    return " ".join(f"--reference {t}" for t in texts)


def selfdeblur_params(method):
    """A selfdeblur method's params, max_size defaulting to its scoring size (the evaluate
    rule's ``--max-size``), so it works at the resolution it is scored at."""
    params = check_selfdeblur_params(METHODS[method]["params"])
    return {"max_size": SINGAN_OF[method].max_size, **params}


def get_selfdeblur_flags(wildcards):
    """``--param key=VALUE ...`` of the method's settings, each shell-quoted."""
    params = selfdeblur_params(wildcards.selfdeblur_method)
    args = [
        f"{k}={json.dumps(list(v) if isinstance(v, tuple) else v)}"
        for k, v in sorted(params.items())
    ]
    return " ".join(f"--param {shlex.quote(a)}" for a in args)


def selfdeblur_checkpoint(wildcards):
    """Where a selfdeblur job keeps its resume file (deleted when it finishes)."""
    return f"results/checkpoints/selfdeblur/{wildcards.selfdeblur_method}/{wildcards.pair}.ckpt"


def get_train_settings(wildcards):
    """``--settings-json '{...}'``: the pyramid's SinGAN settings, typed, shell-quoted."""
    settings = json.dumps(SETTINGS_BY_KEY[wildcards.cfg], sort_keys=True)
    return f"--settings-json {shlex.quote(settings)}"


def get_eval_inputs(wildcards):
    inputs = {"pred": f"results/deblurred/{wildcards.method}/{wildcards.pair}.png"}
    if METHODS[wildcards.method]["kind"] == "singan":
        inputs["model"] = model_json(wildcards.method, wildcards.pair)
    known = KERNEL_BY_ID.get(wildcards.pair)
    estimate = estimated_kernel(wildcards.method, wildcards.pair)
    if estimate:
        # recorded as kernel_path (examples.png shows it); kernel_error where the truth is known
        inputs["kernel_est"] = estimate
        # SelfDeblur's kernel is in working pixels (the image downscaled to its max_size):
        # evaluate resamples the true kernel to the working size its info records
        if known:
            inputs["kernel"] = str(known)
        if known and ORACLE_METHOD:
            inputs["oracle"] = f"results/deblurred/{ORACLE_METHOD}/{wildcards.pair}.png"
    if METHODS[wildcards.method]["kind"] == "selfdeblur":
        # its resolved settings (kernel size, working size, losses) join the metrics row
        inputs["info"] = f"results/deblurred/{wildcards.method}/{wildcards.pair}.json"
    inputs["sharp"] = get_sharp(wildcards)
    return inputs


def get_eval_meta(wildcards):
    """Provenance recorded in every metrics row of this method x pair."""
    p, m = PAIRS[wildcards.pair], METHODS[wildcards.method]
    meta = dict(
        pair_id=p.pair_id,
        sequence=p.sequence,
        frame=p.frame,
        method=m["name"],
        kind=m["kind"],
        blurry_path=str(p.blurry),
        dataset=DATASET["kind"],
        sample_seed=config["sample"]["seed"],
    )
    if m["kind"] == "singan":
        ref = REFERENCES[m["name"]][p.pair_id]
        meta.update(
            reference_mode=ref.reference_mode,
            reference_offset=ref.reference_offset,
            reference_id=ref.reference_id,
            deblur_steps=m["steps"] if m["mode"] == "g0" else None,  # inject: unused
            deblur_mode=m["mode"],
            inject_scale=m["inject_scale"],
            deblur_noise=m["noise"],
            deblur_seed=config["inference"]["seed"],
        )
        if m["mode"] in ("sr", "sample"):
            # passes, per-pass factor, output size (only here: other rows' params unchanged)
            try:
                meta.update(reading_plan(m["name"], p.pair_id).columns())
            except DeblurError:
                pass  # a frame too small for any pyramid: its training job says so
    elif m["kind"] == "selfdeblur":
        # its settings as run (max_size resolved); every field also arrives from its info JSON
        params = selfdeblur_params(m["name"])
        meta.update(baseline_params=json.dumps(params, sort_keys=True))
    else:
        meta.update(baseline_params=json.dumps(m["params"], sort_keys=True))
    return json.dumps(meta, sort_keys=True)


def get_align_flags():
    """Shift-tolerant scoring options of the evaluate command (evaluate.aligned)."""
    aligned = config["evaluate"]["aligned"]
    return f"--align-shift {aligned['max_shift']} --align-crop {aligned['crop']}"


def get_report_flags():
    """Paper-table options of the aggregate and study commands (commands/report_options.py)."""
    paper, evaluate = config["paper"], config["evaluate"]
    return (
        f"--reported-psnr {paper['psnr']} --reported-ssim {paper['ssim']}"
        f" --reproduced-method {paper['method']} --baseline-method {paper['baseline']}"
        f" --resolution {evaluate['resolution']} --n-boot {evaluate['n_boot']}"
        f" --seed {evaluate['bootstrap_seed']} --ci-method {evaluate['ci_method']}"
    )


def get_highlight_flags():
    """``--highlight M ...`` for the study and plot commands (empty: automatic choice)."""
    names = config["study"]["highlight"]
    unknown = [n for n in names if n not in METHODS]
    if unknown:
        _fail(
            f"study.highlight names {', '.join(unknown)}, not in methods; fix the names"
        )
    return " ".join(["--highlight", *names]) if names else ""


def get_all_metrics():
    return expand(
        "results/metrics/{method}/{pair}.parquet", method=list(METHODS), pair=PAIR_IDS
    )


def get_all_models():
    """model.json of every pyramid of this run (their train_seconds cost the training)."""
    return [f"{model_dir(cfg, ref)}/model.json" for cfg, ref in MODEL_JOBS]


def get_all_benchmarks():
    """Benchmark TSVs of every job of this run (aggregated into cost.parquet; other runs'
    files in results/benchmarks are not counted)."""
    files = [
        f"results/benchmarks/train_singan/{cfg}/{ref}.tsv" for cfg, ref in MODEL_JOBS
    ]
    files += expand(
        "results/benchmarks/deblur_singan/{method}/{pair}.tsv",
        method=SINGAN_METHODS,
        pair=PAIR_IDS,
    )
    files += expand(
        "results/benchmarks/deblur_baseline/{method}/{pair}.tsv",
        method=BASELINE_METHODS,
        pair=PAIR_IDS,
    )
    files += expand(
        "results/benchmarks/deblur_selfdeblur/{method}/{pair}.tsv",
        method=SELFDEBLUR_METHODS,
        pair=PAIR_IDS,
    )
    files += expand(
        "results/benchmarks/evaluate/{method}/{pair}.tsv",
        method=list(METHODS),
        pair=PAIR_IDS,
    )
    return files


def _reported(paths, captions, category):
    """``paths`` with the ones named in ``captions`` marked for the Snakemake report."""
    marked = {}
    for key, path in paths.items():
        caption = captions.get(key)
        marked[key] = path
        if caption:
            marked[key] = report(
                path, caption=f"../report/{caption}.rst", category=category
            )
    return marked


# output names come from deblur.outputs, which the commands write and the tests check
AGGREGATE_OUTPUTS = {
    k: f"{OUT.TABLES_DIR}/{v}" for k, v in OUT.AGGREGATE_TABLES.items()
}
STUDY_OUTPUTS = {k: f"{OUT.TABLES_DIR}/{v}" for k, v in OUT.STUDY_TABLES.items()}
PLOT_OUTPUTS = {
    name: f"{OUT.PLOTS_DIR}/{name}.png"
    for name in OUT.figure_names(config["paper"]["baseline"])
}
# report captions (workflow/report/<caption>.rst)
AGGREGATE_REPORTED = _reported(
    AGGREGATE_OUTPUTS, {"metrics": "metrics", "paper": "paper_table"}, "Tables"
)
STUDY_REPORTED = _reported(
    STUDY_OUTPUTS, {"ablation": "ablation", "markdown": "ablation_md"}, "Study"
)
_PLOT_CAPTIONS = {n: n for n in PLOT_OUTPUTS}
_PLOT_CAPTIONS[OUT.paired_figure(config["paper"]["baseline"])] = "paired"
PLOT_REPORTED = {
    **_reported(
        {n: PLOT_OUTPUTS[n] for n in PLOT_OUTPUTS if n not in OUT.STUDY_FIGURES},
        _PLOT_CAPTIONS,
        "Plots",
    ),
    **_reported(
        {n: PLOT_OUTPUTS[n] for n in OUT.STUDY_FIGURES}, _PLOT_CAPTIONS, "Study"
    ),
}


def get_plot_images():
    """Every image ``plot`` may show in examples.png: outputs, estimated and true kernels,
    blurry and sharp frames."""
    images = [f"results/deblurred/{m}/{p}.png" for m in METHODS for p in PAIR_IDS]
    images += [estimated_kernel(m, p) for m in METHODS for p in PAIR_IDS]
    images += [str(PAIRS[p].blurry) for p in PAIR_IDS]
    images += [
        str(KERNEL_BY_ID[p]) for p in PAIR_IDS if p in KERNEL_BY_ID
    ]  # true kernels
    return [i for i in images if i] + [str(PAIRS[p].sharp) for p in PAIR_IDS]


def get_final_outputs():
    return [
        *AGGREGATE_OUTPUTS.values(),
        *STUDY_OUTPUTS.values(),
        *PLOT_OUTPUTS.values(),
        "results/sample/pairs.tsv",
    ]
