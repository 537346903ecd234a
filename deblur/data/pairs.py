"""Blurry/sharp pairs and their references: the records every later step is keyed by.

Names
-----
A pair id is ``<sequence>-<frame>``, e.g. ``GOPR0384_11_00-000001``. Ids are used as Snakemake
wildcards and as file names, so sequence names may only hold ASCII letters, digits, ``_``, ``.``
and ``-``, and must start with a letter or digit (real GoPro sequences look like
``GOPR0384_11_00``); frames are the zero-padded digit strings of the file names (``000001``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from deblur.errors import DeblurError

SEQUENCE_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
FRAME_PATTERN = re.compile(r"[0-9]+")
ALLOWED_SEQUENCE_CHARS = "ASCII letters, digits, '_', '.', '-' (starting with a letter or digit)"


@dataclass(frozen=True)
class Pair:
    """One blurry frame and its ground-truth sharp frame.

    Attributes
    ----------
    pair_id : str
        ``<sequence>-<frame>``; unique within a split and safe as a file name.
    sequence : str
        Sequence (video) name, e.g. ``GOPR0384_11_00``.
    frame : str
        Zero-padded frame number as in the file name, e.g. ``"000001"``.
    blurry, sharp : Path
        Image paths, built on the dataset root exactly as it was given (never resolved).
    kernel : Path or None
        The blur kernel's PNG where the dataset knows it (a ``kernel/`` folder beside
        ``sharp/``, e.g. the synthetic uniform-blur mode), else ``None``. Keyword-only.
    """

    pair_id: str
    sequence: str
    frame: str
    blurry: Path
    sharp: Path
    kernel: Path | None = field(default=None, kw_only=True)

    @property
    def sort_key(self) -> tuple[str, int, str]:
        """Order within a dataset: sequence name, then frame number."""
        return (self.sequence, int(self.frame), self.frame)


@dataclass(frozen=True)
class Sample(Pair):
    """A sampled pair plus the sharp image SinGAN is trained on (``reference.mode``).

    Attributes
    ----------
    reference_id : str
        Pair id whose sharp frame is the reference; models are keyed by it, so pairs that share a
        reference share one trained model.
    reference : Path
        Path of that sharp frame.
    reference_mode : str
        ``"same"`` (the pair's own sharp frame) or ``"neighbor"``.
    reference_offset : int
        Signed frame offset actually used: 0 for ``same``, ``+K`` or ``-K`` for ``neighbor``.
    """

    reference_id: str
    reference: Path
    reference_mode: str
    reference_offset: int


def make_pair(
    sequence: str,
    frame: str,
    blurry: Path,
    sharp: Path,
    where: object = None,
    kernel: Path | None = None,
) -> Pair:
    """Build a :class:`Pair` after checking the names are safe (see module docstring).

    ``where`` names the file or folder the names came from, for the error message; ``kernel``
    is the pair's known blur kernel (PNG), if any.
    """
    where = f" (from {where})" if where is not None else ""
    if not SEQUENCE_PATTERN.fullmatch(sequence):
        raise DeblurError(
            f"unsupported sequence name {sequence!r}{where}: sequence names may only contain "
            f"{ALLOWED_SEQUENCE_CHARS}; rename the folder"
        )
    if not FRAME_PATTERN.fullmatch(frame):
        raise DeblurError(
            f"unsupported frame name {frame!r}{where}: expected a zero-padded frame number such "
            "as 000001.png; rename or remove the file"
        )
    kernel = None if kernel is None else Path(kernel)
    return Pair(f"{sequence}-{frame}", sequence, frame, Path(blurry), Path(sharp), kernel=kernel)
