#!/usr/bin/env bash
# Cluster-side roles and playbooks (device_plugin, gpu_operator dry run, karpenter_gpu, workloads) against a real
# kube-apiserver with kube-scheduler and kube-controller-manager (real Karpenter + ClusterPolicy CRDs).
set -eux
source "$(dirname "$0")/../setup_stand_ins/stand_ins.sh"

start_control_plane

# The GPU node for the rollout: this host with a simulated H100; a kubelet stand-in registers it, runs its pods and
# advertises what the device plugin enumerates at start (tests/support/control_plane.py KubeletStandIn).
"${SIMULATORS}/nvidia-smi-sim" init --state "${WORK_DIR}/node.json" --model h100-80gb --gpus 1 --mig enabled --uuid-seed roles-cluster
"${SIMULATORS}/nvidia-smi-sim" wrapper --state "${WORK_DIR}/node.json" --out "${WORK_DIR}/nvidia-smi"
cat > "${WORK_DIR}/nodes.json" <<NODES
[{"metadata": {"name": "gpu-local", "labels": {"nvidia.com/gpu.present": "true", "node.kubernetes.io/instance-type": "p5.4xlarge"}},
  "status": {"capacity": {"cpu": "16", "memory": "256Gi", "pods": "110", "nvidia.com/gpu": "1"}}}]
NODES
start_kubelet_stand_in "${WORK_DIR}/nodes.json" --device-plugin "gpu-local=${WORK_DIR}/nvidia-smi:mixed"

COMMON=(-i "localhost," -c local -e "ansible_python_interpreter={{ ansible_playbook_python }}"
        -e "kubeconfig_path=${KUBECONFIG_PATH}" -e "work_dir=${WORK_DIR}")

ansible-playbook "${COMMON[@]}" playbook.yml "$@"

# The example workloads, run by their collection name as users do.
ansible-playbook "${COMMON[@]}" gpu_slicing.eks.workloads -e "workloads_kubeconfig=${KUBECONFIG_PATH}" "$@"
ansible-playbook "${COMMON[@]}" gpu_slicing.eks.workloads -e "workloads_kubeconfig=${KUBECONFIG_PATH}" \
  -e workloads_strategy=single -e workloads_namespace=gpu-single "$@"
ansible-playbook "${COMMON[@]}" workloads_check.yml "$@"

# mig_partition: cordon, drain (evictions, PodDisruptionBudgets), device plugin restart, wait for allocatable.
ansible-playbook "${COMMON[@]}" rollout.yml -e "nvidia_smi=${WORK_DIR}/nvidia-smi" "$@"
