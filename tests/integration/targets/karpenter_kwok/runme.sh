#!/usr/bin/env bash
# Real Karpenter (kwok provider, built from tests/support/karpenter/go.mod) against a real control plane
# (tests/support/control_plane.py) deciding on the NodePools and NodeOverlays karpenter_nodepool renders.
# The first run builds Karpenter into ~/.cache/gpu-slicing/karpenter (minutes; later runs reuse the binary).
set -eux
COLLECTIONS_ROOT="${ANSIBLE_COLLECTIONS_PATH%%:*}"
COLLECTION_DIR="${COLLECTIONS_ROOT}/ansible_collections/gpu_slicing/eks"
PYTHON="$(command -v python3 || command -v python)"
cd "$(dirname "$0")"

if [ ! -f "${COLLECTION_DIR}/tests/support/control_plane.py" ]; then
  echo "SKIP karpenter_kwok: this checkout has no tests/support/control_plane.py (the real control plane) yet"
  exit 0
fi
# Karpenter's decisions do not depend on ansible-core: the scenarios (about 10 minutes) run on the main leg only
# (the ansible-core pinned in requirements-dev.txt); the module itself is covered on every leg by the units.
rc=0  # main leg only: tests/support/legs.py (ansible-test's PYTHONPATH kept: on --venv legs it makes ansible importable)
PYTHONPATH="${COLLECTIONS_ROOT}${PYTHONPATH:+:${PYTHONPATH}}" "${PYTHON}" -m ansible_collections.gpu_slicing.eks.tests.support.legs \
  karpenter_kwok || rc=$?
if [ "${rc}" -eq 3 ]; then exit 0; elif [ "${rc}" -ne 0 ]; then exit "${rc}"; fi
PYTHONPATH="${COLLECTIONS_ROOT}" "${PYTHON}" -m ansible_collections.gpu_slicing.eks.tests.support.karpenter_kwok build
PYTHONPATH="${COLLECTIONS_ROOT}" "${PYTHON}" -m pytest -p no:cacheprovider \
  -p ansible_collections.gpu_slicing.eks.tests.support.leak_check --import-mode=importlib -v -rA \
  test_karpenter_decides.py test_karpenter_sharing.py "$@"
