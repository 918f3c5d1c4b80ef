#!/usr/bin/env bash
# karpenter_nodepool against the Kubernetes API emulator (real Karpenter CRDs, schema + CEL admission) over HTTP.
set -eux
source "$(dirname "$0")/../setup_stand_ins/stand_ins.sh"

start_kube_emulator

ansible-playbook -i localhost, -c local playbook.yml -e "ansible_python_interpreter={{ ansible_playbook_python }}" \
  -e "kubeconfig_path=${KUBECONFIG_PATH}" "$@"
