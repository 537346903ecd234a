"""Compare the results/ trees of two checkouts that ran the same config (a refactoring check).

    python scripts/compare_runs.py CHECKOUT_A CHECKOUT_B

Checks that every checkpoint tensor is bit-identical (``torch.equal``), every PNG (deblurred
images and figures, not the input data) byte-identical, and every Parquet table equal in the
columns both have, except timing, memory and provenance columns (seconds, RSS, host, version);
Markdown files are reported identical or not (``paper_table.md`` holds compute times). Exits 1
on any difference.
"""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

import pandas as pd
import torch

from deblur.singan.checkpoint import named_tensors

# column-name parts of what legitimately differs between two runs of the same config
VOLATILE = ("second", "time", "wall", "cpu", "host", "commit", "started", "finished", "_s",
            "io_", "load", "date", "version", "duration", "pid", "h:m:s", "_mb", "rss", "vms",
            "uss", "pss")  # fmt: skip


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def files(root: Path, pattern: str) -> list[Path]:
    return sorted(p.relative_to(root) for p in root.rglob(pattern) if "data" not in p.parts)


def compare(a: Path, b: Path) -> list[str]:
    problems = []
    pts = files(a, "*.pt")
    if pts != files(b, "*.pt"):
        problems.append("the checkpoint files differ")
    n = 0
    for rel in (p for p in pts if (b / p).exists()):
        ta = dict(named_tensors(torch.load(a / rel, map_location="cpu", weights_only=False)))
        tb = dict(named_tensors(torch.load(b / rel, map_location="cpu", weights_only=False)))
        if ta.keys() != tb.keys():
            problems.append(f"{rel}: other tensors")
            continue
        n += len(ta)
        problems += [f"{rel}{k}" for k in ta if not torch.equal(ta[k], tb[k])]
    print(f"checkpoints: {len(pts)} files, {n} tensors compared")
    pngs = files(a, "*.png")
    if pngs != files(b, "*.png"):
        problems.append("the PNG files differ")
    same = [p for p in pngs if (b / p).exists() and sha256(a / p) == sha256(b / p)]
    problems += [f"{p} differs" for p in pngs if (b / p).exists() and p not in same]
    print(f"PNG: {len(same)} of {len(pngs)} byte-identical")
    for rel in files(a, "*.parquet"):
        if not (b / rel).exists():
            problems.append(f"{rel} only in {a}")
            continue
        da, db = pd.read_parquet(a / rel), pd.read_parquet(b / rel)
        cols = [
            c for c in da.columns if c in db.columns and not any(v in c.lower() for v in VOLATILE)
        ]
        try:
            pd.testing.assert_frame_equal(
                da[cols].reset_index(drop=True), db[cols].reset_index(drop=True),
                check_exact=True, check_dtype=False,
            )  # fmt: skip
            print(f"{rel}: {len(da)} rows, {len(cols)} columns equal")
        except AssertionError as exc:
            problems.append(f"{rel}: {str(exc).splitlines()[0]}")
    for rel in files(a, "*.md"):
        if (b / rel).exists():
            print(f"{rel}: {'identical' if sha256(a / rel) == sha256(b / rel) else 'differs'}")
    return problems


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__.strip().splitlines()[2].strip(), file=sys.stderr)
        return 2
    problems = compare(Path(argv[0]) / "results", Path(argv[1]) / "results")
    print("\n".join(problems) or "identical")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
