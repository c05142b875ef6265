# Roles, templates and inventories (included by the Makefile).
#   make lint              ansible-lint, production profile, on the collection (ansible/) and the
#                          lab's playbook and role (lab/) (`make unit` runs it too: tests/unit/test_lint.py);
#                          also ruff, mypy and shellcheck (mk/health.mk)
#   make collection        the collection's tarball, build/glance_ha-ha-VERSION.tar.gz
#   make lab-deploy-check  site.yml --check --diff against the converged lab (must show no change)
ANSIBLE_LINT := $(CURDIR)/$(VENV)/bin/ansible-lint

.PHONY: lint lab-deploy-check collection

lint: venv
	cd ansible && $(ANSIBLE_LINT) --profile production
	cd lab && $(ANSIBLE_LINT) --profile production

# ansible-galaxy packs the files behind the links (ocf/, alerts/, templates/) as files.
collection: venv
	mkdir -p build
	$(VENV)/bin/ansible-galaxy collection build ansible --output-path build --force

lab-deploy-check: venv
	$(PLAYBOOK) lab/site.yml --check --diff
