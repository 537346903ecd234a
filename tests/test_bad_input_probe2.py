"""The second probe's cases, one test (or table) each: every one ends in success or in a
one-line error naming the file and a fix that works.

Model directories whose parts disagree (a damaged or foreign scale, a ``model.json`` of wrong
content), file sets replaced as a whole, outputs that coincide, non-finite settings, huge image
headers, and the bookkeeping of resumes. CLI-level with tiny settings; no workflow run.
"""

from __future__ import annotations

import json
import logging
import math
import shutil
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from deblur.cli import main
from deblur.singan.checkpoint import scale_path

TRAIN_ARGS = (
    "--device",
    "cpu",
    "--threads",
    1,
    "--set",
    "niter=2",
    "--set",
    "max_size=32",
    "--set",
    "min_size=16",
    "--set",
    "nfc=8",
    "--set",
    "max_nfc=8",
)


def run_cli(*args):
    return main([str(a) for a in args])


def last_error(capsys) -> str:
    """The whole stderr, checked to end in exactly one ``error:`` line and no traceback."""
    err = capsys.readouterr().err
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert lines and lines[-1].startswith("error: "), err
    assert sum(line.startswith("error: ") for line in lines) == 1
    return lines[-1]


def colours(h=12, w=16, seed=0):
    return Image.fromarray(np.random.default_rng(seed).integers(0, 256, (h, w, 3), np.uint8))


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A tiny finished model (32x40 -> 4 scales), its image and a blurry image, seed 0; and the
    same model trained with seed 1."""
    root = tmp_path_factory.mktemp("probe2")
    sharp, blurry = root / "sharp.png", root / "blurry.png"
    colours(32, 40, seed=1).save(sharp)
    colours(64, 80, seed=2).save(blurry)
    for seed in (0, 1):
        out = root / f"seed{seed}"
        assert run_cli("train", "--image", sharp, "--out", out, "--seed", seed, *TRAIN_ARGS) == 0
    return dict(root=root, dir=root / "seed0", other=root / "seed1", sharp=sharp, blurry=blurry)


@pytest.fixture
def model(trained, tmp_path):
    """A private copy of the seed-0 model."""
    out = tmp_path / "m"
    shutil.copytree(trained["dir"], out)
    return out


def deblur(trained, model_dir, out):
    return run_cli(
        "deblur",
        "--model",
        model_dir,
        "--image",
        trained["blurry"],
        "--out",
        out,
        "--device",
        "cpu",
        "--threads",
        1,
    )


def retrain(trained, model_dir):
    return run_cli("train", "--image", trained["sharp"], "--out", model_dir, *TRAIN_ARGS)


def weights(model_dir):
    return [torch.load(p, weights_only=True)["generator"] for p in sorted(model_dir.glob("s*.pt"))]


def same_weights(a, b) -> bool:
    wa, wb = weights(a), weights(b)
    return len(wa) == len(wb) and all(
        all(torch.equal(x[k], y[k]) for k in x) for x, y in zip(wa, wb, strict=True)
    )


# ------------------------------------------------- 2: a damaged or missing scale, then retrain


@pytest.mark.parametrize("damage", ["truncate", "delete", "empty"])
def test_damaged_scale_names_a_fix_that_works(trained, model, tmp_path, capsys, damage):
    scale1 = scale_path(model, 1)
    if damage == "truncate":
        scale1.write_bytes(scale1.read_bytes()[:1000])
    elif damage == "empty":
        scale1.write_bytes(b"")
    else:
        scale1.unlink()
    assert deblur(trained, model, tmp_path / "o.png") == 2
    line = last_error(capsys)
    assert "scale_01.pt" in line and f"python -m deblur train --out {model}" in line
    if damage == "empty":
        assert "the file is empty (0 bytes)" in line
    # the fix the message names: re-running train retrains the scale, and deblur works again
    assert retrain(trained, model) == 0
    assert same_weights(model, trained["dir"])
    assert deblur(trained, model, tmp_path / "o.png") == 0


def test_retraining_a_damaged_scale_removes_the_scales_above_it(trained, model, caplog):
    scale_path(model, 1).write_bytes(b"garbage")
    (model / "model.json").unlink()  # as Snakemake does before rerunning the job
    newest = scale_path(model, 2)
    assert retrain(trained, model) == 0
    assert "retraining scale 1" in caplog.text and f"removing {newest}" in caplog.text
    assert same_weights(model, trained["dir"])


# --------------------------------------------------- 3: scales and model.json checked together


def test_scales_of_another_seed_under_model_json_are_refused(trained, model, tmp_path, capsys):
    for path in trained["other"].glob("scale_*.pt"):
        shutil.copy(path, model / path.name)
    assert deblur(trained, model, tmp_path / "o.png") == 2
    line = last_error(capsys)
    assert "scale_00.pt does not belong to the model" in line and "seed 1 (now 0)" in line
    assert not (tmp_path / "o.png").exists()


def test_model_json_with_fewer_scales_is_refused(trained, model, tmp_path, capsys):
    info = json.loads((model / "model.json").read_text())
    (model / "model.json").write_text(json.dumps(dict(info, num_scales=2)))
    assert deblur(trained, model, tmp_path / "o.png") == 2
    assert "sizes has 4 entries but num_scales is 2" in last_error(capsys)
    # edited consistently (sizes cut too): the scale file beyond it gives it away
    sizes = info["sizes"][:2]
    edited = dict(
        info,
        num_scales=2,
        sizes=sizes,
        noise_amp=info["noise_amp"][:2],
        channels=info["channels"][:2],
    )
    (model / "model.json").write_text(json.dumps(edited))
    assert deblur(trained, model, tmp_path / "o.png") == 2
    assert "records 2 scales but scale_02.pt exists" in last_error(capsys)


def test_a_scale_swapped_with_another_is_refused(trained, model, tmp_path, capsys):
    shutil.copy(scale_path(model, 0), scale_path(model, 1))
    assert deblur(trained, model, tmp_path / "o.png") == 2
    assert "scale_01.pt does not belong" in last_error(capsys)
    assert retrain(trained, model) == 0  # the trainer retrains it
    assert same_weights(model, trained["dir"])


# ------------------------------------------------------- 11: model.json of wrong content


MODEL_JSON_CASES = [
    ("drop", "num_scales", "lacks num_scales"),
    ("drop", "config", "lacks config"),
    ("replace", [], "holds a JSON list, not an object"),
    ("set", {"sizes": []}, "sizes has 0 entries but num_scales is 4"),
    ("set", {"sizes": [[1, 2], "x", [3, 4], [5, 6]]}, "sizes is"),
    ("set", {"num_scales": "4"}, 'num_scales is "4", not an integer >= 1'),
    ("set", {"config": [1]}, "config is [1], not an object"),
    ("set", {"scale_factor": None}, "lacks scale_factor"),
    ("replace", "not json {", "cannot parse"),
    ("replace", b"\xff\xfe", "cannot parse"),
]


@pytest.mark.parametrize("how, what, fragment", MODEL_JSON_CASES)
def test_model_json_of_wrong_content(trained, model, tmp_path, capsys, how, what, fragment):
    path = model / "model.json"
    info = json.loads(path.read_text())
    if how == "drop":
        del info[what]
    elif how == "set":
        info.update(what)
    if how == "replace" and isinstance(what, bytes):
        path.write_bytes(what)
    elif how == "replace" and isinstance(what, str):
        path.write_text(what)
    else:
        path.write_text(json.dumps(what if how == "replace" else info))
    assert deblur(trained, model, tmp_path / "o.png") == 2
    line = last_error(capsys)
    assert fragment in line and str(path) in line
    evaluate = [
        "evaluate",
        "--pred",
        trained["blurry"],
        "--sharp",
        trained["sharp"],
        "--max-size",
        32,
        "--out",
        tmp_path / "x.parquet",
        "--model",
        model,
    ]
    assert run_cli(*evaluate) == 2
    assert fragment in last_error(capsys)
    # train does not say "nothing to do": it checks, retrains what is missing, writes it anew
    assert retrain(trained, model) == 0
    assert json.loads(path.read_text())["num_scales"] == 4
    assert deblur(trained, model, tmp_path / "o.png") == 0


def test_every_model_json_reader_is_the_validated_one(tmp_path, caplog):
    from deblur.errors import DeblurError
    from deblur.evaluation.cost import read_train_seconds
    from deblur.evaluation.ladder import scale_times

    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "model.json").write_text('{"train_seconds": 3}')
    assert read_train_seconds([tmp_path / "m" / "model.json"]) == {}
    assert "lacks config" in caplog.text
    with pytest.raises(DeblurError, match="lacks config"):
        scale_times([tmp_path / "m"])


# ---------------------------------------------- 18: only the trainer's own scale file names


def test_user_files_named_like_scales_are_left_alone(trained, model, tmp_path, caplog):
    caplog.set_level(logging.INFO)
    backup, notes = model / "scale_00_backup.pt", model / "scale_notes.pt"
    backup.write_bytes(b"my backup")
    notes.write_bytes(b"my notes")
    assert retrain(trained, model) == 0  # a finished model: nothing to do, no failure
    assert "nothing to do" in caplog.text
    # another seed: the old pyramid goes aside, the user's files stay
    assert (
        run_cli(
            "train",
            "--image",
            trained["sharp"],
            "--out",
            model,
            "--seed",
            5,
            "--replace-other-run",
            *TRAIN_ARGS,
        )
        == 0
    )
    assert backup.read_bytes() == b"my backup" and notes.read_bytes() == b"my notes"
    (aside,) = tmp_path.glob("m.replaced-*")
    assert sorted(p.name for p in aside.iterdir()) == [
        "model.json",
        "scale_00.pt",
        "scale_01.pt",
        "scale_02.pt",
        "scale_03.pt",
        "train_log.tsv",
    ]


# ------------------------------------------------------ 19: one line for unloadable weights


class Crafted:
    """A pickled object a weights-only load refuses."""


def test_pickled_scale_is_one_line_without_unsafe_advice(trained, model, tmp_path, capsys):
    torch.save({"payload": Crafted()}, scale_path(model, 0))
    assert deblur(trained, model, tmp_path / "o.png") == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and err.count("\n") == 1
    assert "weights_only" not in err and "holds Python objects besides weights" in err


def test_newline_in_a_path_keeps_the_error_on_one_line(tmp_path, capsys):
    folder = tmp_path / "seq\nname"
    folder.mkdir()
    assert (
        run_cli(
            "deblur", "--model", folder, "--image", folder / "x.png", "--out", tmp_path / "o.png"
        )
        == 2
    )
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "seq\\nname" in err


# -------------------------------------- 15, 17: --out ".", and a failed set-aside leaves nothing


def test_replace_other_run_into_dot(trained, model, monkeypatch):
    monkeypatch.chdir(model)
    assert (
        run_cli(
            "train",
            "--image",
            trained["sharp"],
            "--out",
            ".",
            "--seed",
            3,
            "--replace-other-run",
            *TRAIN_ARGS,
        )
        == 0
    )
    assert len(list(model.parent.glob("m.replaced-*"))) == 1


def test_failed_set_aside_leaves_no_empty_folder(trained, model, tmp_path, capsys, monkeypatch):
    real_rename = Path.rename

    def cross_device(self, target):
        if ".replaced-" in str(target):
            raise OSError(18, "Invalid cross-device link", str(self), None, str(target))
        return real_rename(self, target)

    monkeypatch.setattr(Path, "rename", cross_device)
    for _ in range(2):
        assert (
            run_cli(
                "train",
                "--image",
                trained["sharp"],
                "--out",
                model,
                "--seed",
                3,
                "--replace-other-run",
                *TRAIN_ARGS,
            )
            == 2
        )
        assert "Invalid cross-device link" in last_error(capsys)
    assert list(tmp_path.glob("m.replaced-*")) == []
    assert (model / "model.json").is_file() and scale_path(model, 2).is_file()


# ------------------------------------------------------- 1: synth never deletes a user's file

SYNTH = ("--sequences", 1, "--frames", 2, "--size", "32x24")


@pytest.mark.parametrize("user_file", ["my_notes/notes.txt", "test/seq/blur/README.txt"])
def test_synth_refuses_to_replace_a_root_with_user_files(tmp_path, capsys, user_file):
    root = tmp_path / "root"
    assert run_cli("synth", "--out", root, *SYNTH) == 0
    mine = root / user_file
    mine.parent.mkdir(parents=True, exist_ok=True)
    mine.write_text("keep me")
    assert run_cli("synth", "--out", root, *SYNTH, "--seed", 1) == 2
    line = last_error(capsys)
    assert f"refusing to replace {root}" in line and str(mine) in line
    assert mine.read_text() == "keep me"
    mine.unlink()  # without it, synth replaces its own tree (also files of a larger earlier run)
    assert run_cli("synth", "--out", root, "--sequences", 1, "--frames", 1, "--size", "32x24") == 0
    assert json.loads((root / "synthetic.json").read_text())["parameters"]["frames"] == 1


# ------------------------------------------- 4, 9, 10: a table set is replaced whole, or not


def metrics_file(path, n, shift=0.0):
    from deblur.evaluation.tables import metrics_frame, write_parquet

    rows = [
        dict(
            pair_id=f"S-{i:06d}",
            sequence="S",
            frame=f"{i:06d}",
            method=method,
            kind=method,
            resolution=res,
            psnr=20.0 + shift + i + (method == "singan"),
            ssim=0.5 + 0.01 * i,
            dataset="fake",
        )
        for method in ("singan", "identity")
        for res in ("model", "full")
        for i in range(n)
    ]
    write_parquet(metrics_frame(rows), path)
    return path


def aggregate(metrics, out_dir):
    return run_cli("aggregate", "--metrics", metrics, "--out-dir", out_dir, "--n-boot", 200)


def test_a_full_disk_during_aggregate_keeps_the_previous_set_whole(tmp_path, capsys, monkeypatch):
    import errno

    from deblur.outputs import AGGREGATE_TABLES

    out = tmp_path / "tables"
    assert aggregate(metrics_file(tmp_path / "a.parquet", 4), out) == 0
    before = {name: (out / name).read_bytes() for name in AGGREGATE_TABLES.values()}
    real_write_bytes, calls = Path.write_bytes, []

    def disk_fills(self, data):
        calls.append(self)
        if len(calls) == 3:  # the third file finds the disk full
            raise OSError(errno.ENOSPC, "No space left on device", str(self))
        return real_write_bytes(self, data)

    monkeypatch.setattr(Path, "write_bytes", disk_fills)
    assert aggregate(metrics_file(tmp_path / "b.parquet", 5, shift=3.0), out) == 2
    line = last_error(capsys)
    assert "no space left" in line and str(out) in line
    assert {name: (out / name).read_bytes() for name in AGGREGATE_TABLES.values()} == before
    assert sorted(p.name for p in out.iterdir()) == sorted(AGGREGATE_TABLES.values())


def test_one_sampled_pair_aggregates_with_a_verdict_that_says_so(tmp_path, capsys):
    from deblur.outputs import AGGREGATE_TABLES

    out = tmp_path / "tables"
    assert aggregate(metrics_file(tmp_path / "a.parquet", 1), out) == 0, capsys.readouterr().err
    assert all((out / name).is_file() for name in AGGREGATE_TABLES.values())
    text = (out / "paper_table.md").read_text()
    assert "cannot judge: no 95% CI with n = 1" in text and "**consistent" not in text


# ------------------------------------------- 7, 12: names and parameters refused at parse time


def validated(**changes):
    """The default config with ``changes``, validated by the workflow's schema."""
    import yaml
    from snakemake.utils import validate

    repo = Path(__file__).resolve().parents[1]
    config = yaml.safe_load((repo / "config.yaml").read_text()) | changes
    validate(config, str(repo / "workflow" / "schemas" / "config.schema.yaml"))
    return config


