# Code health (included by the Makefile): `make lint` runs these besides ansible-lint, and
# `make unit` gates on them through tests/unit/test_code_health.py, which runs the same commands.
#   ruff check   lint, over every Python file: the product, the collection, the agents
#                (ocf/glance-api, ocf/glance-vip, alerts/glance-ha-alert), the lab (with
#                lab/glance_ha_lab/fence_lab), bench/failover, bench/monitor_cost, tests and tools
#   mypy         types, over the same (the files list is in pyproject.toml: [tool.mypy])
#   shellcheck   the shell scripts, SHELL_SCRIPTS below (the test checks that every tracked
#                script with a sh/bash shebang is listed)
SHELL_SCRIPTS := .ci/run scripts/install-host-deps scripts/phase

.PHONY: lint-code

lint: lint-code

lint-code: venv
	$(VENV)/bin/ruff check
	$(VENV)/bin/mypy
	shellcheck $(SHELL_SCRIPTS)
