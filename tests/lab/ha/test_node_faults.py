"""Node-local faults (issue 16): one node at a time gets a fault of its own while clients poll
both VIPs (list + download, one retry). Each case asserts that the service keeps answering, that
only the broken node is kept out and only for the resource concerned, that status names the node
and the reason, that the alert log recorded it, and that the node comes back once fixed.

Faults of glance-api's node (its config, package, store mount, staging file system, clock) must
keep that node's instance out (the agent's node-local codes: Pacemaker bans it there only);
faults of a node's links (its public link, its default gateway) must move the VIPs that depend on
them away (ocf:pacemaker:ping attributes) and leave glance-api alone.
"""

from __future__ import annotations

import subprocess
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from ansible_collections.glance_ha.ha.plugins.module_utils import events as events_mod
from ansible_collections.glance_ha.ha.plugins.module_utils import names, status
from glance_ha_lab import config, labclient, network, power, shell
from glance_ha_lab.vipclient import VipClient

from .conftest import GLANCE_HOSTS, wait_for

REPO = Path(__file__).resolve().parents[3]
CONF = "/etc/glance/glance-api.conf"
API_PY = "/usr/lib/python3/dist-packages/glance/cmd/api.py"
STORE = "/var/lib/glance/images"
STAGING = "/var/lib/glance/staging"
MONITOR_INTERVAL = 5.0  # ha_resources_glance_monitor_interval
PING_DETECTION = 3.0 + 2 * 1.0 + 1.0  # interval + attempts x timeout + dampen (ha_resources_ping_*)
VIP_MOVE = 3.0  # a VIP's stop, start and the client's retry (the HA suite's standby bound)


# SIGKILL to every glance-api process at once, as a crash would (inside a lab host: by name)
KILL_GLANCE = "pkill -KILL -f '^/usr/bin/python3 /usr/bin/glance-api'"


@dataclass(frozen=True)
class Fault:
    name: str
    inject: str          # shell, run on the node
    repair: str          # shell, run on the node
    reason: str          # what the agent's exit reason (and so status) must say
    scope: str = "glance-api"  # what is kept out: glance-api, or the VIPs of a link check

    def __str__(self) -> str:
        return self.name


SWITCH_NFT_TABLE = "gha_fault"

GLANCE_FAULTS = {
    "config-unreadable": Fault(
        "config-unreadable", f"chown root:root {CONF} && chmod 0600 {CONF} && " + KILL_GLANCE,
        f"chown root:glance {CONF} && chmod 0640 {CONF}", "cannot read"),
    "config-missing": Fault(
        "config-missing", f"mv {CONF} {CONF}.fault && " + KILL_GLANCE,
        f"mv {CONF}.fault {CONF}", "not found"),
    "config-unparsable": Fault(
        "config-unparsable", f"cp -p {CONF} {CONF}.fault && echo '[broken' >> {CONF}",
        f"mv {CONF}.fault {CONF}", "INI"),
    "package-broken": Fault(
        "package-broken",
        f"mv {API_PY} {API_PY}.fault && echo 'raise ImportError(\"broken by the fault suite\")' > {API_PY} && "
        + KILL_GLANCE, f"mv {API_PY}.fault {API_PY}", "exited during start"),
    "store-not-mounted": Fault(
        # an empty directory where the share should be, as when the NFS mount failed at boot
        "store-not-mounted", f"mount -t tmpfs -o size=1m,mode=0750,uid=glance,gid=glance fault {STORE}",
        f"umount {STORE}", STORE),
    "staging-full": Fault(
        "staging-full",
        f"mount -t tmpfs -o size=256k,mode=0750,uid=glance,gid=glance fault {STAGING} && "
        f"(dd if=/dev/zero of={STAGING}/fill bs=4k >/dev/null 2>&1 || true)",
        f"umount {STAGING}", STAGING),
    "clock-off": Fault(
        # every new process of the node sees its clock 10 minutes ahead (the lab hosts share the
        # machine's kernel clock, which no namespace offsets: libfaketime through ld.so.preload)
        "clock-off",
        "echo +600 > /etc/faketimerc && "
        "ls /usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1 > /etc/ld.so.preload",
        "rm -f /etc/ld.so.preload /etc/faketimerc", "clock"),
}

# (fault, which node): the VIP holder where the fault costs a VIP move, a node without VIPs
# where it must cost nothing.
GLANCE_CASES = [
    ("config-unreadable", "holder"), ("config-unreadable", "other"),
    ("config-missing", "other"), ("config-unparsable", "holder"),
    ("package-broken", "other"), ("store-not-mounted", "holder"),
    ("staging-full", "other"), ("clock-off", "holder"),
]


# ------------------------------------------------------------------------------------------
# watching the cluster while a fault lasts

