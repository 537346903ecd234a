"""The pipeline configuration as the workflow receives it, typed before validation."""

from __future__ import annotations

from collections.abc import Mapping

import yaml


def coerce_cli_strings(value, schema: Mapping):
    """``value`` with the strings the schema wants as numbers, booleans or null parsed (YAML).

    Snakemake reads nested ``--config key='{a: 1}'`` values with YAML's BaseLoader, so they
    arrive as strings; a string stays one where the schema allows strings.

    Parameters
    ----------
    value
        A config value (the whole config, a section, a list or a scalar); not modified.
    schema : mapping
        The JSON schema of ``value`` (its ``properties`` and ``items`` are followed).

    Examples
    --------
    >>> schema = {"properties": {"n": {"type": "integer"}, "name": {"type": "string"}}}
    >>> coerce_cli_strings({"n": "3", "name": "3"}, schema)
    {'n': 3, 'name': '3'}
    """
    if isinstance(value, dict):
        props = schema.get("properties", {})
        return {k: coerce_cli_strings(v, props.get(k, {})) for k, v in value.items()}
    if isinstance(value, list):
        return [coerce_cli_strings(v, schema.get("items", {})) for v in value]
    types = schema.get("type", [])
    types = [types] if isinstance(types, str) else types
    if isinstance(value, str) and "string" not in types:
        if {"integer", "number", "boolean", "null"} & set(types):
            return yaml.safe_load(value)
    return value
