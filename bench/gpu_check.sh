#!/usr/bin/env bash
# The GPU check of batched training (docs/gpu.md), one script for a session lent a GPU.
#
# Here, once, before the device call (copies the two real GoPro pairs and the paper-size
# pyramid from ../shared, or GPU_CHECK_SHARED, into the git-ignored gpu_inputs/, which the call
# carries):
#   bash bench/gpu_check.sh prepare
# On the device machine (the device tool's run; about 8 minutes on one H100):
#   run(command="bash bench/gpu_check.sh", carry=["gpu_inputs"], timeout_s=600)
# then copy the files that come back (at most 8) into docs/measured/gpu/.
#
# What it measures, in order, each phase under its own time limit so that the whole stays
# inside the budget (a phase cut short says so in log.txt and the script goes on):
#   env.txt           GPU, driver, torch, CUDA, cuDNN
#   grouped_conv.tsv  one groups=N convolution vs N separate ones, forward+backward, at
#                     (1, N x 64, 141, 250), N = 1, 8, 32, in fp32, TF32 and bf16
#   train_batch.tsv   s/iter at scales 0, 4 and 7 of a paper-size pyramid (the flower frame,
#                     1280x720 -> 250 px), one pyramid and batches of 8 and 32, fp32 and TF32
#   concurrent.tsv    the same for K = 4 one-pyramid processes sharing the GPU at once
#                     (the workflow's jobs_per_gpu: 4)
#   pipeline.tsv      the paper's exact setting (250 px, 8 scales, 2000 iterations) on the two
#                     real pairs trained as one batch (python -m deblur train with two
#                     --image/--out), wall time and peak GPU memory, each model.json's record
#   readings.tsv      every inference reading of scripts/readings_pair.sh on both pyramids and
#                     on the CPU-trained paper_istanbul pyramid (deblurring on the CPU), scored
#   log.txt           everything printed
#
# Environment (the test dry-runs it on CPU): GPU_CHECK_DEVICE (cuda), GPU_CHECK_TINY=1 (tiny
# sizes, 2 iterations, one reading per pyramid), GPU_CHECK_INPUTS (gpu_inputs), OUT (the
# device tool's output folder; default docs/measured/gpu), PYTHON (python3), GPU_CHECK_BUDGET
# (seconds for the whole script, 480), GPU_CHECK_LIMIT_FACTOR (every phase's limit times this;
# 1, or 10 with GPU_CHECK_TINY).
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
inputs=${GPU_CHECK_INPUTS:-gpu_inputs}

if [[ ${1:-} == prepare ]]; then
  set -e
  mkdir -p "$inputs"
  rm -rf "$inputs/data" "$inputs/paper_model"
  shared=${GPU_CHECK_SHARED:-../shared}
  cp -r "$shared/data/gopro_mini" "$inputs/data"
  cp -r "$shared/models/paper_istanbul" "$inputs/paper_model"
  du -sh "$inputs"
  exit 0
fi

py=${PYTHON:-python3}
device=${GPU_CHECK_DEVICE:-cuda}
out=${OUT:-docs/measured/gpu}
budget=${GPU_CHECK_BUDGET:-480}
work=$(mktemp -d "${TMPDIR:-/tmp}/gpu_check.XXXXXX")
mkdir -p "$out"
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1
exec > >(tee "$out/log.txt") 2>&1
flower=$inputs/data/test/flower/sharp/000001.png
pairs=(flower istanbul)

if [[ ${GPU_CHECK_TINY:-0} == 1 ]]; then
  # one thread per process: a shared CPU, where OpenMP's spinning threads would stall each other
  export OMP_NUM_THREADS=1
  tiny=$work/tiny.yaml
  printf 'nfc: 4\nmax_nfc: 4\nmax_size: 48\nmin_size: 20\nniter: 1\n' > "$tiny"
  conv=(--channels 4 --size 20 30 --n 1 2 --iters 1 --warmup 1 --arithmetic fp32)
  scales=(--config "$tiny" --scales 0 1 --iters 1 --warmup 1)
  batches=(1 2) k=2
  settings=(--config "$tiny")
  max_size=48
  factor=${GPU_CHECK_LIMIT_FACTOR:-10}  # a CPU, perhaps loaded: each phase gets 10x longer
