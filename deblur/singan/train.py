"""Training a SinGAN pyramid on one image, scale by scale (reference ``SinGAN/training.py``).

Read top to bottom: :func:`train` reads the image, builds the pyramid and trains every scale
that is not finished yet (so re-running it after a kill resumes); :func:`train_scale` runs
``niter`` iterations of :func:`train_step`, the one function holding the per-iteration math
(WGAN-GP critic steps, then generator steps with the reconstruction loss).
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import logging
import os
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import torch
import torch.nn.functional as F
from tqdm import tqdm

import deblur
from deblur.atomic import check_output_dir, output_error
from deblur.data.imageio import read_rgb
from deblur.errors import DeblurError
from deblur.singan.checkpoint import (
    MODEL_JSON,
    TRAIN_LOG,
    ScaleCheckpoint,
    build_generator,
    file_sha256,
    finished_scales,
    read_model_json,
    run_mismatch,
    save_scale,
    write_model_json,
    write_train_log,
)
from deblur.singan.config import SinGANConfig, load_config
from deblur.singan.device import (
    check_precision,
    flush_denormals,
    resolve_device,
    set_threads,
    warn_slow_bf16,
)
from deblur.singan.fast import BRANCH_MAX_CHANNELS, FastStep, to_channels_last
from deblur.singan.generate import CoarseChain, draw_noise, draw_prev
from deblur.singan.models import Discriminator, Generator
from deblur.singan.pyramid import build_pyramid, image_to_tensor, pyramid_sizes

log = logging.getLogger(__name__)


@dataclasses.dataclass
class ScaleInputs:
    """What one scale's iterations use besides its networks and optimizers."""

    scale: int
    real: torch.Tensor  # (1, 3, h, w) in [-1, 1]
    prev_rec: torch.Tensor  # upsampled reconstruction from the coarser scales (zeros at 0)
    z_opt: torch.Tensor  # reconstruction noise: fixed random at scale 0, zeros above
    noise_amp: float  # 1 at scale 0, else noise_amp * RMSE(real, prev_rec)
    draw_prev: Callable[[], torch.Tensor]  # a fresh "rand" previous image
    coarser: CoarseChain | None = None  # the same split in noise and generators (batchable)


def scale_seed(seed: int, scale: int) -> int:
    """RNG seed of one scale: each scale is reproducible on its own, so resuming is exact."""
    return seed * 1000 + scale


def prepare_scale(
    scale: int,
    reals: list[torch.Tensor],
    sizes: list[tuple[int, int]],
    coarser: list[Generator],
    noise_amps: list[float],
    z_opts: list[torch.Tensor],
    config: SinGANConfig,
) -> ScaleInputs:
    """Reconstruction input, noise amplitude and z_opt of ``scale``, from the coarser scales."""
    real = reals[scale]
    if scale == 0:
        zeros = torch.zeros_like(real)
        z_opt = draw_noise(sizes[0], coarsest=True, device=real.device).contiguous()
        return ScaleInputs(scale, real, zeros, z_opt, 1.0, draw_prev=lambda: zeros)
    prev_rec = draw_prev(coarser, noise_amps, sizes, "rec", z_opts)
    noise_amp = config.noise_amp * torch.sqrt(F.mse_loss(prev_rec, real)).item()

    chain = CoarseChain(list(coarser), list(noise_amps[:scale]), list(sizes))

    def rand_prev() -> torch.Tensor:
        return chain.run([chain.draw_noise(real.device)])

    return ScaleInputs(scale, real, prev_rec, torch.zeros_like(real), noise_amp, rand_prev, chain)


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


def gradient_penalty(
    D: Discriminator, real: torch.Tensor, fake: torch.Tensor, weight: float
) -> torch.Tensor:
    """WGAN-GP with one mixing weight per image and the gradient norm over channels per pixel."""
    a = torch.rand(1, 1, 1, 1, device=real.device)
    x = (a * real + (1 - a) * fake).requires_grad_(True)
    (grad,) = torch.autograd.grad(D(x).sum(), x, create_graph=True)
    return weight * ((grad.norm(2, dim=1) - 1) ** 2).mean()


