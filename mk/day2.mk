# Day-2 operations (issue 6): audit, status, store modes, multiple stores, import across nodes,
# maintenance and rolling upgrade. Included by the Makefile.
#   make test-day2   brings the lab up (idempotent) and deploys it (site.yml, ~45 s when already
#                    converged), then runs the day-2 integration tests against it.
# The lab is the one GLANCE_HA_LAB_PREFIX/_DIR name (default: the main lab).
.PHONY: test-day2

test-day2: venv host-deps
	@$(PHASE) "day 2: lab up" $(LAB) up
	@$(PHASE) "day 2: deploy (site.yml)" $(PLAYBOOK) lab/site.yml
	@$(PHASE) "day 2: unit tests" $(PY) -m pytest -q -p no:cacheprovider tests/unit/test_day2.py
	@$(PHASE) "day 2: integration tests against the lab" $(PY) -m pytest -q -p no:cacheprovider --timeout=900 -s tests/lab/day2