else
  conv=(--channels 64 --size 141 250 --n 1 8 32 --iters 10 --warmup 3)
  scales=(--scales 0 4 7 --iters 5 --warmup 3)
  batches=(1 8 32) k=4
  settings=()
  max_size=250
  factor=${GPU_CHECK_LIMIT_FACTOR:-1}
fi

left() { echo $((budget - SECONDS)); }
at_least() { echo $(($1 > $2 ? $1 : $2)); }
phase() {  # phase NAME SECONDS COMMAND...: run with a limit, say how it ended (on stderr:
  # stdout is the phase's table)
  local name=$1 limit=$(($2 * factor))
  shift 2
  echo "== $name (limit ${limit} s, $(left) s of the budget left) $(date -u +%H:%M:%S)" >&2
  local t0=$SECONDS
  timeout "$limit" "$@"
  local rc=$?
  echo "== $name: exit $rc after $((SECONDS - t0)) s$([[ $rc == 124 ]] && echo ' (CUT SHORT)')" >&2
  return 0
}

phase env 60 bash -c "nvidia-smi 2>&1 | head -20; $py - <<'EOF'
import platform, torch
print('python', platform.python_version(), 'torch', torch.__version__, 'cuda', torch.version.cuda,
      'cudnn', torch.backends.cudnn.version())
if torch.cuda.is_available():
    p = torch.cuda.get_device_properties(0)
    print('gpu', p.name, 'memory_gb', round(p.total_memory / 2**30, 1), 'sm', p.multi_processor_count)
EOF" > "$out/env.txt"
cat "$out/env.txt"

phase grouped_conv 60 "$py" bench/grouped_conv.py --device "$device" "${conv[@]}" \
  > "$out/grouped_conv.tsv"

# one table for fp32 and TF32 (TF32 only on CUDA)
phase train_batch 150 bash -c "
  $py bench/train_batch.py $flower --device $device ${scales[*]} --batch ${batches[*]} \
    --out $work/fp32.tsv > /dev/null
  if [[ $device == cuda* ]]; then
    $py bench/train_batch.py $flower --device $device ${scales[*]} --batch ${batches[*]} \
      --tf32 --out $work/tf32.tsv > /dev/null
  fi"
cat "$work"/fp32.tsv > "$out/train_batch.tsv" 2>/dev/null
[[ -f $work/tf32.tsv ]] && tail -n +2 "$work/tf32.tsv" >> "$out/train_batch.tsv"
cat "$out/train_batch.tsv"

phase concurrent 90 bash -c "
  for i in \$(seq 1 $k); do
    $py bench/train_batch.py $flower --device $device ${scales[*]} --batch 1 \
      --out $work/concurrent_\$i.tsv > /dev/null &
  done
  wait"
{
  echo -e "process\tprocesses\t$(head -1 "$work/concurrent_1.tsv" 2>/dev/null)"
  for i in $(seq 1 "$k"); do
    tail -n +2 "$work/concurrent_$i.tsv" 2>/dev/null | sed "s/^/$i\t$k\t/"
  done
} > "$out/concurrent.tsv"
cat "$out/concurrent.tsv"

