"""Training a SinGAN pyramid on one image, scale by scale (reference ``SinGAN/training.py``).

Read top to bottom: :func:`train_scale` runs ``niter`` iterations of a step (a
:class:`~deblur.singan.step.Step`: the readable :func:`~deblur.singan.step.train_step` or the
optimized :class:`~deblur.singan.fast.FastStep`, which carries its own layout, optimizer
choice and precision; the losses themselves are :mod:`deblur.singan.losses`);
:func:`fit_scale` trains one scale on top of the coarser ones; :func:`train` reads the image,
builds the pyramid and fits every scale that is not finished yet, so re-running it after a kill
resumes. The model directory's bookkeeping (identity, lock, ``model.json``) is
:mod:`deblur.singan.rundir`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
from tqdm import tqdm

from deblur.atomic import check_output_dir
from deblur.data.imageio import read_rgb
from deblur.errors import DeblurError
from deblur.singan.checkpoint import (
    ScaleCheckpoint,
    save_scale,
    write_model_json,
    write_train_log,
)
from deblur.singan.config import SinGANConfig, load_config
from deblur.singan.device import (
    accelerator_info,
    cuda_settings,
    flush_denormals,
    resolve_device,
    set_threads,
    warn_slow_bf16,
)
from deblur.singan.draws import BatchDraws, SeparateStreams
from deblur.singan.grouped import image_slice, merge_states, split_state
from deblur.singan.models import Discriminator, Generator
from deblur.singan.pyramid import build_pyramid, image_to_tensor, pyramid_sizes
from deblur.singan.rundir import (
    is_finished,
    model_info,
    open_model_dir,
    run_identity,
    set_aside_other_run,
    usable_scales,
)
from deblur.singan.scale_inputs import ScaleInputs, amplitude, prepare_scale
from deblur.singan.step import BRANCH_MAX_CHANNELS, Step, make_step

log = logging.getLogger(__name__)


def make_models(
    config: SinGANConfig, scale: int, device: torch.device, previous: ScaleCheckpoint | None
) -> tuple[Generator, Discriminator]:
    """Fresh G and D of ``scale``, starting from the previous scale's weights if widths match."""
    channels = config.channels(scale)
    G = Generator(config, channels).to(device)
    D = Discriminator(config, channels).to(device)
    if previous is not None and previous.channels == channels:
        G.load_state_dict(previous.generator)
        D.load_state_dict(previous.critic)
    return G, D


def make_optimizers(G: Generator, D: Discriminator, config: SinGANConfig, fused: bool = False):
    """Adam for both, each with a MultiStepLR dropping by ``gamma`` at ``config.milestone``.

    ``fused`` uses PyTorch's single-kernel Adam (same update, float rounding aside).
    """
    betas = (config.beta1, config.beta2)
    kwargs = dict(betas=betas, fused=True) if fused else dict(betas=betas)
    opt_g = torch.optim.Adam(G.parameters(), lr=config.lr_g, **kwargs)
    opt_d = torch.optim.Adam(D.parameters(), lr=config.lr_d, **kwargs)
    schedulers = [
        torch.optim.lr_scheduler.MultiStepLR(opt, milestones=[config.milestone], gamma=config.gamma)
        for opt in (opt_g, opt_d)
    ]
    return opt_g, opt_d, schedulers


