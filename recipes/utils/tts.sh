#!/usr/bin/env bash
# The stages every LJSpeech-like recipe shares, sourced by recipes/<corpus>/run.sh after it
# has set: db (LJSpeech-layout corpus), stage, stop_stage, nj, cmd, train_config, vocoder_config,
# tag, seed, n_dev, n_test, metric, n_average, synth_text, eval_metrics, and optionally
# heldout_text + heldout_teacher (sentences outside the corpus and the teacher's reading of
# them; heldout_n of them), and synth_speakers (a multi-speaker model's voices for stage 7's
# sample). Each stage is one or two `mtts` commands.
# As in Kaldi, stages 1 and 2 run as $nj jobs through $cmd (utils/run_local.sh: all at once on
# this host; utils/run_sbatch.sh: a Slurm array; utils/run_srun.sh: tasks of an allocation), each
# job one shard (--job JOB --njobs $nj, logs in dump/log/), then a --merge; docs/scaling.md.
#   1 prepare   data/{train,dev,test}, dump/feats, dump/stats.json
#   2 tokenize  data/*/phones, dump/tokens.txt, dump/lexicon/ (cmudict words for G2P)
#   3 train     exp/$tag/{config.yaml,checkpoints/,metrics.jsonl,tb/,plots/}
#   4 vocoder   exp/<vocoder config name>/{config.yaml,checkpoints/,metrics.jsonl}, then (when
#               vocoder_finetune_config is set) its adversarial fine-tuning on the acoustic
#               model's teacher-forced mels in exp/<fine-tune config name>/
#   5 evaluate  exp/$tag/eval/dev/*.json (per-task metrics of every checkpoint)
#   6 select    exp/$tag/best.safetensors (with the neural vocoder), exp/$tag/selection.json
#   7 synth     exp/$tag/synth/test/*.wav, exp/$tag/synth/sample.wav (and sample_<speaker>.wav for
#               each of synth_speakers)
#   8 report    exp/$tag/eval/test/{best.json,references.json,report.md} (the best model in full);
#               with heldout_text, exp/$tag/eval/<heldout>/{best.json,teacher.json,report.md}: WER/CER as
#               multiples of the teacher's on the same sentences
#   9 ablate    $ablate_exp/<size>/<variant>/seed<k>/ (runs), $ablate_results/ (one JSON per
#               finished cell), $ablate_report: single- vs multi-task at equal steps over paired
#               seeds and data sizes (hours; only when --stop-stage reaches 9; pieces via $ablate_opts,
#               or ablate_njobs > 1: that many jobs through $cmd, logs in $ablate_exp/log/)

mtts=${mtts:-mtts}
cmd=${cmd:-utils/run_local.sh}
exp=exp/${tag}
vocoder_config=${vocoder_config:-conf/vocoder.yaml}
vexp=exp/$(basename "${vocoder_config}" .yaml)
vocoder_finetune_config=${vocoder_finetune_config:-}   # empty: no adversarial fine-tuning
if [ -n "${vocoder_finetune_config}" ]; then
  fexp=exp/$(basename "${vocoder_finetune_config}" .yaml)
else
  fexp=${vexp}
fi
lexicon_words=${lexicon_words:-20000}      # cmudict words for the G2P task's own dataset
ablate_plan=${ablate_plan:-conf/ablate.yaml}          # variants, sizes, seeds and steps
ablate_exp=${ablate_exp:-exp/ablate}
ablate_results=${ablate_results:-${ablate_exp}/results}
ablate_report=${ablate_report:-${ablate_exp}/report.md}
ablate_opts=${ablate_opts:-}      # e.g. "--job 1 --njobs 2", "--sizes 30 --only single", "--report-only"
ablate_njobs=${ablate_njobs:-1}   # > 1: the cells shared among that many jobs run through $cmd

if [ "${stage}" -le 1 ] && [ "${stop_stage}" -ge 1 ]; then
  log "Stage 1: prepare data dirs and features from ${db}: ${nj} jobs through ${cmd}, then their merge"
  # one worker process per job: the jobs are the parallelism
  ${cmd} JOB=1:"${nj}" dump/log/prepare.JOB.log \
    ${mtts} prepare "${db}" --data-dir data --dump-dir dump --nj 1 --trim-db "${trim_db:-0}" --job JOB --njobs "${nj}"
  ${mtts} prepare "${db}" --data-dir data --dump-dir dump --n-dev "${n_dev}" --n-test "${n_test}" \
    --trim-db "${trim_db:-0}" --merge --njobs "${nj}"
fi

if [ "${stage}" -le 2 ] && [ "${stop_stage}" -ge 2 ]; then
  log "Stage 2: normalise text and phonemize: ${nj} jobs through ${cmd}, then their merge"
  ${cmd} JOB=1:"${nj}" dump/log/tokenize.JOB.log \
    ${mtts} tokenize --data-dir data --dump-dir dump --job JOB --njobs "${nj}"
  ${mtts} tokenize --data-dir data --dump-dir dump --lexicon-words "${lexicon_words}" --merge --njobs "${nj}"
fi

