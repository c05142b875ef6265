"""The lab's BMC: out-of-band power control of the lab hosts, as IPMI is in production.

A small TCP daemon on the deploy machine. It lives in a lab network namespace of its own,
`<prefix>-bmc`, wired into the lab's internal bridge at 198.51.100.2, so the fence agent on a
lab host (lab/glance_ha_lab/fence_lab, installed there as /usr/sbin/fence_lab) reaches it over the lab
network exactly as it would reach a real BMC; the daemon keeps the machine's mount namespace,
so it powers hosts off and on with power.power_off / power.power_on (off: every process of the
host killed at once and its network namespace deleted; on: the host boots again, with sshd and
whatever services it has enabled, corosync and pacemaker included).

Protocol: one request per TCP connection, one JSON object per line.

    BMC    -> {"challenge": "<32 hex digits, fresh per connection>"}
    client -> {"action": "on|off|reboot|status|list", "plug": "<host>" (not for list),
               "mac": hex(HMAC-SHA256(secret, "<challenge>|<action>|<plug>"))}
    BMC    -> {"ok": true, "status": "on|off"}  or, for list, {"ok": true, "plugs": {host: status}}
              {"ok": false, "error": "authentication failed" | "unknown plug ..." | ...}

The shared secret ($GLANCE_HA_LAB_DIR/secrets/fence_lab, 0600, generated when missing) never
crosses the wire, and a request cannot be replayed on another connection.

A host that lost power (through this BMC, or a crash: power.power_off) boots again no sooner
than GLANCE_HA_LAB_BMC_MIN_OFF seconds (10) after, as a real server takes its time; "on"
answers at once (see BmcServer.power_on).

    python -m glance_ha_lab.bmc start | stop | status | serve
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import os
import secrets
import signal
import socket
import socketserver
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Protocol

from glance_ha_lab import cgroups, config, network, power, shell

# Where the BMC listens: lab_bmc_address and lab_bmc_port of the lab inventory (the fence device
# reads them too). 6230: 623 is IPMI's; this is not IPMI.
BMC_ADDRESS, BMC_PORT = config.bmc_endpoint()
BMC_MAC = network.fixed_mac(BMC_ADDRESS)
SWITCH_PORT = "bmc-i"  # the BMC's end on br-int, in the switch namespace
ACTIONS = ("on", "off", "reboot", "status", "list")
REQUEST_TIMEOUT = 10.0  # seconds a client has to send its request once connected
POWER_LOCK_TIMEOUT = 60.0  # seconds a request waits for another power operation to finish
MAX_CONNECTIONS = 16
# Seconds a host powered off by this BMC stays off before it boots again (see
# BmcServer.power_on): above the cluster's failure detection, corosync's defaults included
# (token 3000 ms + 650 ms per node past two, consensus 1.2 x token: about 8 s for 3 nodes).
MIN_OFF_TIME = float(os.environ.get("GLANCE_HA_LAB_BMC_MIN_OFF", "10"))
MAX_LINE = 4096


def bmc_netns() -> str:
    return f"{config.PREFIX}-bmc"


def secret_path() -> Path:
    return config.LAB_DIR / "secrets" / "fence_lab"


def pid_path() -> Path:
    return config.LAB_DIR / "bmc.pid"


def log_path() -> Path:
    return config.LAB_DIR / "bmc.log"


def ensure_secret() -> bytes:
    """The shared secret of the lab's BMC and fence agents: created once, 0600, kept by `down`."""
    path = secret_path()
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_hex(32) + "\n")
    return read_secret(path)


def read_secret(path: Path) -> bytes:
    secret = path.read_text().strip().encode()
    if not secret:
        raise config.LabError(f"{path} is empty: remove it and run `python -m glance_ha_lab up` to make a new one")
    return secret


def request_mac(secret: bytes, challenge: str, action: str, plug: str) -> str:
    return hmac.new(secret, f"{challenge}|{action}|{plug}".encode(), hashlib.sha256).hexdigest()


# ---------------------------------------------------------------------------------------------
# power
# ---------------------------------------------------------------------------------------------
class PowerBackend(Protocol):
    def plugs(self) -> list[str]: ...
    def status(self, plug: str) -> str: ...
    def on(self, plug: str) -> None: ...
    def off(self, plug: str) -> None: ...
    def off_since(self, plug: str) -> float | None: ...