class CloneWatch(threading.Thread):
    """Samples crm_mon (on a node other than the broken one) every 0.5 s: where glance-api runs,
    and where each VIP is."""

    def __init__(self, via: str):
        super().__init__(daemon=True)
        self.via = via
        self.samples: list[labclient.ClusterState] = []
        self._stop_event = threading.Event()

    def run(self):
        while not self._stop_event.is_set():
            try:
                self.samples.append(labclient.cluster_state(via=self.via))
            except Exception:  # a node in flux answered nothing usable: the next sample
                pass
            self._stop_event.wait(0.5)

    def stop(self):
        self._stop_event.set()
        self.join(timeout=30)

    def nodes_that_lost_glance(self, healthy: list[str]) -> set[str]:
        return {n for s in self.samples for n in healthy if n not in s.clone_nodes()}


@pytest.fixture(scope="module")
def vips(inventory_vars) -> dict[str, str]:
    return {names.VIP_RESOURCES["internal"]: inventory_vars["glance_ha_internal_vip"],
            names.VIP_RESOURCES["public"]: inventory_vars["glance_ha_public_vip"]}


@pytest.fixture
def clients(conn, test_image, vips):
    """One client per VIP, each listing and downloading through it."""
    made = [VipClient(ip, conn.session.get_token(), test_image["id"], test_image["sha256_sent"])
            for ip in vips.values()]
    for c in made:
        c.start()
    yield made
    for c in made:
        c.stop(time.monotonic())


def stop_clients(clients: list[VipClient], t0: float):
    from glance_ha_lab.vipclient import Report
    return Report.combine(*(c.stop(t0) for c in clients))


def pick(role: str) -> str:
    holders = labclient.cluster_state().vip_holders()
    held = {n for ns in holders.values() for n in ns}
    if role == "holder":
        return holders[names.VIP_RESOURCES["internal"]][0]
    return next(h for h in GLANCE_HOSTS if h not in held)


def crm_mon_xml(via: str) -> str:
    return labclient.on_host(via, "crm_mon -1 --output-as=xml --include=all", timeout=20)


@pytest.fixture(scope="module")
def status_settings(inventory_vars) -> dict:
    """What ansible/playbooks/status.yml hands the report from the ha_resources role (status_facts.yml)."""
    return {"drain_attribute": names.DRAIN_ATTRIBUTE, "failure_timeout": "120s",
            "link_attributes": [f"ping-{c['name']}" for c in inventory_vars["ha_resources_ping_checks"]]}


def status_lines(via: str, settings: dict) -> list[str]:
    """What `glance-ha status` prints of the cluster (the same parse and render it uses)."""
    report = status.build(status.parse_crm_mon(crm_mon_xml(via), settings), [], None, {})
    return status.render(report).splitlines()


def glance_failures(host: str, via: str) -> list[dict]:
    """crm_mon's failures of glance-api on host, as status parses them (exit reason unescaped)."""
    failures = map(status.parse_failure, ET.fromstring(crm_mon_xml(via)).findall("failures/failure"))
    return [f for f in failures if f["node"] == host and "glance-api" in f["rsc"]]


def failure_on(host: str, via: str) -> str:
    """The exit reason crm_mon records for a glance-api failure on host ('' when none)."""
    return next((f["reason"] or f["what"] for f in glance_failures(host, via)), "")


# OCF codes after which Pacemaker does not try the resource on that node again (hard errors);
# after 1 (generic) or 7 (not running) from a monitor it restarts it there, and that start decides
HARD_CODES = range(2, 7)


def keeping_failure(host: str, via: str) -> str:
    """The exit reason of the failure that keeps glance-api off host: a failed start, or any
    operation with a hard code ('' until there is one). A monitor that found glance-api killed
    (rc 7) is not it: the node is out only for the restart, whose start failure comes next (CI:
    reading the monitor's record as the answer named the wrong reason)."""
    return next((f["reason"] or f["what"] for f in glance_failures(host, via)
                 if f["task"] == "start" or f["rc"] in HARD_CODES), "")


def on_node(host: str, command: str) -> str:
    """A command on a lab host without ssh (nsenter): a fault may break the host's sshd (libfaketime
    does, in sshd's sandbox) or its links."""
    r = power.in_host(config.host_by_name(host), command)
    if r.returncode != 0:
        raise RuntimeError(f"{host}: {command!r} failed ({r.returncode}): {r.stderr.strip()}")
    return r.stdout


def all_events() -> str:
    """Every glance host's events log (a node's own operations are recorded on it, an attribute's
    changes on the node whose attrd writes them)."""
    return "".join(on_node(h, "cat /var/log/glance-ha/events.log 2>/dev/null || true") for h in GLANCE_HOSTS)


def start_failure_on(host: str, via: str) -> bool:
    return any(f["task"] == "start" for f in glance_failures(host, via))


