#!/usr/bin/env bash
# site.yml on a small simulated fleet (tests/support/world.py: real kube-apiserver + controllers, SSH hosts running
# the nvidia-smi simulator, kubelet stand-in): one batch partitions its nodes in parallel, and 4 AWX-style job
# slices at once end like one run (issue 17). A whole-playbook test: an integration target, on the main leg only.
set -eux
COLLECTIONS_ROOT="${ANSIBLE_COLLECTIONS_PATH%%:*}"
PYTHON="$(command -v python3 || command -v python)"
cd "$(dirname "$0")"

rc=0
# keep ansible-test's PYTHONPATH: on the --venv legs it is what makes ansible importable
PYTHONPATH="${COLLECTIONS_ROOT}${PYTHONPATH:+:${PYTHONPATH}}" "${PYTHON}" -m ansible_collections.gpu_slicing.eks.tests.support.legs \
  site_fleet || rc=$?
if [ "${rc}" -eq 3 ]; then exit 0; elif [ "${rc}" -ne 0 ]; then exit "${rc}"; fi
PYTHONPATH="${COLLECTIONS_ROOT}" "${PYTHON}" -m pytest -p no:cacheprovider \
  -p ansible_collections.gpu_slicing.eks.tests.support.leak_check --import-mode=importlib -v -rA \
  test_site_fleet.py "$@"
