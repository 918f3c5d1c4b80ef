# gpu_slicing.eks: developer and CI entry points.
#
#   make demo     create .venv + collections on first use, then run the demo
#   make test     the whole suite, in order: sanity, units, integration, molecule, lint, ruff, changelog,
#                 execution environment, docs; then the ansible-core 2.21 leg (skipped without Python 3.12+)
#                 and the ansible-core 2.18 floor leg
#
# Everything is pinned (requirements-dev.txt, requirements-next.txt, tests/*/constraints.txt) and works
# offline except for PyPI. `make help` lists the other targets.
#
# Units and integration run `--local` in .venv on the main leg (no second venv to build: CI stays well under
# 20 minutes on 2 cores) and `--venv` on the 2.21 leg, which proves tests/{unit,integration}/requirements.txt
# are complete.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help
MAKEFLAGS += --no-print-directory

ROOT := $(abspath $(dir $(lastword $(MAKEFILE_LIST))))
BUILD := $(ROOT)/build
CACHE := $(ROOT)/.cache

# main leg: ansible-core 2.19 (last line for Python 3.11; also runs on 3.12/3.13)
PYTHON ?= $(shell $(ROOT)/hacking/find_python.sh --lowest 3.11 3.13)
VENV ?= $(ROOT)/.venv
# second leg: ansible-core 2.21 needs Python 3.12+
PYTHON_NEXT ?= $(shell $(ROOT)/hacking/find_python.sh 3.12 3.14)
VENV_NEXT ?= $(ROOT)/.venv-next

ANSIBLE_WHEEL_VERSION := 12.3.0
DEPENDENCY_COLLECTIONS := kubernetes.core amazon.aws community.general
# ansible_collections tree for ad-hoc runs, molecule, lint: gpu_slicing/eks is a symlink to this checkout
COLLECTIONS := $(BUILD)/collections
# ansible-test needs the collection at a real .../ansible_collections/gpu_slicing/eks path (it resolves symlinks)
AT_ROOT := $(BUILD)/ansible-test
AT_COLLECTION := $(AT_ROOT)/ansible_collections/gpu_slicing/eks

VENV_STAMP := $(VENV)/.installed
VENV_NEXT_STAMP := $(VENV_NEXT)/.installed
COLLECTIONS_STAMP := $(COLLECTIONS)/.extracted-$(ANSIBLE_WHEEL_VERSION)

PY_VERSION = $(shell $(VENV)/bin/python -c 'import sys; print("%d.%d" % sys.version_info[:2])')
PY_VERSION_NEXT = $(shell $(VENV_NEXT)/bin/python -c 'import sys; print("%d.%d" % sys.version_info[:2])')
# ansible-test --venv looks up pythonX.Y on PATH: put the chosen interpreters first
TEST_PATH = $(dir $(PYTHON)):$(if $(PYTHON_NEXT),$(dir $(PYTHON_NEXT)):)$(PATH)
COLOR := $(if $(CI),--color no,)
PIP_INSTALL := pip install --disable-pip-version-check --quiet
# every stage runs even after a failure (one CI run shows all problems); `make test` fails at the end
STAGE := KEEP_GOING=1 TIMINGS_FILE=$(BUILD)/test-timings.txt $(ROOT)/hacking/stage.sh
ARGS ?= tests/unit

export ANSIBLE_COLLECTIONS_PATH := $(COLLECTIONS)
ifdef CI
export ANSIBLE_NOCOLOR := 1
endif

.PHONY: help demo test test-next venv venv-next collections ansible-test-tree ansible-test-bootstrap \
        sanity units integration molecule lint ruff changelog-lint release ee docs pytest units-next integration-next clean \
        applier

