#!/usr/bin/env bash
# The ladder's GPU corner: the cells a CPU cannot afford (250-px pyramids at 500 and 2000
# iterations, the latter the paper's exact setting) on one CUDA GPU, through the pipeline with
# workflow/presets/ladder.yaml. Writes the ladder table format (python -m deblur ladder) into
# OUT: ladder.parquet/.md/.png, ladder_scales.parquet (per-scale s/iter), gpu_memory.csv (the
# GPU's memory in use, sampled every 0.5 s by nvidia-smi; its peak is a provenance line).
#
#   bench/gpu_ladder.sh                      # the two missing cells, results in docs/measured/gpu
#   CELLS='[[250, 2000]]' bench/gpu_ladder.sh /tmp/paper_corner
#
# Environment (defaults in brackets): CELLS [[[250, 500], [250, 2000]]], STEPS [[1, 2, 3, 4]],
# DEVICE [cuda], PRECISION [fp32], THREADS [4], WORKDIR [.] (Snakemake's working directory),
# CONFIGFILES [] (more --configfile files after the preset, e.g. a dataset), SNAKEMAKE
# [python -m snakemake], PYTHON [python]. The tests run it on CPU with tiny settings.
set -euo pipefail
shopt -s nullglob

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OUT="$(mkdir -p "${1:-$REPO/docs/measured/gpu}" && cd "${1:-$REPO/docs/measured/gpu}" && pwd)"
CELLS="${CELLS:-[[250, 500], [250, 2000]]}"
STEPS="${STEPS:-[1, 2, 3, 4]}"
DEVICE="${DEVICE:-cuda}"
PRECISION="${PRECISION:-fp32}"
THREADS="${THREADS:-4}"
WORKDIR="$(cd "${WORKDIR:-.}" && pwd)"
PYTHON="${PYTHON:-python}"
SNAKEMAKE="${SNAKEMAKE:-$PYTHON -m snakemake}"

# the paper table compares the first cell's k = 1 with the blurry input
FIRST="$("$PYTHON" -c 'import sys, yaml; c = yaml.safe_load(sys.argv[1])[0]; print(f"singan_s{c[0]}_n{c[1]}_k1")' "$CELLS")"
CONFIGS=(--configfile "$REPO/workflow/presets/ladder.yaml")
for f in ${CONFIGFILES:-}; do CONFIGS+=(--configfile "$f"); done

SAMPLER=""
if command -v nvidia-smi > /dev/null && [ "$DEVICE" != cpu ]; then
    nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits -lms 500 > "$OUT/gpu_memory.csv" &
    SAMPLER=$!
fi
cleanup() { [ -n "$SAMPLER" ] && kill "$SAMPLER" 2> /dev/null || true; }
trap cleanup EXIT

START=$(date +%s)
$SNAKEMAKE --snakefile "$REPO/Snakefile" --directory "$WORKDIR" --cores all --resources gpu=1 \
    --rerun-incomplete "${CONFIGS[@]}" --config \
    "ladder={cells: $CELLS, steps: $STEPS}" \
    "train={device: $DEVICE, precision: $PRECISION, threads: $THREADS}" \
    "inference={device: $DEVICE}" "paper={method: $FIRST, baseline: identity}"
WALL=$(($(date +%s) - START))
cleanup

PEAK="n/a (no nvidia-smi or a CPU run)"
if [ -s "$OUT/gpu_memory.csv" ]; then
    PEAK="$(sort -n "$OUT/gpu_memory.csv" | tail -1) MiB"
fi
COMMIT="$(git -C "$REPO" rev-parse --short HEAD 2> /dev/null || echo unknown)"
GPU="$(nvidia-smi --query-gpu=name --format=csv,noheader 2> /dev/null | head -1 || true)"
MODELS=()
for m in "$WORKDIR"/results/models/*/*/model.json; do MODELS+=("$(dirname "$m")"); done
"$PYTHON" -m deblur ladder --metrics "$WORKDIR/results/tables/metrics.parquet" \
    --models "${MODELS[@]}" --out-dir "$OUT" --commit "$COMMIT" \
    --cpu "${GPU:-$DEVICE} (device $DEVICE)" \
    --note "bench/gpu_ladder.sh cells $CELLS, precision $PRECISION, pipeline wall ${WALL} s, peak GPU memory in use $PEAK"
echo "gpu_ladder: wrote $OUT/ladder.md (pipeline wall ${WALL} s, peak GPU memory $PEAK)"
