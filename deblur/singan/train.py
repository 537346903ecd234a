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

import logging
import os
import sys
import time
from pathlib import Path

import torch
from tqdm import tqdm

from deblur.atomic import check_output_dir
from deblur.data.imageio import read_rgb
from deblur.errors import DeblurError
from deblur.singan.checkpoint import (
    ScaleCheckpoint,
    build_generator,
    save_scale,
    write_model_json,
    write_train_log,
)
from deblur.singan.config import SinGANConfig, load_config
from deblur.singan.device import (
    flush_denormals,
    resolve_device,
    set_threads,
    warn_slow_bf16,
)
from deblur.singan.generate import draw_noise
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
from deblur.singan.scale_inputs import ScaleInputs, prepare_scale, scale_seed
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
) -> dict:
    """Train one scale for ``config.niter`` iterations of ``step``; returns its train_log stats.

    ``step`` is a :class:`~deblur.singan.step.Step` (default: the optimized one of
    :func:`~deblur.singan.step.make_step`); its ``fused_adam`` picks the optimizers. ``G``,
    ``D`` and ``inputs`` should already be in its layout (``step.prepare``). Losses stay on the
    device: they are read (one host-device sync) every ``LOG_EVERY`` iterations and at the end.

    Raises DeblurError naming the scale and first iteration whose loss was NaN or infinite.
    """
    step = make_step() if step is None else step
    opt_g, opt_d, schedulers = make_optimizers(G, D, config, fused=step.fused_adam)
    redraw_z_opt = inputs.scale == 0 and not config.fixed_z_opt
    device = inputs.real.device
    G.train()
    D.train()
    divergence = _Divergence(device)
    start = time.perf_counter()
    bar = tqdm(
        range(config.niter), desc=desc, disable=not progress, file=sys.stderr, dynamic_ncols=True
    )
    for it in bar:
        if redraw_z_opt:  # the reference code's behaviour at scale 0 (fixed_z_opt: false)
            inputs.z_opt = draw_noise(inputs.real.shape[-2:], True, device)
        losses = step(G, D, opt_g, opt_d, inputs, config)
        for scheduler in schedulers:
            scheduler.step()
        divergence.update(it, losses)
        if it % LOG_EVERY == 0 or it == config.niter - 1:
            divergence.check(inputs.scale, bar)
            err_d, err_g, rec = (v.item() for v in losses)
            bar.set_postfix(
                errD=f"{err_d:.3f}", errG=f"{err_g:.3f}", rec=f"{rec:.4f}", refresh=False
            )
    bar.close()
    seconds = time.perf_counter() - start
    return dict(niter=config.niter, err_d=err_d, err_g=err_g, rec_loss=rec, seconds=seconds)


LOG_EVERY = 10  # iterations between reads of the losses (a host-device sync on GPUs)


class _Divergence:
    """The first iteration with a non-finite loss, tracked on the device without syncing."""

    def __init__(self, device: torch.device):
        self.first = torch.full((), -1, dtype=torch.long, device=device)
        self.losses = torch.zeros(3, device=device)

    def update(self, it: int, losses) -> None:
        values = torch.stack([v.float() for v in losses])
        new = (self.first < 0) & ~torch.isfinite(values).all()
        self.first = torch.where(new, it, self.first)
        self.losses = torch.where(new, values, self.losses)

    def check(self, scale: int, bar) -> None:
        it = int(self.first.item())
        if it >= 0:
            bar.close()
            err_d, err_g, rec = self.losses.tolist()
            raise DeblurError(
                f"training diverged at scale {scale}, iteration {it}: errD={err_d:.4g} "
                f"errG={err_g:.4g} rec={rec:.4g}; lower lr_g/lr_d or check the image"
            )