help:
	@echo "make demo          run the demo (creates .venv and build/collections on first use)"
	@echo "make test          full suite: sanity units integration molecule lint ruff changelog-lint ee docs test-next"
	@echo "make sanity        ansible-test sanity --venv (zero ignore files)"
	@echo "make units         ansible-test units --local in .venv (fast; the 2.21 leg uses --venv)"
	@echo "make integration   ansible-test integration --local in .venv (local targets)"
	@echo "make molecule      every scenario under molecule/"
	@echo "make lint          ansible-lint, production profile, offline"
	@echo "make ruff          ruff check of every Python file (rules in pyproject.toml; no formatting)"
	@echo "make changelog-lint  antsibull-changelog lint + a release into a temp copy (CHANGELOG.rst, tarball)"
	@echo "make release       antsibull-changelog release for galaxy.yml's version (writes CHANGELOG.rst)"
	@echo "make ee            ansible-builder create for execution-environment.yml (no container engine needed)"
	@echo "make docs          ansible-doc renders every plugin and role; reference pages and docsite current; antsibull-docs lint"
	@echo "make test-next     units + integration on ansible-core 2.21 / Python 3.12+ (.venv-next)"
	@echo "make test-floor    units + inventory integration on ansible-core 2.18, the floor (.venv-floor)"
	@echo "make pytest ARGS=tests/unit/...   plain pytest in .venv, fast local runs"
	@echo "make applier       regenerate the boot applier from plugins/module_utils (commit the result)"
	@echo "make collections   dependency collections from the ansible $(ANSIBLE_WHEEL_VERSION) wheel into build/collections"
	@echo "make cluster-up    start a real Kubernetes control plane (kube-apiserver, etcd, scheduler, controller-manager)"
	@echo "                   and real Karpenter (kwok provider, NodeOverlay=true; KARPENTER=no leaves it out)"
	@echo "make cluster-down  stop it (nothing keeps running)"
	@echo "make clean         remove build/, .cache/ and ansible-test output (keeps venvs)"

# ---------------------------------------------------------------------------------------------- setup

venv: $(VENV_STAMP)

$(VENV_STAMP): requirements-dev.txt
	@test -n "$(PYTHON)" || { echo "error: no Python 3.11-3.13 found (PATH or ~/.pyenv/versions)" >&2; exit 1; }
	@start=$$(date +%s); \
	if ! test -x $(VENV)/bin/python; then \
	  echo "first setup: creating $(VENV) with $(PYTHON) and the pinned requirements-dev.txt from PyPI"; \
	  echo "  (once; about 3-6 minutes on 2 cores with an empty pip cache, under a minute with a warm one)"; \
	  $(PYTHON) -m venv $(VENV) || { echo "error: '$(PYTHON) -m venv' failed (Debian/Ubuntu: apt install python3-venv)" >&2; exit 1; }; \
	fi; \
	$(VENV)/bin/$(PIP_INSTALL) -r requirements-dev.txt; \
	$(VENV)/bin/pip check; \
	echo "setup of $(VENV) took $$(( $$(date +%s) - start )) s"
	@touch $@

venv-next: $(VENV_NEXT_STAMP)

$(VENV_NEXT_STAMP): requirements-next.txt
	@test -n "$(PYTHON_NEXT)" || { echo "error: no Python 3.12-3.14 found" >&2; exit 1; }
	@test -x $(VENV_NEXT)/bin/python || { echo "creating $(VENV_NEXT) with $(PYTHON_NEXT)"; $(PYTHON_NEXT) -m venv $(VENV_NEXT); }
	$(VENV_NEXT)/bin/$(PIP_INSTALL) -r requirements-next.txt
	@touch $@

collections: $(COLLECTIONS_STAMP)

$(COLLECTIONS_STAMP): | $(VENV_STAMP)
	mkdir -p $(CACHE)/wheels $(COLLECTIONS)/ansible_collections/gpu_slicing
	@test -f $(CACHE)/wheels/ansible-$(ANSIBLE_WHEEL_VERSION)-py3-none-any.whl || \
	  $(VENV)/bin/pip download --disable-pip-version-check --quiet --no-deps --only-binary=:all: \
	    -d $(CACHE)/wheels ansible==$(ANSIBLE_WHEEL_VERSION)
	$(VENV)/bin/python hacking/extract_collections.py $(CACHE)/wheels/ansible-$(ANSIBLE_WHEEL_VERSION)-py3-none-any.whl \
	  $(COLLECTIONS) $(DEPENDENCY_COLLECTIONS)
	ln -sfn $(ROOT) $(COLLECTIONS)/ansible_collections/gpu_slicing/eks
	@rm -f $(COLLECTIONS)/.extracted-*
	@touch $@

ansible-test-bootstrap: $(VENV_STAMP)
	@$(VENV)/bin/python hacking/ansible_test_bootstrap.py
	@if [ -x $(VENV_NEXT)/bin/python ]; then $(VENV_NEXT)/bin/python hacking/ansible_test_bootstrap.py; fi

