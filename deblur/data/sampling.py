"""Seeded pair sampling, reference assignment and the sample sheet (``pairs.tsv``).

Everything here is a pure function of the pair list and the arguments (a local
``numpy.random.default_rng(seed)``, never global state), so the Snakefile, which samples at parse
time, and ``python -m deblur sample`` pick exactly the same pairs.

Sample sheet columns (tab-separated, one row per sampled pair, in dataset order):
``pair_id, sequence, frame, blurry, sharp, reference_id, reference, reference_mode,
reference_offset``. Paths are written as the index built them: on the dataset root exactly as it
was given (relative roots stay relative), with ``/`` separators.
"""

from __future__ import annotations

import logging
import os
from collections import defaultdict
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from deblur.atomic import atomic_path
from deblur.data.pairs import Pair, Sample
from deblur.errors import DeblurError

if TYPE_CHECKING:
    import pandas as pd

log = logging.getLogger(__name__)

STRATEGIES = ("uniform", "stratified")
REFERENCE_MODES = ("same", "neighbor")
COLUMNS = (
    "pair_id",
    "sequence",
    "frame",
    "blurry",
    "sharp",
    "reference_id",
    "reference",
    "reference_mode",
    "reference_offset",
)


def sample_pairs(
    pairs: list[Pair],
    n: int,
    seed: int,
    strategy: str = "uniform",
    allow_fewer: bool = False,
    where: str | os.PathLike | None = None,
) -> list[Pair]:
    """Draw ``n`` pairs without replacement.

    Parameters
    ----------
    pairs : list of Pair
        All pairs of the split (order does not matter; they are sorted first).
    n : int
        How many pairs to draw (at least 1).
    seed : int
        Seed of the local random generator.
    strategy : {"uniform", "stratified"}
        ``uniform`` draws any ``n`` pairs (the paper's "randomly chosen"); ``stratified`` gives
        every sequence an equal share (the remainder goes to randomly chosen sequences; a
        sequence with too few frames gives its unused share to the others).
    allow_fewer : bool
        When ``n`` exceeds the number of pairs, return all of them instead of raising.
    where : str or PathLike, optional
        Where the pairs come from (the dataset split), named in error messages.

    Returns
    -------
    list of Pair
        The drawn pairs in dataset order (sequence, then frame number).
    """
    if strategy not in STRATEGIES:
        raise DeblurError(
            f"unknown sampling strategy {strategy!r}; choose {' or '.join(STRATEGIES)}"
        )
    if n < 1:
        raise DeblurError(f"cannot sample n={n} pairs; n must be at least 1")
    pairs = sorted(pairs, key=lambda p: p.sort_key)
    source = f" in {where}" if where is not None else ""
    if n > len(pairs):
        if not allow_fewer:
            raise DeblurError(
                f"asked for {n} pairs but only {len(pairs)} are available{source}; "
                "lower n or allow fewer (--allow-fewer / sample.allow_fewer: true)"
            )
        log.warning("only %d pairs available%s (asked for %d); using all", len(pairs), source, n)
        return pairs
    rng = np.random.default_rng(seed)
    if strategy == "uniform":
        chosen = rng.choice(len(pairs), size=n, replace=False)
        return [pairs[i] for i in sorted(chosen)]

    by_sequence = _group_by_sequence(pairs)
    quotas = _equal_quotas([len(v) for v in by_sequence.values()], n, rng)
    drawn = []
    for members, quota in zip(by_sequence.values(), quotas, strict=True):
        chosen = rng.choice(len(members), size=quota, replace=False)
        drawn.extend(members[i] for i in sorted(chosen))
    return drawn


def _group_by_sequence(pairs: list[Pair]) -> dict[str, list[Pair]]:
    """Pairs by sequence, sequences and frames in dataset order (``pairs`` is sorted)."""
    groups: dict[str, list[Pair]] = defaultdict(list)
    for pair in pairs:
        groups[pair.sequence].append(pair)
    return dict(groups)


def _equal_quotas(sizes: list[int], n: int, rng: np.random.Generator) -> list[int]:
    """Split ``n`` (<= sum(sizes)) into per-group counts as equal as the group sizes allow."""
    quotas = [0] * len(sizes)
    remaining = n
    while remaining:
        open_groups = [g for g, size in enumerate(sizes) if quotas[g] < size]
        share = remaining // len(open_groups)
        if share == 0:  # fewer left than open groups: one more each for randomly chosen groups
            for g in sorted(rng.choice(open_groups, size=remaining, replace=False)):
                quotas[g] += 1
            break
        for g in open_groups:
            take = min(share, sizes[g] - quotas[g])
            quotas[g] += take
            remaining -= take
    return quotas


