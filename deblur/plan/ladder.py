"""The pyramid-size ladder's methods: the paper's setting at several SinGAN sizes and lengths.

A *cell* is one (max_size, niter) pair. Each cell trains its own pyramids (its own model key);
on every cell the paper's deblurring setting (the pair's own sharp frame, G_0 iterated k times,
noise on) runs for each k, and the baselines are scored at each size's model resolution so the
blurry input is compared at the same resolution as SinGAN. :func:`ladder_methods` turns the
``ladder`` config section into method entries; their names (:func:`singan_name`,
:func:`baseline_name`) are how :mod:`deblur.evaluation.ladder` finds a cell's rows again.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

SINGAN_PATTERN = r"singan_s\d+_n\d+_k\d+"
# the other inference readings a cell can run beside g0 (docs/inference-readings.md): name
# suffix -> the method's deblurring settings
READINGS: dict[str, dict[str, object]] = {
    "sr4": dict(mode="sr", sr_factor=4, sr_step="reference"),
    "srfull": dict(mode="sr", sr_factor="full", sr_step="reference"),
    "sample": dict(mode="sample"),
}
READING_PATTERN = rf"singan_s\d+_n\d+_({'|'.join(READINGS)})"


def singan_name(max_size: int, niter: int, steps: int) -> str:
    """Method name of the paper's setting with k = ``steps`` on the cell (max_size, niter)."""
    return f"singan_s{max_size}_n{niter}_k{steps}"


def reading_name(max_size: int, niter: int, reading: str) -> str:
    """Method name of inference reading ``reading`` (a :data:`READINGS` key) on a cell."""
    return f"singan_s{max_size}_n{niter}_{reading}"


def baseline_name(name: str, max_size: int) -> str:
    """Method name of baseline ``name`` scored at the model resolution of ``max_size``."""
    return f"{name}_s{max_size}"


def ladder_methods(
    cells: Iterable[Sequence[int]],
    steps: Iterable[int],
    baselines: Iterable[Mapping[str, object]],
    readings: Iterable[str] = (),
) -> list[dict[str, object]]:
    """Method entries (config ``methods`` items) of the ladder.

    Parameters
    ----------
    cells : iterable of (max_size, niter)
        The cells to train; each becomes one pyramid per pair.
    steps : iterable of int
        The G_0 passes k run on every cell.
    baselines : iterable of mappings
        Baseline method entries (``name``, ``kind``, optional ``params``); each is repeated once
        per distinct max_size with that model resolution.
    readings : iterable of str
        Other inference readings (:data:`READINGS` keys: ``sr4``, ``srfull``, ``sample``) run
        on every cell after its k values, sharing its pyramids.

    Returns
    -------
    list of dict
        Baselines first (by size), then SinGAN methods by cell: each k, then each reading.
    """
    readings = list(readings)
    unknown = [r for r in readings if r not in READINGS]
    if unknown or len(set(readings)) != len(readings):
        raise ValueError(
            f"ladder.readings: use each of {', '.join(READINGS)} at most once, got {readings}"
        )
    cells = [tuple(int(v) for v in c) for c in cells]
    for cell in cells:
        if len(cell) != 2:
            raise ValueError(f"ladder.cells: each cell is [max_size, niter], got {list(cell)}")
    if len(set(cells)) != len(cells):
        raise ValueError(f"ladder.cells lists a cell twice: {cells}")
    sizes = sorted({size for size, _ in cells})
    methods: list[dict[str, object]] = []
    for size in sizes:
        for b in baselines:
            entry = dict(b)
            entry["name"] = baseline_name(str(b["name"]), size)
            entry["singan"] = {"max_size": size}
            methods.append(entry)
    for size, niter in cells:
        for k in steps:
            methods.append(
                dict(
                    name=singan_name(size, niter, k),
                    kind="singan",
                    reference="same",
                    steps=int(k),
                    mode="g0",
                    noise=True,
                    singan={"max_size": size, "niter": niter},
                )
            )
        for reading in readings:
            methods.append(
                dict(
                    name=reading_name(size, niter, reading),
                    kind="singan",
                    reference="same",
                    noise=True,
                    singan={"max_size": size, "niter": niter},
                    **READINGS[reading],
                )
            )
    return methods
