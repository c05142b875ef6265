"""Helpers of the fencing tests: the agent as Pacemaker runs it, and a BMC on loopback.

The unit tests run the real agent (lab/glance_ha_lab/fence_lab, with Debian's fence-agents library)
against the real BMC server class on 127.0.0.1 with a recording power backend; the lab tests
(test_lab_*.py) run them against the lab itself."""

from __future__ import annotations

import re
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from glance_ha_lab import bmc, config, labclient, network, shell

REPO = Path(__file__).resolve().parents[2]
AGENT = REPO / "lab" / "glance_ha_lab" / "fence_lab"


class RecordingPower:
    """A power backend that remembers what it was asked to do."""

    def __init__(self, plugs=("glance1", "glance2", "glance3")):
        self.state = {p: "on" for p in plugs}
        self.calls: list[tuple[str, str]] = []
        self.crashed_at: dict[str, float] = {}  # time.time() a host went off without the BMC

    def plugs(self):
        return list(self.state)

    def status(self, plug):
        return self.state[plug]

    def on(self, plug):
        self.calls.append(("on", plug))
        self.state[plug] = "on"

    def off(self, plug):
        self.calls.append(("off", plug))
        self.state[plug] = "off"

    def off_since(self, plug):
        return self.crashed_at.get(plug)


class LoopbackBmc:
    def __init__(self, secret: bytes, min_off_time: float = 0.0):
        self.secret = secret
        self.power = RecordingPower()
        self.server = bmc.BmcServer(("127.0.0.1", 0), self.power, secret, min_off_time=min_off_time)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.1},
                                       daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)


@pytest.fixture
def secret() -> bytes:
    return b"0123456789abcdef" * 4


@pytest.fixture
def key_file(tmp_path, secret) -> Path:
    path = tmp_path / "fence_lab.key"
    path.write_bytes(secret + b"\n")
    path.chmod(0o400)
    return path


@pytest.fixture
def loopback_bmc(secret, monkeypatch):
    monkeypatch.setattr(shell, "log", lambda msg: None)  # its threads may outlive a test's capture
    server = LoopbackBmc(secret)
    yield server
    server.close()


def run_agent(*args: str, stdin: str | None = None, timeout: float = 30,
              prefix: tuple[str, ...] = ()) -> subprocess.CompletedProcess:
    """The agent with options as arguments, or (no arguments) as name=value lines on stdin."""
    return subprocess.run([*prefix, str(AGENT), *args], input=stdin if stdin is not None else "",
                          capture_output=True, text=True, timeout=timeout)


# ---------------------------------------------------------------------------------------------
# the lab (GLANCE_HA_LAB_PREFIX / GLANCE_HA_LAB_DIR choose which one)
# ---------------------------------------------------------------------------------------------
AGENT_PATH_ON_HOSTS = "/usr/sbin/fence_lab"
KEY_FILE_ON_HOSTS = "/etc/pacemaker/fence_lab.key"


def lab_key_file() -> Path:
    return bmc.secret_path()


def on_controller_ns() -> tuple[str, ...]:
    """Prefix that runs a local command in the controller's network namespace (lab traffic only)."""
    return ("ip", "netns", "exec", f"{config.PREFIX}-controller")


def ssh(host: str, command: str, input: str | None = None, timeout: float = 60,
        check: bool = True) -> subprocess.CompletedProcess:
    """A shell command on a lab host, over ssh across the lab bridge."""
    r = subprocess.run(network.ssh_cmd(config.host_by_name(host), command), input=input,
                       capture_output=True, text=True, timeout=timeout)
    if check and r.returncode != 0:
        raise AssertionError(f"{host}: `{command}` exited {r.returncode}: {r.stderr.strip() or r.stdout.strip()}")
    return r


def install_agent(host: str) -> None:
    """What the cluster role does for the lab device: the agent 0755, the secret 0400, root's."""
    ssh(host, f"cat > {AGENT_PATH_ON_HOSTS}.new && chmod 0755 {AGENT_PATH_ON_HOSTS}.new && "
              f"mv {AGENT_PATH_ON_HOSTS}.new {AGENT_PATH_ON_HOSTS}", input=AGENT.read_text())
    ssh(host, f"umask 077 && mkdir -p /etc/pacemaker && cat > {KEY_FILE_ON_HOSTS}.new && "
              f"chmod 0400 {KEY_FILE_ON_HOSTS}.new && mv {KEY_FILE_ON_HOSTS}.new {KEY_FILE_ON_HOSTS}",
        input=lab_key_file().read_text())


def netns_exists(host: str) -> bool:
    return Path(f"/run/netns/{config.PREFIX}-{host}").exists()


def bmc_log_size() -> int:
    return bmc.log_path().stat().st_size


def bmc_actions_since(offset: int, plug: str) -> list[str]:
    """The power actions the lab BMC performed on plug since the log had offset bytes."""
    with bmc.log_path().open("rb") as f:
        f.seek(offset)
        lines = f.read().decode(errors="replace").splitlines()
    return [m.group(1) for m in (re.search(rf"bmc: \S+ (on|off|reboot) {plug}: ", line) for line in lines) if m]


def wait_for(predicate, timeout: float, step: float = 0.2, what: str = "condition"):
    """labclient's wait: an exception from predicate (a node answering half a state while it
    boots) counts as "not yet", never as the answer."""
    return labclient.wait_for(predicate, timeout, step=step, what=what)


def ensure_lab_up() -> None:
    """`lab up` is idempotent: it leaves running hosts alone and starts the BMC if it is not."""
    r = subprocess.run([sys.executable, "-m", "glance_ha_lab", "up"], cwd=REPO, capture_output=True,
                       text=True, timeout=900)
    if r.returncode != 0:
        raise AssertionError(f"lab up failed:\n{r.stdout[-2000:]}\n{r.stderr[-2000:]}")
