"""The run's plan (deblur.plan) built from validated configs, without Snakemake."""

from __future__ import annotations

import copy
import dataclasses
import json
import subprocess
import sys

import pytest
import yaml
from jsonschema import Draft202012Validator, validators
from PIL import Image
from workflow_helpers import REPO

from deblur.commands.report_options import report_args
from deblur.errors import DeblurError
from deblur.evaluation.settings import PaperSettings, ReportSettings
from deblur.plan import ModelJob, TrainBatch, group_batches, make_plan
from deblur.plan.ladder import singan_name
from deblur.singan.config import load_config
from deblur.singan.scales import pyramid_sizes

SCHEMA = yaml.safe_load((REPO / "workflow" / "schemas" / "config.schema.yaml").read_text())


def _filling_defaults(cls):
    """A validator that fills the schema's defaults in, as the workflow's validation does."""
    check_properties = cls.VALIDATORS["properties"]

    def properties(validator, props, instance, schema):
        if isinstance(instance, dict):
            for key, sub in props.items():
                if "default" in sub:
                    instance.setdefault(key, copy.deepcopy(sub["default"]))
        yield from check_properties(validator, props, instance, schema)

    return validators.extend(cls, {"properties": properties})


VALIDATOR = _filling_defaults(Draft202012Validator)(SCHEMA)


def validated(config: dict) -> dict:
    VALIDATOR.validate(config)
    return config


def complete(entries: list[dict]) -> None:
    """The ``complete`` callback of make_plan: the method entries' schema defaults."""
    VALIDATOR.validate({"methods": entries})


def config_with(**sections) -> dict:
    """config.yaml with ``sections`` replacing (or adding) whole top-level sections, validated."""
    config = yaml.safe_load((REPO / "config.yaml").read_text())
    config.update(copy.deepcopy(sections))
    return validated(config)


SINGAN = {"name": "singan", "kind": "singan"}
IDENTITY = {"name": "identity", "kind": "identity"}


def test_default_config_plans_one_pyramid_per_sampled_pair():
    config = config_with()
    plan = make_plan(config)
    assert list(plan.methods) == ["singan", "identity"]
    syn = config["dataset"]["synthetic"]
    assert len(plan.all_pairs) == syn["sequences"] * syn["frames"]
    assert len(plan.sampled) == config["sample"]["n"]
    assert plan.pair_ids == tuple(sorted(p.pair_id for p in plan.sampled))
    key = load_config(config["singan"]).config_hash()  # fp32: the plain hash
    assert plan.model_key_of == {"singan": key}
    assert dict(plan.settings_by_key[key]) == config["singan"]
    # the paper's setting: every pair's own sharp frame
    assert sorted(plan.model_jobs) == sorted((key, i) for i in plan.pair_ids)
    assert plan.model_job("singan", plan.pair_ids[0]) == (key, plan.pair_ids[0])
    assert plan.dropped == {} and plan.warnings == ()
    assert plan.report == ReportSettings(
        reported_psnr=15.3, reported_ssim=0.52, reproduced_method="singan",
        baseline_method="identity", resolution="model", n_boot=10000, seed=0,
        ci_method="percentile",
    )  # fmt: skip
    assert plan.singan_methods == ("singan",) and plan.plain_baselines == ("identity",)
    assert plan.oracle_method is None and plan.kernel_by_id == {}


def test_the_plan_is_frozen_and_the_config_untouched():
    config = config_with(
        ladder={"cells": [[64, 200]], "steps": [1], "baselines": [IDENTITY]},
    )
    before = copy.deepcopy(config)
    plan = make_plan(config, complete=complete)
    assert config == before
    with pytest.raises(dataclasses.FrozenInstanceError):
        plan.methods = {}
    with pytest.raises(TypeError):
        plan.methods["other"] = plan.methods["singan"]
    with pytest.raises(TypeError):
        plan.settings_by_key[plan.model_key_of["singan"]]["niter"] = 1
    with pytest.raises(dataclasses.FrozenInstanceError):
        plan.methods["singan"].steps = 2


