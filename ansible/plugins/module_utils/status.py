"""The cluster at a glance: nodes, quorum, who holds each VIP, each glance-api instance's last
monitor result (or why the node is kept out of it), the node attributes that keep the VIPs away,
the image endpoints, the audit's summary line and the recent cluster events.

`parse_crm_mon()` reads `crm_mon -1 --output-as=xml --include=all` (pure: unit-tested);
`build()` adds the endpoints, the audit and the events (ansible/playbooks/status.yml gathers them through
the `glance_ha.ha.status_report` action plugin; the events come from every node's events log,
module_utils/events.py); `render()` prints it for people.
"""

from __future__ import annotations

import html
import xml.etree.ElementTree as ET

from ansible_collections.glance_ha.ha.plugins.module_utils import audit as audit_mod
from ansible_collections.glance_ha.ha.plugins.module_utils import events as events_mod
from ansible_collections.glance_ha.ha.plugins.module_utils.http_answer import http_answer

# the agents (ocf:*:TYPE) whose resources are VIPs
VIP_AGENT_TYPES = ("glance-vip", "IPaddr2")


def parse_crm_mon(xml: str, settings: dict | None = None) -> dict:
    """settings (the ha_resources role's, from ansible/playbooks/status.yml): drain_attribute,
    link_attributes (ping attributes: 0 is a lost link), failure_timeout."""
    settings = settings or {}
    root = ET.fromstring(xml)
    nodes: list[dict] = []
    for el in root.findall("nodes/node"):
        state = ("offline" if el.get("online") != "true" else "standby" if el.get("standby") == "true"
                 else "maintenance" if el.get("maintenance") == "true" else "online")
        nodes.append({"name": el.get("name"), "state": state, "dc": el.get("is_dc") == "true"})
    dc = root.find("summary/current_dc")
    quorum = dc is not None and dc.get("with_quorum") == "true"
    vips: dict[str, list] = {}
    instances: dict[str | None, dict] = {}  # node name -> its instance
    glance_ids, clone = set(), ""
    for parent in root.iter():
        for r in parent.findall("resource"):
            rid = r.get("id", "")
            where = [x.get("name") for x in r.findall("node")]
            active = r.get("active") == "true" and r.get("role") == "Started"
            if r.get("resource_agent", "").rpartition(":")[2] in VIP_AGENT_TYPES:
                vips[rid] = where if active else []
            elif r.get("resource_agent", "").endswith(":glance-api"):
                glance_ids.add(rid.split(":")[0])
                clone = parent.get("id", "") if parent.tag == "clone" else clone
                for node in where:
                    instances[node] = {"role": r.get("role"), "failed": r.get("failed") == "true"}
    # each instance's last monitor (and its fail count) from the node history
    for nh in root.findall("node_history/node"):
        node = nh.get("name")
        for rh in nh.findall("resource_history"):
            if rh.get("id", "").split(":")[0] not in glance_ids:
                continue
            inst = instances.setdefault(node, {"role": "Stopped", "failed": False})
            inst["fail_count"] = int(rh.get("fail-count", "0") or 0)
            monitors = [op for op in rh.findall("operation_history")
                        if op.get("task") == "monitor" and op.get("interval", "0ms") not in ("0", "0ms")]
            if monitors:
                last = monitors[-1]
                # rc_text: `ok` on Pacemaker 2.1, `OK` on 3.0 (crm_exit_str): the report reads the same
                inst["monitor"] = f"{last.get('rc_text', '?').lower()} (rc {last.get('rc')})"
    failures = [parse_failure(f) for f in root.findall("failures/failure")]
    attributes = {n.get("name"): {a.get("name"): a.get("value", "") for a in n.findall("attribute")}
                  for n in root.findall("node_attributes/node")}
    for n in nodes:
        inst = instances.setdefault(n["name"], {"role": "Stopped", "failed": False})
        inst.setdefault("monitor", "no recurring monitor")
        inst.setdefault("fail_count", 0)
        mine = [f for f in failures if f["node"] == n["name"] and f["rsc"] in glance_ids]
        inst["kept_out"] = kept_out(n["state"], inst["role"], mine, clone, n["name"],
                                    settings.get("failure_timeout", ""))
        inst.update(vip_avoiding_attributes(attributes.get(n["name"], {}), settings))
    return {"nodes": nodes, "quorum": quorum, "vips": vips, "instances": instances,
            "failures": [f["text"] for f in failures]}


def parse_failure(f: ET.Element) -> dict:
    """A crm_mon failure: its resource, node, one-line description and the agent's exit reason."""
    op_key = f.get("op_key") or f.get("id") or ""
    if "_last_failure_" in op_key:  # crm_mon names a failure by its record's id when it lacks a key
        rsc, task = op_key.split("_last_failure_")[0], ""
    elif op_key.count("_") >= 2:  # RSC_TASK_INTERVAL
        rsc, task = op_key.rsplit("_", 2)[:2]
    else:
        rsc, task = op_key, ""
    task = f.get("task") or task
    code = int(f.get("exitcode", "1") or 1)
    # The execution status: `complete` / `Timed Out` on Pacemaker 2.1, `Done` / `Timed out` on 3.0;
    # exitstatus `insufficient privileges` on 2.1, `Insufficient privileges` on 3.0. Lower case
    # in the report, so it reads the same on both.
    status = f.get("status", "").lower()
    if status in ("complete", "done"):
        what = f"{task} failed (rc {code} {events_mod.OCF_RC_NAMES.get(code, f'rc {code}')})"
    elif status == "timed out":
        what = f"{task} timed out"
    else:
        what = f"{task} failed ({status or f.get('exitstatus', '?').lower()})"
    reason = html.unescape(f.get("exitreason", ""))  # crm_mon escapes it once more than XML does
    reason = "" if reason in ("", "none") else reason
    return {"rsc": rsc, "node": f.get("node", ""), "task": task, "rc": code, "what": what,
            "reason": reason, "text": f"{op_key} on {f.get('node')}: {reason or what}"}