def assign_references(
    sampled: list[Pair], all_pairs: list[Pair], mode: str = "same", offset: int = 1
) -> list[Sample]:
    """Attach to each sampled pair the sharp image SinGAN is trained on.

    Parameters
    ----------
    sampled : list of Pair
        The pairs to deblur.
    all_pairs : list of Pair
        Every pair of the split; neighbor references are looked up here, not only in the sample.
    mode : {"same", "neighbor"}
        ``same``: the pair's own sharp frame (paper §3.2). ``neighbor``: the sharp frame
        ``offset`` frames later in the same sequence, or ``offset`` frames earlier when that runs
        past the end: by frame number when that sharp frame exists (a frame whose blurry
        image is missing still lends its sharp one, so no gap is crossed), otherwise counted
        in sequence order (a sequence numbered 1, 3, 5, ...). ``reference_offset`` records
        the step taken.
    offset : int
        Frame distance for ``neighbor`` (at least 1); ignored for ``same``.

    Returns
    -------
    list of Sample
        One per sampled pair, in the order given.
    """
    if mode not in REFERENCE_MODES:
        raise DeblurError(f"unknown reference mode {mode!r}; choose {' or '.join(REFERENCE_MODES)}")
    if mode == "same":
        return [_with_reference(p, p.pair_id, p.sharp, 0, mode) for p in sampled]
    if offset < 1:
        raise DeblurError(f"neighbor reference offset must be at least 1, got {offset}")
    by_sequence = _group_by_sequence(sorted(all_pairs, key=lambda p: p.sort_key))
    position = {p.pair_id: i for members in by_sequence.values() for i, p in enumerate(members)}
    indexed = {p.pair_id: p for p in all_pairs}
    samples = []
    for pair in sampled:
        if pair.pair_id not in position:
            raise DeblurError(f"pair {pair.pair_id} ({pair.blurry}) is not in the indexed dataset")
        by_number = _sharp_by_number(pair, offset, indexed) or _sharp_by_number(
            pair, -offset, indexed
        )
        if by_number is not None:
            samples.append(_with_reference(pair, *by_number, mode))
            continue
        members, i = by_sequence[pair.sequence], position[pair.pair_id]
        if i + offset < len(members):
            step = offset
        elif i - offset >= 0:
            step = -offset
        else:
            raise DeblurError(
                f"no neighbor reference for pair {pair.pair_id}: it is frame {i + 1} of "
                f"{len(members)} in sequence {pair.sequence}, and neither {offset} frames later "
                f"nor earlier exists (every frame has one when a sequence has at least "
                f"{2 * offset} frames); lower the offset or use reference mode same"
            )
        ref = members[i + step]
        samples.append(_with_reference(pair, ref.pair_id, ref.sharp, step, mode))
    return samples


def _sharp_by_number(
    pair: Pair, step: int, indexed: dict[str, Pair]
) -> tuple[str, Path, int] | None:
    """(pair id, sharp path, step) of the frame numbered ``step`` away from ``pair`` in its
    sequence, if that sharp frame exists: indexed, or on disk beside ``pair``'s sharp frame
    (its blurry frame may be missing); else None."""
    number = int(pair.frame) + step
    if number < 0:
        return None
    frame = f"{number:0{len(pair.frame)}d}"
    pair_id = f"{pair.sequence}-{frame}"
    if pair_id in indexed:
        return pair_id, indexed[pair_id].sharp, step
    sharp = pair.sharp.with_name(frame + pair.sharp.suffix)
    return (pair_id, sharp, step) if sharp.is_file() else None


def _with_reference(pair: Pair, ref_id: str, ref_sharp: Path, step: int, mode: str) -> Sample:
    return Sample(
        pair.pair_id, pair.sequence, pair.frame, pair.blurry, pair.sharp,
        reference_id=ref_id, reference=ref_sharp, reference_mode=mode, reference_offset=step,
    )  # fmt: skip


def draw_sample(
    all_pairs: list[Pair],
    n: int,
    seed: int,
    strategy: str = "uniform",
    allow_fewer: bool = False,
    reference_mode: str = "same",
    offset: int = 1,
    where: str | os.PathLike | None = None,
) -> list[Sample]:
    """:func:`sample_pairs` then :func:`assign_references`: the whole sample in one call."""
    sampled = sample_pairs(all_pairs, n, seed, strategy, allow_fewer, where=where)
    return assign_references(sampled, all_pairs, reference_mode, offset)


def sample_table(samples: list[Sample]) -> pd.DataFrame:
    """The sample sheet as a DataFrame with :data:`COLUMNS` (paths as ``/``-separated strings)."""
    import pandas as pd

    rows = [
        {
            "pair_id": s.pair_id,
            "sequence": s.sequence,
            "frame": s.frame,
            "blurry": s.blurry.as_posix(),
            "sharp": s.sharp.as_posix(),
            "reference_id": s.reference_id,
            "reference": s.reference.as_posix(),
            "reference_mode": s.reference_mode,
            "reference_offset": s.reference_offset,
        }
        for s in samples
    ]
    return pd.DataFrame(rows, columns=list(COLUMNS))


def write_sample_tsv(samples: list[Sample], path: str | os.PathLike) -> pd.DataFrame:
    """Write the sample sheet to ``path`` atomically; returns the table written."""
    table = sample_table(samples)
    with atomic_path(path) as tmp:
        table.to_csv(tmp, sep="\t", index=False, lineterminator="\n")
    return table


def read_sample_tsv(path: str | os.PathLike) -> list[Sample]:
    """Read a sample sheet written by :func:`write_sample_tsv` back into :class:`Sample` records."""
    import pandas as pd

    path = Path(path)
    if not path.is_file():
        raise DeblurError(
            f"sample sheet not found: {path}; write it with `python -m deblur sample`"
        )
    table = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False)
    missing = [c for c in COLUMNS if c not in table.columns]
    if missing:
        raise DeblurError(
            f"sample sheet {path} lacks column(s) {', '.join(missing)}; expected "
            f"{', '.join(COLUMNS)}; regenerate it with `python -m deblur sample`"
        )
    return [
        Sample(
            r.pair_id,
            r.sequence,
            r.frame,
            Path(r.blurry),
            Path(r.sharp),
            reference_id=r.reference_id,
            reference=Path(r.reference),
            reference_mode=r.reference_mode,
            reference_offset=int(r.reference_offset),
        )  # fmt: skip
        for r in table.itertuples(index=False)
    ]