class LabPower:
    """The lab hosts' power, through power.py: the BMC's only way to act on a host."""

    def plugs(self) -> list[str]:
        return [h.name for h in config.load_hosts()]

    def status(self, plug: str) -> str:
        return "on" if cgroups.host_running(config.host_by_name(plug)) else "off"

    def on(self, plug: str) -> None:
        # "on" means powered, not booted (as a real BMC): power.power_on returns once the host's
        # first process exists
        power.power_on(config.host_by_name(plug))

    def off(self, plug: str) -> None:
        power.power_off(config.host_by_name(plug))
        reap_children()

    def off_since(self, plug: str) -> float | None:
        """When (time.time()) the host last lost power, by this BMC or by a crash."""
        return power.powered_off_at(config.host_by_name(plug))


def reap_children() -> None:
    """Collect the exit of the hosts' launchers (children of this daemon since it powered them
    on): power.power_on keeps no handle on them. Runs under the power lock, when no other child of
    ours is being waited for."""
    for _ in range(1000):
        try:
            pid, _status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


class RequestRefused(Exception):
    """A request the BMC will not perform; the message goes back to the client."""


class BmcServer(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True

    def __init__(self, address: tuple[str, int], backend: PowerBackend, secret: bytes,
                 min_off_time: float = 0.0):
        self.backend = backend
        self.secret = secret
        self.min_off_time = min_off_time
        self.power_lock = threading.Lock()  # one power operation at a time, as power.py assumes
        self.slots = threading.BoundedSemaphore(MAX_CONNECTIONS)
        self.powered_off_at: dict[str, float] = {}  # by this BMC, time.monotonic()
        self.pending_boots: dict[str, threading.Timer] = {}
        super().__init__(address, BmcHandler)

    def status(self, plug: str) -> str:
        # a host whose boot is pending is powered on, as a real one is during its firmware's POST
        return "on" if plug in self.pending_boots else self.backend.status(plug)

    def perform(self, action: str, plug: str) -> dict:
        if action == "list":
            return {"ok": True, "plugs": {p: self.status(p) for p in self.backend.plugs()}}
        if plug not in self.backend.plugs():
            raise RequestRefused(f"unknown plug {plug!r}; plugs: {', '.join(self.backend.plugs())}")
        if action != "status":
            if not self.power_lock.acquire(timeout=POWER_LOCK_TIMEOUT):
                raise RequestRefused(f"another power operation has been running for {POWER_LOCK_TIMEOUT:.0f} s")
            try:
                if action in ("off", "reboot"):
                    self.cancel_boot(plug)
                    self.backend.off(plug)
                    self.powered_off_at[plug] = time.monotonic()
                if action in ("on", "reboot"):
                    self.power_on(plug)
            finally:
                self.power_lock.release()
        return {"ok": True, "status": self.status(plug)}

    def power_on(self, plug: str) -> None:
        """On at once, but a host this BMC powered off boots no sooner than min_off_time after.

        A real server takes far longer than the cluster's failure detection to come back from a
        power cycle; a lab host would be back in a second. Rejoining before the survivors have
        seen it leave (token + consensus), it receives the notice of its own fencing and
        Pacemaker stops on it for good ("We were allegedly just fenced"); and a boot at once
        would take the CPU the survivors' recovery needs on this one machine, which a real
        crashed server never does. A host that crashed (off, but not through this BMC) counts
        from its crash. The request still answers at once: fencing is not slowed down."""
        if plug in self.pending_boots or self.backend.status(plug) == "on":
            return
        wait = self.powered_off_at.get(plug, float("-inf")) + self.min_off_time - time.monotonic()
        crashed_at = self.backend.off_since(plug)
        if crashed_at is not None:
            wait = max(wait, crashed_at + self.min_off_time - time.time())
        if wait <= 0:
            self.backend.on(plug)
            return
        timer = threading.Timer(wait, self.boot_later, args=(plug,))
        timer.daemon = True
        self.pending_boots[plug] = timer
        timer.start()
        shell.log(f"bmc: {plug} powered on, boots in {wait:.1f} s (at least {self.min_off_time:g} s off)")

    def boot_later(self, plug: str) -> None:
        if not self.power_lock.acquire(timeout=POWER_LOCK_TIMEOUT):
            shell.log(f"bmc: {plug}: boot abandoned, the power lock stayed taken {POWER_LOCK_TIMEOUT:.0f} s")
            self.pending_boots.pop(plug, None)
            return
        try:
            if self.pending_boots.get(plug) is not threading.current_thread():
                return  # cancelled by an off meanwhile
            try:
                self.backend.on(plug)
                shell.log(f"bmc: {plug} booting")
            except (config.LabError, subprocess.CalledProcessError) as e:
                shell.log(f"bmc: {plug}: boot failed: {e}")
            finally:
                del self.pending_boots[plug]
        finally:
            self.power_lock.release()

    def cancel_boot(self, plug: str) -> None:
        timer = self.pending_boots.pop(plug, None)
        if timer:
            timer.cancel()

    def server_close(self) -> None:
        for plug in list(self.pending_boots):
            shell.log(f"bmc: {plug}: pending boot dropped, the BMC stops")
            self.cancel_boot(plug)
        super().server_close()


class BmcHandler(socketserver.StreamRequestHandler):
    server: BmcServer

    def setup(self) -> None:
        self.request.settimeout(REQUEST_TIMEOUT)
        super().setup()

    def handle(self) -> None:
        if not self.server.slots.acquire(blocking=False):
            self.reply({"ok": False, "error": f"busy: {MAX_CONNECTIONS} requests under way"})
            return
        t0 = time.monotonic()
        peer = self.client_address[0]
        action = plug = "?"
        try:
            challenge = secrets.token_hex(16)
            self.reply({"challenge": challenge})
            line = self.rfile.readline(MAX_LINE)
            try:
                req = json.loads(line)
                action, plug, mac = str(req["action"]), str(req.get("plug", "")), str(req["mac"])
            except (ValueError, KeyError, TypeError):
                raise RequestRefused("malformed request: one JSON object with action, plug, mac") from None
            expected = request_mac(self.server.secret, challenge, action, plug)
            if not hmac.compare_digest(mac, expected):
                raise RequestRefused("authentication failed")
            if action not in ACTIONS:
                raise RequestRefused(f"unknown action {action!r}; actions: {', '.join(ACTIONS)}")
            answer = self.server.perform(action, plug)
            shell.log(f"bmc: {peer} {action} {plug}: {answer.get('status', 'ok')} "
                    f"in {time.monotonic() - t0:.2f} s")
            self.reply(answer)
        except RequestRefused as e:
            shell.log(f"bmc: {peer} {action} {plug}: refused: {e}")
            self.reply({"ok": False, "error": str(e)})
        except (config.LabError, subprocess.CalledProcessError) as e:
            shell.log(f"bmc: {peer} {action} {plug}: failed: {e}")
            self.reply({"ok": False, "error": f"{action} {plug} failed: {e}"})
        except OSError as e:  # the client went away or was too slow: nothing to answer
            shell.log(f"bmc: {peer} {action} {plug}: connection: {e}")
        finally:
            self.server.slots.release()

    def reply(self, obj: dict) -> None:
        try:
            self.wfile.write(json.dumps(obj).encode() + b"\n")
            self.wfile.flush()
        except OSError:
            pass


def request(address: tuple[str, int], secret: bytes, action: str, plug: str = "",
            timeout: float = 30.0) -> dict:
    """One request to a BMC (tests and tools; the fence agent carries its own copy of this)."""
    with socket.create_connection(address, timeout=timeout) as sock:
        f = sock.makefile("rwb")
        challenge = json.loads(f.readline(MAX_LINE))["challenge"]
        f.write(json.dumps({"action": action, "plug": plug,
                            "mac": request_mac(secret, challenge, action, plug)}).encode() + b"\n")
        f.flush()
        return json.loads(f.readline(1 << 16))


# ---------------------------------------------------------------------------------------------
# the daemon's place in the lab
# ---------------------------------------------------------------------------------------------
def ensure_bmc_network() -> None:
    """The BMC's namespace, wired into br-int: created in the switch namespace, the peer moved
    straight into the BMC's (nothing appears in the machine's own namespace)."""
    if any(h.name == "bmc" for h in config.load_hosts()):
        raise config.LabError(f"{config.INVENTORY}: a host named 'bmc' clashes with the lab's BMC; rename it")
    taken = {h.internal: h.name for h in config.load_hosts()}
    if BMC_ADDRESS in taken:
        raise config.LabError(f"{config.INVENTORY}: {taken[BMC_ADDRESS]} has {BMC_ADDRESS}, the lab BMC's address; "
                           f"give it another one")
    if BMC_ADDRESS in {str(gw.ip) for gw in config.gateways().values()}:
        raise config.LabError(f"{config.ALL_VARS}: a lab gateway is {BMC_ADDRESS}, the lab BMC's address; "
                           f"give the gateway another one")
    network.ensure_switch()
    sw, ns = f"{config.PREFIX}-sw", bmc_netns()
    if not network.netns_exists(ns):
        shell.run(["ip", "netns", "add", ns])
    shell.run(["ip", "-n", ns, "link", "set", "lo", "up"])
    if shell.run(["ip", "-n", ns, "link", "show", "eth0"], check=False, capture=True).returncode != 0:
        shell.run(["ip", "-n", sw, "link", "del", SWITCH_PORT], check=False, stderr=subprocess.DEVNULL)
        shell.run(["ip", "-n", sw, "link", "add", SWITCH_PORT, "type", "veth", "peer", "name", "eth0", "netns", ns])
        shell.run(["ip", "-n", ns, "link", "set", "dev", "eth0", "address", BMC_MAC])
    shell.run(["ip", "-n", sw, "link", "set", SWITCH_PORT, "master", "br-int", "up"])
    have = shell.run(["ip", "-n", ns, "-4", "-o", "addr", "show", "dev", "eth0"], capture=True).stdout
    if f" {BMC_ADDRESS}/" not in have:
        shell.run(["ip", "-n", ns, "addr", "add", f"{BMC_ADDRESS}/{config.INTERNAL_NET.prefixlen}", "dev", "eth0"])
    shell.run(["ip", "-n", ns, "link", "set", "eth0", "up"])


def running_pid() -> int | None:
    """The PID of this lab's BMC if it runs (a pid file left by a dead one is ignored)."""
    try:
        pid = int(pid_path().read_text().split()[0])
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, ValueError, IndexError):
        return None
    if b"glance_ha_lab.bmc" not in cmdline or b"serve" not in cmdline or state in ("Z", "X"):
        return None
    return pid


