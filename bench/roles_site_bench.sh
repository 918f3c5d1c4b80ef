#!/usr/bin/env bash
# site.yml on the molecule fleet world (netns SSH nodes with 8 simulated GPUs each, Kubernetes emulator,
# fake device plugin, moto): wall time of the first run and of the rerun (which must report changed=0).
# Usage: bench/roles_site_bench.sh [EXTRA_H100_NODES] [FORKS]   (3 nodes + EXTRA)
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
EXTRA="${1:-0}"
FORKS="${2:-10}"
DIR="$(mktemp -d /tmp/gse-bench-XXXX)"
export PYTHONPATH="${ROOT}/build/collections" ANSIBLE_COLLECTIONS_PATH="${ROOT}/build/collections" ANSIBLE_HOST_KEY_CHECKING=False
PY="${ROOT}/.venv/bin/python"
trap '"${PY}" "${ROOT}/molecule/fleet/fleet.py" down --dir "${DIR}" >/dev/null; rm -rf "${DIR}"' EXIT
"${PY}" "${ROOT}/molecule/fleet/fleet.py" up --dir "${DIR}" --extra-h100 "${EXTRA}" >/dev/null
NODES=$(( 3 + EXTRA ))
for run in first rerun; do
  start=$(date +%s.%N)
  "${ROOT}/.venv/bin/ansible-playbook" -i "${DIR}/inventory.yml" -f "${FORKS}" -e mig_partition_serial=100% \
    "${ROOT}/playbooks/site.yml" > "${DIR}/${run}.log" 2>&1 || { tail -30 "${DIR}/${run}.log"; exit 1; }
  end=$(date +%s.%N)
  changed=$(grep -Eo 'changed=[0-9]+' "${DIR}/${run}.log" | cut -d= -f2 | paste -sd+ | bc)
  printf '| %d nodes x 8 GPUs | forks %d | %s | %.1f s | changed=%d |\n' "${NODES}" "${FORKS}" "${run}" "$(echo "${end} - ${start}" | bc)" "${changed}"
done