@pytest.mark.parametrize(
    "changes",
    [
        {"methods": [{"name": "identity\n", "kind": "identity"}]},
        {"methods": [{"name": "identity\nrm", "kind": "identity"}]},
        {"train": {"device": "cpu\n"}},
    ],
)
def test_values_ending_in_a_newline_fail_the_schema(changes):
    from snakemake.exceptions import WorkflowError

    assert validated(methods=[{"name": "identity", "kind": "identity"}])  # the plain name passes
    with pytest.raises(WorkflowError, match="does not match"):
        validated(**changes)


@pytest.mark.parametrize(
    "kind, param",
    [
        ("unsharp", "amount"),
        ("unsharp", "radius"),
        ("oracle_tv", "tv_epsilon"),
        ("richardson_lucy", "min_length"),
    ],
)
@pytest.mark.parametrize("value", [float("nan"), float("inf"), -float("inf")])
def test_non_finite_baseline_params_are_refused_at_parse_time(kind, param, value):
    from deblur.baselines import parse_params

    # the workflow checks params this way before any job (config values as JSON text)
    with pytest.raises(ValueError, match=f"{param} must be a finite number"):
        parse_params(kind, [f"{param}={json.dumps(value)}"])


@pytest.mark.parametrize("value", ["NaN", "Infinity", "-Infinity"])
def test_non_finite_selfdeblur_params_are_refused_at_parse_time(value):
    from deblur.selfdeblur.config import SelfDeblurConfig
    from deblur.selfdeblur.params import parse_params

    assert SelfDeblurConfig  # the config the params build
    with pytest.raises(ValueError, match="lr_image must be a finite number"):
        parse_params([f"lr_image={value}"])