def train_scale(
    G: Generator,
    D: Discriminator,
    inputs: ScaleInputs,
    config: SinGANConfig,
    progress: bool = True,
    desc: str = "",
    step: Step | None = None,
    names: Sequence[str] | None = None,
    optimizers: tuple | None = None,
) -> list[dict]:
    """Train one scale for ``config.niter`` iterations of ``step``; returns each image's
    train_log stats (one dict per image of ``inputs``).

    ``step`` is a :class:`~deblur.singan.step.Step` (default: the optimized one of
    :func:`~deblur.singan.step.make_step`); its ``fused_adam`` picks the optimizers
    (``optimizers``: ``(opt_g, opt_d, schedulers)`` of :func:`make_optimizers` to use instead).
    ``G``, ``D`` and ``inputs`` should already be in its layout (``step.prepare``). Losses stay
    on the device: they are read (one host-device sync) every ``LOG_EVERY`` iterations and at
    the end. ``seconds`` is each image's share of the scale's time (the time over the number
    of images).

    Raises DeblurError naming the image (``names``), scale and first iteration whose loss was
    NaN or infinite.
    """
    step = make_step() if step is None else step
    if optimizers is None:
        optimizers = make_optimizers(G, D, config, fused=step.fused_adam)
    opt_g, opt_d, schedulers = optimizers
    images = inputs.images
    names = list(names) if names is not None else [f"image {i}" for i in range(images)]
    redraw_z_opt = inputs.scale == 0 and not config.fixed_z_opt
    device = inputs.real.device
    G.train()
    D.train()
    divergence = _Divergence(device, images)
    start = time.perf_counter()
    bar = tqdm(
        range(config.niter), desc=desc, disable=not progress, file=sys.stderr, dynamic_ncols=True
    )
    for it in bar:
        if redraw_z_opt:  # the reference code's behaviour at scale 0 (fixed_z_opt: false)
            inputs.z_opt = inputs.draws.noise(inputs.real.shape[-2:], True, device)
        losses = step(G, D, opt_g, opt_d, inputs, config)
        for scheduler in schedulers:
            scheduler.step()
        divergence.update(it, losses)
        if it % LOG_EVERY == 0 or it == config.niter - 1:
            divergence.check(inputs.scale, bar, names)
            err_d, err_g, rec = (_values(v) for v in losses)
            bar.set_postfix(
                errD=f"{_mean(err_d):.3f}", errG=f"{_mean(err_g):.3f}", rec=f"{_mean(rec):.4f}",
                refresh=False,
            )  # fmt: skip
    bar.close()
    seconds = (time.perf_counter() - start) / images
    return [
        dict(niter=config.niter, err_d=err_d[i], err_g=err_g[i], rec_loss=rec[i], seconds=seconds)
        for i in range(images)
    ]


def _values(loss: torch.Tensor) -> list[float]:
    """A loss's value per image (one read of the device)."""
    return [loss.item()] if loss.dim() == 0 else loss.tolist()


def _mean(values: list[float]) -> float:
    return sum(values) / len(values)


LOG_EVERY = 10  # iterations between reads of the losses (a host-device sync on GPUs)


class _Divergence:
    """Per image, the first iteration with a non-finite loss, tracked on the device without
    syncing."""

    def __init__(self, device: torch.device, images: int = 1):
        shape = () if images == 1 else (images,)
        self.first = torch.full(shape, -1, dtype=torch.long, device=device)
        self.losses = torch.zeros(3, *shape, device=device)

    def update(self, it: int, losses) -> None:
        values = torch.stack([v.float() for v in losses])  # (3,) or (3, images)
        new = (self.first < 0) & ~torch.isfinite(values).all(0)
        self.first = torch.where(new, it, self.first)
        self.losses = torch.where(new, values, self.losses)

    def check(self, scale: int, bar, names: Sequence[str]) -> None:
        first = self.first.reshape(-1).tolist()
        diverged = [i for i, it in enumerate(first) if it >= 0]
        if diverged:
            bar.close()
            i = diverged[0]
            err_d, err_g, rec = self.losses.reshape(3, -1)[:, i].tolist()
            others = f" (also {', '.join(names[j] for j in diverged[1:])})" if diverged[1:] else ""
            raise DeblurError(
                f"{names[i]}: training diverged at scale {scale}, iteration {first[i]}: "
                f"errD={err_d:.4g} errG={err_g:.4g} rec={rec:.4g}{others}; lower lr_g/lr_d or "
                "check the image"
            )


