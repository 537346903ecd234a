"""Odd and bad inputs to the CLI, case by case: each ends in success or in a one-line error.

The cases a probe checked (issue 13), kept as tables so the next probe starts from them: image
modes (converted like PIL's ``convert("RGB")`` or refused naming the mode), aspect ratios,
``--steps``, output paths, non-finite settings and a second trainer on one model directory.
"""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from deblur.cli import main
from deblur.data import imageio
from deblur.data.imageio import read_rgb
from deblur.errors import DeblurError
from deblur.singan.config import SinGANConfig, load_config
from deblur.singan.rundir import model_dir_lock
from deblur.sizes import capped_size, same_aspect, scaled_size


def run_cli(*args):
    return main([str(a) for a in args])


def last_error(capsys) -> str:
    """The last stderr line, checked to be a one-line ``error:`` message (no traceback)."""
    err = capsys.readouterr().err
    assert "Traceback" not in err
    line = err.strip().splitlines()[-1]
    assert line.startswith("error: ")
    return line


def colours(h=12, w=16, seed=0):
    """A random 8-bit RGB image (every channel different, so a channel mix-up shows)."""
    return Image.fromarray(np.random.default_rng(seed).integers(0, 256, (h, w, 3), np.uint8))


def pil_rgb(im: Image.Image) -> np.ndarray:
    return np.asarray(im.convert("RGB"), dtype=np.float32) / 255.0


# ---------------------------------------------------------------------------------- image modes

# (mode, file suffix): saved in that mode, read back in that mode by PIL
PIL_MODE_FILES = [
    ("RGB", "png"),
    ("L", "png"),
    ("1", "png"),
    ("P", "png"),
    ("LA", "png"),
    ("RGBA", "png"),
    ("CMYK", "jpg"),
    ("CMYK", "tif"),
    ("YCbCr", "tif"),
    ("LAB", "tif"),
]


@pytest.mark.parametrize("mode, suffix", PIL_MODE_FILES)
def test_8bit_modes_read_like_pil_convert_rgb(tmp_path, mode, suffix):
    path = tmp_path / f"x.{suffix}"
    colours().convert(mode).save(path)
    with Image.open(path) as im:
        assert im.mode == mode
        expected = pil_rgb(im)
        raw = np.asarray(im)
    img = read_rgb(path)
    assert img.shape == (12, 16, 3) and img.dtype == np.float32
    np.testing.assert_array_equal(img, expected)
    if mode in ("P", "CMYK"):  # palette indices / C, M, Y are not the colours
        assert not np.allclose(img, raw[..., :3] / 255.0 if raw.ndim == 3 else raw[..., None])


@pytest.mark.parametrize("mode", ["PA", "RGBa", "RGBX", "HSV"])
def test_in_memory_modes_convert_like_pil(mode):
    im = colours().convert("RGBA" if mode == "RGBa" else "RGB")
    im = im.convert("P").convert("PA") if mode == "PA" else im.convert(mode)
    assert im.mode == mode
    np.testing.assert_array_equal(imageio._to_rgb(im, "x"), pil_rgb(im))


def test_palette_png_is_logged_as_palette_not_grayscale(tmp_path, caplog):
    caplog.set_level("INFO")
    path = tmp_path / "pal.png"
    colours().convert("P").save(path)
    read_rgb(path)
    assert "palette" in caplog.text and "grayscale" not in caplog.text


@pytest.mark.parametrize(
    "mode, suffix, values, expected",
    [
        ("I;16", "png", [0, 1000, 65535], [0.0, 1000 / 65535, 1.0]),
        ("I;16", "tif", [0, 32768, 65535], [0.0, 32768 / 65535, 1.0]),
        ("I;16B", "tif", [0, 256, 65535], [0.0, 256 / 65535, 1.0]),
        ("I", "tif", [0, 40000, 65535], [0.0, 40000 / 65535, 1.0]),
        ("F", "tif", [0.0, 0.25, 1.0], [0.0, 0.25, 1.0]),
    ],
)
def test_wide_gray_modes_are_scaled_and_replicated(tmp_path, mode, suffix, values, expected):
    dtype = {"F": np.float32, "I": np.int32}.get(mode, np.uint16)
    arr = np.array([values] * 2, dtype=dtype)
    im = Image.fromarray(arr)
    if mode == "I;16B":  # PIL's convert to I;16B clips to 255
        im = Image.frombytes(mode, im.size, arr.astype(">u2").tobytes())
    path = tmp_path / f"x.{suffix}"
    im.save(path)
    with Image.open(path) as back:
        assert back.mode == mode
    img = read_rgb(path)
    assert img.shape == (2, 3, 3)
    np.testing.assert_allclose(img[0, :, 0], expected, rtol=1e-6)
    assert np.array_equal(img[..., 0], img[..., 2])


