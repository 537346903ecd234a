"""Indexing GoPro trees: both layouts, every user error, and the real gopro_mini pairs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from skimage.metrics import peak_signal_noise_ratio

from deblur.data.gopro import index_pairs
from deblur.data.imageio import read_rgb, write_png
from deblur.errors import DeblurError

GOPRO_MINI = Path(__file__).resolve().parents[2] / "shared" / "data" / "gopro_mini"
# blurry-vs-sharp full-resolution PSNR from gopro_mini/README.md
README_PSNR = {"flower-000001": 25.11, "istanbul-000001": 24.05}


def _png(path: Path, size=(8, 6), value=0.5) -> Path:
    width, height = size
    return write_png(path, np.full((height, width, 3), value, dtype=np.float32))


def make_tree(root: Path, frames: dict[str, list[str]], blur_dirs=("blur", "blur_gamma")) -> Path:
    """A GOPRO_Large-shaped tree under ``root/test`` with tiny images."""
    for seq, names in frames.items():
        for name in names:
            for folder in (*blur_dirs, "sharp"):
                _png(root / "test" / seq / folder / f"{name}.png")
    return root


def test_index_gopro_large_layout_sorted_with_paths_on_given_root(tmp_path):
    make_tree(
        tmp_path, {"GOPR0410_11_00": ["000002", "000010", "000001"], "GOPR0384_11_00": ["000001"]}
    )
    (tmp_path / "test" / "GOPR0384_11_00" / "blur" / "notes.txt").write_text("ignored")
    (tmp_path / "test" / "stray_folder").mkdir()

    pairs = index_pairs(tmp_path)

    ids = [p.pair_id for p in pairs]
    assert ids == [
        "GOPR0384_11_00-000001",
        "GOPR0410_11_00-000001",
        "GOPR0410_11_00-000002",
        "GOPR0410_11_00-000010",
    ]
    p = pairs[1]
    assert (p.sequence, p.frame) == ("GOPR0410_11_00", "000001")
    assert p.blurry == tmp_path / "test" / "GOPR0410_11_00" / "blur" / "000001.png"
    assert p.sharp == tmp_path / "test" / "GOPR0410_11_00" / "sharp" / "000001.png"
    gamma = index_pairs(tmp_path, blur_dir="blur_gamma")
    assert [q.pair_id for q in gamma] == ids
    assert gamma[1].blurry.parent.name == "blur_gamma" and gamma[1].sharp == p.sharp


def test_relative_root_stays_relative(tmp_path, monkeypatch):
    make_tree(tmp_path / "data", {"seq": ["000001"]})
    monkeypatch.chdir(tmp_path)
    (pair,) = index_pairs("data")
    assert pair.blurry == Path("data/test/seq/blur/000001.png")


def test_index_flattened_layout_takes_sequence_from_file_name(tmp_path):
    for name in ("GOPR0384_11_00-000002", "GOPR0384_11_00-000001", "GOPR0862_11_00-000005"):
        _png(tmp_path / "test" / "input" / f"{name}.png")
        _png(tmp_path / "test" / "target" / f"{name}.png")
    pairs = index_pairs(tmp_path)
    assert [(p.sequence, p.frame) for p in pairs] == [
        ("GOPR0384_11_00", "000001"),
        ("GOPR0384_11_00", "000002"),
        ("GOPR0862_11_00", "000005"),
    ]
    assert pairs[0].sharp == tmp_path / "test" / "target" / "GOPR0384_11_00-000001.png"
    with pytest.raises(DeblurError, match="flattened"):
        index_pairs(tmp_path, blur_dir="blur_gamma")


def test_flattened_name_without_frame_number_is_an_error(tmp_path):
    _png(tmp_path / "test" / "input" / "noframe.png")
    _png(tmp_path / "test" / "target" / "noframe.png")
    with pytest.raises(DeblurError, match=r"noframe\.png.*<sequence>-NNNNNN"):
        index_pairs(tmp_path)


def _message(excinfo) -> str:
    msg = str(excinfo.value)
    assert "\n" not in msg, "user errors are one line"
    return msg


def test_missing_root_and_split(tmp_path):
    with pytest.raises(DeblurError) as exc:
        index_pairs(tmp_path / "nope")
    assert "dataset root not found" in _message(exc) and "nope" in _message(exc)
    (tmp_path / "GOPRO_Large").mkdir()
    with pytest.raises(DeblurError) as exc:
        index_pairs(tmp_path / "GOPRO_Large", split="train")
    assert "train" in _message(exc) and "<sequence>/blur/NNNNNN.png" in _message(exc)


def test_no_pairs_shows_the_layout(tmp_path):
    (tmp_path / "test" / "something").mkdir(parents=True)
    with pytest.raises(DeblurError) as exc:
        index_pairs(tmp_path)
    msg = _message(exc)
    assert "no blurry/sharp pairs" in msg
    assert "test/<sequence>/blur/NNNNNN.png" in msg and "test/input/<sequence>-NNNNNN.png" in msg


def test_blurry_without_sharp_twin_lists_the_first_few(tmp_path):
    make_tree(tmp_path, {"seq": [f"{i:06d}" for i in range(1, 9)]})
    for i in range(1, 8):
        (tmp_path / "test" / "seq" / "sharp" / f"{i:06d}.png").unlink()
    with pytest.raises(DeblurError) as exc:
        index_pairs(tmp_path)
    msg = _message(exc)
    assert msg.startswith("7 blurry frame(s) without a sharp twin")
    assert "seq/blur/000001.png" in msg and "seq/blur/000005.png" in msg
    assert "000006.png" not in msg and "and 2 more" in msg


def test_missing_blur_gamma_folder(tmp_path):
    make_tree(tmp_path, {"seq": ["000001"]}, blur_dirs=("blur",))
    with pytest.raises(DeblurError, match=r"seq has no blur_gamma/ folder \(found blur, sharp\)"):
        index_pairs(tmp_path, blur_dir="blur_gamma")
    with pytest.raises(DeblurError, match="unknown blur folder"):
        index_pairs(tmp_path, blur_dir="sharp")


def test_size_mismatch_names_both_files(tmp_path):
    make_tree(tmp_path, {"seq": ["000001"]})
    _png(tmp_path / "test" / "seq" / "sharp" / "000001.png", size=(10, 6))
    with pytest.raises(DeblurError) as exc:
        index_pairs(tmp_path)
    msg = _message(exc)
    assert "sizes differ" in msg and "is 8x6" in msg and "is 10x6" in msg


def test_unreadable_image(tmp_path):
    make_tree(tmp_path, {"seq": ["000001"]})
    (tmp_path / "test" / "seq" / "blur" / "000001.png").write_bytes(b"not a png at all")
    with pytest.raises(DeblurError, match=r"cannot read image .*seq/blur/000001\.png"):
        index_pairs(tmp_path)


def test_only_headers_are_read(tmp_path):
    """Indexing must stay cheap at parse time: a PNG whose pixel data is cut off still indexes."""
    make_tree(tmp_path, {"seq": ["000001"]})
    sharp = tmp_path / "test" / "seq" / "sharp" / "000001.png"
    rng = np.random.default_rng(0)
    write_png(sharp, rng.random((6, 8, 3)).astype(np.float32))
    sharp.write_bytes(sharp.read_bytes()[:60])  # header intact, pixel data truncated
    assert len(index_pairs(tmp_path)) == 1
    with pytest.raises(DeblurError):
        read_rgb(sharp)  # decoding it does fail, so the index really did not decode


@pytest.mark.parametrize("bad", ["bad name", "seq+x", "-seq"])
def test_unsafe_sequence_names_are_refused(tmp_path, bad):
    make_tree(tmp_path, {bad: ["000001"]})
    with pytest.raises(DeblurError, match="sequence names may only contain"):
        index_pairs(tmp_path)


def test_non_numeric_frame_names_are_refused(tmp_path):
    make_tree(tmp_path, {"seq": ["frame_a"]})
    with pytest.raises(DeblurError, match="expected a zero-padded frame number"):
        index_pairs(tmp_path)


@pytest.mark.shared
def test_gopro_mini_pairs_and_psnr_match_its_readme():
    if not GOPRO_MINI.is_dir():
        pytest.skip(f"shared test data not available at {GOPRO_MINI} (outside the repository)")
    pairs = index_pairs(GOPRO_MINI)
    assert [p.pair_id for p in pairs] == ["flower-000001", "istanbul-000001"]
    for pair in pairs:
        blurry, sharp = read_rgb(pair.blurry), read_rgb(pair.sharp)
        assert blurry.shape == sharp.shape == (720, 1280, 3)
        psnr = peak_signal_noise_ratio(sharp, blurry, data_range=1.0)
        assert psnr == pytest.approx(README_PSNR[pair.pair_id], abs=0.01)