@dataclasses.dataclass(eq=False)  # a member is itself: its tensors have no equality
class Member:
    """One image of a batch: its pyramid of real images and its finished scales."""

    name: str  # the training image's path, for messages
    reals: list[torch.Tensor]  # (1, 3, h, w) per scale, coarsest first
    sizes: list[tuple[int, int]]
    done: list[ScaleCheckpoint] = dataclasses.field(default_factory=list)
    run: dict = dataclasses.field(default_factory=dict)  # the run identity
    out_dir: Path | None = None
    image: np.ndarray | None = None  # the training image, (H, W, 3)
    image_size: tuple[int, int] | None = None

    @classmethod
    def in_memory(cls, name: str, reals: list[torch.Tensor], sizes) -> Member:
        """A member without a model directory (for tests and benchmarks)."""
        return cls(name, reals, [tuple(s) for s in sizes])


def loaded(kind: type, config: SinGANConfig, channels: int, states: list[dict], device):
    """A ``kind`` network (grouped for several states) holding the weights of ``states``; built
    without initialising it, so that no random number is drawn."""
    with torch.device("meta"):
        net = kind(config, channels, images=len(states))
    net = net.to_empty(device=device)
    net.load_state_dict(states[0] if len(states) == 1 else merge_states(states))
    return net


def group_models(models: list[nn.Module], config: SinGANConfig, scale: int, device) -> nn.Module:
    """The grouped network of N single ones (the single network itself for N = 1)."""
    if len(models) == 1:
        return models[0]
    states = [m.state_dict() for m in models]
    return loaded(type(models[0]), config, config.channels(scale), states, device)


def frozen_generator(
    ckpts: list[ScaleCheckpoint], config: SinGANConfig, device, memory_format
) -> Generator:
    """The frozen (eval-mode) generator of one finished scale of N images, grouped for N > 1,
    in the step's layout (a resumed run must compute exactly what an uninterrupted one did)."""
    G = loaded(Generator, config, ckpts[0].channels, [c.generator for c in ckpts], device)
    return G.eval().requires_grad_(False).to(memory_format=memory_format)


def scale_setup(
    scale: int,
    members: list[Member],
    sizes: list[tuple[int, int]],
    config: SinGANConfig,
    step: Step,
    draws: BatchDraws,
    device: torch.device,
) -> tuple[Generator, Discriminator, ScaleInputs]:
    """G, D and the inputs of ``scale`` for a batch of images (each with its finished coarser
    scales), in the step's layout; the caller seeds first (``draws.start_scale``).

    Each image's networks start as its single run's would (fresh, or copied from its previous
    scale when widths match; fresh weights drawn from the image's part of ``draws``), then
    become one grouped network."""
    models = []
    for i, m in enumerate(members):
        with draws.image(i):
            models.append(make_models(config, scale, device, m.done[-1] if m.done else None))
    G = group_models([g for g, _ in models], config, scale, device)
    D = group_models([d for _, d in models], config, scale, device)
    one = len(members) == 1

    def side_by_side(tensors: list[torch.Tensor]) -> torch.Tensor:
        return tensors[0] if one else torch.cat(tensors, dim=1)

    reals = [side_by_side([m.reals[k] for m in members]) for k in range(len(sizes))]
    coarser = [
        frozen_generator([m.done[k] for m in members], config, device, step.memory_format)
        for k in range(scale)
    ]
    amps = [amplitude([m.done[k].noise_amp for m in members], reals[k]) for k in range(scale)]
    z_opts = [side_by_side([m.done[k].z_opt for m in members]) for k in range(scale)]
    inputs = prepare_scale(scale, reals, sizes, coarser, amps, z_opts, config, draws)
    step.prepare(G, D, inputs)
    return G, D, inputs


def scale_checkpoints(
    scale: int,
    members: list[Member],
    G: Generator,
    D: Discriminator,
    inputs: ScaleInputs,
    stats: list[dict],
    config: SinGANConfig,
) -> list[ScaleCheckpoint]:
    """Each image's checkpoint of a trained scale (its part of the grouped networks)."""
    n = len(members)
    gens, crits = split_state(G.state_dict(), n), split_state(D.state_dict(), n)
    return [
        ScaleCheckpoint(
            scale=scale,
            size=list(inputs.real.shape[-2:]),
            channels=config.channels(scale),
            noise_amp=inputs.amps[i],
            z_opt=image_slice(inputs.z_opt, i).detach().clone().contiguous(),
            generator=gens[i],
            critic=crits[i],
            stats=stats[i],
            run=m.run,
        )
        for i, m in enumerate(members)
    ]


