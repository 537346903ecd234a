"""The SelfDeblur optimisation: fit both generators so that their valid convolution reproduces
the blurry image, resuming from a checkpoint when one is there."""

from __future__ import annotations

import dataclasses
import hashlib
import io
import logging
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from deblur.atomic import write_bytes
from deblur.errors import DeblurError
from deblur.resize import resize_array
from deblur.selfdeblur.color import luminance, replace_luminance
from deblur.selfdeblur.config import SelfDeblurConfig, check_kernel_size, kernel_size_for
from deblur.selfdeblur.nets import ImageGenerator, KernelGenerator, blur
from deblur.selfdeblur.ssim import ssim
from deblur.sizes import capped_size

log = logging.getLogger(__name__)
LOG_BAR_INTERVAL_S = 30.0  # progress-bar updates when stderr is a file

CHECK_EVERY = 10  # iterations between reads of the loss (each read is a host-device sync)
CHECKPOINT_FORMAT = 1  # bump when the checkpoint's contents change


@dataclasses.dataclass
class SelfDeblurResult:
    """What one run produced.

    Attributes
    ----------
    image : ndarray
        Float32 (h, w, 3) deblurred image in [0, 1] at the working size.
    kernel : ndarray
        Float32 (k, k) estimated kernel, non-negative, summing to one. It is applied as a
        correlation (no flip), as in the reference.
    data_mse : ndarray
        MSE between the modelled and the observed blurry image at every iteration.
    info : dict
        Settings and facts of the run, flat and JSON-ready (see :func:`run_info`).
    """

    image: np.ndarray
    kernel: np.ndarray
    data_mse: np.ndarray
    info: dict


def prepare(blurry: np.ndarray, cfg: SelfDeblurConfig) -> tuple[np.ndarray, int]:
    """The blurry image at the working size and the kernel size; ValueError when too small."""
    h, w = capped_size(*blurry.shape[:2], cfg.max_size)
    work = resize_array(blurry, (h, w))
    k = kernel_size_for(h, w) if cfg.kernel_size is None else check_kernel_size(cfg.kernel_size)
    need = cfg.min_padded_size()
    if min(h, w) + k - 1 < need:
        raise ValueError(
            f"image too small: {w}x{h} at max_size {cfg.max_size} with kernel {k} gives a "
            f"{min(h, w) + k - 1} px side, {cfg.levels} levels need {need}; use a larger "
            "image, max_size or kernel_size"
        )
    return work, k


def learning_rate(base: float, step: int, cfg: SelfDeblurConfig) -> float:
    """``base`` times ``gamma`` per milestone reached by ``step`` (MultiStepLR stepped to it)."""
    return base * cfg.gamma ** sum(step >= m for m in cfg.milestones)


def array_digest(a: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(a, dtype=np.float32).tobytes()).hexdigest()


