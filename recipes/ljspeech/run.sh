#!/usr/bin/env bash
# LJSpeech-1.1 recipe. Point --db at an unpacked LJSpeech-1.1 (metadata.csv + wavs/).
#   ./run.sh --db /data/LJSpeech-1.1
#   ./run.sh --db ../../../shared/data/ljspeech-mini --train-config conf/tiny.yaml \
#       --vocoder-config conf/vocoder_tiny.yaml --vocoder-finetune-config conf/vocoder_gan_tiny.yaml \
#       --n-dev 2 --n-test 2
set -euo pipefail
cd "$(dirname "$0")"
. utils/log.sh

db=
stage=1
stop_stage=8          # 9 = the ablation (hours): --stage 9 --stop-stage 9
nj=2                  # jobs of stages 1-2 (prepare, tokenize), run through $cmd
cmd=utils/run_local.sh   # or utils/run_sbatch.sh (a Slurm array), utils/run_srun.sh (docs/scaling.md)
train_config=conf/train.yaml
vocoder_config=conf/vocoder.yaml
vocoder_finetune_config=   # conf/vocoder_gan.yaml: adversarial fine-tuning (+25 min, see docs/vocoder.md)
tag=
seed=1234
n_dev=100
n_test=100
metric=mel_l1
n_average=1
eval_metrics=all        # stage 8: tasks,acoustic,asr,dnsmos,speed
synth_text="Printing, in the only sense with which we are at present concerned, differs from most if not from all the arts."

. utils/parse_options.sh

[ -n "${db}" ] || { echo "$0: --db PATH (an LJSpeech-layout corpus) is required" >&2; exit 1; }
[ -f "${db}/metadata.csv" ] || { echo "$0: ${db}/metadata.csv not found: is --db an LJSpeech-1.1 folder?" >&2; exit 1; }
db=$(cd "${db}" && pwd)
tag=${tag:-$(basename "${train_config}" .yaml)}

. utils/tts.sh
