#!/usr/bin/env bash
# karpenter_nodepool against a real kube-apiserver (real Karpenter CRDs: schema, CEL, server-side apply).
set -eux
source "$(dirname "$0")/../setup_stand_ins/stand_ins.sh"

start_control_plane

ansible-playbook -i localhost, -c local playbook.yml -e "ansible_python_interpreter={{ ansible_playbook_python }}" \
  -e "kubeconfig_path=${KUBECONFIG_PATH}" "$@"
