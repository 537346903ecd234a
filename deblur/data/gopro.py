"""Index a GoPro deblurring dataset (GOPRO_Large) into blurry/sharp pairs.

Two layouts are read:

- GOPRO_Large, as published by Nah et al.::

      ROOT/<split>/<sequence>/blur/NNNNNN.png         blurry frame (``blur_dir="blur"``)
      ROOT/<split>/<sequence>/blur_gamma/NNNNNN.png   blurry frame averaged in linear light
      ROOT/<split>/<sequence>/sharp/NNNNNN.png        its ground-truth sharp frame

- the flattened layout many deblurring repositories ship (sequence in the file name)::

      ROOT/<split>/input/<sequence>-NNNNNN.png
      ROOT/<split>/target/<sequence>-NNNNNN.png

A split folder holding ``input/`` and ``target/`` is read as flattened, otherwise as GOPRO_Large.
Either layout may carry an optional ``kernel/`` folder (``<sequence>/kernel/NNNNNN.png``, or
``<split>/kernel/<sequence>-NNNNNN.png`` when flattened) with each frame's known blur kernel,
recorded as :attr:`Pair.kernel` (``None`` for frames without one; nothing else changes).
Non-image files and folders without ``blur``/``blur_gamma``/``sharp`` inside are ignored. Pair
paths are built on ``root`` exactly as given (never resolved), so a sample sheet written from the
same arguments is byte-identical. Only image headers are read (sizes), never pixels, so indexing
the full test split (1111 pairs) is fast enough for Snakemake's parse time.
"""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path

from PIL import Image, UnidentifiedImageError

from deblur.data.imageio import is_image_file, too_large
from deblur.data.pairs import Pair, make_pair
from deblur.data.sampling import assign_references, draw_sample, sample_pairs
from deblur.errors import DeblurError

# sampling lives in deblur.data.sampling; re-exported so `gopro.sample_pairs(...)` reads naturally
__all__ = ["BLUR_DIRS", "assign_references", "draw_sample", "index_pairs", "sample_pairs"]

log = logging.getLogger(__name__)

BLUR_DIRS = ("blur", "blur_gamma")
SHARP_DIR = "sharp"
KERNEL_DIR = "kernel"  # optional: the known blur kernel of each frame, same file stem
FLAT_INPUT_DIR, FLAT_TARGET_DIR = "input", "target"
FLAT_NAME = re.compile(r"(?P<sequence>.+)-(?P<frame>[0-9]+)")
MAX_LISTED = 5  # how many offending files an error message lists


def layout_hint(root: str | os.PathLike, split: str, blur_dir: str) -> str:
    """The layouts we look for, spelled out on ``root`` for error messages."""
    base = Path(root) / split
    return (
        f"expected {base}/<sequence>/{blur_dir}/NNNNNN.png with {base}/<sequence>/sharp/"
        f"NNNNNN.png, or {base}/input/<sequence>-NNNNNN.png with {base}/target/<same name>"
    )


def index_pairs(root: str | os.PathLike, split: str = "test", blur_dir: str = "blur") -> list[Pair]:
    """List every blurry/sharp pair of one split of a GoPro tree.

    Parameters
    ----------
    root : str or PathLike
        Dataset root (the folder holding ``train/`` and ``test/``). Paths in the result start
        with it exactly as given.
    split : str
        ``"test"`` or ``"train"`` (any sub-folder name of ``root``).
    blur_dir : {"blur", "blur_gamma"}
        Which blurry frames to pair with the sharp ones (GOPRO_Large layout only).

    Returns
    -------
    list of Pair
        Sorted by sequence name, then frame number.

    Raises
    ------
    DeblurError
        Root or split missing, no pairs, a blurry frame without its sharp twin, blurry and sharp
        sizes that differ, an unreadable image or an unsafe sequence/frame name; each message is
        one line naming the path and what was expected.
    """
    if blur_dir not in BLUR_DIRS:
        raise DeblurError(f"unknown blur folder {blur_dir!r}; choose one of {', '.join(BLUR_DIRS)}")
    root = Path(root)
    if not root.is_dir():
        raise DeblurError(
            f"dataset root not found: {root}; {layout_hint(root, split, blur_dir)} "
            "(download GOPRO_Large or set dataset.root)"
        )
    split_dir = root / split
    if not split_dir.is_dir():
        raise DeblurError(
            f"no {split!r} split in {root}: {split_dir} is missing; "
            f"{layout_hint(root, split, blur_dir)}"
        )
    if (split_dir / FLAT_INPUT_DIR).is_dir() and (split_dir / FLAT_TARGET_DIR).is_dir():
        if blur_dir != "blur":
            raise DeblurError(
                f"{split_dir} uses the flattened input/target layout, which has one kind of "
                f"blurry frame; blur_dir {blur_dir!r} needs the GOPRO_Large layout; use blur"
            )
        pairs, missing = _index_flat(split_dir)
    else:
        pairs, missing = _index_sequences(split_dir, blur_dir)

    if missing:
        shown = ", ".join(str(p) for p in missing[:MAX_LISTED])
        more = f" and {len(missing) - MAX_LISTED} more" if len(missing) > MAX_LISTED else ""
        raise DeblurError(
            f"{len(missing)} blurry frame(s) without a sharp twin of the same name: {shown}{more}; "
            f"{layout_hint(root, split, blur_dir)}"
        )
    if not pairs:
        raise DeblurError(
            f"no blurry/sharp pairs found in {split_dir}; {layout_hint(root, split, blur_dir)}"
        )
    _check_unique(pairs)
    _check_sizes(pairs)
    pairs.sort(key=lambda p: p.sort_key)
    log.debug("indexed %d pairs in %s", len(pairs), split_dir)
    return pairs


