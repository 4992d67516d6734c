#!/usr/bin/env bash
# Kaldi-style option parsing, sourced by run.sh: `--stop-stage 3` sets $stop_stage when
# that variable was declared before sourcing. Unknown options are errors.
while [ $# -gt 0 ]; do
  case "$1" in
    --help|-h)
      echo "usage: $0 [--name value ...]; options and defaults are the variables at the top of $0" >&2
      exit 0 ;;
    --*=*) name=${1%%=*}; value=${1#*=}; shift ;;
    --*) name=$1; [ $# -ge 2 ] || { echo "$0: option $name needs a value" >&2; exit 1; }; value=$2; shift 2 ;;
    *) echo "$0: unexpected argument '$1'" >&2; exit 1 ;;
  esac
  var=$(echo "${name#--}" | tr '-' '_')
  if ! declare -p "$var" >/dev/null 2>&1; then
    echo "$0: unknown option $name" >&2; exit 1
  fi
  printf -v "$var" '%s' "$value"
done
