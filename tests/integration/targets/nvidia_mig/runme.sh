#!/usr/bin/env bash
# nvidia_mig and nvidia_mig_info on localhost against simulated nodes (tests/simulators): 2 x H100, plus an
# A100 VM without GPU reset, an R450 driver and a hung nvidia-smi (issue 14).
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
# issue 14 scenarios: an A100 VM without GPU reset, an R450 driver, a hung -cgi
mkdir -p "${SIM_DIR}/vm" "${SIM_DIR}/r450" "${SIM_DIR}/hung"
"${SIMULATORS}/nvidia-smi-sim" init --state "${SIM_DIR}/vm/node.json" --model a100-40gb --no-reset
"${SIMULATORS}/nvidia-smi-sim" init --state "${SIM_DIR}/r450/node.json" --model h100-80gb --driver 450.80.02
"${SIMULATORS}/nvidia-smi-sim" init --state "${SIM_DIR}/hung/node.json" --model h100-80gb
"${SIMULATORS}/nvidia-smi-sim" fault --state "${SIM_DIR}/hung/node.json" --hang=-cgi
for node in vm r450 hung; do
  "${SIMULATORS}/nvidia-smi-sim" wrapper --state "${SIM_DIR}/${node}/node.json" --out "${SIM_DIR}/${node}/nvidia-smi"
done

ansible-playbook -i localhost, -c local playbook.yml -e "ansible_python_interpreter={{ ansible_playbook_python }}" \
  -e "sim_dir=${SIM_DIR}" -e "sim_ctl=${SIMULATORS}/nvidia-smi-sim" "$@"
