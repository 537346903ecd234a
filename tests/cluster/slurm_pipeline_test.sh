#!/usr/bin/env bash
# The real-cluster test of workflow/profiles/slurm (run by `tests/cluster/slurm_local.sh test`):
#
#  1. start a one-node SLURM on localhost (slurm_local.sh; installs slurm-wlm/munge when missing)
#  2. run the tiny pipeline through `--profile workflow/profiles/slurm` with one training image
#     corrupted: the failed job is reported with its log path, the other jobs finish
#  3. restore the image and re-run: it resumes, without redoing any finished training
#  4. run the same config locally and compare the results (CPU, same seeds and threads: equal);
#     check where the trainings ran: under SLURM on the GPU SLURM assigned, locally in a GPU
#     slot of their own (deblur/gpu_slots.py, two GPUs faked)
#  5. check in squeue and slurmctld's job completion log that every planned job ran as a
#     SLURM job, in the partition and with the GPUs the profile asks for
#  6. regroup the two finished trainings as one batch (train.batch 2): one SLURM job with one
#     GPU and the batch's memory, which writes both model.json files and retrains no scale
#  7. stop every daemon it started (also on failure or Ctrl-C) and remove the temp dir
#
# Needs root. SLURM_LOCAL_KEEP=1 keeps the temp dir (daemons stop regardless).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
PY=${PYTHON:-$REPO/.venv/bin/python}
CONFIGS=(--configfile tiny.yaml tiny_cluster.yaml) # nargs: targets go before it
SLURM_PROFILE=(--profile "$REPO/workflow/profiles/slurm" --profile "$HERE/profile")
NODE_GPUS=2 # the fake GPUs slurm_local.sh gives the node

# messages go to the original stderr, also from the trap while a command's output is redirected
exec {MSG}>&2
log() { printf '[slurm test %(%H:%M:%S)T] %s\n' -1 "$*" >&"$MSG"; }
fail() { log "FAILED: $*"; exit 1; }

[ "$(id -u)" = 0 ] || fail "must run as root (it starts slurmctld, slurmd and munged)"
[ -x "$PY" ] || fail "no Python at $PY: run \`make setup\` first (or set PYTHON)"

