# glance-ha: `make lab` builds the lab and deploys HA glance onto it; `make test` runs everything.
SHELL := /bin/bash
.ONESHELL:
.SHELLFLAGS := -euo pipefail -c
VENV := .venv
PY := $(VENV)/bin/python
export ANSIBLE_CONFIG := $(CURDIR)/ansible/ansible.cfg
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)

.PHONY: help host-deps venv lab lab-down test unit lint bench

help:
	@echo "make lab       build the lab cluster and deploy HA glance onto it"
	@echo "make test      every test (unit, lint, agent, lab integration)"
	@echo "make lab-down  remove the lab"
	@echo "make bench     benchmarks (bench/)"

host-deps:
	@bash scripts/install-host-deps

$(VENV)/.stamp: pyproject.toml
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	$(VENV)/bin/pip install -q -e '.[dev]'
	touch $@

venv: $(VENV)/.stamp

unit: venv
	$(PY) -m pytest -q tests/unit

test: host-deps venv unit