@pytest.mark.parametrize(
    "kind, params, fragment",
    [
        ("unsharp", ["radius=1e308"], "cannot convert float infinity"),
        ("oracle_tv", ["tv_lambda=1e308"], "produced NaN or inf"),
    ],
)
def test_extreme_baseline_params_end_in_one_line(tmp_path, capsys, kind, params, fragment):
    image, kernel = tmp_path / "b.png", tmp_path / "k.png"
    colours(24, 32).save(image)
    k = np.zeros((5, 5), np.uint16)
    k[2, :] = 65535
    Image.fromarray(k).save(kernel)
    extra = ["--kernel", kernel] if kind == "oracle_tv" else []
    args = [a for p in params for a in ("--param", p)]
    with warnings.catch_warnings(record=True) as shown:
        warnings.simplefilter("always")
        code = run_cli(
            "baseline", "--kind", kind, "--image", image, "--out", tmp_path / "o.png", *extra, *args
        )
    assert code == 2
    line = last_error(capsys)
    assert fragment in line and "change the parameters" in line
    # numpy's overflow warnings are not shown before the one line
    assert not [w for w in shown if issubclass(w.category, RuntimeWarning)]
    assert not (tmp_path / "o.png").exists()


@pytest.mark.parametrize("kind", ["tv_blind", "oracle_tv"])
def test_a_tv_epsilon_whose_square_underflows_is_refused(kind):
    from deblur.baselines import parse_params

    # 1e-320 squared is 0 in float64: the TV gradient would be 0 / 0
    name = "tv_epsilon"
    with pytest.raises(ValueError, match=f"{name} must be >= 1.49e-154, got 1e-320"):
        parse_params(kind, [f"{name}=1e-320"])
    parse_params(kind, [f"{name}=1e-150"])  # a tiny but representable one is accepted


