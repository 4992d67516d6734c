#!/usr/bin/env bash
# GPU smoke check, one prepared script for a machine with a CUDA GPU (docs/scaling.md):
#   1. the CUDA-only tests (tests/test_device.py; they skip on a CPU-only machine);
#   2. a few hundred steps of the mini config on the GPU in fp32 and bf16, one short torchrun
#      run (nccl, one process) and a few steps on the CPU, then frames/s of each against the CPU.
# usage: benchmarks/gpu_smoke.sh [RECIPE_DIR]     (default recipes/mini)
#   RECIPE_DIR needs data/ and dump/ from its stages up to tokenize (copy them from a CPU
#   machine: the GPU machine needs no espeak or Festival). PYTHON=path/to/python picks the
#   interpreter (one with a CUDA build of torch); STEPS (300) and CPU_STEPS (20) the budgets.
# Expected time: 2-4 minutes on one H100 with the mini config, most of it the CPU steps.
set -euo pipefail
cd "$(dirname "$0")/.."
py=${PYTHON:-python}
recipe=${1:-recipes/mini}
steps=${STEPS:-300}
cpu_steps=${CPU_STEPS:-20}

"$py" -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)" \
  || { echo "$0: $py sees no CUDA GPU (torch $("$py" -c 'import torch; print(torch.__version__)'))" >&2; exit 1; }
[ -f "$recipe/dump/tokens.txt" ] && [ -f "$recipe/data/train/feats.scp" ] \
  || { echo "$0: $recipe/data and $recipe/dump are missing: run its stages up to tokenize first" >&2; exit 1; }
"$py" -c "import torch; print('GPU:', torch.cuda.get_device_name(0), '| torch', torch.__version__)"

echo "== CUDA-only tests"
"$py" -m pytest -q -p no:cacheprovider tests/test_device.py

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# the recipe's config, without its per-checkpoint ASR (pocketsphinx may be absent), one
# checkpoint at the end and a log line every 10 steps, in fp32 and in bf16
"$py" - "$recipe/conf/train.yaml" "$work" <<'PY'
import sys, yaml
cfg = yaml.safe_load(open(sys.argv[1]))
cfg["train"].update(asr_utts=0, ckpt_every=10 ** 6, log_every=10, max_minutes=0)
for precision in ("fp32", "bf16"):
    cfg["train"]["precision"] = precision
    yaml.safe_dump(cfg, open(f"{sys.argv[2]}/{precision}.yaml", "w"))
PY

train() {   # NAME PRECISION DEVICE STEPS [LAUNCHER...]
  local name=$1 precision=$2 device=$3 n=$4; shift 4
  echo "== $name: $n steps, $precision on $device"
  "$@" train -c "$work/$precision.yaml" --data-dir "$recipe/data" --dump-dir "$recipe/dump" \
    --exp-dir "$work/$name" --device "$device" --max-steps "$n" > "$work/$name.json" 2> "$work/$name.log" \
    || { tail -20 "$work/$name.log" >&2; exit 1; }
}
train cuda_fp32 fp32 cuda "$steps" "$py" -m mtts.cli
train cuda_bf16 bf16 cuda "$steps" "$py" -m mtts.cli
train torchrun_1gpu bf16 cuda 100 "$py" -m torch.distributed.run --nproc-per-node 1 --master-port 29511 -m mtts.cli
train cpu_fp32 fp32 cpu "$cpu_steps" "$py" -m mtts.cli

"$py" - "$work" <<'PY'
import json, statistics, sys
from pathlib import Path
work = Path(sys.argv[1])
def fps(name):   # median frames/s of the log lines after the first (warm-up, kernel choice)
    lines = [json.loads(l) for l in (work / name / "metrics.jsonl").read_text().splitlines()]
    train = [r for r in lines if r["split"] == "train"]
    return statistics.median(r["frames_per_s"] for r in (train[1:] or train)), train[-1]
cpu, _ = fps("cpu_fp32")
print(f"\n{'run':<16}{'frames/s':>12}{'x CPU':>8}  last losses")
for name in ("cuda_fp32", "cuda_bf16", "torchrun_1gpu", "cpu_fp32"):
    f, last = fps(name)
    losses = " ".join(f"{k[5:]}={v:.3f}" for k, v in last.items() if k.startswith("loss_"))
    print(f"{name:<16}{f:>12,.0f}{f / cpu:>8.1f}  step {last['step']}: {losses}")
PY
