# shellcheck shell=bash disable=SC2034
# (SC2034: the variables set here are used by the runme.sh that sources this file)
# Stand-ins and real parts for runme.sh targets: a work dir removed on exit, a private real Kubernetes control
# plane with the real CRDs, and the nvidia-smi simulator. Use in a target with `needs/target/setup_stand_ins`
# in its aliases:
#
#   source "$(dirname "$0")/../setup_stand_ins/stand_ins.sh"
#   start_control_plane
#   ansible-playbook ... -e "kubeconfig_path=${KUBECONFIG_PATH}" -e "work_dir=${WORK_DIR}"
#
# Sets COLLECTIONS_ROOT (holds ansible_collections/), WORK_DIR, PYTHON, SIMULATORS (dir of nvidia-smi-sim) and,
# after start_control_plane, KUBECONFIG_PATH (and kubectl of the server's version first on PATH).
# A runme.sh that sets its own EXIT trap must call stand_ins_cleanup.

# The directory that holds ansible_collections/ (a checkout's build tree or ansible-test's copy).
COLLECTIONS_ROOT="${ANSIBLE_COLLECTIONS_PATH%%:*}"
COLLECTION_DIR="${COLLECTIONS_ROOT}/ansible_collections/gpu_slicing/eks"
WORK_DIR="$(mktemp -d)"
PYTHON="$(command -v python3 || command -v python)"
SIMULATORS="$(cd "${COLLECTION_DIR}/tests/simulators" && pwd)"
CONTROL_PLANE=("${PYTHON}" "${COLLECTION_DIR}/tests/support/control_plane.py")

stand_ins_cleanup() {
  if [ -e "${WORK_DIR}/kube/session.json" ]; then
    "${CONTROL_PLANE[@]}" down --dir "${WORK_DIR}/kube" || true
  fi
  rm -rf "${WORK_DIR}"
}
trap stand_ins_cleanup EXIT

# start_control_plane: etcd, kube-apiserver, kube-scheduler and kube-controller-manager (built from
# tests/support/kube/go.mod; `make integration` builds them first) on free 127.0.0.1 ports, with the Karpenter
# v1.14.1 and GPU Operator ClusterPolicy CRDs Established. Private to this target: it starts from an empty
# cluster and is stopped on exit. Prints the server version.
start_control_plane() {
  "${CONTROL_PLANE[@]}" up --dir "${WORK_DIR}/kube" || return 1
  KUBECONFIG_PATH="${WORK_DIR}/kube/kubeconfig"
  PATH="$("${PYTHON}" -c 'import json, sys; print(json.load(open(sys.argv[1]))["bin_dir"])' "${WORK_DIR}/kube/session.json"):${PATH}"
  export PATH
}

# start_kubelet_stand_in NODES_JSON [--device-plugin NODE=NVIDIA_SMI[:STRATEGY] ...]: registers the Nodes in the
# control plane and acts as their kubelet (pod status, finalizing deleted pods, allocatable from the device
# plugin at start) until the control plane is stopped on exit.
start_kubelet_stand_in() {
  local nodes="$1"
  shift
  "${CONTROL_PLANE[@]}" kubelet --dir "${WORK_DIR}/kube" --nodes "${nodes}" "$@" > "${WORK_DIR}/kubelet.log" 2>&1 &
  for _ in $(seq 1 100); do
    grep -q "kubelet stand-in for" "${WORK_DIR}/kubelet.log" && return 0
    kill -0 $! 2>/dev/null || break
    sleep 0.1
  done
  cat "${WORK_DIR}/kubelet.log"
  return 1
}
