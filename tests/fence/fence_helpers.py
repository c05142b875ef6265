"""Helpers of the fencing tests: the agent as Pacemaker runs it, and a BMC on loopback.

The unit tests run the real agent (glance_ha/fence_lab, with Debian's fence-agents library)
against the real BMC server class on 127.0.0.1 with a recording power backend; the lab tests
(test_lab_*.py) run them against the lab itself."""

from __future__ import annotations

import subprocess
import threading
from pathlib import Path

import pytest

from glance_ha import bmc

REPO = Path(__file__).resolve().parents[2]
AGENT = REPO / "glance_ha" / "fence_lab"


class RecordingPower:
    """A power backend that remembers what it was asked to do."""

    def __init__(self, plugs=("glance1", "glance2", "glance3")):
        self.state = {p: "on" for p in plugs}
        self.calls: list[tuple[str, str]] = []

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


class LoopbackBmc:
    def __init__(self, secret: bytes):
        self.secret = secret
        self.power = RecordingPower()
        self.server = bmc.BmcServer(("127.0.0.1", 0), self.power, secret)
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
def loopback_bmc(secret):
    server = LoopbackBmc(secret)
    yield server
    server.close()


def run_agent(*args: str, stdin: str | None = None, timeout: float = 30,
              prefix: tuple[str, ...] = ()) -> subprocess.CompletedProcess:
    """The agent with options as arguments, or (no arguments) as name=value lines on stdin."""
    return subprocess.run([*prefix, str(AGENT), *args], input=stdin if stdin is not None else "",
                          capture_output=True, text=True, timeout=timeout)
