# Roles, templates and inventories (included by the Makefile).
# make lint         ansible-lint, production profile, on ansible/ (also run by `make unit`
#                   through tests/unit/test_lint.py)
# make lab-deploy   the deploy step alone: site.yml against the running lab, from inside the lab
ANSIBLE_LINT := $(CURDIR)/$(VENV)/bin/ansible-lint
LAB_NETNS ?= gha-controller

.PHONY: lint lab-deploy lab-deploy-check

lint: venv
	cd ansible && $(ANSIBLE_LINT) --profile production

lab-deploy: venv
	ip netns exec $(LAB_NETNS) env ANSIBLE_CONFIG=$(CURDIR)/ansible/ansible.cfg \
	  $(VENV)/bin/ansible-playbook -i inventory/lab ansible/site.yml

lab-deploy-check: venv
	ip netns exec $(LAB_NETNS) env ANSIBLE_CONFIG=$(CURDIR)/ansible/ansible.cfg \
	  $(VENV)/bin/ansible-playbook -i inventory/lab ansible/site.yml --check --diff
