"""The study preset at parse time: shared trainings, variants that record their settings, the
gopro_mini fallback (neighbor variants skipped with a reason) and config errors. Dry runs only."""

from __future__ import annotations

import json
import re
import shlex

import pytest
import yaml
from workflow_helpers import REPO, SHARED_DATA, job_counts, make_workdir, snakemake

from deblur.baselines import KERNEL_KINDS
from deblur.data import gopro, synthetic

PRESET = REPO / "workflow" / "presets" / "study.yaml"
NAME = re.compile(
    r"singan_(same|nb(?P<offset>\d+))_(k(?P<k>\d)|inj_last(?P<last>\d)|sr(?P<sr>\d+|full)"
    r"|(?P<sample>sample))(?P<nonoise>_nonoise)?"
)


@pytest.fixture(scope="module")
def preset():
    return yaml.safe_load(PRESET.read_text())


def test_variant_names_say_their_settings(preset):
    methods = preset["methods"]
    assert {m["kind"] for m in methods} == {
        "identity",
        "unsharp",
        "richardson_lucy",
        "tv_blind",
        "selfdeblur",
        "singan",
    }
    for m in (m for m in methods if m["kind"] == "singan"):
        hit = NAME.fullmatch(m["name"])
        assert hit, m["name"]
        if hit["offset"]:
            assert m["reference"] == "neighbor" and m["offset"] == int(hit["offset"])
        else:
            assert m["reference"] == "same"
        if hit["k"]:
            assert m["mode"] == "g0" and m["steps"] == int(hit["k"])
        elif hit["sr"]:
            assert m["mode"] == "sr" and str(m["sr_factor"]) == hit["sr"]
        elif hit["sample"]:
            assert m["mode"] == "sample"
        else:
            assert m["mode"] == "inject" and m["inject_scale"] == -int(hit["last"])
        assert m["noise"] is (hit["nonoise"] is None)
    singan = [m for m in methods if m["kind"] == "singan"]
    assert {m.get("offset") for m in singan if m["reference"] == "neighbor"} == {1, 5, 10}
    assert {m["steps"] for m in singan if m["mode"] == "g0"} == {1, 2, 3, 4}
    assert len({m["inject_scale"] for m in singan if m["mode"] == "inject"}) == 2
    assert {m["noise"] for m in singan} == {True, False}
    assert {str(m["sr_factor"]) for m in singan if m["mode"] == "sr"} == {"4", "full"}
    assert sum(m["mode"] == "sample" for m in singan) == 1
    paper = next(m for m in singan if m["name"] == preset["paper"]["method"])
    assert (paper["reference"], paper["steps"], paper["mode"], paper["noise"]) == (
        "same",
        1,
        "g0",
        True,
    )
    # a neighbor 10 frames away (either direction) exists for every frame from 20 frames on
    assert preset["dataset"]["synthetic"]["frames"] >= 20
    assert preset["study"]["skip_unavailable"] is False  # never lose variants silently


def expected_references(preset):
    """Distinct reference images the preset needs, from the data layer (not the workflow)."""
    syn = preset["dataset"]["synthetic"]
    base = yaml.safe_load((REPO / "config.yaml").read_text())["dataset"]
    pairs = synthetic.plan_pairs(
        base["root"],
        sequences=syn["sequences"],
        frames=syn["frames"],
        size=base["synthetic"]["size"],
        seed=base["synthetic"]["seed"],
        split=base["split"],
        blur_dir=base["blur_dir"],
    )
    s = preset["sample"]
    sampled = gopro.sample_pairs(pairs, n=s["n"], seed=s["seed"], strategy=s["strategy"])
    refs = set()
    for m in (m for m in preset["methods"] if m["kind"] == "singan"):
        samples = gopro.assign_references(
            sampled, pairs, mode=m["reference"], offset=m.get("offset", 1)
        )
        refs |= {r.reference_id for r in samples}
    return refs


