#!/usr/bin/env bash
# gpu_slicing.eks.gpu_nodes inventory in ansible-inventory and ansible-playbook, against moto (EC2 over HTTP).
set -eux -o pipefail

COLLECTIONS_ROOT="${ANSIBLE_COLLECTIONS_PATH%%:*}"
WORK_DIR="$(mktemp -d)"
PYTHON="$(command -v python3 || command -v python)"
export PYTHONPATH="${COLLECTIONS_ROOT}${PYTHONPATH:+:${PYTHONPATH}}"

cleanup() {
  "${PYTHON}" -m ansible_collections.gpu_slicing.eks.tests.support.moto_server stop --pidfile "${WORK_DIR}/moto.pid" || true
  rm -rf "${WORK_DIR}"
}
trap cleanup EXIT

ENDPOINT="$("${PYTHON}" -m ansible_collections.gpu_slicing.eks.tests.support.moto_server serve --pidfile "${WORK_DIR}/moto.pid")"
"${PYTHON}" seed.py "${ENDPOINT}"

export AWS_ENDPOINT_URL="${ENDPOINT}" AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_DEFAULT_REGION=us-east-1
export AWS_CONFIG_FILE="${WORK_DIR}/none" AWS_SHARED_CREDENTIALS_FILE="${WORK_DIR}/none" AWS_EC2_METADATA_DISABLED=true
export ANSIBLE_INVENTORY_UNPARSED_FAILED=true

cat > "${WORK_DIR}/prod.gpu_nodes.yml" <<INVENTORY
plugin: gpu_slicing.eks.gpu_nodes
cluster_name: prod
include_non_mig: true
cache: true
cache_plugin: ansible.builtin.jsonfile
cache_connection: ${WORK_DIR}/cache
INVENTORY

ansible-inventory -i "${WORK_DIR}/prod.gpu_nodes.yml" --graph
ansible-playbook -i "${WORK_DIR}/prod.gpu_nodes.yml" playbook.yml -e "ansible_python_interpreter={{ ansible_playbook_python }}" "$@" \
  2>&1 | tee "${WORK_DIR}/play.log"
# host variables must not collide with play keywords (ansible-core: "Found variable using reserved name")
if grep -i "reserved name" "${WORK_DIR}/play.log"; then exit 1; fi

# the cache answers with EC2 gone
AWS_ENDPOINT_URL="http://127.0.0.1:9" ansible-playbook -i "${WORK_DIR}/prod.gpu_nodes.yml" playbook.yml \
  -e "ansible_python_interpreter={{ ansible_playbook_python }}" "$@"
