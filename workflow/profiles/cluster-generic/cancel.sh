#!/usr/bin/env bash
# Cancel jobs (cluster-generic cancel command, called with job ids when Snakemake is interrupted).
# qdel takes job ids on SGE and PBS alike.
set -euo pipefail
[ $# -gt 0 ] || exit 0
exec qdel "$@"
