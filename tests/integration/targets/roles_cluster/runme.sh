#!/usr/bin/env bash
# Cluster-side roles and playbooks (device_plugin, gpu_operator dry run, karpenter_gpu, workloads) against a real
# kube-apiserver with kube-scheduler and kube-controller-manager (real Karpenter + ClusterPolicy CRDs).
set -eux
source "$(dirname "$0")/../setup_stand_ins/stand_ins.sh"

start_control_plane

COMMON=(-i "localhost," -c local -e "ansible_python_interpreter={{ ansible_playbook_python }}"
        -e "kubeconfig_path=${KUBECONFIG_PATH}" -e "work_dir=${WORK_DIR}")

ansible-playbook "${COMMON[@]}" playbook.yml "$@"

# The example workloads, run by their collection name as users do.
ansible-playbook "${COMMON[@]}" gpu_slicing.eks.workloads -e "workloads_kubeconfig=${KUBECONFIG_PATH}" "$@"
ansible-playbook "${COMMON[@]}" gpu_slicing.eks.workloads -e "workloads_kubeconfig=${KUBECONFIG_PATH}" \
  -e workloads_strategy=single -e workloads_namespace=gpu-single "$@"
ansible-playbook "${COMMON[@]}" workloads_check.yml "$@"
