#!/usr/bin/env bash
# nvidia_mig and nvidia_mig_info on localhost against a simulated 2 x H100 node (tests/simulators).
set -eux

# From a checkout the simulator is three levels up; ansible-test runs a copy of the target, so find the
# collection through ANSIBLE_COLLECTIONS_PATH instead.
SIMULATORS="$(dirname "$0")/../../../simulators"
if [ ! -x "${SIMULATORS}/nvidia-smi-sim" ]; then
  SIMULATORS="${ANSIBLE_COLLECTIONS_PATH%%:*}/ansible_collections/gpu_slicing/eks/tests/simulators"
fi
SIMULATORS="$(cd "${SIMULATORS}" && pwd)"
SIM_DIR="$(mktemp -d)"
trap 'rm -rf "${SIM_DIR}"' EXIT

"${SIMULATORS}/nvidia-smi-sim" init --state "${SIM_DIR}/node.json" --model h100-80gb --gpus 2 --uuid-seed integration
"${SIMULATORS}/nvidia-smi-sim" wrapper --state "${SIM_DIR}/node.json" --out "${SIM_DIR}/nvidia-smi"

ansible-playbook -i localhost, -c local playbook.yml -e "ansible_python_interpreter={{ ansible_playbook_python }}" \
  -e "sim_dir=${SIM_DIR}" -e "sim_ctl=${SIMULATORS}/nvidia-smi-sim" "$@"
