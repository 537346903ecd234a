"""``model.json``, the record a finished model directory ends with: its one validated reader.

Training writes ``DIR/model.json`` last (:func:`deblur.singan.checkpoint.write_model_json`).
Everything that reads it (loading a model to deblur, the trainer deciding what is finished,
the metrics' provenance, the cost table, the ladder's scale times) goes through
:func:`read_model_json`, which refuses, in one line naming the file and the problem, a
file that is missing, not JSON, or not the record training writes (a key missing or of the
wrong type, ``sizes`` not one ``[h, w]`` per scale, ...). This module imports no torch.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

from deblur.errors import DeblurError

MODEL_JSON = "model.json"
PRECISIONS = ("fp32", "bf16")


def model_json_path(model_dir: str | os.PathLike) -> Path:
    """The ``model.json`` of a model directory."""
    return Path(model_dir) / MODEL_JSON


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: object) -> bool:
    return (_is_int(value) or isinstance(value, float)) and math.isfinite(value)


def _is_size(value: object) -> bool:
    return isinstance(value, list) and len(value) == 2 and all(_is_int(v) and v > 0 for v in value)


# key -> (check, what it must be): every key training writes that a reader relies on
REQUIRED = {
    "config": (lambda v: isinstance(v, dict), "an object (the SinGAN settings)"),
    "config_hash": (lambda v: isinstance(v, str) and v != "", "a non-empty string"),
    "seed": (_is_int, "an integer"),
    "device": (lambda v: isinstance(v, str), "a string"),
    "torch_version": (lambda v: isinstance(v, str), "a string"),
    "train_seconds": (lambda v: _is_number(v) and v >= 0, "a finite number >= 0"),
    "num_scales": (lambda v: _is_int(v) and v >= 1, "an integer >= 1"),
    "sizes": (lambda v: isinstance(v, list) and all(map(_is_size, v)), "a list of [h, w]"),
    "scale_factor": (lambda v: _is_number(v) and v > 0, "a finite number > 0"),
}
# keys older files may lack; checked when present
OPTIONAL = {
    "precision": (lambda v: v in PRECISIONS, f"one of {', '.join(PRECISIONS)}"),
    "image_sha256": (lambda v: isinstance(v, str), "a string"),
    "noise_amp": (lambda v: isinstance(v, list) and all(map(_is_number, v)), "a list of numbers"),
    "channels": (
        lambda v: isinstance(v, list) and all(_is_int(c) and c > 0 for c in v),
        "a list of positive integers",
    ),
}


def model_json_problem(info: object) -> str | None:
    """What makes ``info`` (a parsed ``model.json``) not the record training writes, or None."""
    if not isinstance(info, dict):
        return f"it holds a JSON {type(info).__name__}, not an object"
    missing = [k for k in REQUIRED if info.get(k) is None]
    if missing:
        return f"it lacks {', '.join(missing)}"
    for key, (check, what) in {**REQUIRED, **OPTIONAL}.items():
        if key in info and not (info[key] is None and key in OPTIONAL) and not check(info[key]):
            return f"{key} is {json.dumps(info[key])[:60]}, not {what}"
    n = info["num_scales"]
    for key in ("sizes", "noise_amp", "channels"):
        if key in info and len(info[key]) != n:
            return f"{key} has {len(info[key])} entries but num_scales is {n}"
    return None


def read_model_json(model_dir: str | os.PathLike) -> dict:
    """The validated ``model.json`` of the finished model in ``model_dir``.

    Returns
    -------
    dict
        The record as written (see :func:`deblur.singan.rundir.model_info`); at least the
        keys of :data:`REQUIRED`, with ``len(sizes) == num_scales``.

    Raises
    ------
    DeblurError
        One line naming the file: it is missing (an unfinished or untrained directory), cannot
        be read or parsed, or is not the record training writes (:func:`model_json_problem`).
    """
    path = model_json_path(model_dir)
    retrain = (
        f"re-run `python -m deblur train --out {model_dir}` with the model's settings (it checks "
        "the scale files and trains what is missing) or delete the directory and retrain"
    )
    if not path.is_file():
        raise DeblurError(
            f"model not found: {path} is missing ({model_dir} is not a finished model); train "
            f"it with `python -m deblur train --out {model_dir} ...` (re-running resumes)"
        )
    try:
        info = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:  # JSONDecodeError and UnicodeDecodeError included
        raise DeblurError(f"cannot parse {path}: {exc}; {retrain}") from None
    problem = model_json_problem(info)
    if problem:
        raise DeblurError(f"unfinished or damaged model: {path}: {problem}; {retrain}")
    return info