@pytest.mark.parametrize(
    "mode, values, expected",
    [
        ("F", [0.0, 1.5], "mode F with values in [0, 1.5], expected [0, 1]"),
        ("F", [0.0, np.nan], "mode F with NaN or inf"),
        ("F", [-0.5, 0.5], "mode F with values in [-0.5, 0.5]"),
        ("I", [-1, 100], "mode I with values in [-1, 100], expected [0, 65535]"),
        ("I", [0, 70000], "mode I with values in [0, 70000]"),
    ],
)
def test_wide_gray_modes_out_of_range_are_refused(tmp_path, mode, values, expected):
    dtype = np.float32 if mode == "F" else np.int32
    path = tmp_path / "x.tif"
    Image.fromarray(np.array([values] * 2, dtype=dtype)).save(path)
    with pytest.raises(DeblurError, match="cannot read image .*x.tif") as info:
        read_rgb(path)
    assert expected in str(info.value) and "\n" not in str(info.value)


@pytest.mark.parametrize("mode", ["La"])
def test_unsupported_modes_are_refused_naming_the_mode(mode):
    im = Image.new(mode, (4, 4))  # premultiplied LA: PIL cannot convert it to RGB
    with pytest.raises(DeblurError, match=f"cannot read image x.png: unsupported PIL mode {mode}"):
        imageio._to_rgb(im, "x.png")


def test_cli_palette_and_cmyk_training_images(tmp_path, capsys):
    """The probe's commands: both train (rc 0) on the colours PIL's convert gives."""
    for name in ("pal.png", "cmyk.jpg"):
        path = tmp_path / name
        colours(32, 40).convert("P" if name == "pal.png" else "CMYK").save(path)
        rc = run_cli("train", "--image", path, "--out", tmp_path / name.split(".")[0],
                     *TRAIN_ARGS)  # fmt: skip
        assert rc == 0, capsys.readouterr().err


TRAIN_ARGS = ("--device", "cpu", "--threads", 1, "--set", "niter=2", "--set", "max_size=32",
              "--set", "min_size=16", "--set", "nfc=8", "--set", "max_nfc=8")  # fmt: skip


# --------------------------------------------------------------------------- non-finite settings

FLOAT_KEYS = [k for k, v in SinGANConfig().to_dict().items() if isinstance(v, float)]


@pytest.mark.parametrize("value", [float("inf"), float("-inf"), float("nan")])
@pytest.mark.parametrize("key", FLOAT_KEYS)
def test_non_finite_float_settings_are_refused_naming_the_key(key, value):
    with pytest.raises(DeblurError, match=f"--set: .*{key} must be a finite number"):
        load_config({key: value}, origin="--set")


@pytest.mark.parametrize("text", ["inf", ".inf", "-inf", "nan", ".nan", "1e999"])
def test_cli_set_non_finite_lr_is_refused_before_anything_is_written(tmp_path, capsys, text):
    image = tmp_path / "s.png"
    colours(32, 40).save(image)
    rc = run_cli("train", "--image", image, "--out", tmp_path / "m", *TRAIN_ARGS,
                 "--set", f"lr_g={text}")  # fmt: skip
    assert rc == 2 and "lr_g must be a finite number" in last_error(capsys)
    assert not (tmp_path / "m").exists()


# --------------------------------------------------------------------------------- output paths


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    """A tiny finished model (32x40 -> 2 scales) and a blurry/sharp pair of the same shape."""
    root = tmp_path_factory.mktemp("model")
    sharp, blurry = root / "sharp.png", root / "blurry.png"
    colours(32, 40, seed=1).save(sharp)
    colours(64, 80, seed=2).save(blurry)
    assert run_cli("train", "--image", sharp, "--out", root / "m", *TRAIN_ARGS) == 0
    return dict(dir=root / "m", sharp=sharp, blurry=blurry)


