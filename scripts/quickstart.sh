#!/usr/bin/env bash
# README's main job: run patchnet end to end on embedded defaults in a
# temporary directory. It grows as patchnet does.
set -euo pipefail
bin=${1:-bin/patchnet}
"$bin" version
"$bin" --help
