#!/usr/bin/env bash
# Submit one Snakemake job script with qsub and print the job id (cluster-generic submit command).
#
#   submit.sh --name N --threads T --mem-mb M --gpus G --runtime MIN --log-dir DIR JOBSCRIPT
#
# SGE:  qsub -terse -cwd -V -N N -pe $SGE_PE T -l h_vmem=<M/T>M -l h_rt=H:MM:00
#            [-l $SGE_GPU_RESOURCE=G] -j y -o DIR/ $DEBLUR_QSUB_ARGS JOBSCRIPT
#       (h_vmem is per slot on SGE: the job's memory is split over its T slots)
# PBS:  qsub -V -N N -l select=1:ncpus=T:mem=Mmb[:ngpus=G] -l walltime=H:MM:00
#            -j oe -o DIR/ $DEBLUR_QSUB_ARGS JOBSCRIPT
# The scheduler is DEBLUR_SCHEDULER (sge|pbs), else SGE when qacct is on PATH, else PBS.
set -euo pipefail

die() { echo "submit.sh: $*" >&2; exit 2; }

name=snakejob threads=1 mem_mb=1000 gpus=0 runtime=60 log_dir=logs/cluster
while [ $# -gt 1 ]; do
    case "$1" in
    --name) name=$2 ;;
    --threads) threads=$2 ;;
    --mem-mb) mem_mb=$2 ;;
    --gpus) gpus=$2 ;;
    --runtime) runtime=$2 ;;
    --log-dir) log_dir=$2 ;;
    *) die "unknown option $1" ;;
    esac
    shift 2
done
[ $# = 1 ] || die "expected the job script as the last argument"
jobscript=$1
for v in threads mem_mb gpus runtime; do
    [[ ${!v} =~ ^[0-9]+$ ]] || die "--${v//_/-} must be a whole number, got '${!v}'"
done
[ "$threads" -ge 1 ] || threads=1

scheduler=${DEBLUR_SCHEDULER:-}
if [ -z "$scheduler" ]; then
    if command -v qacct >/dev/null; then scheduler=sge; else scheduler=pbs; fi
fi
walltime=$(printf '%d:%02d:00' $((runtime / 60)) $((runtime % 60)))
mkdir -p "$log_dir"
# site flags, split on whitespace on purpose
read -r -a site_args <<<"${DEBLUR_QSUB_ARGS:-}"

case "$scheduler" in
sge)
    args=(-terse -cwd -V -N "$name" -pe "${SGE_PE:-smp}" "$threads"
        -l "h_vmem=$(((mem_mb + threads - 1) / threads))M" -l "h_rt=$walltime")
    [ "$gpus" -gt 0 ] && args+=(-l "${SGE_GPU_RESOURCE:-gpu}=$gpus")
    args+=(-j y -o "$log_dir/")
    ;;
pbs)
    select="select=1:ncpus=$threads:mem=${mem_mb}mb"
    [ "$gpus" -gt 0 ] && select+=":ngpus=$gpus"
    args=(-V -N "$name" -l "$select" -l "walltime=$walltime" -j oe -o "$log_dir/")
    ;;
*) die "DEBLUR_SCHEDULER must be sge or pbs, got '$scheduler'" ;;
esac

out=$(qsub "${args[@]}" "${site_args[@]}" "$jobscript") || die "qsub failed: $out"
# SGE -terse prints the id; PBS prints e.g. 1234.server: the first token is what qstat takes
jobid=$(printf '%s\n' "$out" | awk 'NF {print $1; exit}')
[ -n "$jobid" ] || die "qsub printed no job id"
echo "$jobid"
