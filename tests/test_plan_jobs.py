"""What each job is given (deblur.plan.jobs), the jobs' environment (deblur.plan.environment)
and the typing of command-line config values (deblur.plan.config), without Snakemake."""

from __future__ import annotations

import json
import math
import os
import re
import shlex
import subprocess
import sys

import pytest
from PIL import Image
from test_plan import IDENTITY, SCHEMA, SINGAN, config_with
from workflow_helpers import REPO

from deblur import gpu_slots
from deblur.plan import jobs as J
from deblur.plan import make_plan
from deblur.plan.config import coerce_cli_strings
from deblur.plan.environment import prepare_environment

UNIFORM = {"kind": "synthetic", "root": "results/data/synthetic_uniform",
           "synthetic": {"mode": "uniform", "sequences": 2, "frames": 2}}  # fmt: skip
ORACLE = {"name": "oracle", "kind": "oracle_tv"}
TV = {"name": "tv", "kind": "tv_blind", "params": {"kernel_size": 15}}
SD = {"name": "sd", "kind": "selfdeblur", "params": {"iterations": 10}}


def known_kernel_plan():
    methods = [SINGAN, IDENTITY, ORACLE, TV, SD]
    return make_plan(config_with(dataset=UNIFORM, methods=methods, sample={"n": 4}))


def test_evaluate_inputs_and_flags_follow_each_kind():
    plan = known_kernel_plan()
    pair = plan.pair_ids[0]
    sharp, kernel = str(plan.pairs[pair].sharp), str(plan.kernel_by_id[pair])
    out = f"results/deblurred/{{}}/{pair}.png"
    model = J.model_json(plan, "singan", pair)
    assert model == f"results/models/{plan.model_key_of['singan']}/{pair}/model.json"
    expected = {
        "singan": {"pred": out.format("singan"), "model": model, "sharp": sharp},
        "identity": {"pred": out.format("identity"), "sharp": sharp},
        "oracle": {"pred": out.format("oracle"), "sharp": sharp},
        "tv": {"pred": out.format("tv"), "kernel_est": f"results/deblurred/tv/{pair}_kernel.png",
               "kernel": kernel, "oracle": out.format("oracle"), "sharp": sharp},
        "sd": {"pred": out.format("sd"), "kernel_est": f"results/deblurred/sd/{pair}_kernel.png",
               "kernel": kernel, "oracle": out.format("oracle"),
               "info": f"results/deblurred/sd/{pair}.json", "sharp": sharp},
    }  # fmt: skip
    for method, inputs in expected.items():
        got = J.eval_inputs(plan, method, pair)
        assert list(got.items()) == list(inputs.items()), method  # the order is the rule's
    assert J.eval_flags(expected["singan"]) == f"--model {shlex.quote(os.path.dirname(model))}"
    assert J.eval_flags(expected["identity"]) == "" == J.eval_info_flag(expected["tv"])
    assert J.eval_flags(expected["sd"]) == (
        f"--oracle {out.format('oracle')} --kernel-est results/deblurred/sd/{pair}_kernel.png "
        f"--kernel-true {kernel}"
    )
    assert J.eval_info_flag(expected["sd"]) == f"--meta results/deblurred/sd/{pair}.json"
    assert json.loads(J.eval_meta(plan, "tv", pair)) == plan.eval_meta("tv", pair)
    # without an oracle, no --oracle; without a known kernel, no --kernel-true
    plain = make_plan(config_with(methods=[SINGAN, IDENTITY, TV]))
    inputs = J.eval_inputs(plain, "tv", plain.pair_ids[0])
    assert set(inputs) == {"pred", "kernel_est", "sharp"}
    assert J.eval_flags(inputs).startswith("--kernel-est ")


