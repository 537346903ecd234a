"""Which factors change a CPU training run's weights: train one small pyramid several times,
varying one factor at a time, and compare every tensor of the scale checkpoints bitwise.

    nice python bench/train_determinism.py \
        --image results/data/synthetic/test/synth01_rocket/sharp/000004.png \
        --out results/determinism --set niter=40 [--old-tree DIR]

Each variant runs ``python -m deblur train`` in a subprocess (its own environment variables, so
``ONEDNN_MAX_CPU_ISA`` / ``ATEN_CPU_CAPABILITY`` take effect) into ``OUT/<variant>`` and is
compared with ``ref`` (threads 1, this machine's full ISA):

- ``repeat``: the identical command again;
- ``threads2``: ``--threads 2`` (step halves at once on every scale of at most 32 channels);
- ``threads2_repeat``: ``--threads 2`` again (compared with ``threads2``, not ``ref``);
- ``threads2_nobranch``: ``--threads 2 --branch-max-channels 0``;
- ``onednn_avx2``: ``ONEDNN_MAX_CPU_ISA=AVX2`` (oneDNN's convolutions as on an AVX2-only CPU);
- ``aten_avx2``: ``ATEN_CPU_CAPABILITY=avx2`` (ATen's own vectorised kernels: BatchNorm,
  element-wise operations, reductions, Adam);
- ``avx2``: both (what an AVX2-only CPU runs);
- ``onednn_avx512_core``: ``ONEDNN_MAX_CPU_ISA=AVX512_CORE`` (oneDNN as on an AVX-512 CPU
  without BF16, VNNI or AMX);
- ``resumed``: killed (SIGKILL) a few seconds into scale 1, then the same command again;
- ``old_code``: the same command in another checkout (``--old-tree``, e.g. ``git archive`` of
  an older commit), if given.

A finished variant (its ``model.json`` exists) is not rerun, so the script resumes where it was
stopped; a variant left unfinished is trained anew (``resumed`` is killed and rerun on purpose).
Writes ``OUT/determinism.json`` and prints a Markdown table: per variant the scale files that
differ, the tensors that differ, the largest absolute difference over every weight, and CPU
seconds of the training processes.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import torch

from deblur.singan.checkpoint import named_tensors

REPO = Path(__file__).resolve().parents[1]
# name -> (environment, extra train arguments)
VARIANTS = {
    "ref": ({}, ["--threads", "1"]),
    "repeat": ({}, ["--threads", "1"]),
    "threads2": ({}, ["--threads", "2"]),
    "threads2_nobranch": ({}, ["--threads", "2", "--branch-max-channels", "0"]),
    "threads2_repeat": ({}, ["--threads", "2"]),
    "onednn_avx2": ({"ONEDNN_MAX_CPU_ISA": "AVX2"}, ["--threads", "1"]),
    "aten_avx2": ({"ATEN_CPU_CAPABILITY": "avx2"}, ["--threads", "1"]),
    "avx2": ({"ONEDNN_MAX_CPU_ISA": "AVX2", "ATEN_CPU_CAPABILITY": "avx2"}, ["--threads", "1"]),
    "onednn_avx512_core": ({"ONEDNN_MAX_CPU_ISA": "AVX512_CORE"}, ["--threads", "1"]),
    "resumed": ({}, ["--threads", "1"]),
    "old_code": ({}, ["--threads", "1"]),
}
KILL_AFTER_S = 5.0  # seconds into scale 1 at which the "resumed" variant is killed


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def train_command(args, out: Path, extra: list[str]) -> list[str]:
    command = [sys.executable, "-m", "deblur", "train", "--image", str(args.image.resolve())]
    command += ["--out", str(out.resolve()), "--device", "cpu", "--seed", str(args.seed)]
    for item in args.set:
        command += ["--set", item]
    return command + extra


def run_variant(name: str, args, out: Path) -> dict:
    env_extra, extra = VARIANTS[name]
    env = {**os.environ, **env_extra}
    cwd = args.old_tree if name == "old_code" else REPO
    env["PYTHONPATH"] = str(cwd)
    command = train_command(args, out, extra)
    before, start = children_cpu(), time.time()
    killed = False
    if name == "resumed":
        proc = subprocess.Popen(command, env=env, cwd=cwd, stderr=subprocess.DEVNULL)
        while proc.poll() is None and not (out / "scale_00.pt").exists():
            time.sleep(0.2)
        time.sleep(KILL_AFTER_S)
        if proc.poll() is None and not (out / "scale_01.pt").exists():
            proc.send_signal(signal.SIGKILL)
            killed = True
        proc.wait()
    log = out.parent / f"{name}.log"
    with open(log, "a") as f:
        subprocess.run(command, env=env, cwd=cwd, stderr=f, stdout=f, check=True)
    return dict(
        name=name, env=env_extra, args=extra, code=str(cwd), killed_in_scale_1=killed,
        cpu_s=round(children_cpu() - before, 1), wall_s=round(time.time() - start, 1),
    )  # fmt: skip


def weights(model_dir: Path) -> dict[str, torch.Tensor]:
    """Every tensor of every scale file (weights, BatchNorm statistics, z_opt) plus each
    scale's noise amplitude, keyed by file and name."""
    out = {}
    for path in sorted(model_dir.glob("scale_*.pt")):
        data = torch.load(path, map_location="cpu", weights_only=True)
        keep = {k: data[k] for k in ("z_opt", "generator", "critic")}
        for key, t in named_tensors(keep):
            out[f"{path.stem}{key}"] = t
        out[f"{path.stem}.noise_amp"] = torch.tensor(data["noise_amp"], dtype=torch.float64)
    return out


