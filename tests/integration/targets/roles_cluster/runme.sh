#!/usr/bin/env bash
# Cluster-side roles and playbooks (device_plugin, gpu_operator dry run, karpenter_gpu, workloads) against the
# Kubernetes API emulator (real Karpenter + ClusterPolicy CRDs, schema + CEL admission) over HTTP.
set -eux

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
  --crd "${CRDS}/karpenter.sh_nodeoverlays.yaml" --crd "${CRDS}/nvidia.com_clusterpolicies.yaml.gz" \
  > "${WORK_DIR}/ready.json" 2> "${WORK_DIR}/emulator.log" &

for _ in $(seq 1 200); do
  [ -s "${WORK_DIR}/ready.json" ] && break
  sleep 0.1
done
cat "${WORK_DIR}/ready.json"
test -s "${WORK_DIR}/ready.json" || { cat "${WORK_DIR}/emulator.log"; exit 1; }

COMMON=(-i "localhost," -c local -e "ansible_python_interpreter={{ ansible_playbook_python }}"
        -e "kubeconfig_path=${WORK_DIR}/kubeconfig" -e "work_dir=${WORK_DIR}")

ansible-playbook "${COMMON[@]}" playbook.yml "$@"

# The example workloads, run by their collection name as users do.
ansible-playbook "${COMMON[@]}" gpu_slicing.eks.workloads -e "workloads_kubeconfig=${WORK_DIR}/kubeconfig" "$@"
ansible-playbook "${COMMON[@]}" gpu_slicing.eks.workloads -e "workloads_kubeconfig=${WORK_DIR}/kubeconfig" \
  -e workloads_strategy=single -e workloads_namespace=gpu-single "$@"
ansible-playbook "${COMMON[@]}" workloads_check.yml "$@"