def aftermath(clients: list[VipClient], t0: float, via: str, settings: dict):
    """Once the fault has had its effect: two more seconds of clients, then what they saw, the
    cluster's state, status's lines and every node's events."""
    time.sleep(2)
    return (stop_clients(clients, t0), labclient.cluster_state(via=via), status_lines(via, settings),
            all_events())


def report_line(name: str, rep, extra: str = "") -> None:
    print(f"\n[{name}] {rep.summary()}{extra}")


# ------------------------------------------------------------------------------------------
# glance-api's node

@pytest.mark.parametrize("fault_name,role", GLANCE_CASES, ids=[f"{f}-{r}" for f, r in GLANCE_CASES])
def test_node_fault_keeps_only_that_node_out(fault_name, role, clients, vips, status_settings):
    fault = GLANCE_FAULTS[fault_name]
    target = pick(role)
    healthy = [h for h in GLANCE_HOSTS if h != target]
    watch = CloneWatch(via=healthy[0])
    watch.start()
    time.sleep(1)
    t0, wall0 = time.monotonic(), time.time()
    try:
        on_node(target, fault.inject)
        reason = wait_for(lambda: target not in labclient.cluster_state(via=healthy[0]).clone_nodes()
                          and keeping_failure(target, healthy[0]), timeout=90, step=0.5,
                          what=f"glance-api on {target} kept out after {fault}")
        kept_out_after = time.monotonic() - t0
        # the VIPs are served from the healthy nodes
        wait_for(lambda: all(labclient.healthcheck(ip) == 200 for ip in vips.values()), timeout=30,
                 step=0.2, what="both VIPs answering")
        rep, state, lines, events = aftermath(clients, t0, healthy[0], status_settings)
    finally:
        watch.stop()
        on_node(target, fault.repair)
    report_line(f"{fault}, {role} {target}", rep, f"; kept out after {kept_out_after:.1f} s: {reason}")
    # the agent says what is wrong, by a node-local code: only this node is out
    assert fault.reason.lower() in reason.lower(), reason
    assert watch.nodes_that_lost_glance(healthy) == set(), "glance-api stopped on a healthy node"
    assert sorted(state.clone_nodes()) == healthy
    for rid, holders in state.vip_holders().items():
        assert len(holders) == 1 and holders[0] != target, (rid, holders)
    if role == "other":
        assert rep.failed_requests == 0, [a for a in rep.attempts if not a.ok][:5]
    else:
        # until the monitor sees it, the holder's requests fail; then one VIP move
        assert rep.outage() <= MONITOR_INTERVAL + VIP_MOVE + 2.0, rep.summary()
    # status names the node and the reason in one line
    assert any(target in line and fault.reason.lower() in line.lower() for line in lines), lines
    # the alert agent recorded the failure, with the node and the reason
    failures = events_mod.find_events(events, kind="resource", node=target, rsc=names.GLANCE_PRIMITIVE, since=wall0)
    assert any(e["level"] == "error" and fault.reason.lower() in e["reason"].lower() for e in failures), \
        events[-2000:]
    # fixed, then the one documented command: the node serves again
    labclient.on_host(healthy[0], f"crm resource cleanup {names.GLANCE_CLONE} " + target)
    wait_for(lambda: target in labclient.cluster_state().clone_nodes(), timeout=90, step=1,
             what=f"glance-api back on {target}")


def test_a_fixed_node_returns_by_itself_after_failure_timeout(clients, inventory_vars):
    """No cleanup: once the config is readable again, the failure expires (failure-timeout) and
    Pacemaker starts the instance there again on its own."""
    fault = GLANCE_FAULTS["config-unreadable"]
    target = pick("other")
    t0 = time.monotonic()
    try:
        on_node(target, fault.inject)
        via = next(h for h in GLANCE_HOSTS if h != target)
        # kept out: its restart failed too (a start failure keeps the instance off the node until
        # the failure expires)
        wait_for(lambda: target not in labclient.cluster_state(via=via).clone_nodes()
                 and start_failure_on(target, via), timeout=90, step=0.5, what=f"{target} kept out")
        # the operator's view while it is out: `glance-ha status` (the real CLI, its playbook)
        # names the node, the reason and the way back in one line, and shows the event
        cli = subprocess.run([str(REPO / ".venv/bin/glance-ha"), "-i", str(REPO / "inventory" / "lab"), "status"],
                             capture_output=True, text=True, timeout=300, check=False)
    finally:
        on_node(target, fault.repair)
    repaired = time.monotonic()
    print(f"\n[glance-ha status while {target} is out]\n{cli.stdout}")
    assert cli.returncode == 1, cli.stdout + cli.stderr  # not healthy
    assert any(line.startswith(f"glance-api on {target}: Stopped, kept out: start failed")
               and "cannot read" in line and f"crm resource cleanup {names.GLANCE_CLONE} {target}" in line
               for line in cli.stdout.splitlines()), cli.stdout
    assert any(line.startswith("event:") and target in line and "cannot read" in line
               for line in cli.stdout.splitlines()), cli.stdout
    timeout_s = int(str(inventory_vars.get("ha_resources_failure_timeout", "120s")).rstrip("s"))
    wait_for(lambda: target in labclient.cluster_state().clone_nodes(), timeout=timeout_s + 90, step=2,
             what=f"glance-api back on {target} without a cleanup")
    rep = stop_clients(clients, t0)
    print(f"\n[failure-timeout] {target} back {time.monotonic() - repaired:.0f} s after the repair "
          f"(failure-timeout {timeout_s} s); {rep.summary()}")
    assert rep.failed_requests == 0


