"""SinGAN training settings: one flat dataclass whose defaults are the reference's.

The same flat keys appear in the pipeline's ``config.yaml`` under ``singan:`` and in a
``--config FILE`` YAML for ``python -m deblur train``; omitted keys take these defaults
(tamarott/SinGAN ``config.py`` / ``training.py``).

=================  =======  ==============================================================
key                default  meaning
=================  =======  ==============================================================
niter              2000     training iterations per scale
max_size           250      longer side of the finest scale (the image is never upscaled)
min_size           25       shorter side of the coarsest scale
scale_factor       0.75     nominal pyramid factor; recomputed so the coarsest short side
                            is exactly ``min_size`` (a 1280x720 image gives about 0.781)
nfc                32       conv channels at scale 0 (coarsest)
nfc_double_every   4        channels double every this many scales ...
max_nfc            128      ... up to this many: min(nfc * 2**floor(s / 4), max_nfc)
num_layer          5        conv layers in G and D (head + body + tail)
ker_size           3        conv kernel size; inputs are zero-padded by
                            num_layer * (ker_size - 1) / 2 px (5) so outputs keep the size
leaky_slope        0.2      LeakyReLU negative slope
init_std           0.02     init: conv weights N(0, init_std), BatchNorm weights
                            N(1, init_std), biases 0
lr_g               5e-4     Adam learning rate of the generator
lr_d               5e-4     Adam learning rate of the critic
beta1              0.5      Adam beta1 (both optimizers)
beta2              0.999    Adam beta2 (both optimizers)
lr_milestone       0.8      the learning rates drop at this fraction of niter (1600 of 2000)
gamma              0.1      ... by this factor (MultiStepLR)
d_steps            3        critic steps per iteration
g_steps            3        generator steps per iteration (fake regenerated in each)
lambda_grad        0.1      WGAN-GP weight (per-pixel gradient norm over channels)
alpha              10.0     reconstruction loss weight
noise_amp          0.1      noise amplitude at scale s > 0 is noise_amp * RMSE(real_s,
                            upsampled reconstruction from scale s - 1); 1 at scale 0
fixed_z_opt        true     draw the scale-0 reconstruction noise z_opt once (the paper);
                            false redraws it every iteration as the reference *code* does
                            (the last draw is kept)
=================  =======  ==============================================================
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

from deblur.errors import DeblurError


@dataclasses.dataclass(frozen=True)
class SinGANConfig:
    """Training settings of one SinGAN pyramid (see the module docstring for each key)."""

    niter: int = 2000
    max_size: int = 250
    min_size: int = 25
    scale_factor: float = 0.75
    nfc: int = 32
    nfc_double_every: int = 4
    max_nfc: int = 128
    num_layer: int = 5
    ker_size: int = 3
    leaky_slope: float = 0.2
    init_std: float = 0.02
    lr_g: float = 5e-4
    lr_d: float = 5e-4
    beta1: float = 0.5
    beta2: float = 0.999
    lr_milestone: float = 0.8
    gamma: float = 0.1
    d_steps: int = 3
    g_steps: int = 3
    lambda_grad: float = 0.1
    alpha: float = 10.0
    noise_amp: float = 0.1
    fixed_z_opt: bool = True

    def __post_init__(self):
        for problem in self._problems():
            raise DeblurError(f"invalid singan settings: {problem}")

    # derived values, so that no code repeats the formulas
    @property
    def pad(self) -> int:
        """Zero padding (px) of G's input so that its output has the input's size."""
        return self.num_layer * (self.ker_size - 1) // 2

    @property
    def receptive_field(self) -> int:
        """Side of the critic's patch (11 px by default)."""
        return 1 + self.num_layer * (self.ker_size - 1)

    @property
    def milestone(self) -> int:
        """Iteration (0-based) from which the reduced learning rate applies."""
        return round(self.lr_milestone * self.niter)

    def channels(self, scale: int) -> int:
        """Conv channels of G and D at ``scale`` (0 = coarsest)."""
        return min(self.nfc * 2 ** (scale // self.nfc_double_every), self.max_nfc)

    def to_dict(self) -> dict:
        """All settings as a plain dict (JSON/YAML serializable)."""
        return dataclasses.asdict(self)

    def config_hash(self) -> str:
        """Short stable hash of every setting (all of them change what training produces)."""
        blob = json.dumps(self.to_dict(), sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()[:12]

    def _problems(self):
        # inf passes every range check below (and NaN fails them with a misleading message)
        infinite = [
            f"{f.name} must be a finite number, got {getattr(self, f.name)}"
            for f in dataclasses.fields(self)
            if f.type in (float, "float") and not math.isfinite(getattr(self, f.name))
        ]
        checks = [
            (self.niter >= 1, "niter must be >= 1"),
            (0.0 < self.scale_factor < 1.0, "scale_factor must be in (0, 1)"),
            (self.ker_size >= 1 and self.ker_size % 2 == 1, "ker_size must be odd and >= 1"),
            (self.num_layer >= 2, "num_layer must be >= 2 (head and tail)"),
            (
                self.min_size >= self.receptive_field,
                f"min_size must be >= the critic's receptive field ({self.receptive_field})",
            ),
            (self.max_size >= self.min_size, "max_size must be >= min_size"),
            (self.nfc >= 1 and self.max_nfc >= self.nfc, "need 1 <= nfc <= max_nfc"),
            (self.nfc_double_every >= 1, "nfc_double_every must be >= 1"),
            (self.lr_g > 0 and self.lr_d > 0, "lr_g and lr_d must be > 0"),
            (0 <= self.beta1 < 1 and 0 <= self.beta2 < 1, "beta1 and beta2 must be in [0, 1)"),
            (0.0 <= self.lr_milestone <= 1.0, "lr_milestone must be in [0, 1]"),
            (self.gamma > 0, "gamma must be > 0"),
            (self.d_steps >= 1 and self.g_steps >= 1, "d_steps and g_steps must be >= 1"),
            (self.lambda_grad >= 0, "lambda_grad must be >= 0"),
            (self.alpha >= 0, "alpha must be >= 0"),
            (self.noise_amp >= 0, "noise_amp must be >= 0"),
            (self.init_std > 0, "init_std must be > 0"),
            (self.leaky_slope >= 0, "leaky_slope must be >= 0"),
        ]
        return infinite + [message for ok, message in checks if not ok]


KEYS = tuple(f.name for f in dataclasses.fields(SinGANConfig))
_TYPES = {f.name: type(f.default) for f in dataclasses.fields(SinGANConfig)}


def _checked(key: str, value, origin: str):
    """``value`` converted to the type of ``key``, or a DeblurError naming the key."""
    expected = _TYPES[key]
    where = f"{origin}: singan.{key}"
    if expected is bool:
        if isinstance(value, bool):
            return value
        raise DeblurError(f"{where} must be true or false, got {value!r}")
    if isinstance(value, bool):
        raise DeblurError(f"{where} must be a number, got {value!r}")
    if expected is int:
        if isinstance(value, int):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        raise DeblurError(f"{where} must be an integer, got {value!r}")
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        try:
            float(value)
        except ValueError:
            pass
        else:  # PyYAML reads 5e-4 (no dot) as a string
            raise DeblurError(
                f"{where} must be a number, got the string {value!r}; write it with a dot "
                f"(e.g. 5.0e-4), which YAML reads as a number"
            )
    raise DeblurError(f"{where} must be a number, got {value!r}")


def load_config(
    source: SinGANConfig | Mapping | str | os.PathLike | None = None,
    origin: str | None = None,
) -> SinGANConfig:
    """Build a :class:`SinGANConfig`, filling omitted keys with the reference defaults.

    Parameters
    ----------
    source : SinGANConfig, mapping, path or None
        ``None`` gives the defaults. A mapping holds flat keys; if it has a ``singan`` mapping
        (a whole pipeline config), that section is used. A path names a YAML file holding
        either.
    origin : str, optional
        Where the settings come from, for error messages (default: the path, or "config").

    Raises
    ------
    DeblurError
        On an unreadable file, an unknown key, a value of the wrong type or out of range; the
        message names the key.
    """
    if isinstance(source, SinGANConfig):
        return source
    return load_layers([(origin, source)])


def load_layers(layers: Sequence[tuple[str | None, object]]) -> SinGANConfig:
    """One :class:`SinGANConfig` from layers of settings, each over the ones before it, built
    and checked once (``train``'s --config, --settings-json and --set).

    Parameters
    ----------
    layers : sequence of (origin, source)
        ``source`` as :func:`load_config` takes it (``None``: no settings); ``origin`` names it
        in error messages (``None``: the path, or "config"). A value is checked as the last
        layer that gives its key gives it, and an error names that layer; a check of several
        keys together names every layer that gave any key.

    Raises
    ------
    DeblurError
        As :func:`load_config`.
    """
    values, origins = {}, {}
    for origin, source in layers:
        if source is None:
            continue
        origin, settings = _settings_of(source, origin)
        values.update(settings)
        origins.update(dict.fromkeys(settings, origin))
    checked = {key: _checked(key, value, origins[key]) for key, value in values.items()}
    try:
        return SinGANConfig(**checked)
    except DeblurError as exc:
        where = " + ".join(dict.fromkeys(origins.values())) or "config"
        raise DeblurError(f"{where}: {exc}") from None


def _settings_of(source, origin: str | None) -> tuple[str, Mapping]:
    """(origin, flat settings) of one layer, its keys checked against :data:`KEYS`."""
    if isinstance(source, SinGANConfig):
        return origin or "config", source.to_dict()
    if isinstance(source, (str, os.PathLike)):
        origin = origin or str(source)
        source = _read_yaml(Path(source))
    origin = origin or "config"
    if not isinstance(source, Mapping):
        raise DeblurError(f"{origin}: expected a mapping of singan settings, got {source!r}")
    if isinstance(source.get("singan"), Mapping):
        source = source["singan"]
    unknown = sorted(set(source) - set(KEYS))
    if unknown:
        raise DeblurError(
            f"{origin}: unknown singan key(s) {', '.join(map(str, unknown))}; "
            f"known keys: {', '.join(KEYS)}"
        )
    return origin, source


def parse_overrides(items: list[str]) -> dict:
    """``["niter=20", "lr_g=5e-4"]`` (``--set KEY=VALUE``) -> a dict of YAML-parsed values.

    Unlike in a YAML file, a number written without a dot (``5e-4``) is read as a number.
    """
    import yaml

    values = {}
    for item in items:
        key, sep, text = item.partition("=")
        if not sep or not key.strip():
            raise DeblurError(f"--set {item!r}: expected KEY=VALUE, e.g. --set niter=500")
        try:
            value = yaml.safe_load(text)
        except yaml.YAMLError:
            value = text
        if isinstance(value, str):
            try:
                value = float(value)
            except ValueError:
                pass
        values[key.strip()] = value
    return values


def _read_yaml(path: Path):
    import yaml

    if not path.is_file():
        raise DeblurError(f"config file not found: {path}; check the --config path")
    try:
        data = yaml.safe_load(path.read_text())
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise DeblurError(f"cannot parse YAML config {path}: {exc}".replace("\n", " ")) from None
    return {} if data is None else data
