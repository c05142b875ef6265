"""The cluster events log written by the alert agent (alerts/glance-ha-alert) on every glance node,
/var/log/glance-ha/events.log by default (ha_resources_alert_log): one JSON object per line.

Every line has the keys
    time      ISO 8601 UTC with microseconds, "2025-06-01T10:00:00.123456Z" (Pacemaker's own time
              of the event)
    kind      node | fencing | resource | attribute (Pacemaker's alert kinds)
    node      the node the event is about (fenced, lost, where the operation ran, whose attribute)
    level     error | warning | notice | info
    what      what happened, e.g. "node lost", "fenced (reboot)", "start failed (rc 4 OCF_ERR_PERM)",
              "start ok", "ping-public=0", "glance-api-drained removed"
    reason    why, when known: the agent's exit reason, Pacemaker's fencing description, "was 1"
    recorder  the node that wrote the line (node and fencing events are seen by every node)
and, by kind: resource: rsc task interval_ms rc rc_name target_rc status exec_ms; fencing: task
rc; attribute: attribute value; node: nodeid.

`parse_events()` reads one log's text; `merge_events()` the logs of several nodes (one line per
event, newest last); `find_events()` is what a test asserts with.
"""

from __future__ import annotations

import datetime as dt
import importlib.machinery
import importlib.util
import json
from collections.abc import Iterable
from pathlib import Path

# the alert agent as the collection ships it (in the repository: a link to alerts/glance-ha-alert)
AGENT = Path(__file__).resolve().parents[2] / "roles" / "ha_resources" / "files" / "glance-ha-alert"
COMMON_KEYS = ("time", "kind", "node", "level", "what", "reason", "recorder")
# the keys that tell one event from another (the time and the recorder aside)
IDENTITY_KEYS = ("kind", "node", "what", "reason", "rsc", "task", "attribute", "value")


def load_agent():
    """The alert agent as a module: the one source of its constants (OCF_RC_NAMES...)."""
    loader = importlib.machinery.SourceFileLoader("glance_ha_alert_agent", str(AGENT))
    spec = importlib.util.spec_from_loader(loader.name, loader)
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


OCF_RC_NAMES: dict[int, str] = load_agent().OCF_RC_NAMES


def event_datetime(event: dict) -> dt.datetime:
    return dt.datetime.fromisoformat(event["time"].replace("Z", "+00:00"))


def parse_events(text: str | Iterable[str]) -> list[dict]:
    """The events of one log (its text, or its lines), in file order; lines that are not events
    (a torn last line, an older format) are skipped."""
    events = []
    for line in text.splitlines() if isinstance(text, str) else text:
        if not isinstance(line, str):
            continue
        line = line.strip()
        if not line.startswith("{"):
            continue
        try:
            event = json.loads(line)
            event_datetime(event)
        except (ValueError, KeyError, TypeError, AttributeError):
            continue
        if not isinstance(event, dict) or not event.get("kind"):
            continue
        for key in COMMON_KEYS:
            event.setdefault(key, "")
        events.append(event)
    return events


def merge_events(texts: Iterable[str | list[str]], limit: int = 20, window: float = 5.0) -> list[dict]:
    """The last `limit` events of several nodes' logs (texts or lists of lines), oldest first.
    One event seen by several nodes (a node loss, a fence: every node records it) within `window`
    seconds is one entry whose `recorders` lists them."""
    events = sorted((e for text in texts for e in parse_events(text)), key=event_datetime)
    merged: list[dict] = []
    last_seen: dict[tuple, dict] = {}
    for event in events:
        key = tuple(str(event.get(k, "")) for k in IDENTITY_KEYS)
        same = last_seen.get(key)
        if same is not None and (event_datetime(event) - event_datetime(same)).total_seconds() <= window:
            if event["recorder"] not in same["recorders"]:
                same["recorders"].append(event["recorder"])
            continue
        entry = dict(event, recorders=[event["recorder"]] if event["recorder"] else [])
        merged.append(entry)
        last_seen[key] = entry
    return merged[-limit:] if limit else merged


def _as_datetime(when) -> dt.datetime:
    if isinstance(when, dt.datetime):
        return when if when.tzinfo else when.replace(tzinfo=dt.UTC)
    if isinstance(when, (int, float)):
        return dt.datetime.fromtimestamp(when, dt.UTC)
    return event_datetime({"time": str(when)})


def find_events(text: str, kind: str | None = None, node: str | None = None, since=None,
                what: str | None = None, **fields) -> list[dict]:
    """The events of a log's text that match: kind and node exactly, `what` as a substring,
    since (an epoch, an aware or UTC datetime, an ISO string) inclusive, any other key exactly
    (rsc="p_glance-api", task="start", attribute="ping-public", value="0"...).

        find_events(text, kind="fencing", node="glance2", since=t0)
        find_events(text, kind="resource", node="glance2", what="start failed", rsc="p_glance-api")
    """
    start = _as_datetime(since) if since is not None else None
    found = []
    for event in parse_events(text):
        if kind is not None and event["kind"] != kind or node is not None and event["node"] != node:
            continue
        if what is not None and what not in event["what"]:
            continue
        if start is not None and event_datetime(event) < start:
            continue
        if any(str(event.get(k)) != str(v) for k, v in fields.items()):
            continue
        found.append(event)
    return found


def describe(event: dict) -> str:
    """One line for people: time (to the millisecond), node, what happened, why."""
    when = event_datetime(event).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3] + "Z"
    subject = event["node"] + (" " + event["rsc"] if event.get("rsc") else "")
    reason = f": {event['reason']}" if event["reason"] else ""
    return f"{when} {subject}: {event['what']}{reason}"


__all__ = ["parse_events", "merge_events", "find_events", "describe", "OCF_RC_NAMES", "AGENT"]
