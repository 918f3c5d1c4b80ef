#!/usr/bin/env bash
# karpenter_nodepool against the Kubernetes API emulator (real Karpenter CRDs, schema + CEL admission) over HTTP.
set -eux

# The directory that holds ansible_collections/ (a checkout's build tree or ansible-test's copy).
COLLECTIONS_ROOT="${ANSIBLE_COLLECTIONS_PATH%%:*}"
WORK_DIR="$(mktemp -d)"
PYTHON="$(command -v python3 || command -v python)"

cleanup() {
  if [ -s "${WORK_DIR}/emulator.pid" ]; then
    kill "$(cat "${WORK_DIR}/emulator.pid")" 2>/dev/null || true
  fi
  rm -rf "${WORK_DIR}"
}
trap cleanup EXIT

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
cat "${WORK_DIR}/ready.json"
test -s "${WORK_DIR}/ready.json" || { cat "${WORK_DIR}/emulator.log"; exit 1; }

ansible-playbook -i localhost, -c local playbook.yml -e "ansible_python_interpreter={{ ansible_playbook_python }}" \
  -e "kubeconfig_path=${WORK_DIR}/kubeconfig" "$@"
