#!/usr/bin/env bash
# A recipe's `cmd` on a Slurm cluster: one array job, submitted and waited for.
#   utils/run_sbatch.sh JOB=1:N LOG COMMAND [ARG ...]
# runs `sbatch --wait --array=1-N`: task K runs COMMAND with every "JOB" in its arguments set to
# K ($SLURM_ARRAY_TASK_ID) and writes LOG with JOB set to K. sbatch's own options (partition,
# time, memory, CPUs) come from $sbatch_opts, e.g.
#   sbatch_opts="--partition=cpu --time=1:00:00 --cpus-per-task=1 --mem=4G" ./run.sh --cmd utils/run_sbatch.sh --nj 32
# The tasks inherit the submitting shell's environment (sbatch's default --export=ALL), so
# `mtts` must be on PATH there and the working directory on a filesystem the nodes share.
set -euo pipefail
[ $# -ge 3 ] || { echo "usage: $0 JOB=1:N LOG COMMAND [ARG ...]" >&2; exit 1; }
spec=$1; log=$2; shift 2
[[ ${spec} =~ ^JOB=([0-9]+):([0-9]+)$ ]] || { echo "$0: expected JOB=FIRST:LAST, got '${spec}'" >&2; exit 1; }
mkdir -p "$(dirname "${log}")"              # Slurm does not create the log's directory
command=$(printf '%q ' "$@")                 # quoted for the /bin/sh script that --wrap writes
task='${SLURM_ARRAY_TASK_ID}'                # expanded in each task, not here
# shellcheck disable=SC2086  # sbatch_opts is a list of options
exec sbatch --wait --array="${BASH_REMATCH[1]}-${BASH_REMATCH[2]}" --job-name="${sbatch_name:-mtts}" \
  --output="${log//JOB/%a}" ${sbatch_opts:-} --wrap "${command//JOB/${task}}"