def kept_out(state: str, role: str, failures: list[dict], clone: str, node: str,
             failure_timeout: str) -> str:
    """Why glance-api does not run on the node, in one phrase ("" when it runs, or when nothing
    says why)."""
    if role != "Stopped":
        return ""
    if state != "online":
        return f"node {state}"
    if not failures:
        return ""
    failure = next((f for f in failures if f["task"] == "start"), failures[-1])
    back = (f"failure-timeout {failure_timeout} or " if failure_timeout not in ("", "0", "0s") else "")
    reason = f": {failure['reason']}" if failure["reason"] else ""
    cleanup = f"`crm resource cleanup {clone or failure['rsc']} {node}`"
    return f"{failure['what']}{reason}; back after {back}{cleanup}"


def vip_avoiding_attributes(attributes: dict, settings: dict) -> dict:
    """The node attributes the VIPs' location rules avoid: drained, and each lost link (a ping
    attribute at 0)."""
    drain = settings.get("drain_attribute") or ""
    drained = bool(drain) and attributes.get(drain) == "1"
    links_down = [name for name in settings.get("link_attributes") or []
                  if attributes.get(name, "").strip().lstrip("-").isdigit() and int(attributes[name]) == 0]
    avoid = ([f"drained ({drain}=1)"] if drained else []) + [f"link down ({name}=0)" for name in links_down]
    return {"drained": drained, "links_down": links_down, "vips_avoid": avoid}


def probe(url: str, timeout: float = 5) -> str:
    """What an endpoint answers to GET / (glance's version list is a 300)."""
    return http_answer(url, timeout)


def build(cluster: dict | None, endpoints: list[dict], audit_report: dict | None, vip_addresses: dict,
          events: list[dict] | None = None) -> dict:
    """events: the recent cluster events (events.merge_events of the nodes' logs)."""
    cluster = cluster or {"nodes": [], "quorum": False, "vips": {}, "instances": {},
                          "failures": ["no glance host answered crm_mon"]}
    links_down = any(inst.get("links_down") for inst in cluster["instances"].values())
    healthy = (cluster["quorum"] and all(cluster["vips"].get(v) for v in vip_addresses)
               and all(e["answer"] in ("200", "300") for e in endpoints)
               and not cluster["failures"] and not links_down and bool(audit_report and audit_report["ok"]))
    return {"cluster": cluster, "vip_addresses": vip_addresses, "endpoints": endpoints,
            "audit": audit_report["summary"] if audit_report else "audit: not run",
            "events": events or [], "healthy": bool(healthy)}


def instance_line(node: str, inst: dict) -> str:
    """glance-api on NODE: its role, then why it is kept out or its last monitor and fail count,
    then what keeps the VIPs away from the node."""
    head = f"glance-api on {node}: {inst['role']}{' FAILED' if inst['failed'] else ''}, "
    if inst.get("kept_out"):
        body = f"kept out: {inst['kept_out']}"
    else:
        body = f"last monitor {inst['monitor']}, fail count {inst['fail_count']}"
    avoid = inst.get("vips_avoid") or []
    return head + body + (f"; VIPs avoid it: {', '.join(avoid)}" if avoid else "")


def event_line(event: dict) -> str:
    seen = event.get("recorders") or []
    seen_by = f" (seen by {', '.join(seen)})" if len(seen) > 1 else ""
    return f"event:  {events_mod.describe(event)}{seen_by}"


def render(report: dict) -> str:
    c = report["cluster"]
    lines = ["nodes:  " + ", ".join(f"{n['name']} {n['state']}{' (DC)' if n['dc'] else ''}" for n in c["nodes"]),
             f"quorum: {'yes' if c['quorum'] else 'NO'}"]
    for rid, ip in sorted(report["vip_addresses"].items()):
        holders = c["vips"].get(rid) or []
        lines.append(f"vip:    {rid} {ip} on {', '.join(holders) if holders else 'NOBODY'}")
    lines += [instance_line(node, inst) for node, inst in sorted(c["instances"].items())]
    for e in report["endpoints"]:
        lines.append(f"endpoint: {e['interface']:8} {e['url']} -> {e['answer']}")
    lines += [f"failure: {f}" for f in c["failures"]]
    lines.append(report["audit"])
    lines += [event_line(e) for e in report.get("events") or []]
    lines.append("status: " + ("healthy" if report["healthy"] else "NOT healthy"))
    return "\n".join(lines)


def image_endpoints(catalog: list[dict]) -> list[dict]:
    out = []
    for service in catalog:
        if service.get("type") == "image":
            for e in service.get("endpoints", []):
                out.append({"interface": e.get("interface"), "url": e.get("url")})
    return sorted(out, key=lambda e: e["interface"] or "")


__all__ = ["parse_crm_mon", "build", "render", "image_endpoints", "probe", "audit_mod", "events_mod"]
