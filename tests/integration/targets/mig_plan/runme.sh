#!/usr/bin/env bash
# mig_plan end to end: plan -> mig-parted config applied by nvidia_mig on a simulated 8 x H100 node (what the device
# plugin would advertise must equal the plan's capacity) -> karpenter_nodepool NodeOverlays on a real kube-apiserver.
set -eux
source "$(dirname "$0")/../setup_stand_ins/stand_ins.sh"

"${SIMULATORS}/nvidia-smi-sim" init --state "${WORK_DIR}/node.json" --model h100-80gb --gpus 8 --uuid-seed mig-plan
"${SIMULATORS}/nvidia-smi-sim" wrapper --state "${WORK_DIR}/node.json" --out "${WORK_DIR}/nvidia-smi"

start_control_plane

ansible-playbook -i localhost, -c local playbook.yml -e "ansible_python_interpreter={{ ansible_playbook_python }}" \
  -e "work_dir=${WORK_DIR}" -e "kubeconfig_path=${KUBECONFIG_PATH}" "$@"