def train_step(
    G: Generator,
    D: Discriminator,
    opt_g: torch.optim.Optimizer,
    opt_d: torch.optim.Optimizer,
    inputs: ScaleInputs,
    config: SinGANConfig,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """One training iteration; returns the last (err_d, err_g, rec_loss), detached.

    As in the reference: one noise map per iteration; ``d_steps`` critic updates, each with a
    fresh "rand" image from the coarser scales; then ``g_steps`` generator updates on the last
    of those. The fake is regenerated in every G step (the reference reuses a stale graph,
    which crashes on torch >= 1.5; detaching it instead would silently drop G's adversarial
    gradient).
    """
    real = inputs.real
    noise = inputs.noise_amp * draw_noise(real.shape[-2:], inputs.scale == 0, real.device)

    for _ in range(config.d_steps):
        prev = inputs.draw_prev()
        with torch.no_grad():  # D's loss does not reach G
            fake = G(noise, prev)
        opt_d.zero_grad(set_to_none=True)
        gp = gradient_penalty(D, real, fake, config.lambda_grad)
        err_d = -D(real).mean() + D(fake).mean() + gp
        err_d.backward()
        opt_d.step()

    rec_input = inputs.noise_amp * inputs.z_opt
    for _ in range(config.g_steps):
        opt_g.zero_grad(set_to_none=True)
        err_g = -D(G(noise, prev)).mean()
        rec_loss = torch.zeros((), device=real.device)
        if config.alpha > 0:
            rec_loss = config.alpha * F.mse_loss(G(rec_input, inputs.prev_rec), real)
        (err_g + rec_loss).backward()
        opt_g.step()

    return err_d.detach(), err_g.detach(), rec_loss.detach()


def train_scale(
    G: Generator,
    D: Discriminator,
    inputs: ScaleInputs,
    config: SinGANConfig,
    progress: bool = True,
    desc: str = "",
    step: Callable = train_step,
) -> dict:
    """Train one scale for ``config.niter`` iterations of ``step``; returns its train_log stats.

    ``step`` is :func:`train_step` or the optimized :class:`~deblur.singan.fast.FastStep` (which
    also carries the precision). Losses stay on the device: they are read (one host-device
    sync) every ``LOG_EVERY`` iterations and at the end.

    Raises DeblurError naming the scale and first iteration whose loss was NaN or infinite.
    """
    opt_g, opt_d, schedulers = make_optimizers(G, D, config, fused=step is not train_step)
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
        logged; see the README for its effect on results). Part of the run's identity: a
        directory trained with one precision is never resumed with the other.
    compile : bool
        Pass the critic loss through ``torch.compile`` (meant for CUDA; slower on CPU).
    reference_step : bool
        Train with the straightforward :func:`train_step` instead of the optimized
        :class:`~deblur.singan.fast.FastStep` (same math; for checks and benchmarks).
    branch_max_channels : int
        On CPU with 2+ threads, scales of at most this many channels run each step as two
        concurrent halves on half of the threads each (faster on narrow scales; 0 = never;
        see :class:`~deblur.singan.fast.FastStep`).

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
    check_precision(precision)
    if reference_step and precision != "fp32":
        raise DeblurError("the reference step runs in fp32 only; drop --reference-step for bf16")
    warn_slow_bf16(device, precision)
    set_threads(threads)
    image_path, out_dir = Path(image_path), Path(out_dir)
    check_output_dir(out_dir)
    image = read_rgb(image_path)
    height, width = image.shape[:2]
    sizes, factor = pyramid_sizes(height, width, config, name=str(image_path))
    run = dict(
        config=config.to_dict(),
        config_hash=config.config_hash(),
        seed=seed,
        image_sha256=file_sha256(image_path),
        precision=precision,
    )
    if branch_max_channels < 0:
        raise DeblurError(f"--branch-max-channels must be >= 0, got {branch_max_channels}")
    step = train_step
    if not reference_step:
        step = FastStep(compile, precision, branch_max_channels)

    if out_dir.exists() and not out_dir.is_dir():
        raise DeblurError(f"--out {out_dir} is a file; give a directory for the model")
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise output_error(out_dir, exc) from None
    # held until training ends; a second trainer on this directory is refused
    with model_dir_lock(out_dir):
        for pattern in (".scale_*.tmp.*", f".{TRAIN_LOG}.tmp.*", f".{MODEL_JSON}.tmp.*"):
            for stale in out_dir.glob(pattern):  # half-written by a killed run
                stale.unlink()
        if (out_dir / MODEL_JSON).is_file():
            problem = run_mismatch(read_model_json(out_dir), run)
            if problem:
                raise DeblurError(
                    f"{out_dir} already holds a finished model trained with {problem}; delete it "
                    f"or train into another --out directory"
                )
            log.info("%s is already trained with this config; nothing to do", out_dir)
            return out_dir
        done = finished_scales(out_dir, run, device)
        if done:
            log.info("%s: resuming at scale %d of %d", out_dir, len(done), len(sizes))

        reals = build_pyramid(image_to_tensor(image, device), sizes)
        # frozen coarser generators, in the layout the step runs in (a resumed run must compute
        # exactly what an uninterrupted one did)
        memory_format = torch.contiguous_format if reference_step else torch.channels_last

        def frozen(ckpt: ScaleCheckpoint) -> Generator:
            return build_generator(ckpt, config, device).to(memory_format=memory_format)

        generators = [frozen(c) for c in done]
        with flush_denormals(device):
            for scale in range(len(done), len(sizes)):
                torch.manual_seed(scale_seed(seed, scale))
                G, D = make_models(config, scale, device, done[-1] if done else None)
                inputs = prepare_scale(
                    scale, reals, sizes, generators,
                    [c.noise_amp for c in done], [c.z_opt for c in done], config,
                )  # fmt: skip
                if not reference_step:
                    to_channels_last(G, D, inputs)
                h, w = sizes[scale]
                desc = f"scale {scale}/{len(sizes) - 1} {h}x{w}"
                stats = train_scale(G, D, inputs, config, progress=progress, desc=desc, step=step)
                ckpt = ScaleCheckpoint(
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
                save_scale(out_dir, ckpt)
                done.append(ckpt)
                write_train_log(out_dir, done)
                generators.append(frozen(ckpt))
                log.info(
                    "%s: ch %d, noise_amp %.4g, errD %.4g, errG %.4g, rec %.4g, %.1f s",
                    desc, ckpt.channels, ckpt.noise_amp, stats["err_d"], stats["err_g"],
                    stats["rec_loss"], stats["seconds"],
                )  # fmt: skip

        write_model_json(
            out_dir,
            dict(
                config=run["config"],
                config_hash=run["config_hash"],
                seed=seed,
                precision=precision,
                step="reference" if reference_step else "fast",
                compile=compile,
                branch_max_channels=branch_max_channels,
                device=str(device),
                threads=torch.get_num_threads(),
                flush_denormals=device.type == "cpu",
                torch_version=torch.__version__,
                package_version=deblur.__version__,
                train_seconds=sum(c.stats["seconds"] for c in done),
                image=str(image_path),
                image_sha256=run["image_sha256"],
                image_size=[height, width],
                sizes=[list(s) for s in sizes],
                scale_factor=factor,
                noise_amp=[c.noise_amp for c in done],
                channels=[c.channels for c in done],
                num_scales=len(sizes),
            ),
        )
        log.info("%s: trained %d scales", out_dir, len(sizes))
        return out_dir


LOCK_FILE = ".lock"


@contextlib.contextmanager
def model_dir_lock(out_dir: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``out_dir/.lock`` for the block, so one trainer writes a model.

    ``flock`` locks die with their process, so a lock file left by a killed run never blocks
    (the file itself stays; it is empty and harmless).

    Raises
    ------
    DeblurError
        If another process (or another open of the file) holds the lock, or the lock file
        cannot be created.
    """
    path = out_dir / LOCK_FILE
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    except OSError as exc:
        raise output_error(path, exc) from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise DeblurError(
                f"{out_dir} is being written by another trainer (it holds {path}); wait for it "
                "to finish, or stop it, or train into another --out directory"
            ) from None
        yield
    finally:
        os.close(fd)  # releases the lock


def _detached(state: dict) -> dict:
    """A state dict that no longer shares memory with the module."""
    return {k: v.detach().clone() for k, v in state.items()}