ansible-test-tree: $(COLLECTIONS_STAMP) ansible-test-bootstrap
	@$(VENV)/bin/python hacking/sync_tree.py $(ROOT) $(AT_ROOT) --collections $(COLLECTIONS)

# ---------------------------------------------------------------------------------------------- entry points

demo: $(VENV_STAMP) $(COLLECTIONS_STAMP)
	PYTHONPATH=$(COLLECTIONS) $(VENV)/bin/python demo/run_demo.py

test: $(VENV_STAMP) $(COLLECTIONS_STAMP)
	@rm -f $(BUILD)/test-timings.txt
	@$(STAGE) sanity $(MAKE) sanity
	@$(STAGE) cluster-up $(MAKE) cluster-up KARPENTER=no
	@$(STAGE) units $(MAKE) units
	@$(STAGE) integration $(MAKE) integration
	@$(STAGE) molecule $(MAKE) molecule
	@$(STAGE) lint $(MAKE) lint
	@$(STAGE) ruff $(MAKE) ruff
	@$(STAGE) changelog $(MAKE) changelog-lint
	@$(STAGE) ee $(MAKE) ee
	@$(STAGE) docs $(MAKE) docs
	@$(STAGE) test-next $(MAKE) test-next
	@$(STAGE) test-floor $(MAKE) test-floor
	@$(MAKE) cluster-down
	@echo; echo "===== make test summary (seconds per stage)"; cat $(BUILD)/test-timings.txt
	@! grep -q FAILED $(BUILD)/test-timings.txt || { echo "make test: FAILED stages above"; \
	  $(VENV)/bin/python hacking/junit_summary.py $(JUNIT) --pattern '*-units.xml' --label tests --plain; exit 1; }
	@echo "make test: all stages passed"
	@# last line: the plain closing line CI reads (every ansible-test units run of both legs, summed)
	@$(VENV)/bin/python hacking/junit_summary.py $(JUNIT) --pattern '*-units.xml' --label tests --plain

# ---------------------------------------------------------------------------------------------- Kubernetes control plane
# A real kube-apiserver + etcd + kube-scheduler + kube-controller-manager (+ kubectl) built from the pinned Go module
# tests/support/kube/go.mod into ~/.cache/gpu-slicing/kube/<go.mod+go.sum hash>/bin (first build: see bench/RESULTS.md).
# units, integration, molecule and the 2.21 leg run inside one session cluster: KUBE_SESSION reuses a running one
# (`make test` starts it once) or starts one for that command and stops it afterwards. Tests find it through
# build/kube/session/session.json (ansible-test passes no environment variables to tests).
KUBE_SESSION_DIR := $(BUILD)/kube/session
CONTROL_PLANE := $(VENV)/bin/python $(ROOT)/tests/support/control_plane.py
KUBE_SESSION := $(CONTROL_PLANE) session --dir $(KUBE_SESSION_DIR) --

.PHONY: cluster-up cluster-down cluster-build karpenter-build

cluster-build: $(VENV_STAMP)
	@$(CONTROL_PLANE) build

# Karpenter (the real controller, kwok cloud provider: tests/support/karpenter_kwok.py) joins a user's cluster-up;
# `make test` starts its session cluster with KARPENTER=no (Karpenter acts on every NodePool and pending pod, and
# the karpenter_kwok integration target starts its own control plane + Karpenter).
KARPENTER ?= yes
KARPENTER_KWOK := PYTHONPATH=$(COLLECTIONS) $(VENV)/bin/python -m ansible_collections.gpu_slicing.eks.tests.support.karpenter_kwok

karpenter-build: $(VENV_STAMP) $(COLLECTIONS_STAMP)
	@$(KARPENTER_KWOK) build

cluster-up: $(VENV_STAMP) $(COLLECTIONS_STAMP)
	@$(CONTROL_PLANE) up --dir $(KUBE_SESSION_DIR)
	@if [ "$(KARPENTER)" != no ]; then $(KARPENTER_KWOK) up --session-dir $(KUBE_SESSION_DIR); fi

cluster-down:
	@if [ -x $(VENV)/bin/python ] && [ -e $(KUBE_SESSION_DIR) ]; then $(CONTROL_PLANE) down --dir $(KUBE_SESSION_DIR); fi