def test_nan_weight_in_a_scale_is_named(trained, model, tmp_path, capsys):
    path = scale_path(model, 2)
    state = torch.load(path, weights_only=True)
    name = next(iter(state["generator"]))
    state["generator"][name][...] = float("nan")
    torch.save(state, path)
    assert deblur(trained, model, tmp_path / "o.png") == 2
    line = last_error(capsys)
    assert "scale_02.pt holds NaN or infinite values" in line and name in line


# ------------------------------------------------------------- 8: images too small to deblur


@pytest.mark.parametrize("hw", [(1, 1), (3, 3), (15, 19)])
def test_tiny_images_are_refused(trained, tmp_path, capsys, hw):
    image = tmp_path / "tiny.png"
    colours(*hw).save(image)
    assert (
        run_cli(
            "deblur",
            "--model",
            trained["dir"],
            "--image",
            image,
            "--out",
            tmp_path / "o.png",
            "--device",
            "cpu",
            "--threads",
            1,
        )
        == 2
    )
    line = last_error(capsys)
    assert f"is {hw[1]}x{hw[0]}, smaller than model" in line and "coarsest scale (20x16)" in line
    assert not (tmp_path / "o.png").exists()


# -------------------------------------- 5, 6, 14, 20, 21: SelfDeblur's outputs and checkpoint

