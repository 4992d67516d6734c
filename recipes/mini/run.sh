#!/usr/bin/env bash
# Mini recipe: a single-speaker corpus read by Festival's slt voice, no download needed.
#   ./run.sh                      full run: 2,000 utterances, conf/train.yaml + conf/vocoder.yaml
#                                 (about 1 h 25 min on 2 cores)
#   ./run.sh --fast true          smoke run: 24 utterances, conf/tiny.yaml (about 1 minute)
#   ./run.sh --stage 3 --stop-stage 3   one stage; each stage reads what earlier ones wrote
#   ./run.sh --stage 9 --stop-stage 9   single- vs multi-task ablation (conf/ablate.yaml, ~22 core-hours;
#                                 in pieces: --ablate-njobs 2, or --ablate-opts "--job 1 --njobs 2"; writes docs/ablation.md)
# Stage 0 reads local/sentences.txt (LJSpeech transcripts, public domain; see local/SOURCES.md).
set -euo pipefail
cd "$(dirname "$0")"
. utils/log.sh

stage=0
stop_stage=8          # 9 = the ablation (hours): --stage 9 --stop-stage 9
nj=2                  # jobs of stages 1-2 (prepare, tokenize), run through $cmd
cmd=utils/run_local.sh   # or utils/run_sbatch.sh (a Slurm array), utils/run_srun.sh (docs/scaling.md)
fast=false
n_utts=2000            # sentences read into the corpus
trim_db=45             # prepare cuts leading/trailing silence 45 dB below the peak, but 50 ms (0: keep it)
train_config=conf/train.yaml
vocoder_config=conf/vocoder.yaml
vocoder_finetune_config=   # conf/vocoder_gan.yaml: adversarial fine-tuning (+25 min, see docs/vocoder.md)
tag=
seed=1234
n_dev=50
n_test=50
metric=mel_l1
n_average=1
eval_metrics=all        # stage 8: tasks,acoustic,asr,dnsmos,speed
synth_text="The quick brown fox jumps over the lazy dog, and nobody saw it happen."
heldout_text=local/heldout.txt          # stage 8 also scores these sentences, which never enter training,
heldout_teacher=downloads/slt_heldout   # against the teacher's (Festival slt) reading of them
heldout_n=100                           # how many of them
ablate_plan=conf/ablate.yaml
ablate_exp=exp/ablate
ablate_results=../../docs/ablation/results   # committed: the study is run in pieces, over sessions
ablate_report=../../docs/ablation.md
ablate_opts=                            # e.g. "--job 1 --njobs 2", "--sizes 30 --only single"
ablate_njobs=1                          # > 1: the cells shared among that many jobs run through $cmd

. utils/parse_options.sh

if [ "${fast}" = true ]; then
  n_utts=24; train_config=conf/tiny.yaml; vocoder_config=conf/vocoder_tiny.yaml; n_dev=2; n_test=2; eval_metrics=tasks,acoustic,speed
  heldout_n=2
  ablate_plan=conf/ablate_tiny.yaml; ablate_exp=exp/ablate_tiny; ablate_results=exp/ablate_tiny/results
  ablate_report=exp/ablate_tiny/report.md; ablate_opts="--no-asr ${ablate_opts}"
fi
tag=${tag:-$(basename "${train_config}" .yaml)}
db=downloads/slt_${n_utts}

if [ "${stage}" -le 0 ] && [ "${stop_stage}" -ge 0 ]; then
  log "Stage 0: Festival slt reads ${n_utts} sentences into ${db}"
  utils/make_corpus.sh local/sentences.txt "${db}" "${n_utts}" "${nj}"
  if [ -n "${heldout_text}" ]; then
    log "Stage 0: the teacher reads the held-out sentences too (${heldout_teacher}), to compare on the same text"
    utils/make_corpus.sh "${heldout_text}" "${heldout_teacher}" "${heldout_n}" "${nj}"
  fi
fi

. utils/tts.sh
