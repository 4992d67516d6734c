#!/usr/bin/env bash
# Timestamped log line, as in ESPnet recipes.
log() { echo -e "$(date '+%Y-%m-%dT%H:%M:%S') ($(basename "$0"):${BASH_LINENO[0]}) $*" >&2; }