# ---------------------------------------------------------------------------------------------- stages

sanity: ansible-test-tree
	@# modules and module_utils promise Python >= 3.9 (tests/config.yml): compile and import them there too
	@rc=0; cd $(AT_COLLECTION); \
	PATH=$(TEST_PATH) $(VENV)/bin/ansible-test sanity --venv --python $(PY_VERSION) $(COLOR) || rc=1; \
	for version in 3.9; do \
	  if interpreter=$$($(ROOT)/hacking/find_python.sh $$version $$version); then \
	    echo "sanity compile + import of modules/module_utils on Python $$version ($$interpreter)"; \
	    PATH=$$(dirname $$interpreter):$(TEST_PATH) $(VENV)/bin/ansible-test sanity --venv --python $$version \
	      --test compile --test import $(COLOR) || rc=1; \
	  else echo "SKIP sanity on Python $$version: no python$$version on PATH or under pyenv"; fi; \
	done; \
	exit $$rc

# ansible-test runs pytest once per target group; junit_summary.py prints one closing "N passed" line for all
JUNIT := $(AT_COLLECTION)/tests/output/junit

units: ansible-test-tree
	rm -f $(JUNIT)/python$(PY_VERSION)-*-units.xml
	cd $(AT_COLLECTION) && PATH=$(VENV)/bin:$(TEST_PATH) $(KUBE_SESSION) $(VENV)/bin/ansible-test units --local --python $(PY_VERSION) $(COLOR) || rc=$$?; \
	  $(VENV)/bin/python $(ROOT)/hacking/junit_summary.py $(JUNIT) --pattern 'python$(PY_VERSION)-*-units.xml' \
	    --label "units, ansible-core $$($(VENV)/bin/python -c 'import ansible; print(ansible.__version__)'), Python $(PY_VERSION)"; \
	  exit $${rc:-0}

integration: ansible-test-tree
	@if [ -z "$$(find $(ROOT)/tests/integration/targets -mindepth 1 -maxdepth 1 -type d 2>/dev/null)" ]; then \
	  echo "no integration targets yet"; exit 0; fi; \
	cd $(AT_COLLECTION) && PATH=$(VENV)/bin:$(TEST_PATH) $(KUBE_SESSION) $(VENV)/bin/ansible-test integration --local --python $(PY_VERSION) \
	  --continue-on-error $(COLOR)

molecule: $(VENV_STAMP) $(COLLECTIONS_STAMP)
	@for scenario_file in $(ROOT)/molecule/*/molecule.yml; do \
	  [ -e "$$scenario_file" ] || { echo "no molecule scenarios"; exit 0; }; \
	  scenario=$$(basename $$(dirname $$scenario_file)); \
	  echo "--- molecule test -s $$scenario"; \
	  (cd $(ROOT) && PATH=$(VENV)/bin:$(PATH) MOLECULE_GLOB='molecule/*/molecule.yml' $(KUBE_SESSION) $(VENV)/bin/molecule test -s $$scenario) \
	    || exit 1; \
	done

lint: $(VENV_STAMP) $(COLLECTIONS_STAMP)
	cd $(ROOT) && PATH=$(VENV)/bin:$(PATH) $(VENV)/bin/ansible-lint --offline --profile production

ruff: $(VENV_STAMP)
	cd $(ROOT) && $(VENV)/bin/ruff check --no-cache .

changelog-lint: $(VENV_STAMP)
	cd $(ROOT) && $(VENV)/bin/antsibull-changelog lint
	@# a release into a throw-away copy: every fragment reaches CHANGELOG.rst, and the tarball carries it
	cd $(ROOT) && $(VENV)/bin/python hacking/release_changelog.py --check \
		--antsibull-changelog $(VENV)/bin/antsibull-changelog --ansible-galaxy $(VENV)/bin/ansible-galaxy

# Release: set `version` in galaxy.yml first; this writes CHANGELOG.rst and changelogs/changelog.yaml and removes
# the fragments (commit all three), as antsibull-changelog does for every Ansible collection.
release: $(VENV_STAMP)
	cd $(ROOT) && $(VENV)/bin/python hacking/release_changelog.py --release \
		--antsibull-changelog $(VENV)/bin/antsibull-changelog

