#!/usr/bin/env bash
# Every inference reading of one trained pyramid on one blurry/sharp pair, through the CLI:
# deblur (with --info) and evaluate (both resolutions), the blurry input scored as `identity`.
# Resumable: a reading whose metrics file exists is skipped. Prints a table at the end.
#
#   scripts/readings_pair.sh MODEL_DIR BLURRY SHARP OUT_DIR [MAX_SIZE]
#
# e.g. the paper's setting on one real pair (docs/inference-readings.md):
#   scripts/readings_pair.sh ../shared/models/paper_istanbul \
#       ../shared/data/gopro_mini/test/istanbul/blur/000001.png \
#       ../shared/data/gopro_mini/test/istanbul/sharp/000001.png results/readings/istanbul
set -euo pipefail
model=$1 blurry=$2 sharp=$3 out=$4 max_size=${5:-250}
py=${PYTHON:-python}
threads=${THREADS:-1}
mkdir -p "$out"/deblurred "$out"/metrics "$out"/info
pair=$(basename "$(dirname "$(dirname "$blurry")")")-$(basename "$blurry" .png)
base_meta=$(printf '{"pair_id": "%s", "kind": "singan", "blurry_path": "%s"}' "$pair" "$blurry")

# name | deblur flags
readings=(
  "g0_k1|--mode g0 --steps 1"
  "g0_k2|--mode g0 --steps 2"
  "g0_k3|--mode g0 --steps 3"
  "g0_k4|--mode g0 --steps 4"
  "sr_x4|--mode sr --sr-factor 4 --sr-step reference"
  "sr_full|--mode sr --sr-factor full --sr-step reference"
  "sample|--mode sample"
  "sr_x4_pyramid|--mode sr --sr-factor 4 --sr-step pyramid"
  "sr_full_pyramid|--mode sr --sr-factor full --sr-step pyramid"
  "g0_k1_nonoise|--mode g0 --steps 1 --no-noise"
  "sr_x4_nonoise|--mode sr --sr-factor 4 --no-noise"
  "sr_full_nonoise|--mode sr --sr-factor full --no-noise"
  "sample_seed1|--mode sample --seed 1"
  "sample_seed2|--mode sample --seed 2"
  "sample_seed3|--mode sample --seed 3"
  "sample_seed4|--mode sample --seed 4"
  "sample_nonoise|--mode sample --no-noise"
)
if [[ ! -f $out/metrics/identity.parquet ]]; then
  "$py" -m deblur evaluate --pred "$blurry" --sharp "$sharp" --max-size "$max_size" \
    --meta "$(printf '{"pair_id": "%s", "method": "identity", "kind": "identity"}' "$pair")" \
    --out "$out/metrics/identity.parquet"
fi
for entry in "${readings[@]}"; do
  name=${entry%%|*} flags=${entry#*|}
  [[ -f $out/metrics/$name.parquet ]] && continue
  # shellcheck disable=SC2086  # flags are words
  /usr/bin/time -f "$name deblur: %e s wall, %U s user, %S s sys, %M KiB max RSS" \
    "$py" -m deblur deblur --model "$model" --image "$blurry" --out "$out/deblurred/$name.png" \
    --device cpu --threads "$threads" --info "$out/info/$name.json" $flags \
    2>&1 | grep -v "^$" | tail -2
  "$py" -m deblur evaluate --pred "$out/deblurred/$name.png" --sharp "$sharp" \
    --max-size "$max_size" --model "$model" --meta "$base_meta" \
    --meta "{\"method\": \"$name\"}" --meta "$out/info/$name.json" \
    --out "$out/metrics/$name.parquet" 2>&1 | tail -1
done
"$py" - "$out/metrics" <<'EOF'
import sys

from deblur.evaluation.tables import load_metrics

df = load_metrics([sys.argv[1]])
base = df[df["method"] == "identity"].set_index("resolution")
print("| reading | output | passes x factor | full PSNR | full SSIM | model PSNR | model SSIM |"
      " vs blurry, full | vs blurry, model |")
print("|---|---|---|---|---|---|---|---|---|")
for method, g in df.groupby("method", sort=False):
    r = g.set_index("resolution")
    f, m = r.loc["full"], r.loc["model"]
    if method == "identity":
        size = passes = "input"
    else:
        size = f"{f['deblur_out_width']}x{f['deblur_out_height']}"
        passes = f"{f['deblur_passes']} x {f['deblur_pass_factor']:.4f}"
    d = [r.loc[res, k] - base.loc[res, k] for res in ("full", "model") for k in ("psnr", "ssim")]
    print(f"| {method} | {size} | {passes} | {f['psnr']:.2f} | {f['ssim']:.3f} | {m['psnr']:.2f}"
          f" | {m['ssim']:.3f} | {d[0]:+.2f} dB, {d[1]:+.3f} | {d[2]:+.2f} dB, {d[3]:+.3f} |")
EOF