def test_pyramids_are_shared_by_methods_with_the_same_settings():
    methods = [
        SINGAN,
        {"name": "singan_k2", "kind": "singan", "steps": 2},
        {"name": "small", "kind": "singan", "singan": {"max_size": 48}},
        IDENTITY,
    ]
    plan = make_plan(config_with(methods=methods))
    keys = plan.model_key_of
    assert keys["singan"] == keys["singan_k2"] != keys["small"]
    assert len(plan.model_jobs) == 2 * len(plan.sampled)
    assert plan.settings_by_key[keys["small"]]["max_size"] == 48
    assert plan.methods["small"].max_size == 48 and plan.methods["identity"].max_size == 64
    bf16 = make_plan(config_with(methods=methods, train={"precision": "bf16"}))
    assert bf16.model_key_of["singan"] == keys["singan"] + "-bf16"


def test_each_distinct_settings_is_loaded_once(monkeypatch):
    import deblur.plan.build as build

    calls = []

    def counting(source, origin=None):
        calls.append(dict(source))
        return load_config(source, origin)

    monkeypatch.setattr(build, "load_config", counting)
    methods = [SINGAN, {"name": "k2", "kind": "singan", "steps": 2}, IDENTITY]
    methods += [{"name": f"s48_{i}", "kind": "singan", "singan": {"max_size": 48}} for i in (1, 2)]
    make_plan(config_with(methods=methods))
    assert len(calls) == 2 and calls[1]["max_size"] == 48


def test_ladder_methods_join_and_a_cell_too_small_for_k_is_dropped():
    # 320x180 frames at max_size 32, min_size 16: 2 scales, so k = 2 cannot run (at 64: 5)
    config = config_with(
        singan={"max_size": 64, "min_size": 16, "niter": 200},
        ladder={"cells": [[32, 10], [64, 10]], "steps": [1, 2], "baselines": [IDENTITY]},
    )
    plan = make_plan(config, complete=complete)
    assert {"identity_s32", "identity_s64", singan_name(64, 10, 2)} <= set(plan.methods)
    gone = singan_name(32, 10, 2)
    assert gone not in plan.methods and gone not in plan.references
    assert "steps 2 needs more than the 2 scales" in plan.dropped[gone]
    assert plan.warnings == (f"skipping ladder method {gone}: {plan.dropped[gone]}",)
    assert plan.methods["identity_s32"].max_size == 32
    assert plan.methods[singan_name(32, 10, 1)].mode == "g0"  # the schema's defaults filled in


def test_a_configured_method_beyond_its_pyramid_is_refused():
    methods = [{"name": "singan", "kind": "singan", "steps": 9}, IDENTITY]
    with pytest.raises(DeblurError, match=r"methods: 'singan': steps 9 needs more than"):
        make_plan(config_with(methods=methods))


def test_neighbor_references_and_skip_unavailable():
    one_frame = {"kind": "synthetic", "root": "results/data/synthetic",
                 "synthetic": {"sequences": 3, "frames": 1, "size": "64x48"}}  # fmt: skip
    neighbor = {"name": "nb", "kind": "singan", "reference": "neighbor"}
    methods = [SINGAN, neighbor, IDENTITY]
    config = config_with(dataset=one_frame, methods=methods, sample={"n": 3})
    with pytest.raises(DeblurError, match="no neighbor reference"):
        make_plan(config)
    plan = make_plan(config_with(dataset=one_frame, methods=methods, sample={"n": 3},
                                 study={"skip_unavailable": True}))  # fmt: skip
    assert "nb" not in plan.methods and "no neighbor reference" in plan.dropped["nb"]
    assert plan.warnings[0].startswith("skipping method nb (study.skip_unavailable)")
    # with frames to spare, each pair learns the next frame (or the previous one at the end)
    plan = make_plan(config_with(methods=methods))
    refs = plan.references["nb"]
    assert all(r.reference_id != i and abs(r.reference_offset) == 1 for i, r in refs.items())
    assert plan.sheet_references == (("neighbor", 1), ("same", 1))
    assert {job.reference_id for job in plan.model_jobs} >= {r.reference_id for r in refs.values()}