BASE=$(mktemp -d /tmp/deblur-slurm.XXXXXX)
SNAKEMAKE_PID=
cleanup() {
    local rc=$? i
    trap - EXIT INT TERM
    # an interrupted Snakemake: SIGINT makes it scancel its jobs (SIGTERM would not stop it)
    if [ -n "$SNAKEMAKE_PID" ] && kill -0 "$SNAKEMAKE_PID" 2>/dev/null; then
        log "interrupting Snakemake (pid $SNAKEMAKE_PID)"
        kill -INT "$SNAKEMAKE_PID" 2>/dev/null || true
        for i in $(seq 100); do kill -0 "$SNAKEMAKE_PID" 2>/dev/null || break; sleep 0.2; done
        kill -KILL "$SNAKEMAKE_PID" 2>/dev/null || true
    fi
    "$HERE/slurm_local.sh" stop "$BASE" 2>&"$MSG" || rc=1
    if [ "${SLURM_LOCAL_KEEP:-0}" = 1 ]; then
        log "kept $BASE"
    else
        rm -rf "$BASE"
    fi
    [ $rc = 0 ] && log "PASSED" || log "exit status $rc"
    exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

t0=$SECONDS
"$HERE/slurm_local.sh" start "$BASE"
# shellcheck source=/dev/null
source "$BASE/env.sh"
t_start=$((SECONDS - t0))

# snakemake WORKDIR ARGS...: the project's Snakefile with WORKDIR as working directory. It runs
# in the background so that a signal reaches our trap at once (bash defers traps while a
# foreground command runs), and the trap can interrupt it by pid.
snakemake() {
    local wd=$1 rc=0
    shift
    (cd "$wd" && exec "$PY" -m snakemake --snakefile "$REPO/Snakefile" --directory "$wd" "$@") &
    SNAKEMAKE_PID=$!
    wait "$SNAKEMAKE_PID" || rc=$?
    SNAKEMAKE_PID=
    return $rc
}

workdir() {
    mkdir -p "$1"
    cp "$REPO/config.yaml" "$REPO/tests/configs/tiny.yaml" "$HERE/tiny_cluster.yaml" "$1/"
}

SLURM_WD=$BASE/work/slurm LOCAL_WD=$BASE/work/local
workdir "$SLURM_WD"
workdir "$LOCAL_WD"
snakemake "$SLURM_WD" -n "${CONFIGS[@]}" >"$BASE/plan.txt" 2>&1 ||
    { tail -20 "$BASE/plan.txt"; fail "dry run failed"; }

# --- 2. a failing job ----------------------------------------------------------------------
t1=$SECONDS
log "SLURM run 1/3: synthesize the dataset"
snakemake "$SLURM_WD" synthesize_dataset "${SLURM_PROFILE[@]}" "${CONFIGS[@]}" \
    >"$BASE/run1.log" 2>&1 || { tail -30 "$BASE/run1.log"; fail "SLURM run 1 failed"; }
image=$("$PY" "$HERE/slurm_checks.py" reference "$BASE/plan.txt")
log "injecting a failure: corrupting the training image $image"
cp -p "$SLURM_WD/$image" "$BASE/original.png"
echo "not a PNG: injected by slurm_pipeline_test.sh" >"$SLURM_WD/$image"
touch -r "$BASE/original.png" "$SLURM_WD/$image" # same mtime: only the content is broken

log "SLURM run 2/3: the pipeline, one training must fail"
if snakemake "$SLURM_WD" "${SLURM_PROFILE[@]}" "${CONFIGS[@]}" >"$BASE/run2.log" 2>&1; then
    fail "SLURM run 2 succeeded despite the corrupted image"
fi
grep -q "Error in rule train_singan" "$BASE/run2.log" ||
    { tail -40 "$BASE/run2.log"; fail "run 2 did not report the failed train_singan job"; }
# the report names the SLURM job's log, which exists and holds the job's error
slurm_log=$(grep -A12 "Error in rule train_singan" "$BASE/run2.log" | grep '^ *log: ' |
    grep -o '/[^ ,]*/logs/slurm/rule_train_singan/[^ ,]*\.log' | head -1)
[ -n "$slurm_log" ] && [ -s "$slurm_log" ] ||
    { tail -40 "$BASE/run2.log"; fail "no SLURM log path in the error report (got '$slurm_log')"; }
grep -q "$image" "$slurm_log" || fail "$slurm_log does not mention the corrupted $image"
log "reported with its SLURM log: ${slurm_log#"$SLURM_WD"/}"
# keep-going: the other trainings finished
finished=$(find "$SLURM_WD/results/models" -name model.json | sort)
[ -n "$finished" ] || fail "no training finished in run 2 (keep-going)"
stat -c '%n %y' $finished >"$BASE/models_before.txt"

# --- 3. resume -----------------------------------------------------------------------------
cp -p "$BASE/original.png" "$SLURM_WD/$image"
snakemake "$SLURM_WD" -n "${CONFIGS[@]}" >"$BASE/plan_resume.txt" 2>&1
grep -qE "^train_singan +1$" "$BASE/plan_resume.txt" ||
    { cat "$BASE/plan_resume.txt"; fail "the resume plan should retrain exactly one image"; }
log "SLURM run 3/3: resume"
snakemake "$SLURM_WD" "${SLURM_PROFILE[@]}" "${CONFIGS[@]}" >"$BASE/run3.log" 2>&1 ||
    { tail -40 "$BASE/run3.log"; fail "SLURM run 3 (resume) failed"; }
stat -c '%n %y' $finished | cmp -s - "$BASE/models_before.txt" ||
    fail "finished trainings were redone on resume"
t_slurm=$((SECONDS - t1))

# --- 4. the same config locally ------------------------------------------------------------
t2=$SECONDS
log "local run"
# two faked GPUs, as the node has: the trainings (train.device auto) take GPU slots
DEBLUR_GPU_COUNT=$NODE_GPUS snakemake "$LOCAL_WD" --cores 2 "${CONFIGS[@]}" >"$BASE/local.log" 2>&1 ||
    { tail -40 "$BASE/local.log"; fail "local run failed"; }
t_local=$((SECONDS - t2))
"$PY" "$HERE/slurm_checks.py" compare "$SLURM_WD" "$LOCAL_WD" || fail "results differ"
"$PY" "$HERE/slurm_checks.py" devices "$SLURM_WD" "$LOCAL_WD" "$NODE_GPUS" || fail "devices"

# --- 5. SLURM's own records ----------------------------------------------------------------
# squeue_records NAME: every job as JOBID|COMMENT|STATE|PARTITION|MIN_MEMORY|TRES_PER_JOB in
# $BASE/NAME.txt; the comment is rule_<rule>_wildcards_<values> (set by the executor plugin)
squeue_records() {
    squeue -h -t all -o '%i|%k|%T|%P|%m' | sort >"$BASE/$1_a.txt"
    squeue -h -t all -O 'JobID:20,tres-per-job:40' | awk '{print $1 "|" $2}' |
        sort >"$BASE/$1_b.txt"
    join -t '|' "$BASE/$1_a.txt" "$BASE/$1_b.txt" >"$BASE/$1.txt"
}
squeue_records squeue
# the corrupted image fails its training and the other jobs that read it (sample sheet, metrics)
"$PY" "$HERE/slurm_checks.py" jobs "$BASE/plan.txt" "$BASE/squeue.txt" "$BASE/log/jobcomp.log" \
    --failed train_singan --allow-failed sample_pairs evaluate || fail "SLURM job records"

# --- 6. the trainings regrouped as one batch -------------------------------------------------
# train.batch 2 puts the two finished pyramids into one batch job (a new rule, so Snakemake
# reruns it): through the profile it asks SLURM for one GPU and train.mem_mb +
# batch_mem_mb_per_member, and the command finds every scale trained, so it retrains nothing
t3=$SECONDS
models=$(cd "$SLURM_WD" && find results/models -name model.json | sort)
scale_files() { # path, size and mtime of every scale checkpoint
    (cd "$SLURM_WD" && find results/models -name 'scale_*.pt' -printf '%p %s %T@\n' | sort)
}
scale_files >"$BASE/scales_before.txt"
log "SLURM run 4: the two trainings as one batch (train.batch 2)"
# shellcheck disable=SC2086 # the model.json paths are targets, one word each
snakemake "$SLURM_WD" $models "${SLURM_PROFILE[@]}" "${CONFIGS[@]}" --config 'train={batch: 2}' \
    >"$BASE/run4.log" 2>&1 || { tail -40 "$BASE/run4.log"; fail "SLURM run 4 (batch) failed"; }
scale_files | cmp -s - "$BASE/scales_before.txt" || fail "the batch job retrained finished scales"
squeue_records squeue_batch
"$PY" "$HERE/slurm_checks.py" batch "$SLURM_WD" "$BASE/squeue_batch.txt" "$BASE/log/jobcomp.log" ||
    fail "batch job"
t_batch=$((SECONDS - t3))

log "timings: cluster start ${t_start} s, SLURM runs (3, incl. failure) ${t_slurm} s," \
    "local run ${t_local} s, batch run ${t_batch} s, total $((SECONDS - t0)) s"
