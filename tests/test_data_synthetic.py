"""The embedded synthetic dataset: planned == written, deterministic, and really motion-blurred."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from skimage.metrics import peak_signal_noise_ratio as psnr
from skimage.metrics import structural_similarity as ssim
from skimage.registration import phase_cross_correlation

from deblur.cli import main
from deblur.data.gopro import index_pairs
from deblur.data.imageio import read_rgb, write_png
from deblur.data.synthetic import (
    MANIFEST,
    Scene,
    SynthConfig,
    expose,
    parse_size,
    plan_pairs,
    plan_sequences,
    random_camera_path,
    source_image,
    synthesize,
)
from deblur.errors import DeblurError

SMALL = dict(sequences=3, frames=3, size="96x64", seed=0)


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("synthetic") / "data"
    synthesize(out, **SMALL, progress=False)
    return out


def _files(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


def test_plan_pairs_equals_the_written_tree(dataset, tmp_path):
    planned = plan_pairs(dataset, **SMALL)
    assert planned == index_pairs(dataset)
    assert plan_pairs(dataset, **SMALL, blur_dir="blur_gamma") == index_pairs(
        dataset, blur_dir="blur_gamma"
    )
    assert len(planned) == 9 and len({p.sequence for p in planned}) == 3
    assert planned[0].pair_id == f"{planned[0].sequence}-000001"
    # planning touches nothing on disk
    assert plan_pairs(tmp_path / "not_yet", **SMALL) and not (tmp_path / "not_yet").exists()


def test_same_arguments_give_byte_identical_files(dataset, tmp_path):
    again = tmp_path / "again"
    assert synthesize(again, **SMALL, progress=False) == plan_pairs(again, **SMALL)
    assert _files(again) == _files(dataset)
    other = tmp_path / "other"
    synthesize(other, **{**SMALL, "seed": 1}, progress=False)
    assert _files(other) != _files(dataset)


def test_manifest_and_sequences_differ_in_blur_strength(dataset):
    manifest = json.loads((dataset / MANIFEST).read_text())
    assert manifest["parameters"]["size"] == "96x64" and manifest["parameters"]["gamma"] == 2.2
    assert [s["name"] for s in manifest["sequences"]] == sorted(
        {p.sequence for p in index_pairs(dataset)}
    )
    # sub-frame counts are spread over the odd values of 7..13
    assert sorted(s["subframes"] for s in manifest["sequences"]) == [7, 11, 13]
    assert sorted(p.subframes for p in plan_sequences(SynthConfig(sequences=4))) == [7, 9, 11, 13]
    assert [p.subframes for p in plan_sequences(SynthConfig(sequences=1))] == [11]  # GoPro test set
    speeds = [s["speed_px_per_subframe"] for s in manifest["sequences"]]
    assert len(set(speeds)) == 3 and all(0.002 * 96 <= v <= 0.006 * 96 for v in speeds)


def test_blur_lowers_psnr_and_ssim_against_the_sharp_frame(dataset):
    scores = []
    for pair in index_pairs(dataset):
        sharp, blurry = read_rgb(pair.sharp), read_rgb(pair.blurry)
        assert sharp.shape == (64, 96, 3)
        scores.append(
            (psnr(sharp, blurry, data_range=1), ssim(sharp, blurry, data_range=1, channel_axis=2))
        )
    scores = np.array(scores)
    assert np.all(scores[:, 0] < 50) and np.all(scores[:, 1] < 0.995), scores
    assert scores[:, 0].mean() < 36 and scores[:, 1].mean() < 0.97, scores


def test_blur_gamma_is_the_linear_light_average(dataset):
    """Averaging in linear light is a power mean (exponent 2.2): never darker than the plain one."""
    for pair in index_pairs(dataset):
        blur = read_rgb(pair.blurry)
        gamma = read_rgb(Path(str(pair.blurry).replace("/blur/", "/blur_gamma/")))
        assert np.all(gamma >= blur - 1.01 / 255), pair.pair_id  # up to 8-bit rounding
        assert (gamma - blur).max() > 5 / 255, pair.pair_id  # and brighter along moving edges


def _scene(seed: int, speed_px: float, **overrides) -> Scene:
    config = SynthConfig(size=(96, 64), **overrides)
    rng = np.random.default_rng(seed)
    path = random_camera_path(rng, speed_px, config)
    return Scene(source_image("astronaut"), path, np.arange(40), config.size, rng)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_more_subframes_blur_more(seed):
    scene = _scene(seed, speed_px=1.0)
    short, long = expose(scene, 20 - 3, 7), expose(scene, 20 - 6, 13)
    assert np.array_equal(short.sharp, long.sharp), "both are centred on sub-frame 20"
    assert np.array_equal(short.sharp, scene.view(20))
    p_short, p_long = (
        psnr(short.sharp, short.blur, data_range=1),
        psnr(long.sharp, long.blur, data_range=1),
    )
    assert p_long < p_short - 1.0, (p_short, p_long)
    assert ssim(long.sharp, long.blur, data_range=1, channel_axis=2) < ssim(
        short.sharp, short.blur, data_range=1, channel_axis=2
    )


def test_a_still_camera_gives_no_blur():
    """The degradation comes from camera motion only: no motion, blurry == sharp."""
    scene = _scene(0, speed_px=0.0, rotation_deg=0.0, zoom=0.0)
    still = expose(scene, 5, 11)
    np.testing.assert_allclose(still.blur, still.sharp, atol=1e-6)
    np.testing.assert_allclose(still.blur_gamma, still.sharp, atol=1e-5)


def _overlap_psnr(a: np.ndarray, b: np.ndarray) -> float:
    """PSNR of ``a`` and ``b`` after undoing their best integer shift (on the overlap)."""
    (dy, dx), _, _ = phase_cross_correlation(a.mean(axis=2), b.mean(axis=2))
    dy, dx, (h, w) = int(dy), int(dx), a.shape[:2]
    a = a[max(dy, 0) : h + min(dy, 0), max(dx, 0) : w + min(dx, 0)]
    b = b[max(-dy, 0) : h + min(-dy, 0), max(-dx, 0) : w + min(-dx, 0)]
    return psnr(a, b, data_range=1)


def test_neighbor_frames_differ_but_resemble(dataset):
    by_sequence: dict[str, list[np.ndarray]] = {}
    for pair in index_pairs(dataset):
        by_sequence.setdefault(pair.sequence, []).append(read_rgb(pair.sharp))
    sequences = list(by_sequence)
    for i, seq in enumerate(sequences):
        frames, other = by_sequence[seq], by_sequence[sequences[(i + 1) % len(sequences)]]
        for k in range(len(frames) - 1):
            a, b = frames[k], frames[k + 1]
            assert np.abs(a - b).mean() > 0.005, f"{seq} frames {k}, {k + 1} are identical"
            same_scene, other_scene = _overlap_psnr(a, b), _overlap_psnr(a, other[k])
            assert same_scene > 20 and same_scene > other_scene + 10, (
                seq,
                k,
                same_scene,
                other_scene,
            )


def test_refuses_a_foreign_folder_and_replaces_its_own(tmp_path):
    foreign = tmp_path / "mine"
    (foreign / "keep.txt").parent.mkdir()
    (foreign / "keep.txt").write_text("precious")
    with pytest.raises(DeblurError, match="refusing to overwrite"):
        synthesize(foreign, 1, 1, "32x24", 0, progress=False)
    assert (foreign / "keep.txt").read_text() == "precious"

    out = tmp_path / "out"
    (out / "test" / "empty_dir_from_snakemake").mkdir(parents=True)  # only empty folders: fine
    synthesize(out, 2, 3, "32x24", 0, progress=False)
    synthesize(out, 1, 2, "32x24", 0, progress=False)  # smaller: nothing stale may remain
    assert index_pairs(out) == plan_pairs(out, 1, 2, "32x24", 0)
    assert len(list((out / "test").rglob("*.png"))) == 2 * 3
    assert not list(tmp_path.glob(".out.*")), "temporary folders are cleaned up"
    assert out.stat().st_mode & 0o777 == (tmp_path / "mine").stat().st_mode & 0o777


def test_parameter_errors():
    assert parse_size("320x180") == (320, 180) == parse_size((320, 180))
    with pytest.raises(DeblurError, match="WxH"):
        parse_size("320*180")
    with pytest.raises(DeblurError, match="at least 16x16"):
        SynthConfig(size="8x8")
    with pytest.raises(DeblurError, match="odd sub-frame count"):
        SynthConfig(blur_min=8, blur_max=8)
    with pytest.raises(DeblurError, match="unknown synthetic source image"):
        SynthConfig(sources=("lena",))
    with pytest.raises(DeblurError, match="unknown synthetic option"):
        plan_pairs("x", 1, 1, "32x24", 0, blur_frames=3)


def test_cli_writes_the_planned_tree(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    args = ["-q", "synth", "--out", "data", "--sequences", "2", "--frames", "2", "--size", "48x32"]
    args += ["--seed", "5", "--blur-min", "9", "--blur-max", "9"]
    assert main(args) == 0
    manifest = json.loads((tmp_path / "data" / MANIFEST).read_text())
    assert [s["subframes"] for s in manifest["sequences"]] == [9, 9]
    planned = plan_pairs("data", 2, 2, "48x32", 5)
    assert [p.blurry for p in planned] == sorted(Path("data/test").glob("*/blur/*.png"))
    write_png(tmp_path / "junk" / "x.png", np.zeros((4, 4, 3), np.float32))
    capsys.readouterr()
    assert main(["-q", "synth", "--out", "junk"]) == 2
    assert capsys.readouterr().err.startswith("error: refusing to overwrite junk")