def compare(a: Path, b: Path) -> dict:
    wa, wb = weights(a), weights(b)
    if wa.keys() != wb.keys():
        return dict(error="other tensors")
    differ = [k for k in wa if not torch.equal(wa[k], wb[k])]
    diffs = [
        float((wa[k].double() - wb[k].double()).abs().max())
        for k in wa
        if wa[k].is_floating_point() and wa[k].numel()
    ]
    files = sorted({k.split(".")[0] for k in differ})
    last = sorted({k.split(".")[0] for k in wa})[-1]
    g_last = [k for k in wa if k.startswith(f"{last}.generator") and k.endswith("weight")]
    rel = max(float((wa[k] - wb[k]).norm() / wa[k].norm()) for k in g_last if wa[k].norm() > 0)
    return dict(
        tensors=len(wa), tensors_differ=len(differ), files_differ=files,
        max_abs_diff=max(diffs), last_scale_g_rel_diff=rel,
    )  # fmt: skip


def machine(model_dir: Path) -> dict:
    meta = json.loads((model_dir / "model.json").read_text())
    keys = ("threads", "torch_version", "branch_max_channels", "device_name", "cpu", "cpu_isa")
    return {k: meta[k] for k in keys if k in meta}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--image", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE",
        help="SinGAN settings (default: min_size=25 max_size=64 niter=40: 3 scales of 32 "
        "channels, the ladder's 64-px cell with fewer iterations)",
    )  # fmt: skip
    parser.add_argument("--old-tree", type=Path, help="checkout of another commit (old_code)")
    parser.add_argument("--variants", nargs="*", default=[v for v in VARIANTS])
    args = parser.parse_args(argv)
    args.set = args.set or ["min_size=25", "max_size=64", "niter=40"]
    names = [v for v in args.variants if v != "old_code" or args.old_tree]
    args.out.mkdir(parents=True, exist_ok=True)
    record_path = args.out / "determinism.json"
    record = json.loads(record_path.read_text()) if record_path.exists() else {}
    for name in names:
        out = args.out / name
        if (out / "model.json").exists() and name in record:
            continue
        shutil.rmtree(out, ignore_errors=True)
        (args.out / f"{name}.log").unlink(missing_ok=True)
        print(f"training {name} ...", flush=True)
        record[name] = run_variant(name, args, out)
        record_path.write_text(json.dumps(record, indent=1))
    # a variant that repeats another one is compared with it
    against = {"threads2_repeat": "threads2"}
    print("| variant | scale files differing | tensors differing | max abs diff | "
          "last scale G rel. diff | CPU s |")  # fmt: skip
    print("|---|---|---|---|---|---|")
    for name in names:
        record[name]["machine"] = machine(args.out / name)
        if name != "ref":
            base = against.get(name, "ref")
            record[name]["vs"] = base
            record[name]["diff"] = cmp = compare(args.out / base, args.out / name)
            print(
                f"| {name} (vs {base}) | {', '.join(cmp['files_differ']) or 'none'} | "
                f"{cmp['tensors_differ']} of {cmp['tensors']} | {cmp['max_abs_diff']:.3g} | "
                f"{cmp['last_scale_g_rel_diff']:.3g} | {record[name]['cpu_s']} |"
            )
    record_path.write_text(json.dumps(record, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