# ------------------------------------------------------------------------------------------
# a node's links

def switch(cmd: str) -> None:
    shell.run(["ip", "netns", "exec", network.switch_netns(), "sh", "-c", cmd])


def block_gateway(host: str, gateway: str, blocked: bool) -> None:
    """The node's packets to its default gateway are lost (a dead router port, a bad ARP entry)."""
    address = config.host_by_name(host).internal
    if blocked:
        switch(f"nft add table inet {SWITCH_NFT_TABLE} && "
               f"nft add chain inet {SWITCH_NFT_TABLE} input '{{ type filter hook input priority 0; }}' && "
               f"nft add rule inet {SWITCH_NFT_TABLE} input ip saddr {address} ip daddr {gateway} drop")
    else:
        switch(f"nft delete table inet {SWITCH_NFT_TABLE} 2>/dev/null || true")


LINK_CASES = {
    # the public link of the public VIP's holder: that VIP leaves, the internal one may stay
    "public-link-cut": (names.VIP_RESOURCES["public"], {names.VIP_RESOURCES["public"]},
                        names.ping_attribute("public")),
    # the internal VIP holder's default gateway: both VIPs leave it
    "gateway-lost": (names.VIP_RESOURCES["internal"], {names.VIP_RESOURCES["internal"], names.VIP_RESOURCES["public"]},
                     names.ping_attribute("gateway")),
}


@pytest.mark.parametrize("case", sorted(LINK_CASES))
def test_lost_link_moves_only_the_vips_that_need_it(case, clients, vips, inventory_vars, status_settings):
    vip_of_target, must_move, attribute = LINK_CASES[case]
    before = labclient.cluster_state().vip_holders()
    target = before[vip_of_target][0]
    healthy = [h for h in GLANCE_HOSTS if h != target]
    gateway = inventory_vars["glance_ha_internal_gateway"]
    inject: Callable[[bool], None] = (
        (lambda cut: network.cut_link(config.host_by_name(target), up=not cut, nets=("public",)))
        if case == "public-link-cut"
        else (lambda cut: block_gateway(target, gateway, cut)))
    watch = CloneWatch(via=healthy[0])
    watch.start()
    time.sleep(1)
    t0, wall0 = time.monotonic(), time.time()
    inject(True)
    try:
        def moved() -> bool:
            holders = labclient.cluster_state(via=healthy[0]).vip_holders()
            return all(holders[r] and target not in holders[r] for r in must_move)

        wait_for(moved, timeout=60, step=0.3, what=f"{sorted(must_move)} off {target} after {case}")
        moved_after = time.monotonic() - t0
        rep, state, lines, events = aftermath(clients, t0, healthy[0], status_settings)
    finally:
        watch.stop()
        inject(False)
    report_line(f"{case}, {target}", rep, f"; VIPs moved after {moved_after:.1f} s")
    # glance-api is left alone everywhere, the broken node included: no failure, no restart
    assert watch.nodes_that_lost_glance(GLANCE_HOSTS) == set()
    assert state.failed == [] and failure_on(target, healthy[0]) == ""
    # a VIP that does not need the lost link stays where it was
    for rid in set(before) - must_move:
        assert {tuple(s.vip_holders().get(rid, [])) for s in watch.samples} <= {tuple(before[rid])}, rid
    assert rep.outage() <= PING_DETECTION + VIP_MOVE + 2.0, rep.summary()
    assert any(target in line and attribute in line for line in lines), lines
    assert events_mod.find_events(events, kind="attribute", node=target, attribute=attribute, value="0",
                                  since=wall0), events[-2000:]
    # the link is back: the attribute returns, nothing to clean up (stickiness keeps the VIPs)
    wait_for(lambda: 'value="1"' in labclient.on_host(
        healthy[0], f"attrd_updater --query --name {attribute} --node {target}", check=False),
        timeout=30, step=1, what=f"{attribute}=1 on {target}")