# the paper's setting, both pairs as one batch; readings of the CPU-trained paper pyramid
# meanwhile (CPU work), then of the two new ones
models=$work/models
readings() {  # readings MODEL PAIR DIR
  local blurry=$inputs/data/test/$2/blur/000001.png sharp=$inputs/data/test/$2/sharp/000001.png
  if [[ ${GPU_CHECK_TINY:-0} == 1 ]]; then  # one reading (the dry run checks the plumbing)
    mkdir -p "$3/metrics"
    "$py" -m deblur deblur --model "$1" --image "$blurry" --out "$3/g0_k1.png" --device cpu &&
      "$py" -m deblur evaluate --pred "$3/g0_k1.png" --sharp "$sharp" --max-size "$max_size" \
        --model "$1" --meta "{\"pair_id\": \"$2\", \"method\": \"g0_k1\", \"kind\": \"singan\"}" \
        --out "$3/metrics/g0_k1.parquet"
  else
    PYTHON=$py THREADS=4 bash scripts/readings_pair.sh "$1" "$blurry" "$sharp" "$3" "$max_size"
  fi
}
if [[ -d $inputs/paper_model ]]; then
  readings "$inputs/paper_model" istanbul "$work/readings/paper_istanbul" \
    > "$work/readings_paper.log" 2>&1 &
fi
phase pipeline_train "$(at_least $((($(left) - 75) / factor)) 30)" "$py" - "$device" "$models" "$inputs" "${settings[@]}" <<'EOF'
import sys
import time

import torch

from deblur.cli import main

device, models, inputs, settings = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
args = ["train", "--device", device, *settings]
for pair in ("flower", "istanbul"):
    args += ["--image", f"{inputs}/data/test/{pair}/sharp/000001.png", "--out", f"{models}/{pair}"]
start = time.perf_counter()
rc = main(args)
peak = torch.cuda.max_memory_allocated() / 2**20 if torch.cuda.is_available() else float("nan")
print(f"PIPELINE rc={rc} wall_s={time.perf_counter() - start:.1f} peak_gpu_mb={peak:.0f}")
EOF
"$py" - "$models" > "$out/pipeline.tsv" <<'EOF'
import json
import sys
from pathlib import Path

keys = ("image", "device", "device_name", "cuda_version", "cudnn_version", "tf32", "precision",
        "compile", "train_seconds", "num_scales", "batch")
print("\t".join(("model", *keys, "train_log")))
for model in sorted(Path(sys.argv[1]).glob("*/model.json")):
    meta = json.loads(model.read_text())
    log = (model.parent / "train_log.tsv").read_text().strip()
    log = log.replace("\t", " ").replace("\n", " | ")  # one cell
    print("\t".join([model.parent.name, *(json.dumps(meta.get(k)) for k in keys), log]))
EOF
cat "$out/pipeline.tsv"

for pair in "${pairs[@]}"; do
  if [[ -f $models/$pair/model.json ]]; then
    readings "$models/$pair" "$pair" "$work/readings/$pair" > "$work/readings_$pair.log" 2>&1 &
  fi
done
limit=$(at_least $(($(left) - 5)) 10) t0=$SECONDS
echo "== readings (limit $limit s)"
while [[ -n $(jobs -rp) ]] && ((SECONDS - t0 < limit)); do sleep 2; done
if [[ -n $(jobs -rp) ]]; then
  echo "== readings: CUT SHORT after $((SECONDS - t0)) s"
  kill $(jobs -rp) 2>/dev/null
fi
tail -n 3 "$work"/readings_*.log
"$py" - "$work/readings" > "$out/readings.tsv" <<'EOF'
import sys
from pathlib import Path

from deblur.evaluation.tables import load_metrics

frames = []
for model in sorted(p for p in Path(sys.argv[1]).iterdir() if p.is_dir()):
    if list(model.glob("metrics/*.parquet")):
        df = load_metrics([model / "metrics"])
        df.insert(0, "pyramid", model.name)
        frames.append(df)
if frames:
    import pandas as pd

    cols = ["pyramid", "method", "resolution", "psnr", "ssim", "psnr_aligned", "ssim_aligned",
            "train_seconds"]
    table = pd.concat(frames)
    print(table[[c for c in cols if c in table]].to_csv(sep="\t", index=False), end="")
EOF
cat "$out/readings.tsv"
echo "== done in $SECONDS s; files in $out: $(ls "$out" | tr '\n' ' ')"
rm -rf "$work"
