"""The embedded synthetic dataset: a small GOPRO_Large-shaped tree made from scikit-image's images.

How GoPro pairs are made (Nah et al. 2017): a camera films at 240 fps; a blurry frame is the
average of 7-13 consecutive sharp frames (11 in the test set), averaged in linear light for
``blur_gamma`` (gamma 2.2) and as stored for ``blur``; its ground truth is the middle sharp frame.
We do the same with a virtual hand-held camera: each sequence views one natural RGB image bundled
with scikit-image through a smooth random camera path (translation plus small rotation and zoom),
rendered at every sub-frame ("240 fps") with cubic-spline interpolation. Frame ``k`` of a sequence
averages sub-frames ``[k*N, (k+1)*N)`` and its sharp frame is sub-frame ``k*N + N//2``, so
consecutive frames overlap in content (neighbor references make sense). Sequences differ in blur
strength: their sub-frame counts ``N`` are spread over the odd values in ``[blur_min, blur_max]``
and their camera speeds are drawn from ``[speed_min, speed_max]``.

The ``uniform`` mode (``mode="uniform"``) makes a known-kernel dataset instead: the sharp frame
is the same middle sub-frame, rendered with a margin, and its blurry frame is that view convolved
with one random camera-shake kernel (:mod:`deblur.data.kernels`, odd sides in
``[kernel_min, kernel_max]``; valid convolution, so no boundary is invented) plus Gaussian noise
``noise``; ``blur_gamma`` convolves in linear light. Each kernel is written beside its pair as
``<sequence>/kernel/NNNNNN.png`` (:mod:`deblur.kernelio`). Kernels come from their own seeded
stream, and the default ``camera`` mode writes exactly what it wrote before the mode existed
(its manifest omits the uniform-mode keys).

Everything is a function of the arguments (seeded ``numpy.random.SeedSequence``), so the same
arguments give byte-identical PNGs, and :func:`plan_pairs` knows the pairs without writing or
reading anything.
"""

from __future__ import annotations

import json
import logging
import math
import os
import re
import shutil
import tempfile
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import numpy as np

from deblur.data.gopro import BLUR_DIRS, KERNEL_DIR
from deblur.data.imageio import read_rgb, write_png
from deblur.data.pairs import Pair, make_pair
from deblur.errors import DeblurError

log = logging.getLogger(__name__)

# scikit-image's bundled natural RGB photographs (files in skimage.data.data_dir, no download)
SOURCE_FILES = {
    "astronaut": "astronaut.png",
    "chelsea": "chelsea.png",
    "coffee": "coffee.png",
    "rocket": "rocket.jpg",
    "motorcycle_left": "motorcycle_left.png",
    "hubble_deep_field": "hubble_deep_field.jpg",
}
MANIFEST = "synthetic.json"  # written last; marks a folder as ours (safe to replace on re-runs)
FIRST_FRAME = 1  # GoPro numbers frames from 000001
FRAME_DIGITS = 6
SPLINE_MARGIN = 3  # source pixels kept around every view so cubic splines never read past edges
MODES = ("camera", "uniform")
UNIFORM_FIELDS = ("mode", "kernel_min", "kernel_max", "noise")  # not in a camera-mode manifest
KERNEL_STREAM = 2**20  # spawn-key tag of the kernel stream, never a spawned child's index


