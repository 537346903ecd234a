"""Peak memory of the jobs whose memory grows with the frame, at several frame sizes.

Runs each job's command (``python -m deblur baseline --kind K ...``, ``selfdeblur``,
``deblur --mode sr --sr-factor full``, ...) on a blurry frame resized to each size, under
``/usr/bin/time -v``, and appends its maximum resident set (MB, 1e6 bytes), CPU seconds
(user + sys) and wall seconds to a TSV (rows already there are skipped: the script resumes).
Then fits, per job, ``peak = base + per_megapixel * megapixels`` by least squares and prints
the fit beside the estimate the config asks for (``baselines.mem_mb``; for sr full,
``inference.mem_mb`` + ``inference.sr_mem_mb_per_megapixel``).

Iterative kinds keep their peak from the first iteration on (the arrays of a pyramid level
are allocated once), so tv_blind, oracle_tv and SelfDeblur run few iterations (``SHORT``), which
``--check-iterations`` verifies on the smallest frame (10 times as many).

    nice python bench/job_memory.py --frame FRAME.png --sizes 640x360 1280x720 2560x1440 \\
        --work /tmp/mem --out results/bench/job_memory.tsv
    nice python bench/job_memory.py --frame FRAME.png --jobs oracle_tv \\
        --param nonblind=hyper_laplacian   # a variant of the kind
"""

from __future__ import annotations

import argparse
import csv
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import yaml
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
# params that shorten the iterative kinds without changing their arrays' sizes
SHORT = {
    "tv_blind": ["iterations=3", "final_iterations=3"],
    "oracle_tv": ["iterations=5"],
    "selfdeblur": ["iterations=4", "mse_iterations=2"],
}
COLUMNS = ["job", "params", "width", "height", "megapixels", "peak_mb", "cpu_s", "wall_s"]


def jobs(kernel: Path, model: Path | None) -> dict[str, list[str]]:
    """job name -> the command's arguments after ``python -m deblur`` ({img}, {out} filled in)."""
    base = ["baseline", "--image", "{img}", "--out", "{out}"]
    found = {
        "identity": [*base, "--kind", "identity"],
        "unsharp": [*base, "--kind", "unsharp"],
        "richardson_lucy": [*base, "--kind", "richardson_lucy"],
        "tv_blind": [*base, "--kind", "tv_blind"],
        "oracle_tv": [*base, "--kind", "oracle_tv", "--kernel", str(kernel)],
    }
    found["selfdeblur"] = ["selfdeblur", "--image", "{img}", "--out", "{out}", "--device", "cpu",
                           "--threads", "1", "--no-progress"]  # fmt: skip
    if model is not None:
        common = ["deblur", "--model", str(model), "--image", "{img}", "--out", "{out}"]
        found["singan_g0"] = [*common, "--device", "cpu", "--threads", "1"]
        found["singan_sr_full"] = [
            *common, "--mode", "sr", "--sr-factor", "full", "--device", "cpu", "--threads", "1"
        ]  # fmt: skip
    return found


def measure(args: list[str]) -> tuple[float, float, float]:
    """(peak MB, CPU s, wall s) of ``python -m deblur ARGS`` under /usr/bin/time -v."""
    with tempfile.NamedTemporaryFile("r", suffix=".time") as report:
        cmd = ["/usr/bin/time", "-v", "-o", report.name, sys.executable, "-m", "deblur", "-q"]
        subprocess.run([*cmd, *args], check=True, cwd=REPO, stdout=subprocess.DEVNULL)
        fields = dict(
            line.strip().rsplit(": ", 1) for line in report.read().splitlines() if ": " in line
        )
    cpu = float(fields["User time (seconds)"]) + float(fields["System time (seconds)"])
    wall = fields["Elapsed (wall clock) time (h:mm:ss or m:ss)"].split(":")
    seconds = sum(float(v) * 60**i for i, v in enumerate(reversed(wall)))
    return int(fields["Maximum resident set size (kbytes)"]) * 1024 / 1e6, cpu, seconds


def frame(source: Path, size: str, work: Path) -> Path:
    """``source`` resized to WIDTHxHEIGHT (Lanczos) under ``work``, made once."""
    path = work / f"frame_{size}.png"
    if not path.exists():
        width, height = (int(v) for v in size.split("x"))
        with Image.open(source) as im:
            im.convert("RGB").resize((width, height), Image.LANCZOS).save(path)
    return path


