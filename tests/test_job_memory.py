"""Memory the jobs ask a scheduler for: jobs that work on the whole frame (the baselines, sr
readings, evaluate) ask for the configured base + per megapixel of their frame, a method's own
mem_mb wins, and an unreadable frame gets the base (deblur.plan.memory; the rules'
resources)."""

from __future__ import annotations

import math
import re
import subprocess
import sys

import pytest
import yaml
from PIL import Image
from workflow_helpers import REPO, snakemake

from deblur.plan.memory import estimate_mem_mb, frame_mem_mb

PROFILE = REPO / "workflow" / "profiles" / "slurm"
DEFAULTS = yaml.safe_load((REPO / "config.yaml").read_text())
KINDS = ("identity", "unsharp", "richardson_lucy", "tv_blind", "oracle_tv")
USER_UNSHARP = {"base": 321, "per_megapixel": 4321}  # a user's own coefficients for one kind
METHODS = [
    *({"name": kind, "kind": kind} for kind in KINDS),
    {"name": "tv_fixed", "kind": "tv_blind", "mem_mb": 12345},  # a method's own amount
    {"name": "singan", "kind": "singan"},
    {"name": "singan_sr4", "kind": "singan", "mode": "sr", "sr_factor": 4},
    {"name": "singan_srfull", "kind": "singan", "mode": "sr", "sr_factor": "full"},
    {"name": "singan_srfull_fixed", "kind": "singan", "mode": "sr", "sr_factor": "full",
     "mem_mb": 3456},
    {"name": "selfdeblur", "kind": "selfdeblur", "params": {"kernel_size": 5}},
    {"name": "selfdeblur_fixed", "kind": "selfdeblur", "params": {"kernel_size": 5},
     "mem_mb": 2345},
]  # fmt: skip
SECTIONS = {"singan": "deblur_singan", "selfdeblur": "deblur_selfdeblur"}


def planned_jobs(out: str) -> dict[tuple[str, str, str], str]:
    """(rule, method, pair) -> the mem_mb a dry run's job lists."""
    jobs = {}
    for block in re.split(r"\n(?=\S*rule \w+:)", out):
        rule = re.match(r"\S*rule (\w+):", block.strip())
        res = re.search(r"^\s+resources: (.+)$", block, flags=re.M)
        wild = re.search(r"^\s+wildcards: (.+)$", block, flags=re.M)
        if not (rule and res and wild):
            continue
        wildcards = dict(kv.split("=", 1) for kv in wild[1].split(", "))
        method = next((v for k, v in wildcards.items() if k.endswith("method")), None)
        if method is None:  # training
            continue
        resources = dict(kv.split("=", 1) for kv in res[1].split(", "))
        jobs[(rule[1], method, wildcards["pair"])] = resources["mem_mb"]
    return jobs


def rule_of(method: dict) -> str:
    if method["kind"] in SECTIONS:
        return SECTIONS[method["kind"]]
    return "deblur_kernel_baseline" if method["kind"] == "tv_blind" else "deblur_baseline"


@pytest.fixture(scope="module")
def plans(tmp_path_factory):
    """A SLURM dry run's mem_mb per job on a known-kernel synthetic set of each frame size
    (written beforehand, so the estimates read real headers); in the larger set, one pair's
    blurry frame is not an image."""
    found = {}
    for width, height in ((96, 54), (480, 270)):
        wd = tmp_path_factory.mktemp(f"mem{width}")
        root = wd / "results" / "data" / "synthetic"
        synth = [sys.executable, "-m", "deblur", "synth", "--out", str(root), "--sequences", "1",
                 "--frames", "2", "--size", f"{width}x{height}", "--seed", "0", "--mode",
                 "uniform", "--kernel-max", "11"]  # fmt: skip
        subprocess.run(synth, check=True, cwd=REPO, capture_output=True)
        blurry = sorted(root.rglob("blur/*.png"))
        broken = None
        if width == 480:
            broken = blurry[-1]
            broken.write_text("not a PNG")
        config = dict(
            dataset=dict(kind="synthetic", root="results/data/synthetic",
                         synthetic=dict(mode="uniform", sequences=1, frames=2,
                                        size=f"{width}x{height}", seed=0, kernel_max=11)),
            sample=dict(n=2), singan=dict(max_size=40, min_size=16, niter=6),
            baselines=dict(mem_mb=dict(unsharp=USER_UNSHARP)), methods=METHODS,
        )  # fmt: skip
        (wd / "config.yaml").write_text((REPO / "config.yaml").read_text())
        (wd / "mem.yaml").write_text(yaml.safe_dump(config))
        out = snakemake(wd, "-n", "--profile", str(PROFILE), "--configfile", "mem.yaml").stdout
        pair_of = {p: f"{p.parent.parent.name}-{p.stem}" for p in blurry}
        found[width] = dict(
            jobs=planned_jobs(out), size=(width, height), pairs=sorted(pair_of.values()),
            broken=pair_of[broken] if broken else None,
        )  # fmt: skip
    return found


def expected(method: dict, width: int, height: int) -> int:
    """The mem_mb the configuration asks for ``method`` on a width x height frame."""
    if "mem_mb" in method:
        return method["mem_mb"]
    if method["kind"] in KINDS:
        coef = USER_UNSHARP if method["kind"] == "unsharp" else None
        coef = coef or DEFAULTS["baselines"]["mem_mb"][method["kind"]]
        return math.ceil(coef["base"] + coef["per_megapixel"] * width * height / 1e6)
    if method["kind"] == "selfdeblur":  # reads the whole frame
        conf = DEFAULTS["selfdeblur"]
        return math.ceil(conf["mem_mb"] + conf["mem_mb_per_megapixel"] * width * height / 1e6)
    base = DEFAULTS["inference"]["mem_mb"]
    if method.get("sr_factor") == "full":  # the output has the frame's size
        per_mp = DEFAULTS["inference"]["sr_mem_mb_per_megapixel"]
        return math.ceil(base + per_mp * width * height / 1e6)
    return base