@dataclass(frozen=True)
class SynthConfig:
    """Every parameter of the synthetic dataset (the defaults live here and only here).

    Attributes
    ----------
    sequences, frames : int
        Number of sequences and of blurry frames per sequence.
    size : tuple of int
        Frame size ``(width, height)``; a ``"WxH"`` string is accepted.
    seed : int
        Seed of everything random (source assignment, blur strengths, camera paths).
    split : str
        Split folder written (``test`` like the benchmark's GoPro split).
    sources : tuple of str
        Source images, keys of :data:`SOURCE_FILES`; sequences cycle through them in a seeded order.
    blur_min, blur_max : int
        Range of sub-frames averaged per blurry frame; the odd values in it are used (GoPro: 7-13).
    gamma : float
        Gamma of the linear-light average written to ``blur_gamma`` (GoPro: 2.2).
    speed_min, speed_max : float
        Range of per-sequence camera speeds, RMS over time, in frame widths per sub-frame
        (0.002-0.006 is about 0.6-1.9 px per sub-frame at 320 px, 2.6-7.7 px at 1280 px).
    rotation_deg : float
        Peak in-plane camera rotation (degrees).
    zoom : float
        Peak relative zoom (0.02 = +-2 %).
    waves : int
        Sinusoids summed per motion component (more = a less regular path).
    period_min, period_max : float
        Range of the sinusoids' periods, in sub-frames: direction changes over a few frames.
    mode : {"camera", "uniform"}
        ``camera``: blurry frames average sub-frames (GoPro's way, non-uniform blur);
        ``uniform``: one known random camera-shake kernel per frame (see the module docstring).
    kernel_min, kernel_max : int
        Range of kernel sides (px, odd) in ``uniform`` mode.
    noise : float
        Standard deviation of the Gaussian noise added in ``uniform`` mode (intensity in [0, 1]).
    """

    sequences: int = 4
    frames: int = 6
    size: tuple[int, int] = (320, 180)
    seed: int = 0
    split: str = "test"
    sources: tuple[str, ...] = tuple(SOURCE_FILES)
    blur_min: int = 7
    blur_max: int = 13
    gamma: float = 2.2
    speed_min: float = 0.002
    speed_max: float = 0.006
    rotation_deg: float = 0.5
    zoom: float = 0.01
    waves: int = 3
    period_min: float = 20.0
    period_max: float = 80.0
    mode: str = "camera"
    kernel_min: int = 11
    kernel_max: int = 31
    noise: float = 0.01

    def __post_init__(self):
        object.__setattr__(self, "size", parse_size(self.size))
        object.__setattr__(self, "sources", tuple(self.sources))
        for name in ("sequences", "frames", "waves"):
            if getattr(self, name) < 1:
                raise DeblurError(f"synthetic {name} must be at least 1, got {getattr(self, name)}")
        unknown = [s for s in self.sources if s not in SOURCE_FILES]
        if unknown or not self.sources:
            raise DeblurError(
                f"unknown synthetic source image(s) {', '.join(unknown) or '(none given)'}; "
                f"choose from {', '.join(SOURCE_FILES)}"
            )
        if not self.odd_subframes():
            raise DeblurError(
                f"no odd sub-frame count in blur_min..blur_max = {self.blur_min}..{self.blur_max}; "
                "an odd count keeps the sharp frame in the middle (GoPro uses 7-13)"
            )
        if not 0 < self.speed_min <= self.speed_max:
            raise DeblurError(
                f"camera speeds must satisfy 0 < speed_min <= speed_max, got "
                f"{self.speed_min}..{self.speed_max}"
            )
        if not 0 < self.period_min <= self.period_max:
            raise DeblurError(
                f"wave periods must satisfy 0 < period_min <= period_max, got "
                f"{self.period_min}..{self.period_max}"
            )
        if self.gamma <= 0 or self.rotation_deg < 0 or not 0 <= self.zoom < 0.5:
            raise DeblurError(
                f"need gamma > 0, rotation_deg >= 0 and 0 <= zoom < 0.5; got gamma {self.gamma}, "
                f"rotation_deg {self.rotation_deg}, zoom {self.zoom}"
            )
        if self.mode not in MODES:
            raise DeblurError(f"unknown synthetic mode {self.mode!r}; choose one of {MODES}")
        for name in ("kernel_min", "kernel_max"):
            value = getattr(self, name)
            if value < 3 or value % 2 == 0:
                raise DeblurError(f"synthetic {name} must be an odd integer >= 3, got {value}")
        if self.kernel_min > self.kernel_max:
            raise DeblurError(
                f"need kernel_min <= kernel_max, got {self.kernel_min} > {self.kernel_max}"
            )
        if not self.noise >= 0:
            raise DeblurError(f"synthetic noise must be >= 0, got {self.noise}")
        if "/" in self.split or self.split in ("", ".", ".."):
            raise DeblurError(f"split must be a plain folder name such as test, got {self.split!r}")

    def odd_subframes(self) -> list[int]:
        """The odd sub-frame counts in ``[blur_min, blur_max]``."""
        return [n for n in range(max(self.blur_min, 1), self.blur_max + 1) if n % 2 == 1]


