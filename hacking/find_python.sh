#!/usr/bin/env bash
# Print the real path of the first Python interpreter whose version is within [MIN, MAX] (e.g. 3.11 3.13).
# Looks at pythonX.Y on PATH (pyenv shims are run, so a shim without that version is skipped) and at
# ~/.pyenv/versions/*/bin. Candidates are tried from the highest allowed minor version down unless
# --lowest is given. Prints nothing and exits 1 when none fits.
set -euo pipefail
order=highest
if [[ "${1:-}" == "--lowest" ]]; then order=lowest; shift; fi
min="${1:?usage: find_python.sh [--lowest] MIN MAX}"
max="${2:?usage: find_python.sh [--lowest] MIN MAX}"
min_minor="${min#3.}"
max_minor="${max#3.}"
minors=$(seq "$min_minor" "$max_minor")
if [[ "$order" == highest ]]; then minors=$(seq "$max_minor" -1 "$min_minor"); fi
for minor in $minors; do
    candidates=("python3.${minor}")
    for dir in "${PYENV_ROOT:-$HOME/.pyenv}"/versions/3."${minor}".*/bin; do
        [[ -x "$dir/python3.${minor}" ]] && candidates+=("$dir/python3.${minor}")
    done
    for candidate in "${candidates[@]}"; do
        if real=$("$candidate" -c "import sys; assert sys.version_info[:2] == (3, ${minor}); print(sys.executable)" 2>/dev/null); then
            echo "$real"
            exit 0
        fi
    done
done
exit 1