def test_memory_follows_the_configured_formula_and_grows_with_the_frame(plans):
    for plan in plans.values():
        (width, height), jobs = plan["size"], plan["jobs"]
        for method in METHODS:
            if method["name"] == "singan_sr4":
                continue  # its output size is the model's x 4 (below)
            for pair in plan["pairs"]:
                if pair == plan["broken"]:
                    continue
                got = jobs[(rule_of(method), method["name"], pair)]
                assert got == str(expected(method, width, height)), (method, pair, width)
    small, large = plans[96]["jobs"], plans[480]["jobs"]
    pair = plans[96]["pairs"][0]  # an intact frame in both sets
    for name in (*KINDS, "singan_srfull", "selfdeblur"):
        method = next(m for m in METHODS if m["name"] == name)
        key = (rule_of(method), name, pair)
        assert int(large[key]) > int(small[key]), name
    # sr x4: more than the other readings (its output is 4 times the model's size), the same
    # at both frame sizes (the model size is capped by max_size, not by the frame)
    sr4 = ("deblur_singan", "singan_sr4", pair)
    assert small[sr4] == large[sr4]
    assert int(small[sr4]) > DEFAULTS["inference"]["mem_mb"]
    # evaluate as before: its own coefficients, from the sharp frame
    conf = DEFAULTS["evaluate"]
    want = math.ceil(conf["mem_mb_base"] + conf["mem_mb_per_megapixel"] * 480 * 270 / 1e6)
    assert large[("evaluate", "identity", pair)] == str(want)


def test_an_unreadable_frame_gets_the_base(plans):
    plan = plans[480]
    broken = plan["broken"]
    selfdeblur = plan["jobs"][("deblur_selfdeblur", "selfdeblur", broken)]
    assert selfdeblur == str(DEFAULTS["selfdeblur"]["mem_mb"])
    for kind in KINDS:
        coef = USER_UNSHARP if kind == "unsharp" else DEFAULTS["baselines"]["mem_mb"][kind]
        rule = "deblur_kernel_baseline" if kind == "tv_blind" else "deblur_baseline"
        assert plan["jobs"][(rule, kind, broken)] == str(math.ceil(coef["base"]))


def test_frame_mem_mb(tmp_path):
    assert estimate_mem_mb(1280, 720, 500, 250) == math.ceil(500 + 250 * 0.9216)
    Image.new("RGB", (200, 100)).save(tmp_path / "f.png")
    assert frame_mem_mb(tmp_path / "f.png", 100.5, 1000) == math.ceil(100.5 + 20)
    with pytest.raises(FileNotFoundError):
        frame_mem_mb(tmp_path / "later.png", 100, 1000)
    (tmp_path / "bad.png").write_bytes(b"\x89PNG broken")
    assert frame_mem_mb(tmp_path / "bad.png", 100.5, 1000) == 101


def test_schema_refuses_negative_coefficients(tmp_path):
    (tmp_path / "config.yaml").write_text((REPO / "config.yaml").read_text())
    bad = "baselines={mem_mb: {tv_blind: {base: -1}}}"
    proc = snakemake(tmp_path, "-n", "--config", bad, check=False)
    assert proc.returncode != 0
    assert "-1" in proc.stdout + proc.stderr and "minimum" in proc.stdout + proc.stderr


def test_config_yaml_lists_every_baseline_kind_and_agrees_with_the_schema():
    from deblur.baselines import METHOD_KINDS

    assert set(DEFAULTS["baselines"]["mem_mb"]) == set(METHOD_KINDS)
    schema = yaml.safe_load((REPO / "workflow/schemas/config.schema.yaml").read_text())
    kinds = schema["properties"]["baselines"]["properties"]["mem_mb"]["properties"]
    for kind, coef in DEFAULTS["baselines"]["mem_mb"].items():  # the schema's defaults agree
        props = kinds[kind]["properties"]
        assert coef == {k: props[k]["default"] for k in ("base", "per_megapixel")}, kind
    for section, key in (
        ("inference", "sr_mem_mb_per_megapixel"),
        ("selfdeblur", "mem_mb_per_megapixel"),
        ("evaluate", "mem_mb_base"),
        ("evaluate", "mem_mb_per_megapixel"),
    ):
        props = schema["properties"][section]["properties"]
        assert DEFAULTS[section][key] == props[key]["default"], (section, key)
    synth = schema["properties"]["dataset"]["properties"]["synthetic_mem_mb"]["properties"]
    assert DEFAULTS["dataset"]["synthetic_mem_mb"] == {k: v["default"] for k, v in synth.items()}


def test_a_profile_can_still_set_a_rule_s_memory(tmp_path):
    """Snakemake's --set-resources (a profile's set-resources) wins over the estimate."""
    (tmp_path / "config.yaml").write_text((REPO / "config.yaml").read_text())
    out = snakemake(tmp_path, "-n", "--profile", str(PROFILE), "--set-resources",
                    "evaluate:mem_mb=777").stdout  # fmt: skip
    mems = {v for (rule, _, _), v in planned_jobs(out).items() if rule == "evaluate"}
    assert mems == {"777"}