def fit_scale(
    scale: int,
    reals: list[torch.Tensor],
    sizes: list[tuple[int, int]],
    done: list[ScaleCheckpoint],
    generators: list[Generator],
    config: SinGANConfig,
    step: Step,
    run: dict,
    progress: bool,
) -> ScaleCheckpoint:
    """Train scale ``scale`` on top of the finished coarser ones (``done``, their frozen
    ``generators``); returns its checkpoint. The caller seeds the RNG first."""
    device = reals[scale].device
    G, D = make_models(config, scale, device, done[-1] if done else None)
    inputs = prepare_scale(
        scale, reals, sizes, generators,
        [c.noise_amp for c in done], [c.z_opt for c in done], config,
    )  # fmt: skip
    step.prepare(G, D, inputs)
    h, w = sizes[scale]
    desc = f"scale {scale}/{len(sizes) - 1} {h}x{w}"
    stats = train_scale(G, D, inputs, config, progress=progress, desc=desc, step=step)
    log.info(
        "%s: ch %d, noise_amp %.4g, errD %.4g, errG %.4g, rec %.4g, %.1f s",
        desc, config.channels(scale), inputs.noise_amp, stats["err_d"], stats["err_g"],
        stats["rec_loss"], stats["seconds"],
    )  # fmt: skip
    return ScaleCheckpoint(
        scale=scale,
        size=[h, w],
        channels=config.channels(scale),
        noise_amp=inputs.noise_amp,
        z_opt=inputs.z_opt.detach().clone().contiguous(),
        generator=_detached(G.state_dict()),
        critic=_detached(D.state_dict()),
        stats=stats,
        run=run,
    )


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
) -> Path:
    """Train a SinGAN pyramid on one (sharp) image and write it to ``out_dir``.

    Finished scales already in ``out_dir`` from the same run (config, seed, image) are kept and
    training continues with the first unfinished one; ``model.json`` is written last.

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
        Seeds everything; on CPU the same seed gives bit-identical weights.
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
        Pass the critic loss through ``torch.compile`` (meant for CUDA; slower on CPU).
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
    config = load_config(config)
    device = resolve_device(device)
    step = make_step(reference_step, precision, compile, branch_max_channels)
    warn_slow_bf16(device, precision)
    set_threads(threads)
    image_path, out_dir = Path(image_path), Path(out_dir)
    check_output_dir(out_dir)
    image = read_rgb(image_path)
    height, width = image.shape[:2]
    sizes, factor = pyramid_sizes(height, width, config, name=str(image_path))
    run = run_identity(config, seed, image_path, step.precision)

    # held until training ends; a second trainer on this directory is refused
    with open_model_dir(out_dir):
        if replace_other_run and (moved := set_aside_other_run(out_dir, run)):
            log.warning(
                "%s held a pyramid trained with %s; moved it to %s, training anew",
                out_dir,
                moved[1],
                moved[0],
            )
        if is_finished(out_dir, run):
            log.info("%s is already trained with this config; nothing to do", out_dir)
            return out_dir
        done = usable_scales(out_dir, run, sizes, device)
        if done:
            log.info("%s: resuming at scale %d of %d", out_dir, len(done), len(sizes))

        reals = build_pyramid(image_to_tensor(image, device), sizes)

        # frozen coarser generators, in the layout the step runs in (a resumed run must compute
        # exactly what an uninterrupted one did)
        def frozen(ckpt: ScaleCheckpoint) -> Generator:
            return build_generator(ckpt, config, device).to(memory_format=step.memory_format)

        generators = [frozen(c) for c in done]
        with flush_denormals(device):
            for scale in range(len(done), len(sizes)):
                torch.manual_seed(scale_seed(seed, scale))
                ckpt = fit_scale(scale, reals, sizes, done, generators, config, step, run, progress)
                save_scale(out_dir, ckpt)
                done.append(ckpt)
                write_train_log(out_dir, done)
                generators.append(frozen(ckpt))

        write_model_json(
            out_dir,
            model_info(
                run, step.settings(), device, image_path, (height, width), sizes, factor, done
            ),
        )
        log.info("%s: trained %d scales", out_dir, len(sizes))
        return out_dir


def _detached(state: dict) -> dict:
    """A state dict that no longer shares memory with the module."""
    return {k: v.detach().clone() for k, v in state.items()}
