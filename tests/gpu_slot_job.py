"""A stand-in GPU job for tests/test_gpu_slots.py (a real process, no torch, starts fast).

    python gpu_slot_job.py LOCK_DIR OUT_DIR NAME JOBS_PER_GPU HOLD [TIMEOUT]

Takes a slot with deblur.gpu_slots.claim_gpu (device "auto"; the test fakes the GPUs with
DEBLUR_GPU_COUNT), writes OUT_DIR/acquired-NAME (JSON: its CUDA_VISIBLE_DEVICES and lock file)
and holds the slot for HOLD seconds, or with HOLD "release" until OUT_DIR/release exists. While
holding it claims one of JOBS_PER_GPU marker files of its GPU with O_EXCL: a job that finds
them all taken (more jobs on one GPU than allowed) writes OUT_DIR/violation-NAME.
"""

import json
import logging
import os
import sys
import time
from pathlib import Path

from deblur.gpu_slots import claim_gpu

logging.basicConfig(level=logging.INFO)  # the allocator's messages, on stderr
lock_dir, out, name, per_gpu, hold = sys.argv[1:6]
timeout = float(sys.argv[6]) if len(sys.argv) > 6 else None
out, per_gpu = Path(out), int(per_gpu)
slot = claim_gpu(lock_dir, "auto", jobs_per_gpu=per_gpu, timeout=timeout, label=name)
device = os.environ["CUDA_VISIBLE_DEVICES"]
marker = None
for k in range(per_gpu):
    try:
        os.close(os.open(out / f"on-gpu{device}-{k}", os.O_CREAT | os.O_EXCL | os.O_WRONLY))
    except FileExistsError:
        continue
    marker = out / f"on-gpu{device}-{k}"
    break
if marker is None:
    (out / f"violation-{name}").write_text(f"more than {per_gpu} job(s) on GPU {device}\n")
record = dict(device=device, slot=str(slot.path), env_slot=os.environ["DEBLUR_GPU_SLOT"])
(out / f"acquired-{name}.tmp").write_text(json.dumps(record))
os.replace(out / f"acquired-{name}.tmp", out / f"acquired-{name}")
if hold == "release":
    while not (out / "release").exists():
        time.sleep(0.02)
else:
    time.sleep(float(hold))
if marker is not None:
    marker.unlink()  # before the slot is released at exit