SELFDEBLUR_TINY = [
    "channels_down=[16, 16, 16]",
    "channels_up=[16, 16, 16]",
    "channels_skip=[4, 4, 4]",
]


def selfdeblur_args(image, out, iterations=6, *extra):
    params = [a for p in SELFDEBLUR_TINY for a in ("--param", p)]
    return [
        "selfdeblur",
        "--image",
        image,
        "--out",
        out,
        "--iterations",
        iterations,
        "--kernel-size",
        5,
        "--checkpoint-every",
        2,
        "--device",
        "cpu",
        "--threads",
        1,
        "--no-progress",
        *params,
        *extra,
    ]


@pytest.fixture
def blurry40(tmp_path):
    path = tmp_path / "blurry.png"
    colours(40, 40, seed=3).save(path)
    return path


@pytest.mark.parametrize("other", ["--kernel-out", "--info", "--checkpoint"])
def test_selfdeblur_refuses_outputs_that_coincide(tmp_path, blurry40, capsys, other):
    out = tmp_path / "same.png"
    assert run_cli(*selfdeblur_args(blurry40, out), other, out) == 2
    line = last_error(capsys)
    assert f"--out and {other} are the same file" in line and not out.exists()


def test_baseline_refuses_outputs_that_coincide(tmp_path, blurry40, capsys):
    out = tmp_path / "same.png"
    assert (
        run_cli(
            "baseline",
            "--kind",
            "identity",
            "--image",
            blurry40,
            "--out",
            out,
            "--info",
            tmp_path / "." / "same.png",
        )
        == 2
    )
    assert "--out and --info are the same file" in last_error(capsys)