def start(timeout: float = 15.0) -> None:
    """Start this lab's BMC unless it runs; return once it listens."""
    ensure_secret()
    if running_pid():
        return
    ensure_bmc_network()
    pid_path().unlink(missing_ok=True)
    with open(log_path(), "ab") as logf:  # the child keeps its own copy of the descriptor
        proc = subprocess.Popen([sys.executable, "-m", "glance_ha_lab.bmc", "serve"], cwd=config.REPO,
                                stdin=subprocess.DEVNULL, stdout=logf, stderr=logf, start_new_session=True)
    deadline = time.monotonic() + timeout
    while running_pid() != proc.pid:  # serve writes the pid file once it listens
        if proc.poll() is not None or time.monotonic() > deadline:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            tail = log_path().read_text(errors="replace")[-1500:]
            raise config.LabError(f"the lab BMC did not start listening in {timeout:.0f} s; {log_path()}:\n{tail}")
        time.sleep(0.05)
    shell.log(f"bmc listening on {BMC_ADDRESS}:{BMC_PORT} (pid {proc.pid}, namespace {bmc_netns()}, log {log_path()})")


def stop(timeout: float = 10.0) -> None:
    """Stop this lab's BMC (by its PID) and remove its namespace."""
    pid = running_pid()
    if pid:
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while running_pid() == pid:
            if time.monotonic() > deadline:
                os.kill(pid, signal.SIGKILL)
                break
            time.sleep(0.05)
        shell.log(f"bmc stopped (pid {pid})")
    pid_path().unlink(missing_ok=True)
    if network.netns_exists(f"{config.PREFIX}-sw"):
        shell.run(["ip", "-n", f"{config.PREFIX}-sw", "link", "del", SWITCH_PORT], check=False,
                stderr=subprocess.DEVNULL)
    if network.netns_exists(bmc_netns()):
        shell.run(["ip", "netns", "del", bmc_netns()])