ee: $(VENV_STAMP)
	@# the Galaxy tarball, listed and checked; then ansible-builder run from that tarball, installed
	rm -rf $(BUILD)/ee $(BUILD)/ee-context
	cd $(ROOT) && $(VENV)/bin/ansible-galaxy collection build --output-path $(BUILD)/ee/dist .
	$(VENV)/bin/python hacking/check_tarball.py $(BUILD)/ee/dist/gpu_slicing-eks-*.tar.gz
	$(VENV)/bin/ansible-galaxy collection install --offline --no-deps --force -p $(BUILD)/ee/installed $(BUILD)/ee/dist/gpu_slicing-eks-*.tar.gz
	cd $(BUILD)/ee/installed/ansible_collections/gpu_slicing/eks && $(VENV)/bin/ansible-builder create \
	  --file execution-environment.yml --context $(BUILD)/ee-context --output-filename Containerfile
	$(VENV)/bin/python hacking/check_ee_context.py $(BUILD)/ee-context --ansible-galaxy $(VENV)/bin/ansible-galaxy

docs: $(VENV_STAMP) $(COLLECTIONS_STAMP)
	$(VENV)/bin/python hacking/docs_smoke.py --ansible-doc $(VENV)/bin/ansible-doc gpu_slicing.eks
	# the committed reference pages under docs/ must match what DOCUMENTATION renders today
	PYTHONPATH=$(COLLECTIONS) $(VENV)/bin/python hacking/gen_docs.py --check --ansible-doc $(VENV)/bin/ansible-doc
	# docs/docsite/rst (rendered from the Markdown guides by the same script) lints clean, with every plugin's docs
	$(MAKE) ansible-test-tree
	cd $(AT_COLLECTION) && PATH=$(VENV)/bin:$(PATH) ANSIBLE_COLLECTIONS_PATH=$(AT_ROOT) \
	  $(VENV)/bin/antsibull-docs --config-file $(ROOT)/hacking/antsibull-docs.cfg lint-collection-docs --plugin-docs .
	# the boot applier is generated from plugins/module_utils (the units also check it)
	$(VENV)/bin/python hacking/build_applier.py --check

# the boot applier (roles/mig_partition/files/gpu-slicing-mig-apply.py) and its pinned SHA-256, from module_utils
applier:
	$(PYTHON) hacking/build_applier.py

test-next:
	@if [ -z "$(PYTHON_NEXT)" ]; then \
	  echo "SKIP test-next: ansible-core 2.21 needs Python 3.12+, none found (python3.12/3.13/3.14 on PATH or ~/.pyenv/versions)"; \
	  exit 0; fi; \
	$(MAKE) units-next integration-next

units-next: $(VENV_NEXT_STAMP) ansible-test-tree
	rm -f $(JUNIT)/python$(PY_VERSION_NEXT)-*-units.xml
	cd $(AT_COLLECTION) && PATH=$(TEST_PATH) $(KUBE_SESSION) $(VENV_NEXT)/bin/ansible-test units --venv --python $(PY_VERSION_NEXT) $(COLOR) || rc=$$?; \
	  $(VENV)/bin/python $(ROOT)/hacking/junit_summary.py $(JUNIT) --pattern 'python$(PY_VERSION_NEXT)-*-units.xml' \
	    --label "units, ansible-core $$($(VENV_NEXT)/bin/python -c 'import ansible; print(ansible.__version__)'), Python $(PY_VERSION_NEXT)"; \
	  exit $${rc:-0}

integration-next: $(VENV_NEXT_STAMP) ansible-test-tree
	@if [ -z "$$(find $(ROOT)/tests/integration/targets -mindepth 1 -maxdepth 1 -type d 2>/dev/null)" ]; then \
	  echo "no integration targets yet"; exit 0; fi; \
	cd $(AT_COLLECTION) && PATH=$(TEST_PATH) $(KUBE_SESSION) $(VENV_NEXT)/bin/ansible-test integration --venv --python $(PY_VERSION_NEXT) --continue-on-error $(COLOR)

pytest: $(VENV_STAMP) $(COLLECTIONS_STAMP)
	cd $(ROOT) && PATH=$(VENV)/bin:$(PATH) PYTHONPATH=$(COLLECTIONS) $(VENV)/bin/python -m pytest -p no:cacheprovider \
	  --import-mode=importlib -o asyncio_default_fixture_loop_scope=function $(ARGS)

