"""What a model directory holds, and reading it back.

::

    DIR/scale_00.pt .. scale_NN.pt   one per finished scale (G, D, z_opt, noise amplitude, stats)
    DIR/train_log.tsv                one row per finished scale
    DIR/model.json                   written last: the only "finished" marker

Every file is written to a temporary name and renamed, so a killed run leaves either a whole
file or none. Each scale file records the run it belongs to (config, seed, image hash);
resuming into a directory written by a different run is refused.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import math
import os
import pickle
import re
from pathlib import Path

import torch

from deblur.atomic import write_bytes, write_text
from deblur.errors import DeblurError
from deblur.modelfile import MODEL_JSON, read_model_json
from deblur.singan.config import SinGANConfig, load_config
from deblur.singan.device import resolve_device
from deblur.singan.models import Generator

TRAIN_LOG = "train_log.tsv"
LOG_COLUMNS = (
    "scale", "height", "width", "channels", "noise_amp", "niter",
    "err_d", "err_g", "rec_loss", "seconds",
)  # fmt: skip


# the trainer's own scale file names, exactly (scale_00.pt .. scale_99.pt, scale_100.pt, ...)
SCALE_NAME = re.compile(r"scale_(0[0-9]|[1-9][0-9]+)\.pt")


def scale_path(model_dir: str | os.PathLike, scale: int) -> Path:
    """Checkpoint file of one scale."""
    return Path(model_dir) / f"scale_{scale:02d}.pt"


def scale_files(model_dir: str | os.PathLike) -> list[Path]:
    """The scale files in ``model_dir`` named exactly as the trainer names them (a user's
    ``scale_00_backup.pt`` or ``scale_notes.pt`` is not one), sorted by scale."""
    found = [p for p in Path(model_dir).glob("scale_*.pt") if SCALE_NAME.fullmatch(p.name)]
    return sorted(found, key=lambda p: int(p.stem.split("_")[1]))


def file_sha256(path: str | os.PathLike) -> str:
    """Hex SHA-256 of a file's bytes (identifies the training image of a run)."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


@dataclasses.dataclass
class ScaleCheckpoint:
    """One finished scale: its networks' weights and what the next scales need from it."""

    scale: int
    size: list[int]  # [h, w]
    channels: int
    noise_amp: float
    z_opt: torch.Tensor  # (1, 3, h, w) reconstruction noise, unpadded
    generator: dict  # state_dict
    critic: dict  # state_dict (the next scale starts from it when channels match)
    stats: dict  # final losses, seconds, niter: one train_log row
    run: dict  # config, config_hash, seed, image_sha256, precision


def named_tensors(obj: object, prefix: str = ""):
    """``(name, tensor)`` of every tensor in a nested checkpoint (dicts as ``.key``, lists and
    tuples as ``[i]``), for comparing two runs' files tensor by tensor."""
    if isinstance(obj, torch.Tensor):
        yield prefix, obj
    elif isinstance(obj, dict):
        for key, value in obj.items():
            yield from named_tensors(value, f"{prefix}.{key}")
    elif isinstance(obj, (list, tuple)):
        for i, value in enumerate(obj):
            yield from named_tensors(value, f"{prefix}[{i}]")


def save_scale(model_dir: str | os.PathLike, ckpt: ScaleCheckpoint) -> Path:
    """Write ``ckpt`` atomically to ``scale_NN.pt``."""
    path = scale_path(model_dir, ckpt.scale)
    write_bytes(path, torch_bytes(dataclasses.asdict(ckpt)))
    return path


def torch_bytes(obj: object) -> bytes:
    """``torch.save`` of ``obj`` into memory (written out by :func:`deblur.atomic.write_bytes`,
    so that a full disk is an OS error naming the file, not torch's "unexpected pos")."""
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    return buffer.getvalue()


def load_scale(path: Path, device: torch.device) -> ScaleCheckpoint:
    """Read one scale file (tensors mapped to ``device``), weights only: a file that holds
    other Python objects is refused, never run.

    Raises
    ------
    DeblurError
        One line naming the file and why it cannot be read; the fix it names (re-running
        ``train`` on the directory) retrains that scale.
    """
    try:
        data = torch.load(path, map_location=device, weights_only=True)
        return ScaleCheckpoint(**data)
    except Exception as exc:  # a foreign or damaged file: say which, in one line
        raise DeblurError(
            f"cannot read checkpoint {path}: {unreadable_reason(path, exc)}; re-run "
            f"`python -m deblur train --out {path.parent}` with the model's settings to "
            "retrain that scale"
        ) from None


def unreadable_reason(path: Path, exc: Exception) -> str:
    """Why ``torch.load`` failed on ``path``, in a few words on one line (without torch's
    advice to retry with ``weights_only=False``, which would run code in a crafted file)."""
    try:
        if path.stat().st_size == 0:
            return "the file is empty (0 bytes)"
    except OSError as err:
        return err.strerror or type(err).__name__
    if isinstance(exc, pickle.UnpicklingError):
        return "it holds Python objects besides weights, which are not loaded (for safety)"
    if isinstance(exc, TypeError):  # a weights-only file of another layout
        return "it is not a scale checkpoint of this package"
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return lines[0] if lines else type(exc).__name__


def run_mismatch(found: dict, wanted: dict) -> str | None:
    """Describe how a stored run differs from the wanted one, or None if it is the same."""
    problems = []
    if found.get("config_hash") != wanted["config_hash"]:
        old, new = found.get("config", {}), wanted["config"]
        keys = sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k))
        diff = ", ".join(f"{k} {old.get(k)!r} (now {new.get(k)!r})" for k in keys)
        problems.append(f"a different config ({diff or 'hash ' + str(found.get('config_hash'))})")
    if found.get("seed") != wanted["seed"]:
        problems.append(f"seed {found.get('seed')} (now {wanted['seed']})")
    if found.get("image_sha256") != wanted["image_sha256"]:
        problems.append("a different training image")
    old, new = found.get("precision", "fp32"), wanted.get("precision", "fp32")
    if old != new:
        problems.append(f"precision {old} (now {new})")
    return "; ".join(problems) or None


