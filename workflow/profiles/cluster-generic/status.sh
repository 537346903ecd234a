#!/usr/bin/env bash
# Print the state of one job as cluster-generic expects it: running, success or failed.
#
#   status.sh JOBID
#
# SGE: `qstat -j` knows queued/running jobs (an "error reason" there, state Eqw, is a failure);
#      once the job has left the queue, `qacct -j` gives failed/exit_status (both 0: success).
#      qacct can lag a few seconds behind qstat: until it has the record, the job is running.
# PBS: `qstat -x -f` (PBS Pro/OpenPBS job history) gives job_state; F (or Torque's C) is
#      finished, Exit_status 0 is success. A job qstat no longer knows at all is failed.
# The scheduler is DEBLUR_SCHEDULER (sge|pbs), else SGE when qacct is on PATH, else PBS.
set -uo pipefail

[ $# = 1 ] || { echo "usage: status.sh JOBID" >&2; exit 2; }
jobid=$1
scheduler=${DEBLUR_SCHEDULER:-}
if [ -z "$scheduler" ]; then
    if command -v qacct >/dev/null; then scheduler=sge; else scheduler=pbs; fi
fi

# the value of "key value" (SGE) or "key = value" (PBS) lines
field() { awk -v k="$1" '$1 == k { print ($2 == "=" ? $3 : $2); exit }'; }

sge_status() {
    local info acct failed exit_status
    if info=$(qstat -j "$jobid" 2>/dev/null); then
        if grep -q '^error reason' <<<"$info"; then echo failed; else echo running; fi
        return
    fi
    if ! acct=$(qacct -j "$jobid" 2>/dev/null); then
        echo running # finished, but not yet in the accounting file
        return
    fi
    failed=$(field failed <<<"$acct")
    exit_status=$(field exit_status <<<"$acct")
    if [ "$failed" = 0 ] && [ "$exit_status" = 0 ]; then echo success; else echo failed; fi
}

pbs_status() {
    local info state exit_status
    if ! info=$(qstat -x -f "$jobid" 2>&1); then
        if grep -qi 'unknown job' <<<"$info"; then
            echo "status.sh: qstat does not know job $jobid any more" >&2
            echo failed
        else
            echo running # a transient server error: ask again at the next poll
        fi
        return
    fi
    state=$(field job_state <<<"$info")
    case "$state" in
    F | C)
        exit_status=$(field Exit_status <<<"$info")
        [ -n "$exit_status" ] || exit_status=$(field exit_status <<<"$info")
        if [ "$exit_status" = 0 ]; then echo success; else echo failed; fi
        ;;
    *) echo running ;;
    esac
}

case "$scheduler" in
sge) sge_status ;;
pbs) pbs_status ;;
*) echo "status.sh: DEBLUR_SCHEDULER must be sge or pbs, got '$scheduler'" >&2; exit 2 ;;
esac