# ---------------------------------------------------------------------------------------------- floor leg (issue 15)
# ansible-core 2.18 is the lowest version meta/runtime.yml claims. Third leg: the units and the integration targets
# named in FLOOR_TARGETS on 2.18 / Python 3.11, --local in .venv-floor (requirements-floor.txt), in an ansible-test
# tree of its own so its junit files do not overwrite the main leg's (same Python version); they are copied into
# $(JUNIT) as floor-*-units.xml so the closing "tests: N passed" line of `make test` counts them.
VENV_FLOOR ?= $(ROOT)/.venv-floor
VENV_FLOOR_STAMP := $(VENV_FLOOR)/.installed
AT_FLOOR_ROOT := $(BUILD)/ansible-test-floor
AT_FLOOR_COLLECTION := $(AT_FLOOR_ROOT)/ansible_collections/gpu_slicing/eks
JUNIT_FLOOR := $(AT_FLOOR_COLLECTION)/tests/output/junit
PY_VERSION_FLOOR = $(shell $(VENV_FLOOR)/bin/python -c 'import sys; print("%d.%d" % sys.version_info[:2])')
FLOOR_TARGETS ?= inventory_gpu_nodes
# every unit test file (FLOOR_UNITS=tests/unit/... runs a few)
FLOOR_UNITS ?= $$(find tests/unit -name 'test_*.py' | sort)

.PHONY: test-floor venv-floor units-floor integration-floor ansible-test-tree-floor

venv-floor: $(VENV_FLOOR_STAMP)

$(VENV_FLOOR_STAMP): requirements-floor.txt tests/unit/constraints.txt tests/unit/requirements.txt tests/integration/requirements.txt
	@test -n "$(PYTHON)" || { echo "error: no Python 3.11-3.13 found (PATH or ~/.pyenv/versions)" >&2; exit 1; }
	@test -x $(VENV_FLOOR)/bin/python || { echo "creating $(VENV_FLOOR) with $(PYTHON)"; $(PYTHON) -m venv $(VENV_FLOOR); }
	$(VENV_FLOOR)/bin/$(PIP_INSTALL) -r requirements-floor.txt
	$(VENV_FLOOR)/bin/pip check
	@touch $@

ansible-test-tree-floor: $(COLLECTIONS_STAMP) $(VENV_STAMP)
	@$(VENV)/bin/python hacking/sync_tree.py $(ROOT) $(AT_FLOOR_ROOT) --collections $(COLLECTIONS)

test-floor:
	@$(MAKE) units-floor integration-floor

units-floor: $(VENV_FLOOR_STAMP) ansible-test-tree-floor
	rm -f $(JUNIT_FLOOR)/*-units.xml $(JUNIT)/floor-*-units.xml
	cd $(AT_FLOOR_COLLECTION) && PATH=$(VENV_FLOOR)/bin:$(TEST_PATH) $(KUBE_SESSION) $(VENV_FLOOR)/bin/ansible-test units --local \
	  --python $(PY_VERSION_FLOOR) $(COLOR) \
	  $(FLOOR_UNITS) || rc=$$?; \
	  mkdir -p $(JUNIT); for f in $(JUNIT_FLOOR)/*-units.xml; do if [ -e "$$f" ]; then cp "$$f" $(JUNIT)/floor-$$(basename $$f); fi; done; \
	  $(VENV)/bin/python $(ROOT)/hacking/junit_summary.py $(JUNIT) --pattern 'floor-*-units.xml' \
	    --label "units, ansible-core $$($(VENV_FLOOR)/bin/python -c 'import ansible; print(ansible.__version__)'), Python $(PY_VERSION_FLOOR)"; \
	  exit $${rc:-0}

integration-floor: $(VENV_FLOOR_STAMP) ansible-test-tree-floor
	cd $(AT_FLOOR_COLLECTION) && PATH=$(VENV_FLOOR)/bin:$(TEST_PATH) $(KUBE_SESSION) $(VENV_FLOOR)/bin/ansible-test integration --local \
	  --python $(PY_VERSION_FLOOR) --continue-on-error $(COLOR) $(FLOOR_TARGETS)

# ---------------------------------------------------------------------------------------------- end floor leg

clean: cluster-down
	rm -rf $(BUILD) $(CACHE) $(ROOT)/tests/output