def fit(rows: list[dict], by: str = "megapixels") -> tuple[float, float]:
    """Least-squares (base MB, MB per unit of column ``by``) of the rows' peaks."""
    x = np.array([float(r[by]) for r in rows])
    peak = np.array([float(r["peak_mb"]) for r in rows])
    if len(set(x)) < 2:
        return float(peak.max()), 0.0
    slope, intercept = np.polyfit(x, peak, 1)
    return float(intercept), float(slope)


def append_row(path: Path, columns: list[str], row: dict) -> None:
    """Append ``row`` to the TSV ``path`` (its header first when the file is new)."""
    new = not path.exists()
    with path.open("a") as f:
        writer = csv.DictWriter(f, columns, delimiter="\t")
        if new:
            writer.writeheader()
        writer.writerow(row)


def configured(job: str) -> tuple[float, float] | None:
    """(base, per megapixel) the default config.yaml asks for this job (None if none)."""
    config = yaml.safe_load((REPO / "config.yaml").read_text())
    if job in config.get("baselines", {}).get("mem_mb", {}):
        entry = config["baselines"]["mem_mb"][job]
        return entry["base"], entry["per_megapixel"]
    if job == "singan_sr_full":
        inference = config["inference"]
        return inference["mem_mb"], inference["sr_mem_mb_per_megapixel"]
    return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frame", required=True, type=Path, help="a real blurry frame")
    parser.add_argument("--sizes", nargs="+", default=["640x360", "1280x720", "2560x1440"])
    parser.add_argument("--jobs", nargs="+", help="only these jobs (default: all)")
    parser.add_argument("--kernel", type=Path, help="a kernel PNG for oracle_tv")
    parser.add_argument("--model", type=Path, help="a finished model (the singan jobs)")
    parser.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "job_memory")
    parser.add_argument("--out", type=Path, default=REPO / "results/bench/job_memory.tsv")
    parser.add_argument(
        "--param", action="append", default=[], metavar="KEY=VALUE",
        help="another baseline parameter for every run (a variant: its own rows and fit)",
    )  # fmt: skip
    parser.add_argument(
        "--check-iterations", action="store_true",
        help="also run the shortened kinds with 10x the iterations on the smallest frame",
    )  # fmt: skip
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    kernel = args.kernel
    if kernel is None:
        from deblur.baselines import linear_motion_psf
        from deblur.kernelio import write_kernel

        kernel = args.work / "kernel.png"
        write_kernel(kernel, linear_motion_psf(15.0, 30.0, 21))
    todo = jobs(kernel, args.model)
    names = args.jobs or list(todo)
    done = []
    if args.out.exists():
        with args.out.open() as f:
            done = list(csv.DictReader(f, delimiter="\t"))

    def short(name: str) -> list[str]:
        return SHORT.get(name, []) + args.param

    runs = [(name, size, short(name)) for name in names for size in args.sizes]
    if args.check_iterations:
        for name in names:
            long = [f"{p.split('=')[0]}={10 * int(p.split('=')[1])}" for p in SHORT.get(name, [])]
            if long:
                runs.append((name, args.sizes[0], long + args.param))
    for name, size, params in runs:
        key = (name, " ".join(params), *size.split("x"))
        if any((r["job"], r["params"], r["width"], r["height"]) == key for r in done):
            continue
        img = frame(args.frame, size, args.work)
        out = args.work / f"out_{name}_{size}.png"
        argv = [a.format(img=img, out=out) for a in todo[name]]
        argv += [a for p in params for a in ("--param", p)]
        peak, cpu, wall = measure(argv)
        width, height = (int(v) for v in size.split("x"))
        values = [name, " ".join(params), width, height, round(width * height / 1e6, 4),
                  round(peak), round(cpu, 1), round(wall, 1)]  # fmt: skip
        row = dict(zip(COLUMNS, values, strict=True))
        append_row(args.out, COLUMNS, row)
        done.append({k: str(v) for k, v in row.items()})
        print("\t".join(str(v) for v in row.values()), flush=True)
        out.unlink(missing_ok=True)
    print("job\tfit base MB\tfit MB/MP\tconfigured base\tconfigured MB/MP")
    for name in names:
        rows = [r for r in done if r["job"] == name and r["params"] == " ".join(short(name))]
        if rows:
            base, slope = fit(rows)
            conf = configured(name) or ("", "")
            print(f"{name}\t{base:.0f}\t{slope:.0f}\t{conf[0]}\t{conf[1]}")


if __name__ == "__main__":
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    main()