def test_baseline_and_selfdeblur_flags_are_shell_quoted():
    plan = known_kernel_plan()
    pair = plan.pair_ids[0]
    assert J.baseline_flags(plan, "tv", pair) == "--param kernel_size=15"
    kernel = str(plan.kernel_by_id[pair])
    assert J.baseline_flags(plan, "oracle", pair) == f"--kernel {shlex.quote(kernel)}"
    assert J.baseline_kernel(plan, "oracle", pair) == [kernel]
    assert J.baseline_kernel(plan, "tv", pair) == []
    assert J.estimated_kernel(plan, "identity", pair) is None
    flags = shlex.split(J.selfdeblur_flags(plan, "sd"))
    params = dict(f.split("=", 1) for f in flags if f != "--param")
    assert json.loads(params["iterations"]) == 10 and json.loads(params["max_size"]) == 64
    assert J.selfdeblur_checkpoint("sd", pair) == f"results/checkpoints/selfdeblur/sd/{pair}.ckpt"


def test_training_flags_quote_paths_and_settings(tmp_path):
    root = tmp_path / "GoPro with spaces"
    for seq in ("seqA", "seqB"):
        for folder in ("blur", "sharp"):
            path = root / "test" / seq / folder / "000001.png"
            path.parent.mkdir(parents=True)
            Image.new("RGB", (40, 30)).save(path)
    config = config_with(dataset={"kind": "gopro", "root": str(root)}, sample={"n": 2})
    config["train"]["batch"] = 2
    plan = make_plan(config)
    (batch,) = plan.train_batches
    words = shlex.split(J.batch_pairs(plan, batch))
    images = [str(root / "test" / s / "sharp" / "000001.png") for s in ("seqA", "seqB")]
    dirs = [J.model_dir(*job) for job in batch.jobs]
    assert words == ["--image", images[0], "--out", dirs[0], "--image", images[1], "--out", dirs[1]]
    assert J.batch_images(plan, batch) == images
    assert J.batch_models(batch) == [f"{d}/model.json" for d in dirs]
    assert shlex.split(J.batch_histories(batch)) == [f"{d}/train_runs.log" for d in dirs]
    assert J.train_history(*batch.jobs[0]) == f"{dirs[0]}/train_runs.log"
    flag, settings = shlex.split(J.train_settings(plan, batch.key))
    assert flag == "--settings-json" and json.loads(settings) == config["singan"]
    assert J.deblur_flags(plan, "singan") == "--steps 1 --mode g0"
    sr = {"name": "sr", "kind": "singan", "mode": "sr", "sr_factor": 2}
    plan = make_plan(config_with(methods=[SINGAN, IDENTITY, sr]))
    assert J.deblur_flags(plan, "sr").endswith(
        f"--sr-factor 2 --sr-step reference --max-output-pixels {plan.max_output_pixels}"
    )


def test_resources_of_single_and_batch_training_jobs():
    train = config_with()["train"]
    single = J.job_resources(train)
    assert single == {"gpu": 0, "mem_mb": train["mem_mb"], "runtime": train["runtime"]}
    assert J.job_resources({**train, "device": "cuda"})["gpu"] == 1
    per = train["batch_mem_mb_per_member"]
    assert train["batch_runtime_per_member"] is None  # the default: the single runtime again
    batch = J.batch_resources(single, {"slurm_partition": "gpu"}, 3, train)
    assert batch == {"gpu": 0, "mem_mb": train["mem_mb"] + 2 * per,
                     "runtime": 3 * train["runtime"], "slurm_partition": "gpu"}  # fmt: skip
    # a profile's value over the config's, plus the members' share; a text value (a size with
    # a unit) kept; a batch of one asks for what the single job does
    assert J.batch_resources(single, {"mem_mb": 100, "runtime": "2h"}, 2, train) == {
        "gpu": 0, "mem_mb": 100 + per, "runtime": "2h",
    }  # fmt: skip
    assert J.batch_resources(single, {}, 1, train) == single
    gpu = {**train, "batch_mem_mb_per_member": 50, "batch_runtime_per_member": 4}
    assert J.batch_resources(single, {}, 25, gpu) == {
        "gpu": 0, "mem_mb": train["mem_mb"] + 24 * 50, "runtime": train["runtime"] + 24 * 4,
    }  # fmt: skip
    assert single == J.job_resources(train)  # not modified