def fit_scale(
    scale: int,
    members: list[Member],
    sizes: list[tuple[int, int]],
    config: SinGANConfig,
    step: Step,
    draws: BatchDraws,
    progress: bool,
) -> list[ScaleCheckpoint]:
    """Train scale ``scale`` of a batch of images on top of their finished coarser scales;
    returns each image's checkpoint. Seeds the scale (``draws.start_scale``) first."""
    device = members[0].reals[scale].device
    draws.start_scale(scale)
    G, D, inputs = scale_setup(scale, members, sizes, config, step, draws, device)
    h, w = sizes[scale]
    desc = f"scale {scale}/{len(sizes) - 1} {h}x{w}"
    if len(members) > 1:
        desc += f" x{len(members)} images"
    names = [m.name for m in members]
    stats = train_scale(G, D, inputs, config, progress=progress, desc=desc, step=step, names=names)
    for m, amp, st in zip(members, inputs.amps, stats, strict=True):
        log.info(
            "%s%s: ch %d, noise_amp %.4g, errD %.4g, errG %.4g, rec %.4g, %.1f s",
            "" if len(members) == 1 else f"{m.name} ", desc, config.channels(scale), amp,
            st["err_d"], st["err_g"], st["rec_loss"], st["seconds"],
        )  # fmt: skip
    return scale_checkpoints(scale, members, G, D, inputs, stats, config)


def train(
    image_path: str | os.PathLike,
    out_dir: str | os.PathLike,
    config: SinGANConfig | dict | str | os.PathLike | None = None,
    device: str | torch.device = "auto",
    seed: int = 0,
    threads: int | None = None,
    progress: bool = True,
    precision: str = "fp32",
    compile: bool = False,
    reference_step: bool = False,
    branch_max_channels: int = BRANCH_MAX_CHANNELS,
    replace_other_run: bool = False,
    tf32: bool = False,
) -> Path:
    """Train a SinGAN pyramid on one (sharp) image and write it to ``out_dir``.

    :func:`train_batch` with one image. Finished scales already in ``out_dir`` from the same
    run (config, seed, image) are kept and training continues with the first unfinished one;
    ``model.json`` is written last.

    Parameters
    ----------
    image_path : path
        The training image (grayscale is replicated to RGB, alpha dropped).
    out_dir : path
        Model directory (see :mod:`deblur.singan.checkpoint`).
    config : SinGANConfig, dict, YAML path or None
        Settings; omitted keys take the reference defaults (:func:`load_config`).
    device : {"auto", "cpu", "cuda"}
    seed : int
        Seeds everything. On CPU the same seed gives bit-identical weights (and a resumed run
        the weights of an uninterrupted one) with the same ``threads``, torch version and CPU
        instruction-set class (oneDNN's AVX2 and AVX-512 kernels round differently, and
        training grows the difference into another pyramid; ``model.json`` records them); on
        CUDA it gives the same random numbers but not bit-identical weights (cuDNN's backward
        passes sum with atomics in varying order, and ``cudnn.benchmark`` may pick other
        algorithms in another process).
    threads : int, optional
        ``torch.set_num_threads``.
    progress : bool
        Show a tqdm bar per scale (a log line per scale is written either way).
    precision : {"fp32", "bf16"}
        "bf16" runs the iterations under autocast (about 2x faster on CPUs with AVX512-BF16
        or AMX and on GPUs, several times slower on AVX2-only CPUs, where a warning is
        logged; see docs/speed.md, "Training speed", for its effect on results). Part of the
        run's identity: a directory trained with one precision is never resumed with the other.
    compile : bool
        Pass the critic loss through ``torch.compile`` (meant for CUDA; slower on CPU),
        compiled anew for each scale with that scale's static shapes.
    reference_step : bool
        Train with the straightforward :class:`~deblur.singan.step.ReferenceStep` instead of
        the optimized :class:`~deblur.singan.fast.FastStep` (same math; for checks and
        benchmarks).
    branch_max_channels : int
        On CPU with 2+ threads, scales of at most this many channels run each step as two
        concurrent halves on half of the threads each (faster on narrow scales; 0 = never;
        see :class:`~deblur.singan.fast.FastStep`).
    replace_other_run : bool
        If ``out_dir`` holds a pyramid of another run (config, seed, image or precision), move
        it to ``<out_dir>.replaced-<UTC time>`` and train anew instead of refusing
        (:func:`~deblur.singan.rundir.set_aside_other_run`; the workflow's choice, since it
        reruns a training job exactly when its image or settings changed).
    tf32 : bool
        On CUDA, let float32 convolutions and matrix products use TF32 tensor cores (faster
        on Ampere and later, about 10 mantissa bits instead of 23); recorded in
        ``model.json``. No effect on CPU. Default False: "fp32" means float32.

    Returns
    -------
    Path of the model directory.

    Raises
    ------
    DeblurError
        Unreadable or too small image, bad config, an unwritable ``out_dir``, a directory
        from a different run or held by another trainer (:func:`model_dir_lock`), or a
        non-finite loss.
    """
    (out,) = train_batch(
        [image_path], [out_dir], config, device=device, seed=seed, threads=threads,
        progress=progress, precision=precision, compile=compile, reference_step=reference_step,
        branch_max_channels=branch_max_channels, replace_other_run=replace_other_run, tf32=tf32,
    )  # fmt: skip
    return out


