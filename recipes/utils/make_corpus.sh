#!/usr/bin/env bash
# Build an LJSpeech-layout corpus by letting a Debian-packaged voice read a sentence list:
# Festival's CMU ARCTIC `slt` HTS voice by default (recipes/mini), any Festival or flite voice
# with VOICE, and with SPEAKER a corpus of one speaker of a multi-speaker set (recipes/mini_multi).
# Reads  SENTENCES (ID|text per line), its first N lines
# Writes OUTDIR/metadata.csv (ID|text|text, or SPEAKER_ID|text|text|SPEAKER with SPEAKER) and
#        OUTDIR/wavs/ID.wav (22,050 Hz, 16-bit mono, whatever rate the voice speaks at)
# usage: make_corpus.sh SENTENCES OUTDIR N JOBS [VOICE [SPEAKER]]
#   VOICE  festival:NAME (text2wave -eval '(voice_NAME)'; default festival:cmu_us_slt_arctic_hts)
#          or flite:NAME (flite -voice NAME; `flite -lv` lists them)
# Needs: apt-get install festival festvox-us-slt-hts sox (flite, festvox-kallpc16k, ... for other voices)
set -euo pipefail
src=$1; out=$2; n=$3; jobs=$4; voice=${5:-festival:cmu_us_slt_arctic_hts}; speaker=${6:-}
engine=${voice%%:*}; name=${voice#*:}
case "${engine}" in
  festival) need=text2wave ;;
  flite) need=flite ;;
  *) echo "$0: voice '${voice}' must be festival:NAME or flite:NAME" >&2; exit 1 ;;
esac
for cmd in "${need}" sox; do
  command -v "$cmd" >/dev/null || { echo "$0: '$cmd' not found: apt-get install festival festvox-us-slt-hts flite sox" >&2; exit 1; }
done
if [ "${engine}" = festival ] && ! compgen -G "/usr/share/festival/voices/*/${name}" >/dev/null; then
  echo "$0: Festival voice '${name}' is not installed (installed: $(ls /usr/share/festival/voices/*/ 2>/dev/null | grep -v ':$' | xargs))" >&2; exit 1
fi
if [ "${engine}" = flite ] && ! flite -lv | tr ' ' '\n' | grep -qx "${name}"; then
  echo "$0: flite has no voice '${name}' ($(flite -lv))" >&2; exit 1
fi
prefix=${speaker:+${speaker}_}
mkdir -p "$out/wavs"
head -n "$n" "$src" | awk -F'|' -v p="${prefix}" -v s="${speaker}" \
  '{print p $1 "|" $2 "|" $2 (s == "" ? "" : "|" s)}' > "$out/metadata.csv.tmp"
one() {
  local id=${1%%|*} text=${1#*|} wav="$2/wavs/${1%%|*}.wav"
  [ -s "$wav" ] && return 0   # reruns only make what is missing
  local tmp; tmp=$(mktemp --suffix=.wav)
  if [ "$3" = festival ]; then
    printf '%s\n' "$text" | text2wave -eval "(voice_$4)" -o "$tmp" 2>/dev/null
  else
    flite -voice "$4" -t "$text" -o "$tmp"
  fi
  sox "$tmp" -r 22050 -b 16 -c 1 "$wav.tmp.wav"
  mv "$wav.tmp.wav" "$wav"
  rm -f "$tmp"
}
export -f one
cut -d'|' -f1,2 "$out/metadata.csv.tmp" | tr '\n' '\0' | xargs -0 -P "$jobs" -I{} bash -c 'one "$1" "$2" "$3" "$4"' _ {} "$out" "${engine}" "${name}"
mv "$out/metadata.csv.tmp" "$out/metadata.csv"
echo "$(ls "$out/wavs" | grep -c '\.wav$') wavs in $out" >&2