def command(name, model, out, tmp):
    """argv of one command writing ``out`` (other outputs go to folder ``tmp``)."""
    m = model
    return {
        "deblur": ["deblur", "--model", m["dir"], "--image", m["blurry"], "--out", out,
                   "--device", "cpu", "--threads", 1],
        "evaluate": ["evaluate", "--pred", m["blurry"], "--sharp", m["sharp"], "--max-size", 32,
                     "--out", out],
        "baseline": ["baseline", "--kind", "identity", "--image", m["blurry"], "--out", out],
        "baseline-info": ["baseline", "--kind", "identity", "--image", m["blurry"], "--out",
                          tmp / "ok.png", "--info", out],
        "train": ["train", "--image", m["sharp"], "--out", out, *TRAIN_ARGS],
    }[name]  # fmt: skip


def deny_new_files_in(monkeypatch, folder: Path):
    """Make ``folder`` refuse new files, as a read-only folder does (chmod does not stop root)."""
    real_open = os.open

    def guarded_open(path, flags, *args, **kwargs):
        if Path(path).parent == folder and flags & os.O_CREAT:
            raise PermissionError(13, "Permission denied", str(path))
        return real_open(path, flags, *args, **kwargs)

    monkeypatch.setattr(os, "open", guarded_open)


# (command, where --out points, expected fragment of the one-line error)
OUTPUT_CASES = [
    (cmd, place, fragment)
    for cmd in ("deblur", "evaluate", "baseline", "baseline-info", "train")
    for place, fragment in [
        ("ok", None),
        ("new_folder", None),
        ("directory", "it is a directory" if cmd != "train" else None),
        ("below_file", "is a file, not a directory"),
        ("deep_below_file", "is a file, not a directory"),
        ("sysfs", "permission denied on /sys"),
        ("write_denied", "permission denied on"),
    ]
]


@pytest.mark.parametrize("cmd, place, fragment", OUTPUT_CASES)
def test_output_path_errors_are_one_line(tmp_path, model, capsys, monkeypatch, cmd, place,
                                         fragment):  # fmt: skip
    suffix = {"evaluate": "x.parquet", "baseline-info": "x.json", "train": "m"}.get(cmd, "x.png")
    (tmp_path / "file").write_text("a regular file")
    (tmp_path / "dir").mkdir()
    out = {
        "ok": tmp_path / suffix,
        "new_folder": tmp_path / "new" / "folder" / suffix,
        "directory": tmp_path / "dir",
        "below_file": tmp_path / "file" / suffix,
        "deep_below_file": tmp_path / "file" / "sub" / suffix,
        "sysfs": "/sys/deblur-probe/" + suffix,  # root cannot write sysfs either
        "write_denied": tmp_path / "dir" / suffix if cmd != "train" else tmp_path / "dir",
    }[place]
    if place == "sysfs" and not Path("/sys/kernel").is_dir():
        pytest.skip("no sysfs here")
    if place == "write_denied":
        deny_new_files_in(monkeypatch, tmp_path / "dir")
    rc = run_cli(*command(cmd, model, Path(out), tmp_path))
    if fragment is None:
        assert rc == 0, capsys.readouterr().err
        return
    line = last_error(capsys)
    assert rc == 2 and fragment in line and str(out) in line
    leftovers = sorted(p.name for p in (tmp_path / "dir").iterdir())
    assert leftovers == [], "nothing half-written"


# ------------------------------------------------------------------- aspect ratios and --steps


@pytest.mark.parametrize("height, width", [(720, 1280), (1080, 1920), (480, 640), (37, 91)])
@pytest.mark.parametrize("max_size", [16, 27, 48, 100, 250, 333])
def test_sizes_rounded_from_one_aspect_ratio_pass(height, width, max_size):
    small = capped_size(height, width, max_size)
    assert same_aspect(small, (height, width))
    assert same_aspect(small, capped_size(height, width, max_size + 7))
    assert same_aspect(scaled_size(*small, 0.781), small)


@pytest.mark.parametrize(
    "a, b", [((1280, 720), (720, 1280)), ((48, 27), (27, 48)), ((141, 250), (141, 270))]
)
def test_other_aspect_ratios_fail(a, b):
    assert not same_aspect(a, b) and not same_aspect(b, a)


# (blurry image h x w fed to the model trained at 32x40 (finest 26x32), expected error or None)
DEBLUR_ASPECT_CASES = [
    ((64, 80), None),  # same aspect, twice as large
    ((32, 40), None),
    ((26, 32), None),  # the finest scale's own size
    ((33, 40), None),  # one pixel off: rounding
    ((1280, 720), "is 720x1280 but model"),  # the probe's portrait into a landscape model
    ((40, 32), "is 32x40 but model"),
    ((32, 48), "is 48x32 but model"),
]