@pytest.mark.parametrize(
    "change, message",
    [
        ({"methods": [SINGAN, SINGAN, IDENTITY]}, "the name 'singan' is used twice"),
        ({"methods": [{**SINGAN, "mode": "inject", "inject_scale": 0}, IDENTITY]},
         "inject_scale 0"),
        ({"methods": [{**SINGAN, "mode": "inject", "inject_scale": 7}, IDENTITY]},
         "has inject_scale 7, but its pyramids have"),
        ({"methods": [SINGAN, {**IDENTITY, "kind": "unsharp", "params": {"radius": -1}}]},
         "'identity' (unsharp) params"),
        ({"methods": [SINGAN, IDENTITY, {"name": "sd", "kind": "selfdeblur",
                                         "params": {"seed": 1}}]}, "seed is set by"),
        ({"methods": [{**SINGAN, "singan": {"niter": 0}}, IDENTITY]}, "'singan' singan:"),
        ({"singan": {"max_size": 8}}, "singan: "),
        ({"paper": {"method": "nosuch"}}, "paper.method is 'nosuch'"),
        ({"study": {"highlight": ["nosuch"]}}, "study.highlight names nosuch"),
        ({"methods": [SINGAN, IDENTITY, {"name": "oracle", "kind": "oracle_tv"}]},
         "needs each pair's true kernel"),
        ({"ladder": {"cells": [[64, 10], [64, 10]]}}, "lists a cell twice"),
    ],
)  # fmt: skip
def test_bad_configs_are_refused_naming_the_key(change, message):
    with pytest.raises(DeblurError, match=message.replace("(", r"\(").replace(")", r"\)")):
        make_plan(config_with(**change), complete=complete)


def test_known_kernels_and_the_oracle():
    uniform = {"kind": "synthetic", "root": "results/data/synthetic_uniform",
               "synthetic": {"mode": "uniform", "sequences": 2, "frames": 2}}  # fmt: skip
    methods = [SINGAN, IDENTITY, {"name": "oracle", "kind": "oracle_tv"},
               {"name": "tv", "kind": "tv_blind"}]  # fmt: skip
    plan = make_plan(config_with(dataset=uniform, methods=methods, sample={"n": 4}))
    assert plan.oracle_method == "oracle" and plan.oracle_methods == ("oracle",)
    assert plan.kernel_methods == ("tv",) and plan.plain_baselines == ("identity", "oracle")
    assert set(plan.kernel_by_id) == set(plan.pair_ids)
    assert dict(plan.synth_settings)["mode"] == "uniform"


def test_paper_settings_take_the_config_over_the_package_defaults():
    plan = make_plan(config_with(paper={"psnr": 20.0}, evaluate={"resolution": "full"}))
    assert plan.report.reported_psnr == 20.0 and plan.report.resolution == "full"
    assert plan.report.reported_ssim == PaperSettings().reported_ssim
    assert plan.report.baseline_method == PaperSettings().baseline_method
    assert plan.report.n_boot == 10000  # the schema's default (evaluate.n_boot)
    text = " ".join(report_args(plan.report))
    assert text.startswith("--reported-psnr 20.0 --reported-ssim 0.52 --reproduced-method singan")
    assert text.endswith("--resolution full --n-boot 10000 --seed 0 --ci-method percentile")


def test_eval_meta_and_selfdeblur_params():
    sd = {"name": "sd", "kind": "selfdeblur", "params": {"iterations": 10, "milestones": [4, 8]}}
    methods = [SINGAN, IDENTITY, sd]
    plan = make_plan(config_with(methods=methods))
    pair = plan.pair_ids[0]
    meta = plan.eval_meta("singan", pair)
    assert meta["reference_id"] == pair and meta["deblur_steps"] == 1
    assert meta["sample_seed"] == 0 and meta["dataset"] == "synthetic"
    assert plan.eval_meta("identity", pair)["baseline_params"] == "{}"
    params = json.loads(plan.eval_meta("sd", pair)["baseline_params"])
    assert params == {"iterations": 10, "milestones": [4, 8], "max_size": 64}
    assert plan.selfdeblur_params("sd")["milestones"] == (4, 8)


