"""resource-agents' own compliance tester, /usr/sbin/ocf-tester, against the agent."""
import subprocess

from conftest import AGENT


def test_ocf_tester_passes(ra):
    args = ["ocf-tester", "-n", ra.instance]
    for key, value in ra.params.items():
        args += ["-o", "%s=%s" % (key, value)]
    env = ra.environ("monitor")
    for key in list(env):
        if key.startswith("OCF_RESKEY_") or key == "__OCF_ACTION":
            del env[key]
    result = subprocess.run(args + [str(AGENT)], env=env, capture_output=True, text=True,
                            timeout=240)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "passed all tests" in result.stdout
    assert ra.processes() == []  # its last step stops the resource
