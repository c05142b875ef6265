"""The cluster at a glance: nodes, quorum, who holds each VIP, each glance-api instance's last
monitor result, the image endpoints, and the audit's summary line.

`parse_crm_mon()` reads `crm_mon -1 --output-as=xml --include=all` (pure: unit-tested);
`build()` adds the endpoints and the audit (ansible/status.yml gathers both through the
`glance_ha_status_report` action plugin); `render()` prints it for people.
"""

from __future__ import annotations

import urllib.error
import urllib.request
import xml.etree.ElementTree as ET

from glance_ha import audit as audit_mod

# the agents (ocf:*:TYPE) whose resources are VIPs
VIP_AGENT_TYPES = ("glance-vip", "IPaddr2")


def parse_crm_mon(xml: str) -> dict:
    root = ET.fromstring(xml)
    nodes = []
    for n in root.findall("nodes/node"):
        state = ("offline" if n.get("online") != "true" else "standby" if n.get("standby") == "true"
                 else "maintenance" if n.get("maintenance") == "true" else "online")
        nodes.append({"name": n.get("name"), "state": state, "dc": n.get("is_dc") == "true"})
    dc = root.find("summary/current_dc")
    quorum = dc is not None and dc.get("with_quorum") == "true"
    vips, instances = {}, {}
    for r in root.iter("resource"):
        rid = r.get("id", "")
        where = [x.get("name") for x in r.findall("node")]
        active = r.get("active") == "true" and r.get("role") == "Started"
        if r.get("resource_agent", "").rpartition(":")[2] in VIP_AGENT_TYPES:
            vips[rid] = where if active else []
        elif r.get("resource_agent", "").endswith(":glance-api"):
            for node in where:
                instances[node] = {"role": r.get("role"), "failed": r.get("failed") == "true"}
    # each instance's last monitor (and its fail count) from the node history
    for nh in root.findall("node_history/node"):
        node = nh.get("name")
        for rh in nh.findall("resource_history"):
            if rh.get("id", "").split(":")[0] not in ("p_glance-api",) and not rh.get("id", "").startswith("p_glance"):
                continue
            inst = instances.setdefault(node, {"role": "Stopped", "failed": False})
            inst["fail_count"] = int(rh.get("fail-count", "0") or 0)
            monitors = [op for op in rh.findall("operation_history")
                        if op.get("task") == "monitor" and op.get("interval", "0ms") not in ("0", "0ms")]
            if monitors:
                last = monitors[-1]
                inst["monitor"] = f"{last.get('rc_text', '?')} (rc {last.get('rc')})"
    for node in (n["name"] for n in nodes):
        inst = instances.setdefault(node, {"role": "Stopped", "failed": False})
        inst.setdefault("monitor", "no recurring monitor")
        inst.setdefault("fail_count", 0)
    failures = [f"{f.get('op_key')} on {f.get('node')}: {f.get('exitreason') or f.get('status')}"
                for f in root.findall("failures/failure")]
    return {"nodes": nodes, "quorum": quorum, "vips": vips, "instances": instances, "failures": failures}


def probe(url: str, timeout: float = 5) -> str:
    """What an endpoint answers to GET / (glance's version list is a 300)."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return str(r.status)
    except urllib.error.HTTPError as e:
        return str(e.code)
    except OSError as e:
        return f"{type(e).__name__}: {getattr(e, 'reason', e)}"


def build(cluster: dict | None, endpoints: list[dict], audit_report: dict | None, vip_addresses: dict) -> dict:
    cluster = cluster or {"nodes": [], "quorum": False, "vips": {}, "instances": {}, "failures": ["no glance host answered crm_mon"]}
    healthy = (cluster["quorum"] and all(cluster["vips"].get(v) for v in vip_addresses)
               and all(e["answer"] in ("200", "300") for e in endpoints)
               and not cluster["failures"] and bool(audit_report and audit_report["ok"]))
    return {"cluster": cluster, "vip_addresses": vip_addresses, "endpoints": endpoints,
            "audit": audit_report["summary"] if audit_report else "audit: not run",
            "healthy": bool(healthy)}


def render(report: dict) -> str:
    c = report["cluster"]
    lines = ["nodes:  " + ", ".join(f"{n['name']} {n['state']}{' (DC)' if n['dc'] else ''}" for n in c["nodes"]),
             f"quorum: {'yes' if c['quorum'] else 'NO'}"]
    for rid, ip in sorted(report["vip_addresses"].items()):
        holders = c["vips"].get(rid) or []
        lines.append(f"vip:    {rid} {ip} on {', '.join(holders) if holders else 'NOBODY'}")
    for node, inst in sorted(c["instances"].items()):
        lines.append(f"glance-api on {node}: {inst['role']}{' FAILED' if inst['failed'] else ''}, "
                     f"last monitor {inst['monitor']}, fail count {inst['fail_count']}")
    for e in report["endpoints"]:
        lines.append(f"endpoint: {e['interface']:8} {e['url']} -> {e['answer']}")
    lines += [f"failure: {f}" for f in c["failures"]]
    lines.append(report["audit"])
    lines.append("status: " + ("healthy" if report["healthy"] else "NOT healthy"))
    return "\n".join(lines)


def image_endpoints(catalog: list[dict]) -> list[dict]:
    out = []
    for service in catalog:
        if service.get("type") == "image":
            for e in service.get("endpoints", []):
                out.append({"interface": e.get("interface"), "url": e.get("url")})
    return sorted(out, key=lambda e: e["interface"] or "")


__all__ = ["parse_crm_mon", "build", "render", "image_endpoints", "probe", "audit_mod"]
