# The OCF resource agent (ocf/glance-api): its tests and its benchmark. Included by the Makefile.
.PHONY: test-agent bench-monitor-cost

# Unit tests on a fake glance-api, ocf-tester, then the real glance-api + MariaDB + Keystone on
# loopback and a single-node Pacemaker cluster (all started and ended by the tests themselves).
test-agent: venv host-deps
	$(PY) -m pytest -q -p no:cacheprovider --timeout=600 tests/agent

# Monitor cost: the old glance CLI check vs our levels 0 and 20 (not part of `make test`).
BENCH_N ?= 20
bench-monitor-cost: venv host-deps
	$(PY) bench/monitor_cost -n $(BENCH_N)