class Run:
    """The state of one optimisation: networks, fixed inputs, optimiser and noise generator."""

    def __init__(self, target: torch.Tensor, k: int, cfg: SelfDeblurConfig, device) -> None:
        self.cfg, self.k, self.device = cfg, k, device
        torch.manual_seed(cfg.seed)  # network initialisation
        channels, h, w = target.shape[1:]
        self.image_net = ImageGenerator(cfg, channels).to(device)
        self.kernel_net = KernelGenerator(cfg, k).to(device)
        # inputs and perturbations come from their own CPU generator: the same on any device
        self.noise = torch.Generator().manual_seed(cfg.seed)
        shape = (1, cfg.input_depth, h + k - 1, w + k - 1)
        self.z_image = torch.rand(shape, generator=self.noise) * cfg.input_scale
        z_kernel = torch.rand(cfg.kernel_input_dim, generator=self.noise) * cfg.input_scale
        self.z_kernel = z_kernel.to(device)
        self.optimizer = torch.optim.Adam(
            [
                {"params": self.image_net.parameters(), "lr": cfg.lr_image},
                {"params": self.kernel_net.parameters(), "lr": cfg.lr_kernel},
            ]
        )
        self.step = 0
        self.data_mse = torch.zeros(cfg.iterations, device=device)
        self.seconds = 0.0  # optimisation time of earlier processes (a resumed run)

    def state(self, key: dict, seconds: float) -> dict:
        """What a checkpoint holds; ``seconds``: the optimisation time so far, every process."""
        return dict(
            format=CHECKPOINT_FORMAT, key=key, step=self.step, seconds=seconds,
            image_net=self.image_net.state_dict(), kernel_net=self.kernel_net.state_dict(),
            optimizer=self.optimizer.state_dict(), noise=self.noise.get_state(),
            z_image=self.z_image, z_kernel=self.z_kernel.cpu(), data_mse=self.data_mse.cpu(),
        )  # fmt: skip

    def load(self, state: dict) -> None:
        self.step = state["step"]
        self.image_net.load_state_dict(state["image_net"])
        self.kernel_net.load_state_dict(state["kernel_net"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.noise.set_state(state["noise"])
        self.z_image = state["z_image"]
        self.z_kernel = state["z_kernel"].to(self.device)
        self.data_mse = state["data_mse"].to(self.device)
        self.seconds = float(state.get("seconds", 0.0))  # absent from older checkpoints

    def iterate(self, target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """One Adam step of both networks; returns (loss, image, kernel) before the update."""
        cfg, it = self.cfg, self.step
        bases = (cfg.lr_image, cfg.lr_kernel)
        for group, base in zip(self.optimizer.param_groups, bases, strict=True):
            group["lr"] = learning_rate(base, it, cfg)
        jitter = torch.randn(self.z_image.shape, generator=self.noise) * cfg.reg_noise_std
        z = (self.z_image + jitter).to(self.device)
        self.optimizer.zero_grad(set_to_none=True)
        image = self.image_net(z)
        kernel = self.kernel_net(self.z_kernel)
        modelled = blur(image, kernel)
        mse = F.mse_loss(modelled, target)
        if it < cfg.mse_iterations:
            loss = mse
        else:
            loss = 1 - ssim(modelled, target, cfg.ssim_window, cfg.ssim_sigma)
        loss.backward()
        self.optimizer.step()
        self.data_mse[it] = mse.detach()
        self.step += 1
        return loss.detach(), image.detach(), kernel.detach()


def load_checkpoint(path: Path, key: dict) -> dict | None:
    """The checkpoint at ``path`` if it belongs to this run (same settings and input)."""
    if not path.is_file():
        return None
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # a torn or foreign file: start afresh rather than fail
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        log.warning("ignoring unreadable checkpoint %s (%s); starting afresh", path, reason)
        return None
    if not isinstance(state, dict):
        log.warning("ignoring checkpoint %s: it holds a %s, not a SelfDeblur checkpoint; "
                    "starting afresh", path, type(state).__name__)  # fmt: skip
        return None
    if state.get("format") != CHECKPOINT_FORMAT or state.get("key") != key:
        log.warning("checkpoint %s is of other settings or another image; starting afresh", path)
        return None
    return state


def remove_stale_temporaries(path: Path) -> list[Path]:
    """Delete the partial checkpoint files (``.<name>.tmp.*``) a process killed while saving
    left beside ``path``; returns them."""
    stale = sorted(path.parent.glob(f".{path.name}.tmp.*"))
    for tmp in stale:
        tmp.unlink(missing_ok=True)
        log.info("removed %s, a partial checkpoint of a killed run", tmp)
    return stale


def save_checkpoint(path: Path, state: dict) -> None:
    """Write ``state`` to ``path`` atomically, serialized in memory first (so that a full disk
    is an OS error naming the file, not torch's "unexpected pos")."""
    buffer = io.BytesIO()
    torch.save(state, buffer)
    write_bytes(path, buffer.getvalue())


def selfdeblur(
    blurry: np.ndarray,
    cfg: SelfDeblurConfig,
    device: torch.device | str = "cpu",
    checkpoint: str | Path | None = None,
    progress: bool = True,
    on_step: Callable[[int], None] | None = None,
) -> SelfDeblurResult:
    """Blind-deblur ``blurry`` with SelfDeblur.

    Parameters
    ----------
    blurry : ndarray
        Float (H, W, 3) image in [0, 1]; downscaled to ``cfg.max_size`` first.
    cfg : SelfDeblurConfig
        All settings.
    device : torch.device or str
        Where the networks run.
    checkpoint : path, optional
        Saved every ``cfg.checkpoint_every`` iterations; a run with the same settings and
        image resumes from it. Left in place when the run finishes: the caller deletes it
        once the result is safely written (the ``selfdeblur`` command does). Partial
        checkpoint files of a run killed while saving are removed first.
    progress : bool
        Show a tqdm bar on stderr.
    on_step : callable, optional
        Called with the number of finished iterations after each one (tests interrupt here).

    Raises
    ------
    ValueError
        The image is too small for the network (or a setting is invalid).
    DeblurError
        The loss became non-finite.
    """
    device = torch.device(device)
    work, k = prepare(blurry, cfg)
    plane = luminance(work)[None] if cfg.luminance else work.transpose(2, 0, 1)
    target = torch.from_numpy(np.ascontiguousarray(plane, dtype=np.float32))[None].to(device)
    run = Run(target, k, cfg, device)
    key = dict(settings=repr(cfg.params()), kernel_size=k, input=array_digest(work))
    path = None if checkpoint is None else Path(checkpoint)
    if path is not None:
        remove_stale_temporaries(path)
    state = None if path is None else load_checkpoint(path, key)
    if state is not None:
        run.load(state)
        log.info("resuming from %s at iteration %d", path, run.step)
    run.image_net.train()  # batch statistics throughout, as the reference
    run.kernel_net.train()
    bad = torch.zeros((), dtype=torch.bool, device=device)
    resumed_at, start = run.step, time.perf_counter()
    # into a job's log file (no terminal) a line every 30 s, not one per iteration
    bar = tqdm(
        total=cfg.iterations, initial=run.step, desc="selfdeblur", disable=not progress,
        file=sys.stderr, dynamic_ncols=True,
        mininterval=0.1 if sys.stderr.isatty() else LOG_BAR_INTERVAL_S,
    )  # fmt: skip
    # checkpoints stop before the last iteration, so the loop always runs and sets these
    while run.step < cfg.iterations:
        loss, image, kernel = run.iterate(target)
        bad |= ~torch.isfinite(loss)
        done = run.step
        bar.update()
        checkpoint_due = path is not None and done % cfg.checkpoint_every == 0
        if done % CHECK_EVERY == 0 or done == cfg.iterations or checkpoint_due:
            if bool(bad):
                bar.close()
                raise DeblurError(
                    f"selfdeblur: the loss became non-finite by iteration {done}; lower "
                    f"lr_image ({cfg.lr_image}) or check the input image"
                )
            bar.set_postfix(loss=f"{loss.item():.4f}", refresh=False)
        if checkpoint_due and done < cfg.iterations:
            save_checkpoint(path, run.state(key, run.seconds + time.perf_counter() - start))
        if on_step is not None:
            on_step(done)
    bar.close()
    seconds = run.seconds + time.perf_counter() - start  # every process's, as training's
    out_plane = crop_padding(image, k)[0].cpu().numpy()
    if cfg.luminance:
        out = replace_luminance(work, out_plane[0])
    else:
        out = np.ascontiguousarray(out_plane.transpose(1, 2, 0), dtype=np.float32)
    data_mse = run.data_mse.cpu().numpy()
    info = run_info(cfg, k, work.shape[:2], data_mse, float(loss), seconds, resumed_at)
    return SelfDeblurResult(out, kernel[0, 0].cpu().numpy(), data_mse, info)


def crop_padding(image: torch.Tensor, k: int) -> torch.Tensor:
    """The centre of the generated (padded) image that the blurry image covers."""
    pad = (k - 1) // 2
    return image[:, :, pad : image.shape[2] - pad, pad : image.shape[3] - pad]


def run_info(cfg, k, hw, data_mse, final_loss, seconds, resumed_at) -> dict:
    """Flat provenance of a run: every setting as ``selfdeblur_<name>`` plus what it found.

    ``seconds`` is the optimisation time of every process that ran an iteration (a run
    resumed from a checkpoint included); ``resumed_at`` the iteration this process resumed at
    (0: not resumed), recorded as ``selfdeblur_resumed_at``.
    """
    info = {f"selfdeblur_{name}": value for name, value in cfg.params().items()}
    info.update(
        selfdeblur_kernel_size=k,  # the size used (the setting may be None = automatic)
        selfdeblur_work_height=int(hw[0]),
        selfdeblur_work_width=int(hw[1]),
        selfdeblur_data_mse_first=float(data_mse[0]),
        selfdeblur_data_mse_last=float(data_mse[-1]),
        selfdeblur_final_loss=final_loss,
        selfdeblur_seconds=seconds,
        selfdeblur_seconds_per_iter=seconds / max(cfg.iterations, 1),
        selfdeblur_resumed_at=int(resumed_at),
    )
    return info
