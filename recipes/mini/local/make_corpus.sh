#!/usr/bin/env bash
# Build a single-speaker LJSpeech-layout corpus by letting Festival's CMU ARCTIC `slt`
# HTS voice read a sentence list.
# Reads  SENTENCES (ID|text per line), its first N lines
# Writes OUTDIR/metadata.csv (ID|text|text) and OUTDIR/wavs/ID.wav (22,050 Hz, 16-bit mono)
# usage: make_corpus.sh SENTENCES OUTDIR N JOBS
# Needs: apt-get install festival festvox-us-slt-hts sox
set -euo pipefail
src=$1; out=$2; n=$3; jobs=$4
for cmd in text2wave sox; do
  command -v "$cmd" >/dev/null || { echo "$0: '$cmd' not found: apt-get install festival festvox-us-slt-hts sox" >&2; exit 1; }
done
mkdir -p "$out/wavs"
head -n "$n" "$src" | awk -F'|' '{print $1"|"$2"|"$2}' > "$out/metadata.csv.tmp"
one() {
  local id=${1%%|*} text=${1#*|} wav="$2/wavs/${1%%|*}.wav"
  [ -s "$wav" ] && return 0   # reruns only make what is missing
  local tmp; tmp=$(mktemp --suffix=.wav)
  printf '%s\n' "$text" | text2wave -eval '(voice_cmu_us_slt_arctic_hts)' -o "$tmp" 2>/dev/null
  sox "$tmp" -r 22050 -b 16 -c 1 "$wav.tmp.wav"
  mv "$wav.tmp.wav" "$wav"
  rm -f "$tmp"
}
export -f one
cut -d'|' -f1,2 "$out/metadata.csv.tmp" | tr '\n' '\0' | xargs -0 -P "$jobs" -I{} bash -c 'one "$1" "$2"' _ {} "$out"
mv "$out/metadata.csv.tmp" "$out/metadata.csv"
echo "$(ls "$out/wavs" | grep -c '\.wav$') wavs in $out" >&2
