"""The methods of a run: the config's entries (and the ladder's) checked and frozen.

Every check here runs before any job does, with the command's own parser where a method is
run by one (``baseline --param``, ``selfdeblur --param``), so a bad entry stops the workflow at
parse time with the message that command would print.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType

from deblur.errors import DeblurError
from deblur.singan.config import SinGANConfig, load_config

SINGAN, SELFDEBLUR = "singan", "selfdeblur"


def freeze(value):
    """``value`` with every dict made a read-only mapping and every list a tuple."""
    if isinstance(value, Mapping):
        return MappingProxyType({k: freeze(v) for k, v in value.items()})
    if isinstance(value, (list, tuple)):
        return tuple(freeze(v) for v in value)
    return value


def thaw(value):
    """The plain dicts and lists of a :func:`freeze` d value (for JSON and for the commands)."""
    if isinstance(value, Mapping):
        return {k: thaw(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [thaw(v) for v in value]
    return value


@dataclass(frozen=True)
class Method:
    """One method of the run, as its config entry says, with its SinGAN settings resolved.

    Attributes
    ----------
    name, kind : str
        The entry's name (paths, tables) and kind (``singan``, ``selfdeblur`` or a baseline).
    reference, offset, steps, mode, inject_scale, noise, sr_factor, sr_step
        The entry's SinGAN deblurring settings (meaningful for ``singan`` methods only; the
        reading ``mode``: g0, inject, sr or sample).
    params : Mapping
        A baseline's or SelfDeblur's parameters, as written in the config.
    settings : Mapping
        The SinGAN settings it uses: the global ``singan`` section with the entry's own
        ``singan`` keys over it (a singan method's pyramids; a baseline's scoring size).
    singan : SinGANConfig
        ``settings`` checked and completed with the reference defaults.
    mem_mb : int or None
        Memory (MB) the entry asks for its deblurring jobs, over the estimate from the frame
        size or the section's fixed amount (None: no override).
    """

    name: str
    kind: str
    reference: str
    offset: int
    steps: int
    mode: str
    inject_scale: int | None
    noise: bool
    sr_factor: object
    sr_step: str
    params: Mapping
    settings: Mapping
    singan: SinGANConfig
    mem_mb: int | None = None

    @property
    def max_size(self) -> int:
        """Longer side of the model resolution this method is scored at."""
        return self.singan.max_size

    def deblur_args(self, max_output_pixels: int) -> list[str]:
        """The ``deblur`` command's options of a singan method (``max_output_pixels``: the
        sr reading's output limit, passed to sr methods only)."""
        import shlex

        args = [f"--steps {self.steps}", f"--mode {self.mode}"]
        if self.inject_scale is not None:
            args.append(f"--inject-scale {self.inject_scale}")
        if not self.noise:
            args.append("--no-noise")
        if self.mode == "sr":  # only here, so the other modes' commands are as before
            args.append(f"--sr-factor {shlex.quote(str(self.sr_factor))} --sr-step {self.sr_step}")
            args.append(f"--max-output-pixels {max_output_pixels}")
        return args


def model_key(singan: SinGANConfig, precision: str) -> str:
    """The directory key of pyramids trained with ``singan`` in arithmetic ``precision``: the
    settings' hash plus what a pyramid depends on besides them (fp32 and bf16 pyramids never
    share a directory; fp32 keeps the plain hash)."""
    return singan.config_hash() + ("" if precision == "fp32" else f"-{precision}")


def param_text(value) -> str:
    """A config value as the CLI's ``key=VALUE`` text (``none`` for null; strings as they are,
    since ``--config`` values arrive as strings)."""
    if value is None:
        return "none"
    return value if isinstance(value, str) else json.dumps(thaw(value))


def baseline_param_args(params: Mapping) -> list[str]:
    """``["key=VALUE", ...]`` of a baseline method's params (sorted by key)."""
    return [f"{k}={param_text(v)}" for k, v in sorted(params.items())]


def selfdeblur_params(method: Method) -> dict:
    """A selfdeblur method's params, typed, ``max_size`` defaulting to its scoring size (the
    evaluate rule's ``--max-size``), so it works at the resolution it is scored at."""
    from deblur.selfdeblur.params import check_params

    return {"max_size": method.max_size, **check_params(thaw(method.params))}