def write_train_log(model_dir: str | os.PathLike, ckpts: list[ScaleCheckpoint]) -> Path:
    """Rewrite ``train_log.tsv`` (one row per finished scale) atomically."""
    lines = ["\t".join(LOG_COLUMNS)]
    for c in ckpts:
        row = dict(
            scale=c.scale, height=c.size[0], width=c.size[1], channels=c.channels,
            noise_amp=c.noise_amp, **c.stats,
        )  # fmt: skip
        lines.append("\t".join(_fmt(row[k]) for k in LOG_COLUMNS))
    path = Path(model_dir) / TRAIN_LOG
    write_text(path, "\n".join(lines) + "\n")
    return path


def _fmt(value) -> str:
    return f"{value:.6g}" if isinstance(value, float) else str(value)


def write_model_json(model_dir: str | os.PathLike, meta: dict) -> Path:
    """Write the finished marker ``model.json`` atomically (call it last)."""
    path = Path(model_dir) / MODEL_JSON
    write_text(path, json.dumps(meta, indent=2) + "\n")
    return path


def scale_mismatch(ckpt: ScaleCheckpoint, scale: int, meta: dict) -> str | None:
    """How scale file ``scale`` disagrees with a finished model's ``model.json`` (another run,
    another place in the pyramid, another size or width), or None."""
    if ckpt.scale != scale:
        return f"it holds scale {ckpt.scale}"
    if list(ckpt.size) != list(meta["sizes"][scale]):
        return f"its size is {ckpt.size}, model.json says {meta['sizes'][scale]}"
    channels = meta.get("channels")
    if channels is not None and ckpt.channels != channels[scale]:
        return f"it has {ckpt.channels} channels, model.json says {channels[scale]}"
    wanted = dict(meta, image_sha256=meta.get("image_sha256", ckpt.run.get("image_sha256")))
    return run_mismatch(ckpt.run, wanted)


def non_finite_part(ckpt: ScaleCheckpoint) -> str | None:
    """The first of a scale's generator weights, reconstruction noise or noise amplitude that
    holds NaN or inf, or None."""
    if not math.isfinite(ckpt.noise_amp):
        return "noise_amp"
    if not torch.isfinite(ckpt.z_opt).all():
        return "z_opt"
    for name, value in ckpt.generator.items():
        if value.is_floating_point() and not torch.isfinite(value).all():
            return f"generator weight {name}"
    return None


@dataclasses.dataclass
class SinGANModel:
    """A trained pyramid ready to generate: frozen generators in eval mode, coarsest first."""

    generators: list[Generator]
    noise_amps: list[float]
    z_opts: list[torch.Tensor]
    sizes: list[tuple[int, int]]
    scale_factor: float
    config: SinGANConfig
    meta: dict  # the content of model.json
    device: torch.device

    @property
    def num_scales(self) -> int:
        return len(self.generators)


def build_generator(ckpt: ScaleCheckpoint, config: SinGANConfig, device) -> Generator:
    """A frozen eval-mode generator with the weights of ``ckpt``."""
    G = Generator(config, ckpt.channels).to(device)
    G.load_state_dict(ckpt.generator)
    return G.eval().requires_grad_(False)


def load_model(model_dir: str | os.PathLike, device: str | torch.device = "auto") -> SinGANModel:
    """Load a finished model directory (one with ``model.json``) onto ``device``.

    Raises
    ------
    DeblurError
        If ``model_dir`` is not a finished model or a scale file is missing or unreadable.
    """
    meta = read_model_json(model_dir)
    device = resolve_device(device)
    config = load_config(meta["config"], origin=str(Path(model_dir) / MODEL_JSON))
    retrain = (
        f"re-run `python -m deblur train --out {model_dir}` with the model's settings (it "
        "checks every scale and retrains what is missing or damaged)"
    )
    generators, amps, z_opts = [], [], []
    extra = scale_path(model_dir, meta["num_scales"])
    if extra.is_file():
        raise DeblurError(
            f"model {model_dir} does not match its {MODEL_JSON}: it records {meta['num_scales']} "
            f"scales but {extra.name} exists; {retrain}, or delete the directory and retrain"
        )
    for scale in range(meta["num_scales"]):
        path = scale_path(model_dir, scale)
        if not path.is_file():
            raise DeblurError(f"model {model_dir} is incomplete: {path.name} is missing; {retrain}")
        ckpt = load_scale(path, device)
        problem = scale_mismatch(ckpt, scale, meta)
        if problem:
            raise DeblurError(
                f"{path} does not belong to the model its {MODEL_JSON} describes: {problem}; "
                f"delete the directory and retrain, or restore the model's own files"
            )
        bad = non_finite_part(ckpt)
        if bad:
            raise DeblurError(
                f"{path} holds NaN or infinite values (in its {bad}); delete it and {retrain}"
            )
        generators.append(build_generator(ckpt, config, device))
        amps.append(float(ckpt.noise_amp))
        z_opts.append(ckpt.z_opt)
    return SinGANModel(
        generators=generators,
        noise_amps=amps,
        z_opts=z_opts,
        sizes=[tuple(s) for s in meta["sizes"]],
        scale_factor=float(meta["scale_factor"]),
        config=config,
        meta=meta,
        device=device,
    )