def train_batch(
    image_paths: Sequence[str | os.PathLike],
    out_dirs: Sequence[str | os.PathLike],
    config: SinGANConfig | dict | str | os.PathLike | None = None,
    device: str | torch.device = "auto",
    seed: int = 0,
    threads: int | None = None,
    progress: bool = True,
    precision: str = "fp32",
    compile: bool = False,
    reference_step: bool = False,
    branch_max_channels: int = BRANCH_MAX_CHANNELS,
    replace_other_run: bool = False,
    tf32: bool = False,
    separate_streams: bool = False,
) -> list[Path]:
    """Train SinGAN pyramids on N images of the same size at once, as one grouped model.

    Every image gets the files a single run writes into its own ``out_dirs[i]``
    (``scale_NN.pt`` after each scale, ``train_log.tsv``, ``model.json`` last, which also
    records the batch: its size, this image's place in it and the members), so deblurring and
    evaluation read them as they read any pyramid. Images whose directory already holds a
    finished model of this run are not retrained; the others resume at their first
    unfinished scale, each scale trained by the members that lack it. Options as
    :func:`train`, for every image.

    Why a batch computes N single trainings (the grouped model is block-diagonal):

    - Each image is one sample (batch size 1), and BatchNorm's statistics are per channel.
      A convolution with ``groups=N`` over the N images' channels side by side, followed by
      BatchNorm over ``N x C`` channels, is therefore N separate convolutions, each followed
      by the BatchNorm of its own image: image i's activations depend only on image i's
      weights and inputs, in training and in eval mode (running statistics are per channel).
    - The loss is the sum of the N per-image losses, each a mean over its own pixels: the
      critic's scores, the gradient penalty (the input gradient of the sum of scores is, on
      image i's channels, image i's own input gradient; the norm is over its 3 channels; a
      mixing weight per image), the reconstruction loss. The gradient of a sum with respect
      to image i's parameters is the gradient of image i's loss alone.
    - Adam is elementwise and the learning-rate schedule is the same for all, so each image's
      slice of the optimizer state and of the update is its single run's.
    - Noise amplitudes are per image (each from its own reconstruction error).

    Only the random numbers differ: a batch draws each kind of noise once for all images
    (:class:`~deblur.singan.draws.BatchDraws`), the same method as N single runs but not the
    same sample; ``separate_streams=True`` draws each image's numbers from its own stream
    instead (:class:`~deblur.singan.draws.SeparateStreams`, slower), which makes the batch
    reproduce N single runs with ``seed`` up to float rounding (on CPU).

    Raises
    ------
    DeblurError
        As :func:`train`, naming the image; also when the images' pyramids differ in size, the
        lists differ in length, or two images share a directory.
    """
    image_paths, out_dirs = [Path(p) for p in image_paths], [Path(p) for p in out_dirs]
    check_batch(image_paths, out_dirs)
    config = load_config(config)
    device = resolve_device(device)
    step = make_step(reference_step, precision, compile, branch_max_channels)
    warn_slow_bf16(device, precision)
    set_threads(threads)
    members, pyramid = [], None
    for image_path, out_dir in zip(image_paths, out_dirs, strict=True):
        check_output_dir(out_dir)
        image = read_rgb(image_path)
        height, width = image.shape[:2]
        sizes, factor = pyramid_sizes(height, width, config, name=str(image_path))
        if pyramid is not None and (sizes, factor) != pyramid[:2]:
            raise DeblurError(
                f"{image_path} gives a pyramid of other sizes ({sizes[-1][1]}x{sizes[-1][0]}) "
                f"than {pyramid[2]} ({pyramid[0][-1][1]}x{pyramid[0][-1][0]}); a batch trains "
                "images of one size: train them in separate batches"
            )
        pyramid = pyramid or (sizes, factor, image_path)
        run = run_identity(config, seed, image_path, step.precision)
        members.append(Member(str(image_path), [], sizes, [], run, out_dir, image, (height, width)))
    sizes, factor, _ = pyramid
    batch = dict(
        size=len(members), images=[m.name for m in members],
        models=[str(m.out_dir) for m in members],
    )  # fmt: skip

    # held until training ends; a second trainer on any of these directories is refused
    with contextlib.ExitStack() as held:
        for m in members:
            held.enter_context(open_model_dir(m.out_dir))
        todo = []
        for m in members:
            if replace_other_run and (moved := set_aside_other_run(m.out_dir, m.run)):
                log.warning(
                    "%s held a pyramid trained with %s; moved it to %s, training anew",
                    m.out_dir, moved[1], moved[0],
                )  # fmt: skip
            if is_finished(m.out_dir, m.run):
                log.info("%s is already trained with this config; nothing to do", m.out_dir)
                continue
            m.done = usable_scales(m.out_dir, m.run, sizes, device)
            if m.done:
                log.info("%s: resuming at scale %d of %d", m.out_dir, len(m.done), len(sizes))
            m.reals = build_pyramid(image_to_tensor(m.image, device), sizes)
            todo.append(m)

        with flush_denormals(device), cuda_settings(device, tf32):
            for scale in range(min((len(m.done) for m in todo), default=len(sizes)), len(sizes)):
                group = [m for m in todo if len(m.done) == scale]
                if separate_streams:
                    draws = SeparateStreams([seed] * len(group))
                else:
                    draws = BatchDraws(len(group), seed)
                ckpts = fit_scale(scale, group, sizes, config, step, draws, progress)
                for m, ckpt in zip(group, ckpts, strict=True):
                    save_scale(m.out_dir, ckpt)
                    m.done.append(ckpt)
                    write_train_log(m.out_dir, m.done)

        settings = {**step.settings(), **accelerator_info(device, tf32)}
        for m in todo:
            info = model_info(
                m.run, settings, device, Path(m.name), m.image_size, sizes, factor, m.done
            )
            info["batch"] = dict(batch, index=members.index(m))
            write_model_json(m.out_dir, info)
            log.info("%s: trained %d scales", m.out_dir, len(sizes))
        return [m.out_dir for m in members]


def check_batch(image_paths: list[Path], out_dirs: list[Path]) -> None:
    """One directory per image, none shared; DeblurError naming the problem otherwise."""
    if not image_paths or len(image_paths) != len(out_dirs):
        raise DeblurError(
            f"give one --out per --image (got {len(image_paths)} images and {len(out_dirs)} "
            "output directories), in the same order"
        )
    seen = set()
    for out in out_dirs:
        key = out.resolve()
        if key in seen:
            raise DeblurError(f"--out {out} is given twice; each image needs its own directory")
        seen.add(key)
