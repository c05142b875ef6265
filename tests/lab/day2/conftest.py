"""Day-2 tests against the real lab: helpers that talk to Glance through the VIP (raw HTTP, as
an operator's script would) and run the `glance-ha` CLI inside the lab."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
import requests

from ansible_collections.glance_ha.ha.plugins.module_utils import names
from glance_ha_lab import labclient
from glance_ha_lab.labclient import wait_for

REPO = Path(__file__).resolve().parents[3]
GLANCE_HA = str(REPO / ".venv/bin/glance-ha")


def glance_ha(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([GLANCE_HA, "-i", str(REPO / "inventory" / "lab"), *args], capture_output=True, text=True,
                          timeout=timeout, check=False)


def audit() -> tuple[int, dict]:
    r = glance_ha("audit", "--json")
    assert r.returncode in (0, 1), r.stderr
    return r.returncode, json.loads(r.stdout)


def cells(report: dict, image_id: str, store: str | None = None) -> dict[str, str]:
    """host -> state for one image copy (the image's only copy when store is None)."""
    rows = [r for r in report["rows"] if r["image"] == image_id and (store is None or r["store"] == store)]
    assert len(rows) == 1, f"{image_id}/{store}: {len(rows)} rows"
    return {h: c["state"] for h, c in rows[0]["cells"].items()}


def glance_api_nodes() -> list[str]:
    """Where the glance-api clone runs (sorted)."""
    return sorted(labclient.cluster_state().active.get(names.GLANCE_PRIMITIVE, []))


class Glance:
    """Glance's v2 API through the internal VIP, with an admin token."""

    def __init__(self, conn, vip: str):
        self.conn, self.base = conn, f"http://{vip}:{names.GLANCE_API_PORT}"
        self.created: list[str] = []

    def _h(self, **extra) -> dict:
        return {"X-Auth-Token": self.conn.session.get_token(), **extra}

    def req(self, method: str, path: str, ok=(200, 201, 202, 204), **kw) -> requests.Response:
        r = requests.request(method, self.base + path, headers=self._h(**kw.pop("headers", {})), timeout=60, **kw)
        assert r.status_code in ok, f"{method} {path}: {r.status_code} {r.text[:300]}"
        return r

    def create(self, name: str) -> str:
        image = self.req("POST", "/v2/images", json={"name": name, "disk_format": "raw",
                                                     "container_format": "bare"}).json()
        self.created.append(image["id"])
        return image["id"]

    def upload(self, name: str, data: bytes, store: str | None = None) -> str:
        image_id = self.create(name)
        headers = {"Content-Type": "application/octet-stream"}
        if store:
            headers["X-Image-Meta-Store"] = store
        self.req("PUT", f"/v2/images/{image_id}/file", data=data, headers=headers)
        return image_id

    def get(self, image_id: str) -> dict:
        return self.req("GET", f"/v2/images/{image_id}").json()

    def wait_import(self, image_id: str, timeout: float = 60) -> dict:
        """Until the import task is over: status active (or back to queued) and no store pending."""
        def done():
            img = self.get(image_id)
            settled = img["status"] in ("active", "queued") and not img.get("os_glance_importing_to_stores")
            return img if settled else None
        return wait_for(done, timeout, 0.5)

    def delete_all(self) -> None:
        for image_id in self.created:
            requests.delete(f"{self.base}/v2/images/{image_id}", headers=self._h(), timeout=60)


@pytest.fixture
def glance(conn, inventory_vars):
    g = Glance(conn, inventory_vars["glance_ha_internal_vip"])
    yield g
    g.delete_all()


def on(host: str, command: str) -> str:
    return labclient.on_host(host, command)
