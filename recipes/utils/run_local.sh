#!/usr/bin/env bash
# A recipe's `cmd` on one host: run a command as N jobs at once, as an array job's tasks would.
#   utils/run_local.sh JOB=1:N LOG COMMAND [ARG ...]
# Every "JOB" in LOG and in the arguments becomes the job's number (1..N), Kaldi's convention;
# each job's output goes to its own LOG. Fails, naming the logs, when any job fails. Not a
# scheduler: on a cluster set cmd=utils/run_sbatch.sh or utils/run_srun.sh (docs/scaling.md).
set -euo pipefail
[ $# -ge 3 ] || { echo "usage: $0 JOB=1:N LOG COMMAND [ARG ...]" >&2; exit 1; }
spec=$1; log=$2; shift 2
[[ ${spec} =~ ^JOB=([0-9]+):([0-9]+)$ ]] || { echo "$0: expected JOB=FIRST:LAST, got '${spec}'" >&2; exit 1; }
first=${BASH_REMATCH[1]}; last=${BASH_REMATCH[2]}
pids=()
for ((k = first; k <= last; k++)); do
  mkdir -p "$(dirname "${log//JOB/$k}")"
  "${@//JOB/$k}" > "${log//JOB/$k}" 2>&1 &
  pids+=($!)
done
failed=()
for i in "${!pids[@]}"; do
  wait "${pids[$i]}" || failed+=("${log//JOB/$((first + i))}")
done
if [ ${#failed[@]} -gt 0 ]; then
  echo "$0: ${#failed[@]} of $((last - first + 1)) jobs failed, see ${failed[*]}; the first one ends:" >&2
  tail -n 3 "${failed[0]}" >&2
  exit 1
fi
