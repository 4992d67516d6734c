#!/usr/bin/env bash
# A recipe's `cmd` inside a Slurm allocation (salloc, or a batch script): one srun step of N tasks.
#   utils/run_srun.sh JOB=1:N LOG COMMAND [ARG ...]
# task K runs COMMAND with every "JOB" in its arguments set to K and writes LOG with JOB set to
# K; any task failing stops the others (--kill-on-bad-exit). srun's options come from
# $srun_opts, e.g. srun_opts="--cpus-per-task=1". The allocation must hold N tasks.
set -euo pipefail
[ $# -ge 3 ] || { echo "usage: $0 JOB=1:N LOG COMMAND [ARG ...]" >&2; exit 1; }
spec=$1; log=$2; shift 2
[[ ${spec} =~ ^JOB=([0-9]+):([0-9]+)$ ]] || { echo "$0: expected JOB=FIRST:LAST, got '${spec}'" >&2; exit 1; }
first=${BASH_REMATCH[1]}; last=${BASH_REMATCH[2]}
mkdir -p "$(dirname "${log}")"
# shellcheck disable=SC2016,SC2086  # the script is expanded by each task's shell; srun_opts is a list
exec srun --ntasks="$((last - first + 1))" --kill-on-bad-exit=1 ${srun_opts:-} bash -c '
  k=$(('"${first}"' + SLURM_PROCID)); log=$1; shift
  exec "${@//JOB/$k}" > "${log//JOB/$k}" 2>&1' run_srun "${log}" "$@"