def test_study_dry_run_shares_trainings_across_variants(tmp_path, preset):
    wd = make_workdir(tmp_path)
    proc = snakemake(wd, "-n", "--cores", "2", "--configfile", str(PRESET))
    counts = job_counts(proc.stdout)
    n = preset["sample"]["n"]
    methods = preset["methods"]
    n_singan = sum(m["kind"] == "singan" for m in methods)
    refs = expected_references(preset)
    # one pyramid per distinct reference image, however many variants use it
    assert counts["train_singan"] == len(refs)
    assert n <= len(refs) < n * 4  # same + 3 neighbor offsets, with overlaps shared
    assert counts["deblur_singan"] == n * n_singan
    # kernel-estimating baselines have their own rule (it declares the kernel PNG too)
    n_kernel = sum(m["kind"] in KERNEL_KINDS for m in methods)
    n_selfdeblur = sum(m["kind"] == "selfdeblur" for m in methods)
    assert counts["deblur_baseline"] == n * (len(methods) - n_singan - n_kernel - n_selfdeblur)
    assert counts.get("deblur_kernel_baseline", 0) == n * n_kernel
    assert counts.get("deblur_selfdeblur", 0) == n * n_selfdeblur
    assert counts["evaluate"] == n * len(methods)
    assert counts["aggregate"] == counts["study"] == counts["plot"] == 1

    # every evaluate job records its variant's settings in the metrics rows
    metas = {}
    for line in proc.stdout.splitlines():
        if "python -m deblur evaluate" in line:  # printed by the default profile
            args = shlex.split(line.split("python -m deblur evaluate", 1)[1].split(" > ")[0])
            meta = json.loads(args[args.index("--meta") + 1])
            metas.setdefault(meta["method"], []).append(meta)
    assert set(metas) == {m["name"] for m in methods}
    for meta in metas["singan_nb5_k2"]:
        assert meta["reference_mode"] == "neighbor" and abs(meta["reference_offset"]) == 5
        assert meta["reference_id"] != meta["pair_id"]
        assert (meta["deblur_steps"], meta["deblur_mode"], meta["deblur_noise"]) == (2, "g0", True)
    for meta in metas["singan_same_inj_last3"]:
        assert meta["reference_id"] == meta["pair_id"] and meta["reference_offset"] == 0
        assert (meta["deblur_mode"], meta["inject_scale"], meta["deblur_steps"]) == (
            "inject",
            -3,
            None,
        )
    assert all(m["deblur_noise"] is False for m in metas["singan_nb1_k1_nonoise"])
    for meta in metas["singan_same_sr4"]:  # 320x180 frames, 64-px model size: 64x36 x 4
        assert (meta["deblur_mode"], meta["sr_factor"], meta["deblur_passes"]) == ("sr", "4", 6)
        assert (meta["deblur_out_width"], meta["deblur_out_height"]) == (256, 144)
    for meta in metas["singan_same_srfull"]:
        assert (meta["deblur_out_width"], meta["deblur_out_height"]) == (320, 180)
    for meta in metas["singan_same_sample"]:  # every scale of the pyramid, at the model size
        assert meta["deblur_mode"] == "sample" and meta["deblur_passes"] >= 2
        assert (meta["deblur_out_width"], meta["deblur_out_height"]) == (64, 36)
    assert all(json.loads(m["baseline_params"])["num_iter"] == 10 for m in metas["richardson_lucy"])
    assert all(json.loads(m["baseline_params"])["kernel_size"] == 31 for m in metas["tv_blind"])


@pytest.mark.shared
def test_study_on_gopro_mini_skips_neighbor_variants_with_a_reason(tmp_path, preset):
    root = SHARED_DATA / "gopro_mini"
    if not root.is_dir():
        pytest.skip(f"{root} is absent (real GoPro pairs live in ../shared, not in the repo)")
    wd = make_workdir(tmp_path)
    gopro_cfg = f"dataset={{kind: gopro, root: {root}}}"
    proc = snakemake(
        wd,
        "-n",
        "--cores",
        "2",
        "--configfile",
        str(PRESET),
        "--config",
        gopro_cfg,
        "sample={n: 2}",
        "study={skip_unavailable: true}",
    )
    out = proc.stdout + proc.stderr
    neighbor = [m["name"] for m in preset["methods"] if m.get("reference") == "neighbor"]
    for name in neighbor:
        assert f"skipping method {name} (study.skip_unavailable): no neighbor reference" in out
    same = [m for m in preset["methods"] if m.get("reference") == "same"]
    counts = job_counts(proc.stdout)
    assert counts["train_singan"] == 2
    assert counts["deblur_singan"] == 2 * len(same)
    assert counts["evaluate"] == 2 * (len(preset["methods"]) - len(neighbor))
    skipped = re.search(r"--skipped '(\{.*?\})'", proc.stdout)
    assert skipped and set(json.loads(skipped.group(1))) == set(neighbor)

    strict = snakemake(
        wd,
        "-n",
        "--configfile",
        str(PRESET),
        "--config",
        gopro_cfg,
        "sample={n: 2}",
        check=False,
    )
    assert strict.returncode != 0
    assert "frame 1 of 1 in sequence flower" in strict.stdout + strict.stderr


def test_unknown_highlight_method_is_a_config_error(tmp_path):
    proc = snakemake(
        make_workdir(tmp_path), "-n", "--config", "study={highlight: [nosuch]}", check=False
    )
    assert proc.returncode != 0
    assert "study.highlight names nosuch" in proc.stdout + proc.stderr
