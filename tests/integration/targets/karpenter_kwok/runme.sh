#!/usr/bin/env bash
# Real Karpenter (kwok provider, built from tests/support/karpenter/go.mod) against a real control plane
# (tests/support/control_plane.py) deciding on the NodePools and NodeOverlays karpenter_nodepool renders.
# The first run builds both into ~/.cache/gpu-slicing (minutes); later runs reuse the binaries.
set -eux
COLLECTIONS_ROOT="${ANSIBLE_COLLECTIONS_PATH%%:*}"
PYTHON="$(command -v python3 || command -v python)"
cd "$(dirname "$0")"
PYTHONPATH="${COLLECTIONS_ROOT}" "${PYTHON}" -m pytest -p no:cacheprovider --import-mode=importlib -v -rA \
  --junit-xml="${OUTPUT_DIR:-/tmp}/karpenter_kwok.xml" test_karpenter_decides.py "$@"
