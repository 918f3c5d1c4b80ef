#!/usr/bin/env bash
# mig_plan end to end: plan -> mig-parted config applied by nvidia_mig on a simulated 8 x H100 node (what the device
# plugin would advertise must equal the plan's capacity) -> karpenter_nodepool NodeOverlays on the API emulator.
set -eux

COLLECTIONS_ROOT="${ANSIBLE_COLLECTIONS_PATH%%:*}"
SIMULATORS="$(dirname "$0")/../../../simulators"
if [ ! -x "${SIMULATORS}/nvidia-smi-sim" ]; then
  SIMULATORS="${COLLECTIONS_ROOT}/ansible_collections/gpu_slicing/eks/tests/simulators"
fi
SIMULATORS="$(cd "${SIMULATORS}" && pwd)"
WORK_DIR="$(mktemp -d)"
PYTHON="$(command -v python3 || command -v python)"

cleanup() {
  if [ -s "${WORK_DIR}/emulator.pid" ]; then
    kill "$(cat "${WORK_DIR}/emulator.pid")" 2>/dev/null || true
  fi
  rm -rf "${WORK_DIR}"
}
trap cleanup EXIT

"${SIMULATORS}/nvidia-smi-sim" init --state "${WORK_DIR}/node.json" --model h100-80gb --gpus 8 --uuid-seed mig-plan
"${SIMULATORS}/nvidia-smi-sim" wrapper --state "${WORK_DIR}/node.json" --out "${WORK_DIR}/nvidia-smi"

CRDS="${COLLECTIONS_ROOT}/ansible_collections/gpu_slicing/eks/tests/data/crds"
PYTHONPATH="${COLLECTIONS_ROOT}" "${PYTHON}" -m ansible_collections.gpu_slicing.eks.tests.support.kube_emulator serve \
  --host 127.0.0.1 --port 0 --kubeconfig "${WORK_DIR}/kubeconfig" --pidfile "${WORK_DIR}/emulator.pid" \
  --crd "${CRDS}/karpenter.sh_nodepools.yaml" --crd "${CRDS}/karpenter.k8s.aws_ec2nodeclasses.yaml" \
  --crd "${CRDS}/karpenter.sh_nodeoverlays.yaml" \
  > "${WORK_DIR}/ready.json" 2> "${WORK_DIR}/emulator.log" &

for _ in $(seq 1 200); do
  [ -s "${WORK_DIR}/ready.json" ] && break
  sleep 0.1
done
test -s "${WORK_DIR}/ready.json" || { cat "${WORK_DIR}/emulator.log"; exit 1; }

ansible-playbook -i localhost, -c local playbook.yml -e "ansible_python_interpreter={{ ansible_playbook_python }}" \
  -e "work_dir=${WORK_DIR}" -e "kubeconfig_path=${WORK_DIR}/kubeconfig" "$@"