def serve() -> None:
    """The daemon itself: in the BMC's namespace, until SIGTERM."""
    secret = read_secret(secret_path())
    network.enter_netns(bmc_netns())
    server = BmcServer((BMC_ADDRESS, BMC_PORT), LabPower(), secret, min_off_time=MIN_OFF_TIME)

    def on_term(signum, frame):
        # shutdown() waits for serve_forever to return: it must run in another thread
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_term)
    tmp = pid_path().with_suffix(".tmp")
    tmp.write_text(f"{os.getpid()}\n")
    tmp.rename(pid_path())
    shell.log(f"bmc: serving lab {config.PREFIX} on {BMC_ADDRESS}:{BMC_PORT}, hosts off at least {MIN_OFF_TIME:g} s")
    try:
        server.serve_forever(poll_interval=0.5)
    finally:
        server.server_close()
        if running_pid() == os.getpid():
            pid_path().unlink(missing_ok=True)
        shell.log("bmc: stopped")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m glance_ha_lab.bmc", description=__doc__.split("\n\n")[0])
    p.add_argument("cmd", choices=("start", "stop", "status", "serve"))
    a = p.parse_args(argv)
    try:
        if a.cmd == "start":
            start()
        elif a.cmd == "stop":
            stop()
        elif a.cmd == "status":
            pid = running_pid()
            print(f"bmc {BMC_ADDRESS}:{BMC_PORT} " + (f"running (pid {pid})" if pid else "stopped"))
            return 0 if pid else 3
        elif a.cmd == "serve":
            serve()
    except (config.LabError, subprocess.CalledProcessError) as e:
        return shell.cli_error("bmc", e)
    return 0


if __name__ == "__main__":
    sys.exit(main())