if [ "${stage}" -le 3 ] && [ "${stop_stage}" -ge 3 ]; then
  log "Stage 3: train ${exp} with ${train_config}"
  mkdir -p "${exp}"
  echo "$0 $*" > "${exp}/run.sh.cmd"  # the command line, to redo a run exactly
  resume=()
  if compgen -G "${exp}/checkpoints/step_*.pt" >/dev/null; then resume=(--resume); fi
  ${mtts} train --config "${train_config}" --data-dir data --dump-dir dump --exp-dir "${exp}" \
    --seed "${seed}" "${resume[@]}"
  ${mtts} plot "${exp}"
fi

if [ "${stage}" -le 4 ] && [ "${stop_stage}" -ge 4 ]; then
  log "Stage 4: train the neural vocoder ${vexp} with ${vocoder_config}"
  resume=()
  if compgen -G "${vexp}/checkpoints/step_*.pt" >/dev/null; then resume=(--resume); fi
  ${mtts} train-vocoder --config "${vocoder_config}" --data-dir data --dump-dir dump --exp-dir "${vexp}" \
    --seed "${seed}" "${resume[@]}"
  if [ -n "${vocoder_finetune_config}" ]; then
    log "Stage 4: fine-tune it with discriminators on ${exp}'s teacher-forced mels: ${fexp}"
    resume=()
    if compgen -G "${fexp}/checkpoints/step_*.pt" >/dev/null; then resume=(--resume); fi
    ${mtts} train-vocoder --config "${vocoder_finetune_config}" --data-dir data --dump-dir dump \
      --exp-dir "${fexp}" --init "${vexp}" --gta-model "${exp}" --seed "${seed}" "${resume[@]}"
  fi
fi

if [ "${stage}" -le 5 ] && [ "${stop_stage}" -ge 5 ]; then
  log "Stage 5: per-task metrics of every checkpoint on dev"
  ${mtts} evaluate --exp-dir "${exp}" --data-dir data --split dev --metrics tasks
fi

if [ "${stage}" -le 6 ] && [ "${stop_stage}" -ge 6 ]; then
  log "Stage 6: select the best checkpoint by ${metric}, package it with the vocoder"
  ${mtts} select-best --exp-dir "${exp}" --split dev --metric "${metric}" --average "${n_average}" \
    --vocoder "${fexp}"
fi

if [ "${stage}" -le 7 ] && [ "${stop_stage}" -ge 7 ]; then
  log "Stage 7: synthesize the test set and a sample sentence"
  awk '{id=$1; $1=""; sub(/^ /, ""); print id "|" $0}' data/test/text > "${exp}/test_sentences.txt"
  ${mtts} synthesize --model "${exp}/best.safetensors" --text-file "${exp}/test_sentences.txt" --out "${exp}/synth/test"
  ${mtts} synthesize --model "${exp}/best.safetensors" --text "${synth_text}" --out "${exp}/synth/sample.wav"
  for spk in ${synth_speakers:-}; do
    ${mtts} synthesize --model "${exp}/best.safetensors" --text "${synth_text}" --speaker "${spk}" \
      --out "${exp}/synth/sample_${spk}.wav"
  done
  log "Listen: ${exp}/synth/sample.wav"
fi

if [ "${stage}" -le 8 ] && [ "${stop_stage}" -ge 8 ]; then
  log "Stage 8: full evaluation of the best model on test (${eval_metrics}), with the recordings as reference"
  ${mtts} evaluate "${exp}/best.safetensors" --exp-dir "${exp}" --data-dir data --split test \
    --metrics "${eval_metrics}" --references --nj "${nj}"
  log "Report: ${exp}/eval/test/report.md"
  if [ -n "${heldout_text:-}" ]; then
    log "Stage 8: held-out sentences ${heldout_text} against the teacher's reading of them"
    ${mtts} evaluate "${exp}/best.safetensors" --exp-dir "${exp}" --text-file "${heldout_text}" \
      --metrics asr,dnsmos --teacher "${heldout_teacher}" --max-utts "${heldout_n:-0}" --nj "${nj}"
    log "Report: ${exp}/eval/$(basename "${heldout_text}" .txt)/report.md"
  fi
fi

if [ "${stage}" -le 9 ] && [ "${stop_stage}" -ge 9 ]; then
  log "Stage 9: ablation of ${ablate_plan} ${ablate_opts} (${ablate_njobs} job(s))"
  ablate=(ablate --plan "${ablate_plan}" --config "${train_config}" --data-dir data --dump-dir dump
          --exp-dir "${ablate_exp}" --results "${ablate_results}" --report "${ablate_report}")
  if [ "${ablate_njobs}" -gt 1 ]; then
    # each job rebuilds the report in turn, so the last to finish reports every cell
    # shellcheck disable=SC2086  # ablate_opts is a list of options
    ${cmd} JOB=1:"${ablate_njobs}" "${ablate_exp}/log/ablate.JOB.log" \
      ${mtts} "${ablate[@]}" --nj 1 --job JOB --njobs "${ablate_njobs}" ${ablate_opts}
  else
    # shellcheck disable=SC2086  # ablate_opts is a list of options
    ${mtts} "${ablate[@]}" --nj "${nj}" ${ablate_opts}
  fi
  log "Report: ${ablate_report}"
fi
