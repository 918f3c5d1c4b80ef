#!/usr/bin/env bash
# The scale-up loop end to end: pending MIG pods -> real Karpenter (kwok provider) -> a bridge boots a simulated GPU
# host per NodeClaim and runs the pool's rendered AL2023 userData shell part on it over SSH -> the Node advertises
# what that host's nvidia-smi shows -> the real kube-scheduler binds the pods (tests/support/scale_up_bridge.py).
# Needs the cached Karpenter and Kubernetes binaries (built on first use into ~/.cache/gpu-slicing).
set -eux
COLLECTIONS_ROOT="${ANSIBLE_COLLECTIONS_PATH%%:*}"
PYTHON="$(command -v python3 || command -v python)"
cd "$(dirname "$0")"

# Karpenter's decisions and the boot do not depend on ansible-core: the loop runs on the main leg only (the
# ansible-core pinned in requirements-dev.txt); the user data renderer is covered on every leg by the units.
rc=0  # main leg only: tests/support/legs.py (ansible-test's PYTHONPATH kept: on --venv legs it makes ansible importable)
PYTHONPATH="${COLLECTIONS_ROOT}${PYTHONPATH:+:${PYTHONPATH}}" "${PYTHON}" -m ansible_collections.gpu_slicing.eks.tests.support.legs \
  scale_up_loop || rc=$?
if [ "${rc}" -eq 3 ]; then exit 0; elif [ "${rc}" -ne 0 ]; then exit "${rc}"; fi
PYTHONPATH="${COLLECTIONS_ROOT}" "${PYTHON}" -m ansible_collections.gpu_slicing.eks.tests.support.karpenter_kwok build
PYTHONPATH="${COLLECTIONS_ROOT}" "${PYTHON}" -m pytest -p no:cacheprovider \
  -p ansible_collections.gpu_slicing.eks.tests.support.leak_check --import-mode=importlib -v -rA \
  test_scale_up_loop.py "$@"