def test_selfdeblur_keeps_its_checkpoint_until_the_outputs_are_written(
    tmp_path, blurry40, capsys, monkeypatch
):
    import errno

    from deblur.selfdeblur import optimize

    out, ckpt = tmp_path / "o.png", tmp_path / "o.ckpt"
    real_save = optimize.save_checkpoint

    def save_then_stop(path, state):  # a kill right after the checkpoint at iteration 4
        real_save(path, state)
        if state["step"] == 4:
            raise KeyboardInterrupt

    monkeypatch.setattr(optimize, "save_checkpoint", save_then_stop)
    assert run_cli(*selfdeblur_args(blurry40, out)) == 130
    assert ckpt.is_file()
    capsys.readouterr()
    monkeypatch.setattr(optimize, "save_checkpoint", real_save)

    def disk_full(image, fp, *args, **kwargs):  # the output PNG finds the disk full
        raise OSError(errno.ENOSPC, "No space left on device", str(fp))

    monkeypatch.setattr(Image.Image, "save", disk_full)
    assert run_cli(*selfdeblur_args(blurry40, out)) == 2
    assert "no space left" in last_error(capsys)
    assert ckpt.is_file(), "the checkpoint survives a failed write"
    monkeypatch.undo()
    assert run_cli(*selfdeblur_args(blurry40, out, 6, "--info", tmp_path / "o.json")) == 0
    assert out.is_file() and not ckpt.exists()


def test_selfdeblur_seconds_cover_every_process_and_the_resume_is_recorded(
    tmp_path, blurry40, monkeypatch
):
    from deblur.selfdeblur import optimize

    out, info = tmp_path / "o.png", tmp_path / "o.json"
    real_save = optimize.save_checkpoint

    def save_then_stop(path, state):
        real_save(path, state)
        if state["step"] == 4:
            raise KeyboardInterrupt

    clock = iter(range(0, 10_000, 100))  # every reading of the clock: 100 s later
    monkeypatch.setattr(optimize.time, "perf_counter", lambda: float(next(clock)))
    monkeypatch.setattr(optimize, "save_checkpoint", save_then_stop)
    assert run_cli(*selfdeblur_args(blurry40, out)) == 130
    monkeypatch.setattr(optimize, "save_checkpoint", real_save)
    assert run_cli(*selfdeblur_args(blurry40, out, 6, "--info", info)) == 0
    record = json.loads(info.read_text())
    assert record["selfdeblur_resumed_at"] == 4
    # first process: start, checkpoint at 2 (100 s), at 4 (200 s, then killed); the second:
    # start (300), end (400): 200 + 100 s in all, not the second process's 100 s alone
    assert record["selfdeblur_seconds"] == pytest.approx(300.0)
    assert record["selfdeblur_seconds_per_iter"] == pytest.approx(50.0)


@pytest.mark.parametrize("content", ["list", "partial-temp"])
def test_selfdeblur_foreign_checkpoint_and_stale_temporaries(
    tmp_path, blurry40, capsys, caplog, content
):
    out, ckpt = tmp_path / "o.png", tmp_path / "o.ckpt"
    stale = tmp_path / ".o.ckpt.tmp.abc123.ckpt"
    if content == "list":
        torch.save([1, 2, 3], ckpt)
    else:
        stale.write_bytes(b"\0" * 1000)  # a kill while saving
    assert run_cli(*selfdeblur_args(blurry40, out)) == 0, capsys.readouterr().err
    assert out.is_file() and not ckpt.exists() and not stale.exists()
    if content == "list":
        assert "holds a list, not a SelfDeblur checkpoint" in caplog.text


# ------------------------------------------------- 13, 15, 22, 23, 14: one line, or a warning


def png_header_only(path, width, height, depth=8, colour=2, rows=b""):
    """A PNG whose header claims ``width`` x ``height`` (its data need not match)."""
    import struct
    import zlib

    def chunk(kind, data):
        return (
            struct.pack(">I", len(data))
            + kind
            + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
        )

    header = struct.pack(">IIBBBBB", width, height, depth, colour, 0, 0, 0)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows or b"\0" * 100))
        + chunk(b"IEND", b"")
    )
    return path


def test_an_image_header_claiming_20000x10000_is_one_line(trained, tmp_path, capsys):
    from deblur.data.gopro import image_size

    bomb = png_header_only(tmp_path / "bomb.png", 20000, 10000)
    args = {
        "train": ["train", "--image", bomb, "--out", tmp_path / "m", *TRAIN_ARGS],
        "evaluate": [
            "evaluate",
            "--pred",
            bomb,
            "--sharp",
            trained["sharp"],
            "--max-size",
            32,
            "--out",
            tmp_path / "x.parquet",
        ],
    }
    for argv in args.values():
        assert run_cli(*argv) == 2
        line = last_error(capsys)
        assert "header claims 20000x10000 = 200000000 pixels, over the" in line
    from deblur.errors import DeblurError

    with pytest.raises(DeblurError, match="header claims 20000x10000"):
        image_size(bomb)  # what sample reads of every frame


