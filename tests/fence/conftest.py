"""Fixtures of the fencing tests (helpers in fence_helpers.py)."""

from fence_helpers import key_file, loopback_bmc, secret  # noqa: F401  (fixtures)
