#!/usr/bin/env bash
# Build the multi-speaker corpus of recipes/mini_multi from the voices Debian ships.
# Reads  VOICES (conf/voices.txt: speaker, voice, role per line), SENTENCES (ID|text per line)
# Writes downloads/voices/<speaker>/{metadata.csv,wavs/} for every voice (utils/make_corpus.sh:
#        <speaker>_<ID>|text|text|<speaker>, 22,050 Hz), OUTDIR/metadata.csv (ID|text|normalized|speaker)
#        with OUTDIR/wavs/ linking to the training voices' recordings, and HELDOUT/<speaker> ->
#        the held-out voices' corpora (never in OUTDIR)
# Voice k reads sentences k*N+1 .. (k+1)*N, so no two speakers read the same sentence.
# usage: local/make_multi_corpus.sh VOICES SENTENCES N JOBS OUTDIR HELDOUT
set -euo pipefail
voices=$1; src=$2; n=$3; jobs=$4; out=$5; heldout=$6
k=0
mkdir -p "${out}/wavs" "${heldout}" downloads/voices
: > "${out}/metadata.csv.tmp"
while read -r speaker voice role _; do
  case "${speaker}" in ''|'#'*) continue ;; esac
  from=$((k * n + 1)); k=$((k + 1))
  if [ "$(wc -l < "${src}")" -lt $((from + n - 1)) ]; then
    echo "$0: ${src} has too few sentences for ${k} voices of ${n} each" >&2; exit 1
  fi
  dir=downloads/voices/${speaker}
  sed -n "${from},$((from + n - 1))p" "${src}" > "downloads/voices/${speaker}.sentences"
  echo "${speaker} (${voice}, ${role}): sentences ${from}-$((from + n - 1))" >&2
  utils/make_corpus.sh "downloads/voices/${speaker}.sentences" "${dir}" "${n}" "${jobs}" "${voice}" "${speaker}"
  case "${role}" in
    train)
      cat "${dir}/metadata.csv" >> "${out}/metadata.csv.tmp"
      for wav in "${dir}"/wavs/*.wav; do ln -sfnr "${wav}" "${out}/wavs/$(basename "${wav}")"; done ;;
    heldout) ln -sfnr "${dir}" "${heldout}/${speaker}" ;;
    *) echo "$0: ${voices}: role of ${speaker} must be train or heldout, got '${role}'" >&2; exit 1 ;;
  esac
done < "${voices}"
mv "${out}/metadata.csv.tmp" "${out}/metadata.csv"
echo "$(wc -l < "${out}/metadata.csv") utterances in ${out}; held out: $(ls "${heldout}" | xargs)" >&2