def test_16_bit_rgb_is_read_with_a_warning(tmp_path, caplog):
    from deblur.data.imageio import read_rgb

    h, w = 4, 5
    values = (np.arange(h * w * 3).reshape(h, w, 3) * 1000 + 7).astype(">u2")
    rows = b"".join(b"\0" + values[i].tobytes() for i in range(h))
    path = png_header_only(tmp_path / "rgb16.png", w, h, depth=16, colour=2, rows=rows)
    img = read_rgb(path)
    assert np.allclose(img, (values >> 8) / 255.0)  # PIL's 8 bits: the high byte
    assert "RGB with 16 bits per channel" in caplog.text and "used at 8 bits" in caplog.text


def test_meta_file_that_is_not_utf8(trained, tmp_path, capsys):
    meta = tmp_path / "meta.json"
    meta.write_bytes(b'{"note": "\xff\xfe"}')
    assert (
        run_cli(
            "evaluate",
            "--pred",
            trained["sharp"],
            "--sharp",
            trained["sharp"],
            "--max-size",
            32,
            "--out",
            tmp_path / "x.parquet",
            "--meta",
            meta,
        )
        == 2
    )
    line = last_error(capsys)
    assert f"cannot read --meta file {meta}" in line and "UTF-8" in line


@pytest.mark.parametrize("command, seed", [("train", 2**70), ("sample", -1), ("deblur", 2**32)])
def test_seeds_out_of_range_are_usage_errors(capsys, command, seed):
    with pytest.raises(SystemExit) as exit_:
        run_cli(command, "--seed", seed, "--help-not-reached")
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and f"argument --seed: {seed} is outside 0..4294967295" in err


def test_oracle_tv_logs_what_it_wrote(tmp_path, caplog):
    image, kernel, out = tmp_path / "b.png", tmp_path / "k.png", tmp_path / "o.png"
    colours(24, 32).save(image)
    k = np.zeros((5, 5), np.uint16)
    k[2, :] = 65535
    Image.fromarray(k).save(kernel)
    caplog.set_level(logging.INFO)
    assert (
        run_cli(
            "baseline",
            "--kind",
            "oracle_tv",
            "--image",
            image,
            "--kernel",
            kernel,
            "--out",
            out,
            "--param",
            "iterations=2",
        )
        == 0
    )
    assert "wrote None" not in caplog.text and f"wrote {out}" in caplog.text


@pytest.mark.parametrize(
    "log_text",
    [
        "scale\theight\n0\t16\n",  # columns missing
        "scale\theight\twidth\tchannels\tniter\tseconds\n0\t16\t20\t8\t0\t1.5\n",  # niter 0
        "scale\theight\twidth\tchannels\tniter\tseconds\n0\tx\t20\t8\t2\t1.5\n",  # not a number
        "",  # empty
    ],
)
def test_garbled_train_log_in_ladder_is_one_line(trained, model, tmp_path, capsys, log_text):
    (model / "train_log.tsv").write_text(log_text)
    from test_ladder import _rows  # metrics rows of two ladder cells

    from deblur.evaluation.tables import write_parquet

    metrics = write_parquet(_rows(), tmp_path / "m.parquet")
    assert (
        run_cli("ladder", "--metrics", metrics, "--models", model, "--out-dir", tmp_path / "ladder")
        == 2
    )
    line = last_error(capsys)
    assert "train_log.tsv" in line


# ------------------------------------------------------------------- 10: a disk that fills up

FILE_SIZE_LIMIT = 512  # bytes: every output below is larger


def limited(argv, cwd):
    """Run ``python -m deblur argv`` with writes limited to FILE_SIZE_LIMIT bytes per file (the
    kernel refuses a longer write with EFBIG, as a full disk refuses one with ENOSPC)."""
    import resource
    import subprocess
    import sys

    def limit():
        resource.setrlimit(resource.RLIMIT_FSIZE, (FILE_SIZE_LIMIT, FILE_SIZE_LIMIT))

    import os

    cmd = [sys.executable, "-m", "deblur", *map(str, argv)]
    repo = str(Path(__file__).resolve().parents[1])  # this checkout's package
    env = dict(
        os.environ, PYTHONPATH=os.pathsep.join(filter(None, [repo, os.environ.get("PYTHONPATH")]))
    )
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, preexec_fn=limit)


@pytest.fixture(scope="module")
def tables(trained):
    out = trained["root"] / "tables"
    assert aggregate(metrics_file(trained["root"] / "metrics.parquet", 4), out) == 0
    return out