def selfdeblur_param_args(method: Method) -> list[str]:
    """``["key=VALUE", ...]`` of a selfdeblur method's resolved params (sorted by key)."""
    params = selfdeblur_params(method)
    return [f"{k}={json.dumps(thaw(v))}" for k, v in sorted(params.items())]


def build_methods(
    entries: Sequence[Mapping],
    singan: Mapping,
    load: Callable[[Mapping], SinGANConfig] = load_config,
) -> dict[str, Method]:
    """The checked :class:`Method` of every entry, by name, in the entries' order.

    Parameters
    ----------
    entries : sequence of mappings
        Validated ``methods`` entries (every schema default filled in).
    singan : mapping
        The global ``singan`` section; each entry's own ``singan`` keys go over it.
    load : callable
        Builds a SinGANConfig from settings (each distinct settings is loaded once).

    Raises
    ------
    DeblurError
        A name used twice, ``inject_scale`` 0, SinGAN settings or parameters the commands
        would refuse; the message names the method and the fix.
    """
    methods: dict[str, Method] = {}
    loaded: dict[str, SinGANConfig] = {}
    for e in entries:
        name = e["name"]
        if name in methods:
            raise DeblurError(
                f"methods: the name {name!r} is used twice; give each method its own name"
            )
        # checked here, not in the schema: its message would not say why
        if e["inject_scale"] == 0:
            raise DeblurError(
                f"methods: {name!r} has inject_scale 0, but the image enters at a scale from "
                f"the one below it; use 1..N-1 (from the coarsest) or -1..-(N-1) (from the "
                f"finest, -2 = the second finest)"
            )
        # the readings that need a pyramid, and sr's factor: one-line errors, not schema dumps
        if e["mode"] in ("sr", "sample") and e["kind"] != SINGAN:
            raise DeblurError(
                f"methods: {name!r} has mode {e['mode']}, a SinGAN reading, but kind "
                f"{e['kind']} has no pyramid; use kind singan or drop the mode"
            )
        if e["kind"] == SINGAN and e["mode"] == "sr":
            from deblur.singan.readings import parse_sr_factor

            try:
                parse_sr_factor(e["sr_factor"])
            except ValueError as exc:
                raise DeblurError(f"methods: {name!r}: {exc}") from None
        settings = {**singan, **e["singan"]}
        text = json.dumps(thaw(settings), sort_keys=True)
        if text not in loaded:
            try:
                loaded[text] = load(settings)
            except DeblurError as exc:
                raise DeblurError(f"methods: {name!r} singan: {exc}") from None
        method = Method(
            name=name,
            kind=e["kind"],
            reference=e["reference"],
            offset=e["offset"],
            steps=e["steps"],
            mode=e["mode"],
            inject_scale=e["inject_scale"],
            noise=e["noise"],
            sr_factor=e["sr_factor"],
            sr_step=e["sr_step"],
            params=freeze(e["params"]),
            settings=freeze(settings),
            singan=loaded[text],
            mem_mb=e.get("mem_mb"),
        )
        _check_params(method)
        methods[name] = method
    return methods


def _check_params(m: Method) -> None:
    """A baseline's or SelfDeblur's params, parsed as its command will parse them."""
    if m.kind == SELFDEBLUR:
        from deblur.selfdeblur.params import make_config

        if "seed" in m.params:
            raise DeblurError(
                f"methods: {m.name!r} params: seed is set by the selfdeblur section "
                f"(selfdeblur.seed); remove it from params"
            )
        try:
            make_config(thaw(m.params))
        except (ValueError, TypeError) as exc:
            raise DeblurError(f"methods: {m.name!r} (selfdeblur) params: {exc}") from None
    elif m.kind != SINGAN:
        from deblur.baselines import parse_params

        try:
            parse_params(m.kind, baseline_param_args(m.params))
        except (ValueError, TypeError) as exc:
            raise DeblurError(f"methods: {m.name!r} ({m.kind}) params: {exc}") from None
