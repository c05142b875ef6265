"""Image availability audit: for every image copy in a file store and every glance host, a state.

The pieces, used by ansible/playbooks/audit.yml (through two action plugins) and by `glance-ha audit`:

- `list_images()` asks Glance, through the VIP, for every image (admin token from Keystone);
- `copies()` turns them into the files each host should have: one per image and store (the
  image's `stores` property; the path is the store's directory + the image id, as the file
  driver writes it);
- ansible/plugins/modules/store_audit.py judges those files on each host as the glance user;
- `build_report()` puts the answers together (an unreachable host makes its column `offline`),
  `render_table()` prints it for people; the report itself is the JSON for machines.

States: ok, missing, no-access, cannot-delete, corrupt, offline. Any cell not ok makes the audit
fail (exit status 1 from `glance-ha audit`).
"""

from __future__ import annotations

import json
import urllib.request

STATES = ("ok", "missing", "no-access", "cannot-delete", "corrupt", "offline")


def keystone_token(auth_url: str, username: str, password: str, project: str = "admin",
                   domain: str = "Default", timeout: float = 15) -> str:
    return keystone_auth(auth_url, username, password, project, domain, timeout)[0]


def keystone_auth(auth_url: str, username: str, password: str, project: str = "admin",
                  domain: str = "Default", timeout: float = 15) -> tuple[str, list[dict]]:
    """A project-scoped token and the service catalog that comes with it."""
    body = {"auth": {
        "identity": {"methods": ["password"], "password": {"user": {
            "name": username, "domain": {"name": domain}, "password": password}}},
        "scope": {"project": {"name": project, "domain": {"name": domain}}}}}
    req = urllib.request.Request(auth_url.rstrip("/") + "/auth/tokens", data=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"}, method="POST")
    with urllib.request.urlopen(req, timeout=timeout) as r:
        return r.headers["X-Subject-Token"], json.load(r)["token"].get("catalog", [])


def list_images(image_url: str, token: str, timeout: float = 15) -> list[dict]:
    """Every image Glance knows (admin: every project's), following the pagination links."""
    base = image_url.rstrip("/")
    path, images = "/v2/images?limit=200", []
    while path:
        req = urllib.request.Request(base + path, headers={"X-Auth-Token": token})
        with urllib.request.urlopen(req, timeout=timeout) as r:
            page = json.load(r)
        images += page.get("images", [])
        path = page.get("next")
    return images


def copies(images: list[dict], stores: dict[str, str], default_store: str) -> list[dict]:
    """The files that should exist: one per active image and store it is in.

    `stores` maps store name -> directory. An image without a `stores` property (a single-store
    deployment) is in the default store. A store the inventory does not know is reported with an
    empty path (judged `missing` everywhere: Glance points at something we do not serve)."""
    out = []
    for image in sorted(images, key=lambda i: (i.get("name") or "", i["id"])):
        if image.get("status") != "active":
            continue
        names = [s for s in (image.get("stores") or default_store).split(",") if s]
        for store in names:
            directory = stores.get(store, "")
            out.append({
                "key": f"{image['id']}:{store}",
                "image": image["id"], "name": image.get("name") or "", "store": store,
                "path": (f"{directory.rstrip('/')}/{image['id']}" if directory
                         else f"/nonexistent/{store}/{image['id']}"),
                "size": image.get("size"),
                "checksum": image.get("checksum") or "",
                "hash_algo": image.get("os_hash_algo") or "",
                "hash_value": image.get("os_hash_value") or "",
            })
    return out


def build_report(files: list[dict], hosts: list[str], results: dict[str, dict]) -> dict:
    """The audit: rows (one per image copy) × hosts, and a summary.

    `results` maps host -> the module's result (`cells`, `api`), or a result marked
    `unreachable`/`failed`, or nothing (the host was not reached): those columns are offline."""
    columns: dict[str, dict] = {}
    for host in hosts:
        r = results.get(host) or {}
        if r.get("unreachable") or r.get("failed") or "cells" not in r:
            why = r.get("msg") or ("unreachable" if r.get("unreachable") else "no answer")
            columns[host] = {"api": "down", "offline": f"host: {str(why).strip()[:120]}"}
        else:
            columns[host] = {"api": r.get("api", ""), "cells": r["cells"]}
    rows = []
    for f in files:
        cells = {}
        for host in hosts:
            col = columns[host]
            if "offline" in col:
                cells[host] = {"state": "offline", "detail": col["offline"]}
            else:
                cells[host] = col["cells"].get(f["key"], {"state": "offline", "detail": "not judged"})
        rows.append({"image": f["image"], "name": f["name"], "store": f["store"], "path": f["path"],
                     "cells": cells})
    counts = {s: 0 for s in STATES}
    for row in rows:
        for cell in row["cells"].values():
            counts[cell["state"]] = counts.get(cell["state"], 0) + 1
    images = len({f["image"] for f in files})
    return {"hosts": hosts, "rows": rows, "counts": counts, "images": images,
            "ok": all(c["state"] == "ok" for row in rows for c in row["cells"].values()),
            "summary": summary_line(images, len(rows), hosts, counts)}


def summary_line(images: int, copies_: int, hosts: list[str], counts: dict[str, int]) -> str:
    bad = ", ".join(f"{n} {s}" for s, n in counts.items() if s != "ok" and n)
    verdict = bad if bad else "all ok"
    return (f"audit: {images} images, {copies_} copies x {len(hosts)} hosts = {copies_ * len(hosts)} "
            f"cells: {counts.get('ok', 0)} ok" + ("" if not bad else f", {verdict}"))


def render_table(report: dict) -> str:
    """A fixed-width table: image (name), store, one column per host; details below."""
    hosts = report["hosts"]
    head = ["IMAGE", "NAME", "STORE", *hosts]
    body = [[r["image"], r["name"][:28], r["store"], *(r["cells"][h]["state"] for h in hosts)]
            for r in report["rows"]]
    widths = ([max(len(str(x)) for x in col) for col in zip(head, *body, strict=True)] if body
              else [len(h) for h in head])
    lines = ["  ".join(str(x).ljust(w) for x, w in zip(row, widths, strict=True)).rstrip() for row in [head, *body]]
    details = sorted({f"  {h}: {r['store']} {r['image']}: {r['cells'][h]['state']}: {r['cells'][h]['detail']}"
                      for r in report["rows"] for h in hosts
                      if r["cells"][h]["state"] != "ok" and r["cells"][h].get("detail")})
    if not body:
        lines.append("(no active image)")
    if details:
        lines += ["", "not ok:", *details[:50]]
        if len(details) > 50:
            lines.append(f"  ... and {len(details) - 50} more (see --json)")
    lines += ["", report["summary"]]
    return "\n".join(lines)


def stores_map(stores: list[dict]) -> dict[str, str]:
    return {s["name"]: s["path"] for s in stores}
