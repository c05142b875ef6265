"""What a client of the lab needs: credentials, the cluster's state, image round trips.

Used by `make lab` (glance_ha_lab.smoke), the integration tests and the benchmarks. Every call
that goes to a lab address must run inside the lab (`python -m glance_ha_lab on-controller`,
or `network.enter_netns()` first).
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import time
import urllib.request
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

from ansible_collections.glance_ha.ha.plugins.module_utils import names
from ansible_collections.glance_ha.ha.plugins.module_utils.status import VIP_AGENT_TYPES
from glance_ha_lab import config, network

KEYSTONE_URL = "http://198.51.100.10:5000/v3"
REGION = "RegionOne"


def admin_password() -> str:
    return (config.LAB_DIR / "secrets" / "keystone_admin").read_text().strip()


def clouds_yaml() -> Path:
    """A clouds.yaml (0600, in the lab dir) for the openstack CLI: OS_CLIENT_CONFIG_FILE."""
    path = config.LAB_DIR / "clouds.yaml"
    body = json.dumps({"clouds": {"glance-ha-lab": {
        "auth": {"auth_url": KEYSTONE_URL, "username": "admin", "password": admin_password(),
                 "project_name": "admin", "user_domain_name": "Default",
                 "project_domain_name": "Default"},
        "region_name": REGION, "identity_api_version": 3, "interface": "public"}}}, indent=2)
    if not path.exists() or path.read_text() != body:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(body)
    return path


def openstack_env() -> dict[str, str]:
    """Environment for the openstack / glance CLIs: the password never on a command line."""
    return dict(os.environ, OS_CLIENT_CONFIG_FILE=str(clouds_yaml()), OS_CLOUD="glance-ha-lab")


def connect():
    import openstack  # only the callers that talk to the cloud pay for the import

    return openstack.connect(auth_url=KEYSTONE_URL, username="admin", password=admin_password(),
                             project_name="admin", user_domain_name="Default",
                             project_domain_name="Default", region_name=REGION,
                             identity_api_version="3", interface="public")


def on_host(host: str, command: str, check: bool = True, timeout: float = 60) -> str:
    r = subprocess.run(network.ssh_cmd(config.host_by_name(host), command), capture_output=True, text=True,
                       timeout=timeout)
    if check and r.returncode != 0:
        raise RuntimeError(f"{host}: {command!r} failed ({r.returncode}): {r.stderr.strip()}")
    return r.stdout


@dataclass
class ClusterState:
    nodes_online: list[str] = field(default_factory=list)
    nodes_offline: list[str] = field(default_factory=list)
    quorum: bool = False
    dc: str = ""  # the designated controller ("" when there is none)
    # resource id -> nodes where it is active; clone instances keyed by their primitive id
    active: dict[str, list[str]] = field(default_factory=dict)
    # VIP resource id (IPaddr2 or glance-vip) -> its address
    vips: dict[str, str] = field(default_factory=dict)
    failed: list[str] = field(default_factory=list)
    # resource id -> its agent, e.g. ocf:openstack:glance-api
    agents: dict[str, str] = field(default_factory=dict)

    def vip_holders(self) -> dict[str, list[str]]:
        return {rid: self.active.get(rid, []) for rid in self.vips}

    def clone_nodes(self) -> list[str]:
        """Nodes where a glance-api instance (our agent) is active."""
        return sorted(n for rid, ns in self.active.items()
                      if self.agents.get(rid) == "ocf:openstack:glance-api" for n in ns)


def cluster_state(via: str | None = None) -> ClusterState:
    """crm_mon's and the CIB's view, read over ssh on the first glance host that answers."""
    candidates = [via] if via else [h.name for h in config.load_hosts() if h.is_glance]
    last = None
    for host in candidates:
        try:
            mon = on_host(host, "crm_mon -1 --output-as=xml", timeout=20)
            cib = on_host(host, "cibadmin --query --scope resources", timeout=20)
            break
        except (RuntimeError, subprocess.TimeoutExpired) as e:
            last = e
    else:
        raise RuntimeError(f"no glance host answered crm_mon: {last}")
    state = ClusterState()
    root = ET.fromstring(mon)
    for n in root.findall("nodes/node"):
        (state.nodes_online if n.get("online") == "true" else state.nodes_offline).append(n.get("name", ""))
    summary = root.find("summary/current_dc")
    state.quorum = summary is not None and summary.get("with_quorum") == "true"
    state.dc = summary.get("name", "") if summary is not None and summary.get("present") == "true" else ""
    for r in root.iter("resource"):
        rid = r.get("id", "").split(":")[0]
        state.agents[rid] = r.get("resource_agent", "")
        if r.get("role") in ("Started", "Promoted", "Unpromoted") and r.get("active") == "true":
            state.active.setdefault(rid, []).extend(n.get("name", "") for n in r.findall("node"))
        if r.get("failed") == "true":
            state.failed.append(r.get("id", ""))
    for prim in ET.fromstring(cib).iter("primitive"):
        if prim.get("type") in VIP_AGENT_TYPES:
            for nv in prim.iter("nvpair"):
                if nv.get("name") == "ip":
                    state.vips[prim.get("id", "")] = nv.get("value", "")
    return state


def healthcheck(address: str, port: int = names.GLANCE_API_PORT, timeout: float = 3) -> int:
    with urllib.request.urlopen(f"http://{address}:{port}/healthcheck", timeout=timeout) as r:
        return r.status


def generated_image(size: int = 1 << 20, seed: bytes = b"glance-ha") -> bytes:
    """Deterministic bytes, different in every block, so a truncated or mixed copy shows."""
    out = bytearray()
    block = hashlib.sha512(seed).digest()
    while len(out) < size:
        block = hashlib.sha512(block).digest()
        out += block
    return bytes(out[:size])


def image_round_trip(conn, name: str, data: bytes) -> dict:
    """Upload through the catalog's image endpoint (the VIP), download it back, compare."""
    for old in conn.image.images(name=name):
        conn.image.delete_image(old, ignore_missing=True)
    image = conn.image.create_image(name=name, data=data, disk_format="raw", container_format="bare",
                                    allow_duplicates=True, wait=True)
    image = conn.image.get_image(image.id)
    got = b"".join(conn.image.download_image(image, stream=True).iter_content(1 << 16))
    return {
        "id": image.id, "name": name, "status": image.status, "size": image.size,
        "sha256_sent": hashlib.sha256(data).hexdigest(),
        "sha256_back": hashlib.sha256(got).hexdigest(),
        "os_hash_value": image.hash_value,
        "sha512_sent": hashlib.sha512(data).hexdigest(),
        "endpoint": conn.image.get_endpoint(),
    }


def vip_holders_by_namespace(vip: str) -> list[str]:
    """The glance hosts that have `vip` configured, read straight from their network namespaces
    (works for a host cut off the network, where ssh would not)."""
    holders = []
    for host in config.load_hosts():
        if not host.is_glance:
            continue
        out = subprocess.run(["ip", "-n", f"{config.PREFIX}-{host.name}", "-4", "-o", "addr"],
                             capture_output=True, text=True).stdout
        if f" {vip}/" in out:
            holders.append(host.name)
    return holders


def wait_for(predicate, timeout: float, step: float = 1.0, what: str = "condition"):
    """predicate's first true value, asked every step seconds; AssertionError after timeout.
    An exception from predicate counts as "not yet": the cluster is in flux."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            last = predicate()
            if last:
                return last
        except Exception as e:  # the cluster is in flux: keep asking until the deadline
            last = e
        time.sleep(step)
    raise AssertionError(f"{what}: not true after {timeout} s (last: {last!r})")
