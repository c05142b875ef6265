# Lab fencing (issue 5): the lab BMC (lab/glance_ha_lab/bmc.py), the fence agent (lab/glance_ha_lab/fence_lab),
# their unit tests, real power cycles of lab hosts and a real Pacemaker stonith on the lab.
# The lab tests bring the lab up if it is not (GLANCE_HA_LAB_PREFIX/_DIR choose which lab).
.PHONY: test-fence

test-fence: host-deps venv
	@$(PHASE) "fencing: agent, BMC, lab power cycles, Pacemaker stonith" $(PY) -m pytest -q tests/fence
