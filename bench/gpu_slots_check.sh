#!/usr/bin/env bash
# On a machine with CUDA GPUs: check that GPU slots (deblur/gpu_slots.py) give each job exactly its
# own device. Starts GPUs x JOBS_PER_GPU + 1 tiny trainings at once (one more than there are
# slots: it must wait, not fail) and an inference job, each with --gpu-slots, and checks
#   - every job saw exactly one GPU (torch.cuda.device_count() == 1, recorded in model.json as
#     cuda_device_count) and ran on cuda:0, which is the GPU its slot names (UUIDs compared with
#     nvidia-smi's);
#   - nvidia-smi, sampled while they run, never shows a job's process on another GPU than its own;
#   - every job finished (exit 0).
#
#   bench/gpu_slots_check.sh            # one job per GPU
#   bench/gpu_slots_check.sh 2          # two jobs per GPU
#
# Environment: PYTHON [.venv/bin/python if present, else python], NITER [300] (iterations per
# scale of the tiny trainings: long enough for the sampler to see them), DEVICE [cuda] (auto: a
# dry run of this script on a CPU machine with a fake nvidia-smi, which must then fail the
# device checks), KEEP=1 keeps the temp dir.
# Prints PASSED and exits 0, or names what failed and exits 1.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"
PYTHON="${PYTHON:-$([ -x .venv/bin/python ] && echo .venv/bin/python || echo python)}"
K="${1:-1}"
NITER="${NITER:-300}"
DEVICE="${DEVICE:-cuda}"
fail() { echo "gpu_slots_check: FAILED: $*" >&2; exit 1; }

command -v nvidia-smi > /dev/null || fail "no nvidia-smi: this check needs CUDA GPUs"
unset CUDA_VISIBLE_DEVICES DEBLUR_GPU_COUNT DEBLUR_GPU_SLOT
G=$(nvidia-smi -L | grep -c '^GPU ' || true)
[ "$G" -ge 1 ] || fail "nvidia-smi lists no GPU"
N=$((G * K + 1))
WORK="$(mktemp -d /tmp/gpu_slots_check.XXXXXX)"
SAMPLER=""
cleanup() {
    [ -n "$SAMPLER" ] && kill "$SAMPLER" 2> /dev/null || true
    [ "${KEEP:-0}" = 1 ] && echo "kept $WORK" || rm -rf "$WORK"
}
trap cleanup EXIT
echo "gpu_slots_check: $G GPU(s) x $K job(s) per GPU, $N trainings + 1 inference, in $WORK"

"$PYTHON" -c 'import sys; from PIL import Image; Image.effect_mandelbrot((96, 64), (-2, -1, 1, 1), 60).convert("RGB").save(sys.argv[1])' "$WORK/sharp.png"
nvidia-smi --query-gpu=index,uuid --format=csv,noheader > "$WORK/gpus.csv"
# which of our processes run on which GPU, every 0.2 s
nvidia-smi --query-compute-apps=pid,gpu_uuid --format=csv,noheader -lms 200 > "$WORK/apps.csv" &
SAMPLER=$!

SLOTS=(--gpu-slots "$WORK/slots" --jobs-per-gpu "$K" --slot-timeout 900)
pids=()
for i in $(seq 1 "$N"); do
    "$PYTHON" -m deblur train --image "$WORK/sharp.png" --out "$WORK/m$i" --device "$DEVICE" \
        --set niter="$NITER" --set max_size=64 --set min_size=25 --seed "$i" "${SLOTS[@]}" \
        > "$WORK/train$i.log" 2>&1 &
    pids+=($!)
    echo "$!" >> "$WORK/pids.txt"
done
rc=0
for i in $(seq 1 "$N"); do
    wait "${pids[$((i - 1))]}" || { echo "training $i failed:"; tail -5 "$WORK/train$i.log"; rc=1; }
done
[ "$rc" = 0 ] || fail "a training failed"
"$PYTHON" -m deblur deblur --model "$WORK/m1" --image "$WORK/sharp.png" --out "$WORK/out.png" \
    --device "$DEVICE" "${SLOTS[@]}" > "$WORK/deblur.log" 2>&1 || fail "inference failed: $(tail -1 "$WORK/deblur.log")"
kill "$SAMPLER" 2> /dev/null || true
SAMPLER=""

"$PYTHON" - "$WORK" "$N" "$K" << 'EOF'
import ast
import collections
import json
import sys
from pathlib import Path

work, n, k = Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
uuid_of = {}  # CUDA_VISIBLE_DEVICES index -> UUID without the GPU- prefix
for line in (work / "gpus.csv").read_text().splitlines():
    index, uuid = (f.strip() for f in line.split(","))
    uuid_of[index] = uuid.removeprefix("GPU-")
problems, pid_gpu = [], {}
pids = [int(p) for p in (work / "pids.txt").read_text().split()]
for i in range(1, n + 1):
    meta = json.loads((work / f"m{i}" / "model.json").read_text())
    got = {key: meta.get(key) for key in ("device", "cuda_device_count", "cuda_visible_devices",
                                         "device_uuid", "device_name", "gpu_slot")}
    print(f"training {i}: {got}")
    if meta["device"] != "cuda:0" or meta["cuda_device_count"] != 1:
        problems.append(f"training {i} saw {meta['cuda_device_count']} GPUs / ran on {meta['device']}")
    visible = meta["cuda_visible_devices"]
    if uuid_of.get(visible) != str(meta["device_uuid"]).removeprefix("GPU-"):
        problems.append(f"training {i}: slot GPU {visible} is not the GPU it ran on")
    pid_gpu[pids[i - 1]] = uuid_of.get(visible)
line = [l for l in (work / "deblur.log").read_text().splitlines() if "running on" in l]
print("inference:", line[-1] if line else "no 'running on' line")
if not line or ast.literal_eval(line[-1].split("running on ", 1)[1])["cuda_device_count"] != 1:
    problems.append("the inference job did not see exactly one GPU")
seen = collections.Counter()  # our trainings' pids seen by nvidia-smi, per GPU
for row in (work / "apps.csv").read_text().splitlines():
    fields = [f.strip() for f in row.split(",")]
    if len(fields) != 2 or not fields[0].isdigit():
        continue
    pid, uuid = int(fields[0]), fields[1].removeprefix("GPU-")
    if pid in pid_gpu:
        seen[pid] += 1
        if uuid != pid_gpu[pid]:
            problems.append(f"pid {pid} ran on GPU {uuid}, its slot is GPU {pid_gpu[pid]}")
print(f"nvidia-smi saw {len(seen)} of our {n} trainings, each only on its slot's GPU"
      if seen else "note: nvidia-smi never listed our processes (a container may hide their "
      "pids); the model.json checks above still hold")
if problems:
    sys.exit("FAILED: " + "; ".join(sorted(set(problems))))
EOF
grep -h "GPU slot" "$WORK"/train*.log | sed 's/^/  /' | head -20
echo "gpu_slots_check: PASSED"
