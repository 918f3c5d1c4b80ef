# shellcheck shell=bash disable=SC2034
# (SC2034: the variables set here are used by the runme.sh that sources this file)
# Stand-ins for runme.sh targets: a work dir removed on exit, the Kubernetes API emulator with the real CRDs,
# and the nvidia-smi simulator. Use in a target with `needs/target/setup_stand_ins` in its aliases:
#
#   source "$(dirname "$0")/../setup_stand_ins/stand_ins.sh"
#   start_kube_emulator nvidia.com_clusterpolicies.yaml.gz    # Karpenter CRDs + any extra ones from tests/data/crds
#   ansible-playbook ... -e "kubeconfig_path=${KUBECONFIG_PATH}" -e "work_dir=${WORK_DIR}"
#
# Sets COLLECTIONS_ROOT (holds ansible_collections/), WORK_DIR, PYTHON, SIMULATORS (dir of nvidia-smi-sim) and,
# after start_kube_emulator, KUBECONFIG_PATH. A runme.sh that sets its own EXIT trap must call stand_ins_cleanup.

# The directory that holds ansible_collections/ (a checkout's build tree or ansible-test's copy).
COLLECTIONS_ROOT="${ANSIBLE_COLLECTIONS_PATH%%:*}"
COLLECTION_DIR="${COLLECTIONS_ROOT}/ansible_collections/gpu_slicing/eks"
WORK_DIR="$(mktemp -d)"
PYTHON="$(command -v python3 || command -v python)"
SIMULATORS="$(cd "${COLLECTION_DIR}/tests/simulators" && pwd)"
KARPENTER_CRDS=(karpenter.sh_nodepools.yaml karpenter.k8s.aws_ec2nodeclasses.yaml karpenter.sh_nodeoverlays.yaml)

stand_ins_cleanup() {
  if [ -s "${WORK_DIR}/emulator.pid" ]; then
    kill "$(cat "${WORK_DIR}/emulator.pid")" 2>/dev/null || true
  fi
  rm -rf "${WORK_DIR}"
}
trap stand_ins_cleanup EXIT

# start_kube_emulator [CRD file name in tests/data/crds ...]: serves the Karpenter CRDs plus the named ones on a
# free 127.0.0.1 port, writes ${WORK_DIR}/kubeconfig and waits (up to 20 s) until it answers.
start_kube_emulator() {
  local crd_args=() name
  for name in "${KARPENTER_CRDS[@]}" "$@"; do
    crd_args+=(--crd "${COLLECTION_DIR}/tests/data/crds/${name}")
  done
  PYTHONPATH="${COLLECTIONS_ROOT}" "${PYTHON}" -m ansible_collections.gpu_slicing.eks.tests.support.kube_emulator serve \
    --host 127.0.0.1 --port 0 --kubeconfig "${WORK_DIR}/kubeconfig" --pidfile "${WORK_DIR}/emulator.pid" \
    "${crd_args[@]}" > "${WORK_DIR}/ready.json" 2> "${WORK_DIR}/emulator.log" &
  for _ in $(seq 1 200); do
    [ -s "${WORK_DIR}/ready.json" ] && break
    sleep 0.1
  done
  test -s "${WORK_DIR}/ready.json" || { cat "${WORK_DIR}/emulator.log"; return 1; }
  cat "${WORK_DIR}/ready.json"
  KUBECONFIG_PATH="${WORK_DIR}/kubeconfig"
}