@pytest.mark.parametrize(
    "name", ["train", "deblur", "baseline", "evaluate", "synth", "aggregate", "plot"]
)
def test_a_full_disk_is_one_line_naming_the_file(trained, tables, tmp_path, name):
    out = tmp_path / "out"
    argv = {
        "train": ["train", "--image", trained["sharp"], "--out", out, *TRAIN_ARGS],
        "deblur": ["deblur", "--model", trained["dir"], "--image", trained["blurry"], "--out",
                   out / "o.png", "--device", "cpu", "--threads", 1],
        "baseline": ["baseline", "--kind", "identity", "--image", trained["blurry"], "--out",
                     out / "o.png"],
        "evaluate": ["evaluate", "--pred", trained["sharp"], "--sharp", trained["sharp"],
                     "--max-size", 32, "--out", out / "m.parquet"],
        "synth": ["synth", "--out", out, "--sequences", 1, "--frames", 1, "--size", "32x24"],
        "aggregate": ["aggregate", "--metrics", tables / "metrics.parquet", "--out-dir", out,
                      "--n-boot", 200],
        "plot": ["plot", "--tables", tables, "--out-dir", out],
    }[name]  # fmt: skip
    done = limited(argv, tmp_path)
    assert done.returncode == 2, done.stderr[-3000:]
    assert "Traceback" not in done.stderr
    line = done.stderr.strip().splitlines()[-1]
    assert line.startswith("error: cannot write ") and "no space left (File too large)" in line
    assert str(out) in line
    leftovers = [p for p in tmp_path.rglob("*") if ".tmp." in p.name]
    assert leftovers == [], "temporary files are removed"


# ------------------------------------------------------------ 24: a neighbor across a gap


def test_neighbor_reference_uses_the_sharp_frame_of_a_frame_without_blurry_image(tmp_path):
    from deblur.data.pairs import make_pair
    from deblur.data.sampling import assign_references

    seq = tmp_path / "test" / "GOPR0001_11_00"
    for folder, frames in (("blur", (1, 3)), ("sharp", (1, 2, 3))):
        (seq / folder).mkdir(parents=True)
        for f in frames:
            colours(8, 8, seed=f).save(seq / folder / f"{f:06d}.png")
    pairs = [
        make_pair(seq.name, f"{f:06d}", seq / "blur" / f"{f:06d}.png",
                  seq / "sharp" / f"{f:06d}.png")
        for f in (1, 3)
    ]  # fmt: skip
    first, last = assign_references(pairs, pairs, mode="neighbor", offset=1)
    assert (first.reference_id, first.reference_offset) == (f"{seq.name}-000002", 1)
    assert first.reference == seq / "sharp" / "000002.png"
    assert (last.reference_id, last.reference_offset) == (f"{seq.name}-000002", -1)
    # without frame 2's sharp image, the neighbor in sequence order, its offset as counted
    (seq / "sharp" / "000002.png").unlink()
    (first,) = assign_references(pairs[:1], pairs, mode="neighbor", offset=1)
    assert (first.reference_id, first.reference_offset) == (f"{seq.name}-000003", 1)


# --------------------------------------------------------- 16: evaluate's memory by frame size


def test_evaluate_memory_grows_with_the_frame(tmp_path):
    import yaml

    from deblur.plan.memory import frame_mem_mb as evaluate_mem_mb

    repo = Path(__file__).resolve().parents[1]
    settings = yaml.safe_load((repo / "config.yaml").read_text())["evaluate"]
    base, per_mp = settings["mem_mb_base"], settings["mem_mb_per_megapixel"]
    small = png_header_only(tmp_path / "hd.png", 1280, 720)
    huge = png_header_only(tmp_path / "huge.png", 8000, 6000)  # the header is all it reads
    assert evaluate_mem_mb(small, base, per_mp) == math.ceil(base + per_mp * 0.9216)
    assert evaluate_mem_mb(huge, base, per_mp) == base + per_mp * 48
    assert evaluate_mem_mb(huge, base, per_mp) > 9000  # the probe's measured 9.0 GB
    with pytest.raises(FileNotFoundError):  # Snakemake: "to be determined" until it exists
        evaluate_mem_mb(tmp_path / "later.png", base, per_mp)
    # an unreadable frame: the base amount (the job itself then names the file); raising here
    # would abort the run's scheduling and cancel its running cluster jobs
    broken = tmp_path / "broken.png"
    broken.write_text("not a PNG")
    assert evaluate_mem_mb(broken, base, per_mp) == base
