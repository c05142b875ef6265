"""Fixtures of the fencing tests (helpers in fence_helpers.py)."""

import pytest

from fence_helpers import ensure_lab_up, key_file, loopback_bmc, secret  # noqa: F401  (fixtures)


@pytest.fixture(scope="session")
def lab_up():
    """The lab of GLANCE_HA_LAB_PREFIX / GLANCE_HA_LAB_DIR, up with its BMC."""
    ensure_lab_up()
