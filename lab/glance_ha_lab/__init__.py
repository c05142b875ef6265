"""The glance-ha lab: real hosts (systemd-nspawn) on one machine, its BMC and fence agent, and the
clients the tests and benchmarks use. It tests the product; it is not shipped with it."""