@pytest.mark.parametrize("hw, fragment", DEBLUR_ASPECT_CASES)
def test_deblur_refuses_another_aspect_ratio(tmp_path, model, capsys, hw, fragment):
    image, out = tmp_path / "b.png", tmp_path / "o.png"
    colours(*hw).save(image)
    rc = run_cli("deblur", "--model", model["dir"], "--image", image, "--out", out,
                 "--device", "cpu", "--threads", 1)  # fmt: skip
    if fragment is None:
        assert rc == 0 and out.is_file()
        return
    line = last_error(capsys)
    assert rc == 2 and fragment in line and "is 32x26" in line and "crop the image" in line
    assert not out.exists()


# (pred h x w scored against the 32x40 sharp frame, expected error or None)
EVALUATE_ASPECT_CASES = [
    ((32, 40), None),
    ((26, 32), None),  # the model size of max_size 32
    ((64, 80), None),
    ((40, 32), "different aspect ratios"),
    ((27, 48), "different aspect ratios"),  # the probe's 48x27 output for a portrait frame
]


@pytest.mark.parametrize("hw, fragment", EVALUATE_ASPECT_CASES)
def test_evaluate_refuses_another_aspect_ratio(tmp_path, model, capsys, hw, fragment):
    pred, out = tmp_path / "p.png", tmp_path / "m.parquet"
    colours(*hw).save(pred)
    sharp = model["sharp"]
    if hw == (27, 48):  # the probe's case: a 720x1280 (portrait) sharp frame
        sharp = tmp_path / "portrait.png"
        colours(1280, 720).save(sharp)
    rc = run_cli("evaluate", "--pred", pred, "--sharp", sharp, "--max-size", 32, "--out", out)
    if fragment is None:
        assert rc == 0 and out.is_file()
        return
    assert rc == 2 and fragment in last_error(capsys) and not out.exists()


# the fixture's model has 4 scales, so at most 3 steps
@pytest.mark.parametrize(
    "steps, fragment",
    [(1, None), (3, None), (4, "steps must be in 1..3 for this 4-scale model"),
     (50, "steps must be in 1..3"), (0, "steps must be in 1..3"), (-1, "steps must be in 1..3")],
)  # fmt: skip
def test_deblur_steps_beyond_the_pyramid_are_refused(tmp_path, model, capsys, steps, fragment):
    out = tmp_path / "o.png"
    rc = run_cli("deblur", "--model", model["dir"], "--image", model["blurry"], "--out", out,
                 "--steps", steps, "--device", "cpu", "--threads", 1)  # fmt: skip
    if fragment is None:
        assert rc == 0 and out.is_file()
        return
    assert rc == 2 and fragment in last_error(capsys) and not out.exists()


# ------------------------------------------------------------- one trainer per model directory

HOLD_LOCK = """
import fcntl, os, sys, time
fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o666)
fcntl.flock(fd, fcntl.LOCK_EX)
print("locked", flush=True)
time.sleep(60)
"""


def test_second_trainer_on_one_directory_is_refused(tmp_path, model, capsys):
    out = tmp_path / "m"
    out.mkdir()
    with model_dir_lock(out):  # the first trainer, still running
        rc = run_cli("train", "--image", model["sharp"], "--out", out, *TRAIN_ARGS)
        line = last_error(capsys)
    assert rc == 2 and f"{out} is being written by another trainer" in line
    assert sorted(p.name for p in out.iterdir()) == [".lock"]  # nothing written or cleaned
    assert run_cli("train", "--image", model["sharp"], "--out", out, *TRAIN_ARGS) == 0


def test_lock_of_a_killed_trainer_does_not_block(tmp_path, model, capsys):
    out = tmp_path / "m"
    out.mkdir()
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK, str(out / ".lock")], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        assert run_cli("train", "--image", model["sharp"], "--out", out, *TRAIN_ARGS) == 2
        assert "being written by another trainer" in last_error(capsys)
    finally:
        holder.kill()  # SIGKILL: the kernel drops its lock
        holder.wait()
    assert (out / ".lock").exists()
    assert run_cli("train", "--image", model["sharp"], "--out", out, *TRAIN_ARGS) == 0
    assert (out / "model.json").is_file()
