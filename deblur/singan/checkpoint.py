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
import json
import os
from pathlib import Path

import torch

from deblur.atomic import atomic_path, write_text
from deblur.errors import DeblurError
from deblur.singan.config import SinGANConfig, load_config
from deblur.singan.device import resolve_device
from deblur.singan.models import Generator

MODEL_JSON = "model.json"
TRAIN_LOG = "train_log.tsv"
LOG_COLUMNS = (
    "scale", "height", "width", "channels", "noise_amp", "niter",
    "err_d", "err_g", "rec_loss", "seconds",
)  # fmt: skip


def scale_path(model_dir: str | os.PathLike, scale: int) -> Path:
    """Checkpoint file of one scale."""
    return Path(model_dir) / f"scale_{scale:02d}.pt"


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


def save_scale(model_dir: str | os.PathLike, ckpt: ScaleCheckpoint) -> Path:
    """Write ``ckpt`` atomically to ``scale_NN.pt``."""
    path = scale_path(model_dir, ckpt.scale)
    with atomic_path(path) as tmp:
        torch.save(dataclasses.asdict(ckpt), tmp)
    return path


def load_scale(path: Path, device: torch.device) -> ScaleCheckpoint:
    """Read one scale file (tensors mapped to ``device``)."""
    try:
        data = torch.load(path, map_location=device, weights_only=True)
        return ScaleCheckpoint(**data)
    except Exception as exc:  # a foreign or damaged file: say which
        raise DeblurError(
            f"cannot read checkpoint {path}: {exc}; delete it to retrain that scale"
        ) from None


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


def finished_scales(
    model_dir: str | os.PathLike, run: dict, device: torch.device
) -> list[ScaleCheckpoint]:
    """Scales already trained in ``model_dir`` by this same run (0, 1, ... without gaps).

    Raises DeblurError if a scale file was written by a different run.
    """
    done = []
    while (path := scale_path(model_dir, len(done))).is_file():
        ckpt = load_scale(path, device)
        problem = run_mismatch(ckpt.run, run)
        if problem:
            raise DeblurError(
                f"{path} was written with {problem}; refusing to resume. Delete {model_dir} "
                f"or train into another --out directory"
            )
        done.append(ckpt)
    return done


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


def read_model_json(model_dir: str | os.PathLike) -> dict:
    """The metadata of a finished model; DeblurError if ``model_dir`` is not one."""
    path = Path(model_dir) / MODEL_JSON
    if not path.is_file():
        raise DeblurError(
            f"{model_dir} is not a finished model (no {MODEL_JSON}); train it with "
            f"`python -m deblur train --out {model_dir} ...` (re-running resumes)"
        )
    try:
        return json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DeblurError(f"cannot parse {path}: {exc}; delete {model_dir} and retrain") from None


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
    config = load_config(meta["config"])
    generators, amps, z_opts = [], [], []
    for scale in range(meta["num_scales"]):
        path = scale_path(model_dir, scale)
        if not path.is_file():
            raise DeblurError(f"model {model_dir} is incomplete: {path.name} is missing; retrain")
        ckpt = load_scale(path, device)
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
