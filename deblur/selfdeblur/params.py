"""``KEY=VALUE`` settings of SelfDeblur (CLI ``--param``, config ``params``) -> a config.

Values are JSON (``0.01``, ``true``, ``[128, 128, 128]``); ``none`` sets an optional one to
None. Every key is a :class:`~deblur.selfdeblur.config.SelfDeblurConfig` field.
"""

from __future__ import annotations

import dataclasses
import json
import math
import types
import typing

from deblur.selfdeblur.config import SelfDeblurConfig

FIELDS = {f.name: f for f in dataclasses.fields(SelfDeblurConfig)}
TYPES = typing.get_type_hints(SelfDeblurConfig)


def _check_type(key: str, value: object) -> object:
    """``value`` converted to field ``key``'s type; ValueError naming the key otherwise."""
    hint = TYPES[key]
    optional = typing.get_origin(hint) in (typing.Union, types.UnionType)
    if value is None:
        if optional:
            return None
        raise ValueError(f"param {key} cannot be none")
    base = next(a for a in typing.get_args(hint) if a is not type(None)) if optional else hint
    if typing.get_origin(base) is tuple:
        if not isinstance(value, (list, tuple)) or not all(
            isinstance(v, int) and not isinstance(v, bool) for v in value
        ):
            raise ValueError(f"param {key} must be a list of integers, got {value!r}")
        return tuple(value)
    if base is bool:
        if not isinstance(value, bool):
            raise ValueError(f"param {key} must be true or false, got {value!r}")
        return value
    if base is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"param {key} must be an integer, got {value!r}")
        return value
    if base is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError(f"param {key} must be a number, got {value!r}")
        if not math.isfinite(value):
            raise ValueError(f"param {key} must be a finite number, got {value!r}")
        return float(value)
    raise TypeError(f"no conversion for param {key} of type {hint}")  # a new field's type


def parse_value(key: str, text: str) -> object:
    """The value of ``KEY=text``: JSON, or None for ``none``."""
    if text.strip().lower() == "none":
        return None
    try:
        return json.loads(text)
    except ValueError:
        raise ValueError(
            f"param {key}={text!r} is not a JSON value (e.g. 0.01, true, [1, 2])"
        ) from None


def parse_params(items: list[str]) -> dict:
    """``["key=VALUE", ...]`` -> ``{key: value}`` checked against the config's fields."""
    out = {}
    for item in items:
        key, sep, text = item.partition("=")
        key = key.strip()
        if not sep:
            raise ValueError(f"param {item!r} is not KEY=VALUE")
        out[key] = parse_value(key, text)
    return check_params(out)


def check_params(params: dict) -> dict:
    """``params`` with values converted to the fields' types; ValueError for an unknown key.

    A string value is read as ``KEY=VALUE`` text (no field is a string): Snakemake's
    ``--config`` passes nested values as strings.
    """
    unknown = sorted(set(params) - set(FIELDS))
    if unknown:
        raise ValueError(
            f"unknown selfdeblur param {', '.join(unknown)}; use one of {', '.join(FIELDS)}"
        )
    return {key: _check_type(key, _from_text(key, value)) for key, value in params.items()}


def _from_text(key: str, value: object) -> object:
    """``value`` with strings (also inside a list) read as JSON text."""
    if isinstance(value, str):
        return parse_value(key, value)
    if isinstance(value, (list, tuple)):
        return [_from_text(key, v) for v in value]
    return value


def make_config(params: dict) -> SelfDeblurConfig:
    """A checked :class:`SelfDeblurConfig` from ``params`` (other fields at their defaults)."""
    return SelfDeblurConfig(**check_params(params))