def test_memory_of_the_jobs_that_work_on_the_whole_frame(tmp_path):
    """Baselines and SelfDeblur by their frame's header, sr readings by their planned output,
    a method's own mem_mb over both; an unreadable frame gets the base."""
    methods = [SINGAN, IDENTITY, TV, {**TV, "name": "tv_own", "mem_mb": 4321}, SD,
               {"name": "srfull", "kind": "singan", "mode": "sr", "sr_factor": "full"},
               {"name": "srfull_own", "kind": "singan", "mode": "sr", "sr_factor": "full",
                "mem_mb": 999}]  # fmt: skip
    config = config_with(methods=methods)
    plan = make_plan(config)
    pair = plan.pair_ids[0]
    frame = tmp_path / "frame.png"
    Image.new("RGB", (2000, 1000)).save(frame)  # 2 megapixels
    coef = config["baselines"]["mem_mb"]
    tv = coef["tv_blind"]
    want = math.ceil(tv["base"] + 2 * tv["per_megapixel"])
    assert J.baseline_mem_mb(plan, coef, "tv", str(frame)) == want
    assert J.baseline_mem_mb(plan, coef, "tv_own", str(frame)) == 4321
    (tmp_path / "bad.png").write_text("not a PNG")
    bad = str(tmp_path / "bad.png")
    assert J.baseline_mem_mb(plan, coef, "identity", bad) == math.ceil(coef["identity"]["base"])
    sd = config["selfdeblur"]
    want = math.ceil(sd["mem_mb"] + 2 * sd["mem_mb_per_megapixel"])
    assert J.selfdeblur_mem_mb(plan, sd, "sd", str(frame)) == want
    inference = config["inference"]
    assert J.deblur_mem_mb(plan, inference, "singan", pair) == inference["mem_mb"]
    width, height = (int(v) for v in config["dataset"]["synthetic"]["size"].split("x"))
    out_mp = width * height / 1e6  # sr full: the frame's size
    want = inference["mem_mb"] + inference["sr_mem_mb_per_megapixel"] * out_mp
    assert J.deblur_mem_mb(plan, inference, "srfull", pair) == math.ceil(want)
    assert J.deblur_mem_mb(plan, inference, "srfull_own", pair) == 999
    ev = config["evaluate"]
    want = ev["mem_mb_base"] + 2 * ev["mem_mb_per_megapixel"]
    assert J.evaluate_mem_mb(ev, str(frame)) == math.ceil(want)
    # the synthetic set's job: by the configured frame size (known at parse time)
    syn = config["dataset"]["synthetic_mem_mb"]
    big = {
        **config["dataset"],
        "synthetic": {**config["dataset"]["synthetic"], "size": "2000x1000"},
    }
    assert J.synth_mem_mb(big) == math.ceil(syn["base"] + 2 * syn["per_megapixel"])
    assert J.synth_mem_mb(big) > J.synth_mem_mb(config["dataset"])


