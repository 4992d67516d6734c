#!/usr/bin/env bash
# Mini multi-speaker recipe: an LJSpeech-style corpus read by the English voices Debian ships
# (Festival slt, kal, ked; flite awb), no download needed; flite's rms is held out of training
# for the adaptation study (conf/voices.txt says which voice is which).
#   ./run.sh                      300 utterances per voice (1,200 in training, 2.1 h of audio; the
#                                 corpus took 9 minutes to build on 2 cores), conf/train.yaml + conf/vocoder.yaml
#   ./run.sh --fast true          smoke run: 6 utterances per voice, conf/tiny.yaml (about 4.5 minutes)
#   ./run.sh --train-config conf/speaker_tasks.yaml   the same with both speaker tasks
#   ./run.sh --stage 10 --stop-stage 10   adapt the selected model to the held-out voice rms with
#                                 adapt_minutes of its recordings (docs/adaptation.md)
#   ./run.sh --stage 11 --stop-stage 11   the adaptation study: rms from 5, 10, 30 minutes, adapted
#                                 vs from scratch vs pooled (local/adapt_study.py; docs/adaptation/study.md)
# Stage 0 reads the mini recipe's local/sentences.txt (LJSpeech transcripts, public domain).
set -euo pipefail
cd "$(dirname "$0")"
. utils/log.sh

stage=0
stop_stage=8
nj=2
cmd=utils/run_local.sh   # or utils/run_sbatch.sh, utils/run_srun.sh (docs/scaling.md)
fast=false
n_utts=300              # sentences per voice; each voice reads its own
voices=conf/voices.txt  # speaker, voice, role (train or heldout)
trim_db=45              # prepare cuts leading/trailing silence 45 dB below the peak, but 50 ms
train_config=conf/train.yaml
vocoder_config=conf/vocoder.yaml
vocoder_finetune_config=
tag=
seed=1234
n_dev=40                # about 10 per training voice (the split is by a hash of the id)
n_test=40
metric=mel_l1
n_average=1
eval_metrics=all
synth_text="The quick brown fox jumps over the lazy dog, and nobody saw it happen."
heldout_text=           # no teacher comparison: each voice is its own teacher (stage 8 scores per speaker)
lexicon_words=0         # no G2P task here
adapt_speaker=rms       # stage 10: the held-out voice adapted to, from downloads/heldout/
adapt_minutes=5         # whole minutes of its recordings trained on (the first utterances of its train split)
adapt_config=conf/adapt.yaml
study_opts=             # stage 11, e.g. "--minutes 10 --variants adapt,scratch"

. utils/parse_options.sh

if [ "${fast}" = true ]; then
  n_utts=6; train_config=conf/tiny.yaml; vocoder_config=conf/vocoder_tiny.yaml; n_dev=4; n_test=4
  eval_metrics=tasks,acoustic,speed; adapt_config=conf/adapt_tiny.yaml
fi
tag=${tag:-$(basename "${train_config}" .yaml)}
db=downloads/multi_${n_utts}
# stage 7 speaks the sample sentence once in every training voice
synth_speakers=$(awk '!/^#/ && $3 == "train" {print $1}' "${voices}" | xargs)

if [ "${stage}" -le 0 ] && [ "${stop_stage}" -ge 0 ]; then
  log "Stage 0: the voices of ${voices} read ${n_utts} sentences each into ${db} (held out: downloads/heldout/)"
  local/make_multi_corpus.sh "${voices}" local/sentences.txt "${n_utts}" "${nj}" "${db}" downloads/heldout
fi

. utils/tts.sh

if [ "${stage}" -le 10 ] && [ "${stop_stage}" -ge 10 ]; then
  # data_<speaker>/, dump_<speaker>/: the held-out voice prepared as the training corpus was
  # (same features, trim_db included, which --init-from checks), then exp/${tag}/best.safetensors
  # fine-tuned on its first adapt_minutes; evaluated on its own test split
  spk=${adapt_speaker}; adata=data_${spk}; adump=dump_${spk}; aexp=exp/${tag}_adapt_${spk}
  log "Stage 10: adapt exp/${tag}/best.safetensors to ${spk} (${adapt_minutes} min) with ${adapt_config}: ${aexp}"
  ${mtts} prepare "downloads/heldout/${spk}" --data-dir "${adata}" --dump-dir "${adump}" --nj "${nj}" \
    --n-dev "$(( n_dev / 4 ))" --n-test "$(( n_test / 4 ))" --trim-db "${trim_db}"
  ${mtts} tokenize --data-dir "${adata}" --dump-dir "${adump}"
  # the first utterances (in id order, as training reads them) up to adapt_minutes
  n=$(sort "${adata}/train/utt2dur" | awk -v s="$(( adapt_minutes * 60 ))" '{t += $2; n++} t >= s {exit} END {print n}')
  log "Stage 10: ${n} utterances of ${adata}/train"
  resume=()
  if compgen -G "${aexp}/checkpoints/step_*.pt" >/dev/null; then resume=(--resume); fi
  ${mtts} train --config "${adapt_config}" --data-dir "${adata}" --dump-dir "${adump}" --exp-dir "${aexp}" \
    --init-from "exp/${tag}/best.safetensors" --max-utts "${n}" "${resume[@]}"
  ${mtts} evaluate --exp-dir "${aexp}" --data-dir "${adata}" --split dev --metrics tasks
  ${mtts} select-best --exp-dir "${aexp}" --split dev --metric "${metric}" --vocoder "${fexp}"
  ${mtts} evaluate "${aexp}/best.safetensors" --exp-dir "${aexp}" --data-dir "${adata}" --split test \
    --metrics "${eval_metrics}" --references --nj "${nj}"
  log "Report: ${aexp}/eval/test/report.md"
fi

if [ "${stage}" -le 11 ] && [ "${stop_stage}" -ge 11 ]; then
  # runs in pieces: each finished model leaves docs/adaptation/results/<variant>_<minutes>min.json
  log "Stage 11: adaptation study ${study_opts}"
  python local/adapt_study.py ${study_opts}
fi
