.PHONY: tempest
# OpenStack's conformance suite (issue 12) on the deployed lab (make lab first; make test runs it
# on the lab test-lab left converged): Debian's tempest and glance-tempest-plugin on the lab
# controller, tempest.api.image and glance_tempest_plugin through the public VIP. Fails on any
# failed test, and on any skip that lab/tempest/skips.txt does not list with its reason.
TEMPEST_CONCURRENCY ?= 2
tempest: venv
	@$(PHASE) "tempest: tempest.api.image + glance_tempest_plugin through the VIPs" $(PY) -m glance_ha_lab.tempest --concurrency $(TEMPEST_CONCURRENCY)