def test_run_wide_lists_in_the_rules_order():
    plan = known_kernel_plan()
    ids, methods = plan.pair_ids, list(plan.methods)
    assert J.all_metrics(plan) == [f"results/metrics/{m}/{p}.parquet" for m in methods for p in ids]
    assert J.all_models(plan) == [f"{J.model_dir(*job)}/model.json" for job in plan.model_jobs]
    files = J.all_benchmarks(plan, batched=False)
    rules = [f.split("/")[2] for f in files]
    order = ["train_singan", "deblur_singan", "deblur_baseline", "deblur_selfdeblur", "evaluate"]
    assert sorted(set(rules), key=rules.index) == order
    n = len(ids)
    assert rules.count("deblur_baseline") == 3 * n and rules.count("evaluate") == 5 * n
    assert files[len(plan.model_jobs)] == f"results/benchmarks/deblur_singan/singan/{ids[0]}.tsv"
    batched = J.all_benchmarks(plan, batched=True)
    assert batched[: len(plan.train_batches)] == [
        f"results/benchmarks/train_singan_batch/{b.name}.tsv" for b in plan.train_batches
    ]
    images = J.plot_images(plan)
    assert images[: len(methods) * n] == [f"results/deblurred/{m}/{p}.png" for m in methods
                                         for p in ids]  # fmt: skip
    kernels = [f"results/deblurred/{m}/{p}_kernel.png" for m in ("tv", "sd") for p in ids]
    assert images[len(methods) * n : (len(methods) + 2) * n] == kernels
    assert images[-n:] == [str(plan.pairs[p].sharp) for p in ids]
    assert len(images) == len(set(images)) == (len(methods) + 2 + 3) * n
    assert json.loads(J.dropped_json(plan)) == {}


def test_flags_of_the_tables_and_wildcard_alternatives():
    assert J.align_flags({"max_shift": 3, "crop": 8}) == "--align-shift 3 --align-crop 8"
    assert J.highlight_flags([]) == ""
    assert J.highlight_flags(["a", "b"]) == "--highlight a b"
    pattern = re.compile(f"^(?:{J.alternatives(['a.b', 'c'])})$")
    assert pattern.match("a.b") and pattern.match("c")
    assert not pattern.match("axb") and not pattern.match("a.bc")
    assert not re.match(f"^(?:{J.alternatives([])})$", "")


def test_environment_puts_the_interpreter_first_and_gpu_slots_locally():
    config = config_with()
    env = {"PATH": "/usr/bin", gpu_slots.GPUS_ENV: "stale"}
    prepare_environment(
        env, config, python="/venv/bin/python", basedir="/repo", use_conda=False, remote=False
    )
    assert env["PATH"] == os.pathsep.join(["/venv/bin", "/usr/bin"]) and "PYTHONPATH" not in env
    assert env[gpu_slots.DIR_ENV] == "results/.gpu_slots"
    assert env[gpu_slots.GPUS_ENV] == str(config["gpus"])
    assert env[gpu_slots.JOBS_PER_GPU_ENV] == str(config["jobs_per_gpu"])
    minutes = {c: config[s]["runtime"] for c, s in (("train", "train"), ("deblur", "inference"),
                                                  ("selfdeblur", "selfdeblur"))}  # fmt: skip
    assert env[gpu_slots.TIMEOUT_ENV] == ",".join(f"{c}={m * 60}" for c, m in minutes.items())
    # a cluster job: no slots, also when the submitting process's environment had them
    prepare_environment(env, config, python="/venv/bin/python", basedir="/repo",
                        use_conda=True, remote=True)  # fmt: skip
    assert not set(gpu_slots.WORKFLOW_ENV) & set(env)
    assert env["PYTHONPATH"] == "/repo"


def test_command_line_strings_are_typed_by_the_schema():
    given = {"sample": {"n": "3", "seed": "7"}, "train": {"device": "cpu", "compile": "true"},
             "methods": [{"name": "1", "kind": "singan", "steps": "2"}]}  # fmt: skip
    typed = coerce_cli_strings(given, SCHEMA)
    assert typed["sample"] == {"n": 3, "seed": 7}
    assert typed["train"] == {"device": "cpu", "compile": True}
    assert typed["methods"] == [{"name": "1", "kind": "singan", "steps": 2}]
    assert given["sample"]["n"] == "3"  # not modified


@pytest.mark.parametrize("module", ["deblur.plan.jobs", "deblur.plan.environment"])
def test_the_workflow_helpers_import_neither_torch_nor_pandas(module):
    code = (
        f"import sys, {module}; print(sorted(m for m in ('torch', 'pandas') if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "[]"
