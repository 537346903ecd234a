"""`python -m deblur train` / `deblur`: they run, convert odd inputs, and fail in one line."""

import json
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from deblur.cli import main

TINY_YAML = "niter: 2\nmin_size: 16\nmax_size: 40\nnfc: 8\nmax_nfc: 16\n"


def save(path, array, mode=None):
    Image.fromarray(array, mode=mode).save(path)
    return path


def pattern(h=30, w=40, channels=3):
    yy, xx = np.mgrid[0:h, 0:w]
    base = (((xx // 5 + yy // 5) % 2) * 180 + 40).astype(np.uint8)
    return (
        base if channels == 1 else np.stack([base, base[::-1], base[:, ::-1], base][:channels], -1)
    )


@pytest.fixture
def config(tmp_path):
    path = tmp_path / "singan.yaml"
    path.write_text(TINY_YAML)
    return path


def run_cli(*args):
    return main([str(a) for a in args])


def test_train_then_deblur_with_gray_and_rgba_inputs(tmp_path, config, caplog):
    caplog.set_level("INFO")
    sharp = save(tmp_path / "gray.png", pattern(channels=1))  # grayscale: replicated to RGB
    rc = run_cli("train", "--image", sharp, "--out", tmp_path / "m", "--config", config,
                 "--device", "cpu", "--seed", 1, "--threads", 1)  # fmt: skip
    assert rc == 0
    assert "grayscale" in caplog.text and "scale 4/4 30x40" in caplog.text
    meta = json.loads((tmp_path / "m" / "model.json").read_text())
    assert meta["seed"] == 1 and meta["threads"] == 1 and meta["config"]["niter"] == 2
    blurry = save(tmp_path / "rgba.png", pattern(60, 80, channels=4), mode="RGBA")
    out = tmp_path / "out" / "deblurred.png"
    rc = run_cli("deblur", "--model", tmp_path / "m", "--image", blurry, "--out", out,
                 "--steps", 2, "--no-noise", "--device", "cpu", "--threads", 1)  # fmt: skip
    assert rc == 0 and "alpha" in caplog.text
    with Image.open(out) as im:
        assert im.size == (40, 30) and im.mode == "RGB"  # the finest scale's size
    out2 = tmp_path / "inject.png"
    assert run_cli("deblur", "--model", tmp_path / "m", "--image", blurry, "--out", out2,
                   "--mode", "inject", "--inject-scale", 1) == 0  # fmt: skip
    assert out2.is_file()


@pytest.mark.parametrize(
    "setup, expected",
    [
        ("small", "image too small"),
        ("garbage", "cannot read image"),
        ("missing", "image not found"),
        ("unknown_key", "unknown singan key(s) n_iter"),
    ],
)
def test_train_errors_are_one_line(tmp_path, config, capsys, setup, expected):
    image = save(tmp_path / "ok.png", pattern())
    if setup == "small":
        image = save(tmp_path / "small.png", pattern(12, 14))
    elif setup == "garbage":
        image = tmp_path / "garbage.png"
        image.write_bytes(b"not a png at all")
    elif setup == "missing":
        image = tmp_path / "nope.png"
    elif setup == "unknown_key":
        config.write_text("n_iter: 3\n")
    rc = run_cli("train", "--image", image, "--out", tmp_path / "m", "--config", config)
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2
    assert err[-1].startswith("error: ") and expected in err[-1]
    assert not (tmp_path / "m" / "model.json").exists()


def test_deblur_refuses_an_unfinished_model(tmp_path, capsys):
    blurry = save(tmp_path / "b.png", pattern())
    (tmp_path / "m").mkdir()
    rc = run_cli(
        "deblur", "--model", tmp_path / "m", "--image", blurry, "--out", tmp_path / "o.png"
    )
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and "not a finished model" in err[-1]
    assert not (tmp_path / "o.png").exists()


def test_help_explains_the_options():
    for command, options in [
        (
            "train",
            ["--image", "--out", "--config", "--device", "--seed", "--threads", "--progress"],
        ),
        ("deblur", ["--model", "--steps", "--mode", "--inject-scale", "--no-noise", "--seed"]),
    ]:
        text = subprocess.run(
            [sys.executable, "-m", "deblur", command, "--help"],
            capture_output=True, text=True, check=True,
        ).stdout  # fmt: skip
        for option in options:
            assert option in text


def test_set_overrides_config_and_names_bad_keys(tmp_path, config, capsys):
    sharp = save(tmp_path / "s.png", pattern())
    rc = run_cli("train", "--image", sharp, "--out", tmp_path / "m", "--config", config,
                 "--set", "niter=1", "--set", "lr_g=5e-4", "--set", "fixed_z_opt=False",
                 "--device", "cpu", "--threads", 1)  # fmt: skip
    assert rc == 0
    cfg = json.loads((tmp_path / "m" / "model.json").read_text())["config"]
    assert cfg["niter"] == 1 and cfg["lr_g"] == 5e-4 and cfg["fixed_z_opt"] is False
    assert cfg["max_size"] == 40  # from --config
    rc = run_cli("train", "--image", sharp, "--out", tmp_path / "m2", "--set", "nitre=3")
    assert rc == 2 and "--set: unknown singan key(s) nitre" in capsys.readouterr().err
    rc = run_cli("train", "--image", sharp, "--out", tmp_path / "m2", "--set", "niter")
    assert rc == 2 and "KEY=VALUE" in capsys.readouterr().err
    rc = run_cli("train", "--image", sharp, "--out", tmp_path / "m2", "--device", "cuda:x")
    assert rc == 2 and "unknown device" in capsys.readouterr().err


def test_settings_json_is_typed_and_checked(tmp_path, config, capsys):
    sharp = save(tmp_path / "s.png", pattern())
    settings = '{"niter": 1, "lr_g": 0.0005, "fixed_z_opt": false}'
    rc = run_cli("train", "--image", sharp, "--out", tmp_path / "m", "--config", config,
                 "--settings-json", settings, "--set", "lr_d=4e-4",
                 "--device", "cpu", "--threads", 1)  # fmt: skip
    assert rc == 0
    cfg = json.loads((tmp_path / "m" / "model.json").read_text())["config"]
    assert cfg["niter"] == 1 and cfg["lr_g"] == 5e-4 and cfg["fixed_z_opt"] is False
    assert cfg["lr_d"] == 4e-4 and cfg["max_size"] == 40  # --set on top, --config below
    for bad, expected in (
        ("[1, 2]", "must be a JSON object"),
        ("{niter: 1}", "is not JSON"),
        ('{"nitre": 3}', "--settings-json: unknown singan key(s) nitre"),
    ):
        rc = run_cli("train", "--image", sharp, "--out", tmp_path / "m2", "--settings-json", bad)
        err = capsys.readouterr().err
        assert rc == 2 and expected in err and len(err.strip().splitlines()) == 1


def test_train_loads_its_settings_once_from_every_layer(tmp_path, config, monkeypatch, capsys):
    # --config, --settings-json and --set make one SinGANConfig, checked once (one door)
    import deblur.singan.train
    from deblur.singan.config import SinGANConfig

    built, trained = [], []
    check = SinGANConfig.__post_init__

    def counting(self):
        built.append(self)
        check(self)

    monkeypatch.setattr(SinGANConfig, "__post_init__", counting)
    monkeypatch.setattr(deblur.singan.train, "train_batch", lambda *a, **kw: trained.append(kw))
    sharp = save(tmp_path / "s.png", pattern())
    settings = '{"niter": 3, "nfc": 4, "max_nfc": 8}'
    rc = run_cli("train", "--image", sharp, "--out", tmp_path / "m", "--config", config,
                 "--settings-json", settings, "--set", "niter=5", "--device", "cpu")  # fmt: skip
    assert rc == 0 and len(built) == 1
    cfg = trained[0]["config"]
    assert (cfg.niter, cfg.nfc, cfg.max_nfc, cfg.max_size) == (5, 4, 8, 40)
    # a value is checked, and named, as the layer that gave it last gives it
    rc = run_cli("train", "--image", sharp, "--out", tmp_path / "m", "--config", config,
                 "--settings-json", '{"nfc": "x"}', "--set", "niter=5")  # fmt: skip
    assert rc == 2 and "--settings-json: singan.nfc must be an integer" in capsys.readouterr().err
    rc = run_cli("train", "--image", sharp, "--out", tmp_path / "m", "--config", config,
                 "--set", "niter=x")  # fmt: skip
    assert rc == 2 and "--set: singan.niter must be an integer" in capsys.readouterr().err
    # settings checked together name every layer that gave any
    rc = run_cli("train", "--image", sharp, "--out", tmp_path / "m", "--config", config,
                 "--set", "min_size=41")  # fmt: skip
    err = capsys.readouterr().err
    assert rc == 2 and f"{config} + --set: invalid singan settings: max_size" in err