def parse_size(size: str | tuple[int, int] | list[int]) -> tuple[int, int]:
    """``"320x180"`` or ``(320, 180)`` -> ``(width, height)``; both at least 16."""
    if isinstance(size, str):
        match = re.fullmatch(r"\s*(\d+)\s*[xX]\s*(\d+)\s*", size)
        if match is None:
            raise DeblurError(f"cannot read frame size {size!r}; write it as WxH, e.g. 320x180")
        size = (int(match[1]), int(match[2]))
    width, height = (int(v) for v in size)
    if min(width, height) < 16:
        raise DeblurError(f"synthetic frames must be at least 16x16, got {width}x{height}")
    return width, height


@dataclass(frozen=True)
class SequencePlan:
    """What one synthetic sequence will be: name, source image, blur strength."""

    name: str
    source: str
    subframes: int  # sub-frames averaged per blurry frame
    speed: float  # RMS camera speed, frame widths per sub-frame
    seed: np.random.SeedSequence | None = field(default=None, repr=False, compare=False)


def plan_sequences(config: SynthConfig) -> list[SequencePlan]:
    """Name, source image, sub-frame count and speed of every sequence (nothing is read)."""
    root_seed = np.random.SeedSequence(config.seed)
    plan_seed, *sequence_seeds = root_seed.spawn(1 + config.sequences)
    rng = np.random.default_rng(plan_seed)
    order = rng.permutation(len(config.sources))
    odd = config.odd_subframes()
    # spread the blur lengths evenly over the sequences, in a seeded order
    if config.sequences == 1:
        counts = [odd[len(odd) // 2]]
    else:
        counts = [
            odd[round(i * (len(odd) - 1) / (config.sequences - 1))] for i in range(config.sequences)
        ]
        counts = [counts[i] for i in rng.permutation(config.sequences)]
    speeds = rng.uniform(config.speed_min, config.speed_max, size=config.sequences)
    digits = max(2, len(str(config.sequences - 1)))
    plans = []
    for i in range(config.sequences):
        source = config.sources[order[i % len(config.sources)]]
        plans.append(
            SequencePlan(
                name=f"synth{i:0{digits}d}_{source}",
                source=source,
                subframes=counts[i],
                speed=float(speeds[i]),
                seed=sequence_seeds[i],
            )
        )
    return plans


def frame_name(k: int) -> str:
    """Zero-padded name of blurry frame ``k`` (0-based), as GoPro numbers them."""
    return f"{FIRST_FRAME + k:0{FRAME_DIGITS}d}"


def _config(sequences, frames, size, seed, options) -> SynthConfig:
    known = {f.name for f in fields(SynthConfig)}
    unknown = sorted(set(options) - known)
    if unknown:
        raise DeblurError(
            f"unknown synthetic option(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}"
        )
    return SynthConfig(sequences=sequences, frames=frames, size=size, seed=seed, **options)


def plan_pairs(
    out_dir: str | os.PathLike,
    sequences: int = SynthConfig.sequences,
    frames: int = SynthConfig.frames,
    size: str | tuple[int, int] = SynthConfig.size,
    seed: int = SynthConfig.seed,
    *,
    blur_dir: str = "blur",
    **options,
) -> list[Pair]:
    """The pairs :func:`synthesize` writes with the same arguments, without writing or reading.

    Equal to ``index_pairs(out_dir, split, blur_dir)`` after synthesis (tested), so Snakemake can
    sample at parse time before the dataset exists. ``options`` are further
    :class:`SynthConfig` fields (``split``, ``sources``, ...); those not affecting the pair list
    are accepted and ignored, so one dict of settings can feed both functions.
    """
    if blur_dir not in BLUR_DIRS:
        raise DeblurError(f"unknown blur folder {blur_dir!r}; choose one of {', '.join(BLUR_DIRS)}")
    return _planned_pairs(out_dir, _config(sequences, frames, size, seed, options), blur_dir)


def _planned_pairs(out_dir: str | os.PathLike, config: SynthConfig, blur_dir: str) -> list[Pair]:
    base = Path(out_dir) / config.split
    known = config.mode == "uniform"
    pairs = [
        make_pair(
            plan.name,
            frame_name(k),
            base / plan.name / blur_dir / f"{frame_name(k)}.png",
            base / plan.name / "sharp" / f"{frame_name(k)}.png",
            kernel=base / plan.name / KERNEL_DIR / f"{frame_name(k)}.png" if known else None,
        )
        for plan in plan_sequences(config)
        for k in range(config.frames)
    ]
    return sorted(pairs, key=lambda p: p.sort_key)  # the order index_pairs gives


# ---------------------------------------------------------------------------------------------
# camera motion


@dataclass(frozen=True)
class Waves:
    """A sum of sinusoids ``sum_j a_j sin(w_j t + p_j)`` (one motion component over time)."""

    amplitudes: np.ndarray
    omegas: np.ndarray  # radians per sub-frame
    phases: np.ndarray

    def __call__(self, t: np.ndarray) -> np.ndarray:
        t = np.asarray(t, dtype=np.float64)[..., None]
        return np.sum(self.amplitudes * np.sin(self.omegas * t + self.phases), axis=-1)

    def scaled(self, factor: float) -> Waves:
        return Waves(self.amplitudes * factor, self.omegas, self.phases)

    @property
    def peak(self) -> float:
        """Upper bound of ``|value|`` over all time."""
        return float(np.sum(np.abs(self.amplitudes)))

    @property
    def rms_rate(self) -> float:
        """Long-run RMS of the time derivative (exact for incommensurate frequencies)."""
        return float(np.sqrt(np.sum((self.amplitudes * self.omegas) ** 2) / 2))


def _random_waves(rng: np.random.Generator, config: SynthConfig) -> Waves:
    periods = rng.uniform(config.period_min, config.period_max, size=config.waves)
    return Waves(
        amplitudes=rng.uniform(0.5, 1.0, size=config.waves) * rng.choice([-1.0, 1.0], config.waves),
        omegas=2 * np.pi / periods,
        phases=rng.uniform(0, 2 * np.pi, size=config.waves),
    )


@dataclass(frozen=True)
class CameraPath:
    """A smooth hand-held camera path: offset (px), rotation (rad) and zoom over sub-frame time."""

    dx: Waves
    dy: Waves
    rotation: Waves
    zoom: Waves

    def at(self, t: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """``(dx, dy, angle, scale)`` at sub-frame times ``t`` (scale > 1 shows more scene)."""
        return self.dx(t), self.dy(t), self.rotation(t), 1.0 + self.zoom(t)


def random_camera_path(
    rng: np.random.Generator, speed_px: float, config: SynthConfig
) -> CameraPath:
    """A random path whose translation has RMS speed ``speed_px`` pixels per sub-frame."""
    dx, dy = _random_waves(rng, config), _random_waves(rng, config)
    rate = math.hypot(dx.rms_rate, dy.rms_rate)
    rotation, zoom = _random_waves(rng, config), _random_waves(rng, config)
    return CameraPath(
        dx=dx.scaled(speed_px / rate),
        dy=dy.scaled(speed_px / rate),
        rotation=rotation.scaled(math.radians(config.rotation_deg) / rotation.peak),
        zoom=zoom.scaled(config.zoom / zoom.peak),
    )


# ---------------------------------------------------------------------------------------------
# rendering


def source_image(name: str) -> np.ndarray:
    """A bundled scikit-image photograph as float RGB in [0, 1] (read from the package folder)."""
    from skimage.data import data_dir

    path = Path(data_dir) / SOURCE_FILES[name]
    if not path.is_file():
        raise DeblurError(
            f"scikit-image's bundled image {path} is missing; reinstall scikit-image "
            "(the synthetic dataset needs its sample images, no download)"
        )
    return read_rgb(path)


class Scene:
    """A source image prepared for rendering views along one camera path.

    The image is resized (antialiased) so that every view along the path fits inside it at one
    source pixel per output pixel, then converted to cubic-spline coefficients once.

    Parameters
    ----------
    image : ndarray
        Source photograph, float (H, W, 3) in [0, 1].
    path : CameraPath
        Camera motion; views are rendered at sub-frame times along it.
    times : ndarray
        Every sub-frame time that will be rendered (sizes the resized source).
    size : tuple of int
        View size ``(width, height)``.
    rng : numpy.random.Generator
        Picks where on the source the path is centred.
    """

    def __init__(
        self,
        image: np.ndarray,
        path: CameraPath,
        times: np.ndarray,
        size: tuple[int, int],
        rng: np.random.Generator,
    ):
        from scipy.ndimage import spline_filter

        from deblur.resize import resize_array

        self.path, self.size = path, size
        width, height = size
        u, v = np.meshgrid(np.arange(width) - (width - 1) / 2, np.arange(height) - (height - 1) / 2)
        self._grid = (u.ravel(), v.ravel())
        # half-extent of all views over the path, from the view corners
        hw, hh = (width - 1) / 2, (height - 1) / 2
        corners = (np.array([-hw, hw, hw, -hw]), np.array([-hh, -hh, hh, hh]))
        xs, ys = self._coords(corners, *path.at(times))
        half_x, half_y = np.abs(xs).max(), np.abs(ys).max()
        need_w, need_h = 2 * (half_x + SPLINE_MARGIN) + 1, 2 * (half_y + SPLINE_MARGIN) + 1
        scale = max(need_w / image.shape[1], need_h / image.shape[0])
        if scale > 1:
            log.warning(
                "source image (%dx%d) is smaller than the views need; upsampling it by %.2f "
                "(the content is softer than a real photo at this size)",
                image.shape[1], image.shape[0], scale,
            )  # fmt: skip
        new_h = math.ceil(image.shape[0] * scale)
        new_w = math.ceil(image.shape[1] * scale)
        image = resize_array(image, (new_h, new_w)).astype(np.float64)
        # place the path's centre at a random spot that keeps every view inside the image
        self.cx = rng.uniform(half_x + SPLINE_MARGIN, new_w - 1 - half_x - SPLINE_MARGIN)
        self.cy = rng.uniform(half_y + SPLINE_MARGIN, new_h - 1 - half_y - SPLINE_MARGIN)
        self._coeffs = [spline_filter(image[:, :, c], order=3) for c in range(3)]

    @staticmethod
    def _coords(uv, dx, dy, angle, scale):
        """Offsets from the path centre of view pixels ``uv`` for each time (broadcast)."""
        u, v = uv
        dx, dy, angle, scale = (np.atleast_1d(a)[:, None] for a in (dx, dy, angle, scale))
        cos, sin = np.cos(angle) * scale, np.sin(angle) * scale
        return dx + cos * u - sin * v, dy + sin * u + cos * v

    def view(self, t: float) -> np.ndarray:
        """The sharp view at sub-frame time ``t`` as float (H, W, 3) in [0, 1]."""
        from scipy.ndimage import map_coordinates

        xs, ys = self._coords(self._grid, *self.path.at(np.array([t])))
        coords = np.stack([ys[0] + self.cy, xs[0] + self.cx])
        width, height = self.size
        channels = [
            map_coordinates(c, coords, order=3, prefilter=False, mode="mirror")
            for c in self._coeffs
        ]
        return np.clip(np.stack(channels, axis=-1).reshape(height, width, 3), 0.0, 1.0)


@dataclass
class Exposure:
    """One blurry frame and its ground truth (float (H, W, 3) in [0, 1])."""

    sharp: np.ndarray
    blur: np.ndarray  # average of the sub-frames as stored (GoPro ``blur``)
    blur_gamma: np.ndarray  # average in linear light (GoPro ``blur_gamma``)
    kernel: np.ndarray | None = None  # the known kernel (uniform mode)


def expose(scene: Scene, first: int, subframes: int, gamma: float = SynthConfig.gamma) -> Exposure:
    """Average sub-frames ``first .. first + subframes - 1``; the sharp frame is the middle one."""
    views = [scene.view(t) for t in range(first, first + subframes)]
    stack = np.stack(views)
    blur = stack.mean(axis=0)
    blur_gamma = np.power(np.power(stack, gamma).mean(axis=0), 1.0 / gamma)
    return Exposure(sharp=views[subframes // 2], blur=blur, blur_gamma=blur_gamma)


def render_sequence(plan: SequencePlan, config: SynthConfig):
    """Yield ``(frame_name, Exposure)`` for every frame of one planned sequence."""
    rng = np.random.default_rng(plan.seed)
    n = plan.subframes
    path = random_camera_path(rng, plan.speed * config.size[0], config)
    times = np.arange(config.frames * n)
    if config.mode == "uniform":
        yield from _render_uniform(plan, config, path, times, rng)
        return
    scene = Scene(source_image(plan.source), path, times, config.size, rng)
    for k in range(config.frames):
        yield frame_name(k), expose(scene, k * n, n, config.gamma)


def kernel_rng(plan: SequencePlan) -> np.random.Generator:
    """The sequence's kernel stream, independent of its camera path and scene draws."""
    seed = plan.seed
    return np.random.default_rng(
        np.random.SeedSequence(seed.entropy, spawn_key=(*seed.spawn_key, KERNEL_STREAM))
    )


def blur_uniform(big: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """Valid convolution of an (H + K - 1, W + K - 1, C) view by a (K, K) kernel -> (H, W, C)."""
    from scipy.signal import fftconvolve

    return np.stack(
        [fftconvolve(big[:, :, c], kernel, mode="valid") for c in range(big.shape[2])], axis=-1
    )


def _render_uniform(plan, config, path, times, rng):
    """Uniform mode: the middle sub-frame seen with a margin, blurred by one random kernel."""
    from deblur.data.kernels import pad_kernel, random_shake_kernel

    width, height = config.size
    margin = config.kernel_max // 2
    big_size = (width + 2 * margin, height + 2 * margin)
    scene = Scene(source_image(plan.source), path, times, big_size, rng)
    krng = kernel_rng(plan)
    sides = np.arange(config.kernel_min, config.kernel_max + 1, 2)
    n = plan.subframes
    for k in range(config.frames):
        big = scene.view(k * n + n // 2)
        kernel = random_shake_kernel(krng, int(krng.choice(sides)))
        padded = pad_kernel(kernel, config.kernel_max)
        noise = krng.normal(0.0, config.noise, (height, width, 3))
        blur = blur_uniform(big, padded)
        linear = blur_uniform(np.power(big, config.gamma), padded)
        blur_gamma = np.power(np.maximum(linear, 0.0), 1.0 / config.gamma)
        yield (
            frame_name(k),
            Exposure(
                sharp=big[margin : margin + height, margin : margin + width],
                blur=np.clip(blur + noise, 0.0, 1.0),
                blur_gamma=np.clip(blur_gamma + noise, 0.0, 1.0),
                kernel=kernel,
            ),
        )


# ---------------------------------------------------------------------------------------------
# writing the tree


def synthesize(
    out_dir: str | os.PathLike,
    sequences: int = SynthConfig.sequences,
    frames: int = SynthConfig.frames,
    size: str | tuple[int, int] = SynthConfig.size,
    seed: int = SynthConfig.seed,
    *,
    progress: bool = True,
    **options,
) -> list[Pair]:
    """Write the synthetic dataset to ``out_dir`` (GOPRO_Large layout) and return its pairs.

    The tree is built in a temporary sibling folder and swapped in at the end, so a killed run
    never leaves a half-written dataset. An existing ``out_dir`` is replaced only if it is empty
    or was written by this function (it holds ``synthetic.json``).

    Writes ``out_dir/<split>/<sequence>/{blur,blur_gamma,sharp}/NNNNNN.png`` (and ``kernel/``
    in uniform mode) and
    ``out_dir/synthetic.json`` (all parameters and the per-sequence plan). ``options`` are
    further :class:`SynthConfig` fields.
    """
    from tqdm import tqdm

    from deblur.kernelio import write_kernel

    config = _config(sequences, frames, size, seed, options)
    out_dir = Path(out_dir)
    _check_replaceable(out_dir)
    plans = plan_sequences(config)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.tmp.", dir=out_dir.parent))
    umask = os.umask(0)
    os.umask(umask)
    tmp.chmod(0o777 & ~umask)  # mkdtemp makes it private; the dataset gets normal permissions
    try:
        bar = tqdm(
            total=config.sequences * config.frames, desc="synthesize", unit="frame",
            disable=not progress,
        )  # fmt: skip
        with bar:
            for plan in plans:
                seq_dir = tmp / config.split / plan.name
                for name, exposure in render_sequence(plan, config):
                    for folder, image in (
                        ("blur", exposure.blur),
                        ("blur_gamma", exposure.blur_gamma),
                        ("sharp", exposure.sharp),
                    ):
                        write_png(seq_dir / folder / f"{name}.png", image)
                    if exposure.kernel is not None:
                        write_kernel(seq_dir / KERNEL_DIR / f"{name}.png", exposure.kernel)
                    bar.update()
        _write_manifest(tmp / MANIFEST, config, plans)
        _swap_in(tmp, out_dir)
    except DeblurError as exc:  # a write failed (a full disk): name the file as it would be
        raise DeblurError(str(exc).replace(str(tmp), str(out_dir))) from None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    log.info("wrote %d synthetic pairs to %s", config.sequences * config.frames, out_dir)
    return _planned_pairs(out_dir, config, "blur")


def _check_replaceable(out_dir: Path) -> None:
    """Refuse an ``out_dir`` that is a file, or holds any file an earlier synth run did not
    write (the tree is replaced as a whole, so such a file would be deleted)."""
    if out_dir.exists() and not out_dir.is_dir():
        raise DeblurError(f"{out_dir} exists and is not a folder; choose another --out")
    if not out_dir.is_dir():
        return
    if not (out_dir / MANIFEST).is_file():
        if _holds_files(out_dir):
            raise DeblurError(
                f"refusing to overwrite {out_dir}: it holds files but no {MANIFEST} from an "
                "earlier synth run; choose an empty or new --out folder"
            )
        return
    foreign = _foreign_files(out_dir)
    if foreign:
        raise DeblurError(
            f"refusing to replace {out_dir}: it holds {len(foreign)} file(s) an earlier synth run "
            f"did not write (first: {foreign[0]}), which replacing the dataset would delete; "
            "move them out of the folder or choose another --out"
        )


# a file synth writes: <split>/<sequence>/<folder>/NNNNNN.png
_SYNTH_FILE = re.compile(r"(?P<split>[^/]+)/(?P<seq>[^/]+)/(?P<folder>[^/]+)/\d{6}\.png")


def _foreign_files(out_dir: Path) -> list[Path]:
    """Files under ``out_dir`` that the synth run its manifest describes did not write (any
    file at all if the manifest cannot be read), sorted."""
    try:
        manifest = json.loads((out_dir / MANIFEST).read_text(encoding="utf-8"))
        split = manifest["parameters"]["split"]
        sequences = {s["name"] for s in manifest["sequences"]}
    except (OSError, ValueError, KeyError, TypeError):
        split, sequences = None, set()
    folders = {*BLUR_DIRS, "sharp", KERNEL_DIR}
    foreign = []
    for folder, _, files in os.walk(out_dir):
        for name in files:
            path = Path(folder) / name
            rel = path.relative_to(out_dir).as_posix()
            match = _SYNTH_FILE.fullmatch(rel)
            ours = rel == MANIFEST or (
                match is not None
                and match["split"] == split
                and match["seq"] in sequences
                and match["folder"] in folders
            )
            if not ours:
                foreign.append(path)
    return sorted(foreign)


def _holds_files(folder: Path) -> bool:
    """True if any file lies under ``folder`` (empty sub-folders, e.g. made by Snakemake, don't
    count)."""
    return any(files for _, _, files in os.walk(folder))


def _swap_in(new: Path, out_dir: Path) -> None:
    """Replace ``out_dir`` by the finished tree ``new`` (two renames; the old tree is deleted)."""
    old = None
    if out_dir.exists():
        old = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.old.", dir=out_dir.parent))
        os.replace(out_dir, old / "tree")
    os.replace(new, out_dir)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def _write_manifest(path: Path, config: SynthConfig, plans: list[SequencePlan]) -> None:
    from deblur import __version__
    from deblur.atomic import write_text

    params = asdict(config)
    params["size"] = f"{config.size[0]}x{config.size[1]}"
    params["sources"] = list(config.sources)
    if config.mode == "camera":
        for name in UNIFORM_FIELDS:  # the manifest stays what it was before the modes existed
            del params[name]
    manifest = {
        "generator": f"deblur {__version__} synthetic GoPro-like dataset",
        "parameters": params,
        "sequences": [
            {
                "name": p.name,
                "source": p.source,
                "source_file": SOURCE_FILES[p.source],
                "subframes": p.subframes,
                "speed_px_per_subframe": round(p.speed * config.size[0], 6),
            }
            for p in plans
        ],
    }
    write_text(path, json.dumps(manifest, indent=2) + "\n")