def test_gopro_frames_are_sized_from_their_headers(tmp_path):
    for frame in ("000001", "000002"):
        for folder in ("blur", "sharp"):
            path = tmp_path / "test" / "seqA" / folder / f"{frame}.png"
            path.parent.mkdir(parents=True, exist_ok=True)
            Image.new("RGB", (40, 30)).save(path)
    gopro = {"kind": "gopro", "root": str(tmp_path)}
    config = config_with(dataset=gopro, sample={"n": 2})
    plan = make_plan(config)
    assert len(plan.model_jobs) == 2
    n = len(pyramid_sizes(30, 40, load_config(config["singan"]))[0])
    methods = [{**SINGAN, "steps": n}, IDENTITY]
    expected = rf"steps {n} needs more than the {n} scales of its pyramids \(40x30 reference"
    with pytest.raises(DeblurError, match=expected):
        make_plan(config_with(dataset=gopro, sample={"n": 2}, methods=methods))


def test_group_batches_groups_sizes_chunks_and_keeps_the_order():
    jobs = [ModelJob("k1", r) for r in "abcdefg"] + [ModelJob("k2", r) for r in "ab"]
    size = {"a": 1, "b": 2, "c": 1, "d": 1, "e": 2, "f": None, "g": 1}
    batches = group_batches(jobs, lambda job: size[job.reference_id], 2)
    refs = [(b.key, b.index, "".join(j.reference_id for j in b.jobs)) for b in batches]
    # size 1 (first seen at a): a c | d g; size 2: b e; unknown f alone; k2 (a: 1, b: 2) apart
    assert refs == [
        ("k1", 0, "ac"), ("k1", 1, "dg"), ("k1", 2, "be"), ("k1", 3, "f"),
        ("k2", 0, "a"), ("k2", 1, "b"),
    ]  # fmt: skip
    assert batches[0].name == "k1/a" and batches[2].name == "k1/b"
    assert TrainBatch("ab12-bf16", 3, jobs[:1]).rule_name == "train_singan_batch_ab12_bf16_0003"
    assert sorted(j for b in batches for j in b.jobs) == sorted(jobs)
    # chunks of 3: the last is smaller; 1: every job alone, in order
    assert [len(b.jobs) for b in group_batches(jobs[:5], lambda j: 0, 3)] == [3, 2]
    singles = group_batches(jobs, lambda j: None, 1)
    assert [b.jobs for b in singles] == [(j,) for j in jobs]
    with pytest.raises(ValueError, match="at least 1"):
        group_batches(jobs, lambda j: 0, 0)


def test_train_batches_hold_pyramids_of_one_size(tmp_path):
    # seqA's frames and seqB's have pyramids of different sizes: never one batch
    for seq, size, frames in (("seqA", (40, 30), 3), ("seqB", (60, 30), 2)):
        for i in range(1, frames + 1):
            for folder in ("blur", "sharp"):
                path = tmp_path / "test" / seq / folder / f"{i:06d}.png"
                path.parent.mkdir(parents=True, exist_ok=True)
                Image.new("RGB", size).save(path)
    gopro = {"kind": "gopro", "root": str(tmp_path)}
    train = {**config_with()["train"], "batch": 2}
    plan = make_plan(config_with(dataset=gopro, sample={"n": 5}, train=train))
    key = plan.model_key_of["singan"]
    assert plan.train_batches == (
        TrainBatch(key, 0, ((key, "seqA-000001"), (key, "seqA-000002"))),
        TrainBatch(key, 1, ((key, "seqA-000003"),)),
        TrainBatch(key, 2, ((key, "seqB-000001"), (key, "seqB-000002"))),
    )
    # the default, 1: one batch per model job, in the model jobs' order
    plan = make_plan(config_with(dataset=gopro, sample={"n": 5}))
    assert [b.jobs for b in plan.train_batches] == [(j,) for j in plan.model_jobs]


def test_planning_imports_neither_torch_nor_pandas():
    code = (
        "import sys\n"
        "sys.path.insert(0, 'tests')\n"
        "from test_plan import config_with, make_plan\n"
        "plan = make_plan(config_with())\n"
        "assert plan.model_jobs\n"
        "print(sorted(m for m in ('torch', 'pandas') if m in sys.modules))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "[]"
