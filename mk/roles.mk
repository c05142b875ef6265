# Roles, templates and inventories (included by the Makefile).
#   make lint              ansible-lint, production profile, on ansible/ (`make unit` runs it too,
#                          through tests/unit/test_lint.py)
#   make lab-deploy-check  site.yml --check --diff against the converged lab (must show no change)
ANSIBLE_LINT := $(CURDIR)/$(VENV)/bin/ansible-lint

.PHONY: lint lab-deploy-check

lint: venv
	cd ansible && $(ANSIBLE_LINT) --profile production

lab-deploy-check: venv
	$(PLAYBOOK) ansible/site.yml --check --diff
