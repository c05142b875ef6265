# glance-ha: `make lab` builds the lab and deploys HA glance onto it; `make test` runs everything.
SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
VENV := .venv
PY := $(VENV)/bin/python
PHASE := scripts/phase
LAB := $(PY) -m glance_ha_lab
# Ansible and the clients run inside the lab, in the controller's network namespace.
ON_CONTROLLER := $(LAB) on-controller
PLAYBOOK := $(ON_CONTROLLER) $(CURDIR)/$(VENV)/bin/ansible-playbook -i inventory/lab
export ANSIBLE_CONFIG := $(CURDIR)/lab/ansible.cfg
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)
export PYTHONDONTWRITEBYTECODE := 1
# `glance-ha` needs an inventory (-i or this): here, the lab's
export GLANCE_HA_INVENTORY := $(CURDIR)/inventory/lab

.PHONY: help host-deps venv lab lab-up lab-deploy lab-smoke lab-down lab-status test unit lint \
        test-lab test-ha bench

help:
	@echo "make lab        build the lab cluster and deploy HA glance onto it (ends with an image served through the VIP)"
	@echo "make test       every test: unit, lint, agent, lab (molecule + integration), tempest, HA, fencing, day 2"
	@echo "make tempest    OpenStack's conformance suite (image API + glance plugin) against the deployed lab"
	@echo "make lab-status one line per lab host"
	@echo "make lab-down   remove the lab (keeps the base image; lab-purge removes it too)"
	@echo "make bench      benchmarks (bench/), not part of make test"

host-deps:
	@$(PHASE) "host packages" bash scripts/install-host-deps

# The product (glance_ha: the CLI) and the lab (lab/: glance_ha_lab) are two packages; the collection
# (ansible/) is found as glance_ha.ha through collections/ by Ansible (lab/ansible.cfg) and by the
# tests' Python (a .pth file), the way ansible-galaxy's install would place it.
$(VENV)/.stamp: pyproject.toml lab/pyproject.toml
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	$(VENV)/bin/pip install -q -e '.[dev]' -e ./lab
	echo '$(CURDIR)/collections' > "$$($(PY) -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')/glance_ha_collection.pth"
	touch $@

venv: $(VENV)/.stamp

lab: host-deps venv
	$(MAKE) --no-print-directory lab-up lab-deploy lab-smoke

lab-up:
	@$(PHASE) "lab hosts (build or repair, boot)" $(LAB) up

lab-deploy:
	@$(PHASE) "deploy: ansible-playbook -i inventory/lab lab/site.yml" $(PLAYBOOK) lab/site.yml

lab-smoke:
	@$(PHASE) "image round trip through the VIP, summary" $(ON_CONTROLLER) $(CURDIR)/$(PY) -m glance_ha_lab.smoke

lab-status:
	@$(LAB) status

lab-down:
	@$(PHASE) "lab down" $(LAB) down

lab-purge:
	@$(PHASE) "lab purge" $(LAB) down --purge

unit: venv
	@$(PHASE) "unit tests" $(PY) -m pytest -q tests/unit

# Fresh hosts (the base image is kept), molecule converges them with site.yml, checks
# idempotence and verifies; then the integration tests run on the converged lab.
test-lab:
	@$(PHASE) "fresh lab hosts" bash -c '$(LAB) down && $(LAB) up'
	@$(PHASE) "molecule: create, converge, idempotence, verify" bash -c 'cd tests && $(CURDIR)/$(PY) -m glance_ha_lab on-controller $(CURDIR)/$(VENV)/bin/molecule test -s default'
	@$(PHASE) "integration tests against the lab" $(PY) -m pytest -q -p no:cacheprovider --timeout=900 tests/lab --ignore=tests/lab/ha --ignore=tests/lab/day2

# The failure-mode suite: real faults on the deployed lab while a client polls the VIP.
test-ha:
	@$(PHASE) "failure modes against the lab" $(PY) -m pytest -q -p no:cacheprovider --timeout=900 -s tests/lab/ha

test: host-deps venv
	$(MAKE) --no-print-directory unit lint test-agent test-lab tempest test-ha test-fence test-day2

bench: venv
	$(MAKE) --no-print-directory bench-monitor-cost bench-failover

# Failover: ours vs the HA guide's active/passive layout vs default corosync timings, on the
# deployed lab (make lab first); N faults of each kind per case.
FAILOVER_N ?= 5
bench-failover:
	@$(PHASE) "failover benchmark (n=$(FAILOVER_N))" $(ON_CONTROLLER) $(CURDIR)/$(PY) bench/failover -n $(FAILOVER_N)

-include mk/*.mk