def _image_files(folder: Path) -> dict[str, Path]:
    """Image files of ``folder`` by stem (non-images and sub-folders are ignored)."""
    files = {}
    with os.scandir(folder) as entries:
        for entry in entries:
            if entry.is_file() and not entry.name.startswith(".") and is_image_file(entry.name):
                stem = Path(entry.name).stem
                if stem in files:
                    names = " and ".join(sorted((files[stem].name, entry.name)))
                    raise DeblurError(f"two images for one frame in {folder}: {names}; keep one")
                files[stem] = folder / entry.name
    return files


def _optional_images(folder: Path) -> dict[str, Path]:
    """Image files of ``folder`` by stem if it is a folder, else none (kernels are optional)."""
    return _image_files(folder) if folder.is_dir() else {}


def _index_sequences(split_dir: Path, blur_dir: str) -> tuple[list[Pair], list[Path]]:
    """GOPRO_Large layout: one folder per sequence with blur/, blur_gamma/ and sharp/."""
    pairs, missing = [], []
    with os.scandir(split_dir) as entries:
        seq_dirs = sorted(
            Path(e.path) for e in entries if e.is_dir() and not e.name.startswith(".")
        )
    for seq_dir in seq_dirs:
        present = [d for d in (*BLUR_DIRS, SHARP_DIR) if (seq_dir / d).is_dir()]
        if not present:
            log.debug("ignoring %s: no blur/blur_gamma/sharp folder inside", seq_dir)
            continue
        if not (seq_dir / blur_dir).is_dir():
            raise DeblurError(
                f"{seq_dir} has no {blur_dir}/ folder (found {', '.join(present)}); expected "
                f"{seq_dir}/{blur_dir}/NNNNNN.png; choose another blur_dir or fix the tree"
            )
        blurry = _image_files(seq_dir / blur_dir)
        sharp = _image_files(seq_dir / SHARP_DIR) if (seq_dir / SHARP_DIR).is_dir() else {}
        kernels = _optional_images(seq_dir / KERNEL_DIR)
        for stem, blurry_path in sorted(blurry.items()):
            if stem not in sharp:
                missing.append(blurry_path)
                continue
            pairs.append(
                make_pair(
                    seq_dir.name, stem, blurry_path, sharp[stem], blurry_path, kernels.get(stem)
                )
            )
    return pairs, sorted(missing)


def _index_flat(split_dir: Path) -> tuple[list[Pair], list[Path]]:
    """Flattened layout: input/<sequence>-NNNNNN.png and target/<same name>."""
    pairs, missing = [], []
    blurry = _image_files(split_dir / FLAT_INPUT_DIR)
    sharp = _image_files(split_dir / FLAT_TARGET_DIR)
    kernels = _optional_images(split_dir / KERNEL_DIR)
    for stem, blurry_path in sorted(blurry.items()):
        match = FLAT_NAME.fullmatch(stem)
        if match is None:
            raise DeblurError(
                f"cannot tell sequence and frame from {blurry_path}: expected "
                "<sequence>-NNNNNN.png such as GOPR0384_11_00-000001.png; rename or remove it"
            )
        if stem not in sharp:
            missing.append(blurry_path)
            continue
        pairs.append(
            make_pair(
                match["sequence"],
                match["frame"],
                blurry_path,
                sharp[stem],
                blurry_path,
                kernels.get(stem),
            )
        )
    return pairs, sorted(missing)


def _check_unique(pairs: list[Pair]) -> None:
    seen: dict[str, Pair] = {}
    for pair in pairs:
        if pair.pair_id in seen:
            raise DeblurError(
                f"two blurry frames give the pair id {pair.pair_id}: {seen[pair.pair_id].blurry} "
                f"and {pair.blurry}; keep one image per frame"
            )
        seen[pair.pair_id] = pair


def image_size(path: Path) -> tuple[int, int]:
    """(width, height) of an image from its header only (no pixel decoding)."""
    try:
        with Image.open(path) as im:
            return im.size
    except Image.DecompressionBombError:
        raise too_large(path) from None
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise DeblurError(
            f"cannot read image {path}: {exc}; replace the file with a valid PNG/JPEG"
        ) from None


def _check_sizes(pairs: list[Pair]) -> None:
    for pair in pairs:
        blurry_size, sharp_size = image_size(pair.blurry), image_size(pair.sharp)
        if blurry_size != sharp_size:
            raise DeblurError(
                f"blurry and sharp sizes differ for pair {pair.pair_id}: {pair.blurry} is "
                f"{blurry_size[0]}x{blurry_size[1]}, {pair.sharp} is {sharp_size[0]}x"
                f"{sharp_size[1]}; a pair must be two frames of the same size"
            )
