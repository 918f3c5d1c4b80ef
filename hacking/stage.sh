#!/usr/bin/env bash
# Run one stage of `make test`: print a banner, run it, record wall time and status in build/test-timings.txt.
# With KEEP_GOING=1 a failed stage exits 0 so later stages still run; `make test` fails at the end if any
# stage recorded FAILED.
# usage: hacking/stage.sh NAME COMMAND [ARGS...]
set -uo pipefail
name="$1"; shift
timings="${TIMINGS_FILE:-build/test-timings.txt}"
mkdir -p "$(dirname "$timings")"
printf '\n===== %s: %s\n' "$name" "$*"
start=$(date +%s)
"$@"
rc=$?
seconds=$(( $(date +%s) - start ))
status=ok; [[ $rc -eq 0 ]] || status="FAILED (rc $rc)"
printf '%-14s %5ds  %s\n' "$name" "$seconds" "$status" | tee -a "$timings"
if [[ $rc -ne 0 && "${KEEP_GOING:-0}" == 1 ]]; then exit 0; fi
exit $rc
