"""SinGAN settings: reference defaults, loading from dicts/YAML, clear errors naming the key."""

import pytest

from deblur.errors import DeblurError
from deblur.singan.config import KEYS, SinGANConfig, load_config

# the reference defaults of tamarott/SinGAN's config.py / training.py
REFERENCE = dict(
    niter=2000, max_size=250, min_size=25, scale_factor=0.75, nfc=32, nfc_double_every=4,
    max_nfc=128, num_layer=5, ker_size=3, leaky_slope=0.2, init_std=0.02, lr_g=5e-4, lr_d=5e-4,
    beta1=0.5, beta2=0.999, lr_milestone=0.8, gamma=0.1, d_steps=3, g_steps=3, lambda_grad=0.1,
    alpha=10.0, noise_amp=0.1, fixed_z_opt=True,
)  # fmt: skip


def test_defaults_are_the_reference_values():
    assert SinGANConfig().to_dict() == REFERENCE
    assert load_config(None) == SinGANConfig()


def test_derived_values_follow_the_reference():
    cfg = SinGANConfig()
    assert cfg.pad == 5  # zero padding of G's input
    assert cfg.receptive_field == 11  # the critic's patch
    assert cfg.milestone == 1600  # MultiStepLR milestone of the reference
    assert [cfg.channels(s) for s in range(12)] == [32] * 4 + [64] * 4 + [128] * 4
    assert SinGANConfig(niter=50).milestone == 40


def test_partial_dict_fills_defaults_and_converts_numbers():
    cfg = load_config({"niter": 20, "lr_g": 1, "min_size": 12.0})
    assert cfg.niter == 20 and cfg.min_size == 12 and isinstance(cfg.min_size, int)
    assert cfg.lr_g == 1.0 and isinstance(cfg.lr_g, float)
    assert cfg.max_size == 250 and cfg.alpha == 10.0


def test_yaml_file_flat_or_pipeline_section(tmp_path):
    flat = tmp_path / "singan.yaml"
    flat.write_text("niter: 30\nlr_d: 1.0e-4\nfixed_z_opt: false\n")
    cfg = load_config(flat)
    assert (cfg.niter, cfg.lr_d, cfg.fixed_z_opt) == (30, 1e-4, False)
    pipeline = tmp_path / "config.yaml"
    pipeline.write_text("dataset: {kind: synthetic}\nsingan:\n  niter: 7\n")
    assert load_config(pipeline).niter == 7
    empty = tmp_path / "empty.yaml"
    empty.write_text("")
    assert load_config(empty) == SinGANConfig()


@pytest.mark.parametrize(
    "values, words",
    [
        ({"n_iter": 5}, ["n_iter", "unknown"]),
        ({"niter": "many"}, ["niter", "integer"]),
        ({"niter": 2.5}, ["niter", "integer"]),
        ({"niter": True}, ["niter"]),
        ({"lr_g": "fast"}, ["lr_g", "number"]),
        ({"lr_g": "5e-4"}, ["lr_g", "5.0e-4"]),  # PyYAML reads 5e-4 as a string
        ({"fixed_z_opt": 1}, ["fixed_z_opt", "true or false"]),
        ({"scale_factor": 1.5}, ["scale_factor"]),
        ({"min_size": 5}, ["min_size", "receptive field"]),
        ({"min_size": 300}, ["max_size"]),
        ({"ker_size": 4}, ["ker_size"]),
        ({"niter": 0}, ["niter"]),
    ],
)
def test_bad_values_name_the_key(values, words):
    with pytest.raises(DeblurError) as err:
        load_config(values)
    message = str(err.value)
    assert "\n" not in message
    for word in words:
        assert word in message


def test_file_errors_name_the_file(tmp_path):
    with pytest.raises(DeblurError, match="not found"):
        load_config(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("niter: [1,\n")
    with pytest.raises(DeblurError, match="bad.yaml"):
        load_config(bad)
    listy = tmp_path / "list.yaml"
    listy.write_text("- 1\n- 2\n")
    with pytest.raises(DeblurError, match="mapping"):
        load_config(listy)


def test_config_hash_is_stable_and_tracks_every_key():
    base = SinGANConfig()
    assert base.config_hash() == SinGANConfig().config_hash() == load_config({}).config_hash()
    assert len(base.config_hash()) == 12
    changed = {
        SinGANConfig(**{**REFERENCE, key: _other(value)}).config_hash()
        for key, value in REFERENCE.items()
    }
    assert base.config_hash() not in changed and len(changed) == len(KEYS)


def test_to_dict_round_trips():
    cfg = load_config({"niter": 9, "alpha": 0.0})
    assert load_config(cfg.to_dict()) == cfg
    assert load_config(cfg) is cfg


def _other(value):
    if isinstance(value, bool):
        return not value
    if isinstance(value, int):
        return value + 2  # stays valid (odd ker_size, larger min_size ...)
    return value * 0.5
