"""A client that keeps using the VIP while a fault is injected, and what it saw.

Each logical request is tried once more after a failure, half a second later (a client that
retries once, with keystoneauth's first retry delay); the record keeps every attempt, so a test can tell the
client-visible outage (fault to the first success after the last failure) and the requests
that failed even with their retry.
"""

from __future__ import annotations

import hashlib
import http.client
import itertools
import threading
import time
from dataclasses import dataclass, field

from ansible_collections.glance_ha.ha.plugins.module_utils import names


@dataclass
class Attempt:
    kind: str      # "list" or "download"
    start: float
    end: float
    ok: bool
    error: str = ""


@dataclass
class Report:
    fault_at: float
    attempts: list[Attempt] = field(default_factory=list)
    failed_requests: int = 0   # logical requests that failed even after their retry

    def outage(self, kind: str | None = None) -> float:
        """Seconds from the fault to the end of the first success after the last failure
        (0 when no attempt failed after the fault)."""
        mine = [a for a in self.attempts if kind is None or a.kind == kind]
        failures = [a for a in mine if not a.ok and a.end >= self.fault_at]
        if not failures:
            return 0.0
        last = max(f.start for f in failures)
        after = [a for a in mine if a.ok and a.start >= last]
        if not after:
            return float("inf")
        return min(a.end for a in after) - self.fault_at

    def gap(self, kind: str | None = None) -> float:
        """The longest time, from the last success before the fault on, during which the client
        got no successful answer: what a planned move costs a client (a planned move's fault, the
        command, comes long before the VIP actually leaves, so outage() would count time in which
        the service answered)."""
        oks = sorted(a.end for a in self.attempts if a.ok and (kind is None or a.kind == kind))
        before = [t for t in oks if t <= self.fault_at]
        after = [t for t in oks if t > self.fault_at]
        if not after:
            return float("inf")
        ends = before[-1:] + after
        return max((b - a for a, b in itertools.pairwise(ends)), default=0.0)

    @classmethod
    def combine(cls, *reports: Report) -> Report:
        """One report of several clients that ran at the same time (one per kind, say)."""
        if not reports or len({r.fault_at for r in reports}) != 1:
            raise ValueError("combine reports of one fault")
        attempts = sorted((a for r in reports for a in r.attempts), key=lambda a: a.start)
        return cls(reports[0].fault_at, attempts, sum(r.failed_requests for r in reports))

    def failed_attempts(self) -> int:
        return sum(1 for a in self.attempts if not a.ok)

    def summary(self) -> str:
        return (f"outage list {self.outage('list'):.2f} s, download {self.outage('download'):.2f} s, "
                f"longest gap {self.gap():.2f} s; "
                f"{len(self.attempts)} attempts, {self.failed_attempts()} failed attempts, "
                f"{self.failed_requests} failed requests after one retry")


class VipClient(threading.Thread):
    """Lists images and downloads one, in a loop, through `address:port` until stopped.

    `kinds` chooses the requests of the loop (default: a list, then a download when an image is
    given); a probe that measures one kind alone is not delayed by an attempt of the other."""

    def __init__(self, address: str, token: str, image_id: str | None = None, sha256: str | None = None,
                 port: int = names.GLANCE_API_PORT, timeout: float = 5.0, pause: float = 0.05, retries: int = 1,
                 retry_delay: float = 0.5, connect_timeout: float | None = None,
                 kinds: tuple[str, ...] | None = None):
        super().__init__(daemon=True)
        if kinds is None:
            kinds = ("list", "download") if image_id else ("list",)
        unknown = set(kinds) - {"list", "download"}
        if not kinds or unknown:
            raise ValueError(f"kinds must be a non-empty choice of 'list' and 'download', not {kinds!r}")
        if "download" in kinds and not (image_id and sha256):
            raise ValueError("a download needs image_id and sha256")
        self.kinds = tuple(kinds)
        self.address, self.port, self.token = address, port, token
        self.image_id, self.sha256 = image_id, sha256
        self.timeout, self.pause, self.retries, self.retry_delay = timeout, pause, retries, retry_delay
        # a probe may give up on a connection sooner than on an answer (None: timeout for both)
        self.connect_timeout = timeout if connect_timeout is None else connect_timeout
        self.attempts: list[Attempt] = []
        self.failed_requests = 0
        self._stop_event = threading.Event()

    def _get(self, path: str) -> bytes:
        conn = http.client.HTTPConnection(self.address, self.port, timeout=self.connect_timeout)
        try:
            conn.connect()
            conn.sock.settimeout(self.timeout)
            conn.request("GET", path, headers={"X-Auth-Token": self.token, "Connection": "close"})
            resp = conn.getresponse()
            body = resp.read()
            if resp.status != 200:
                raise RuntimeError(f"HTTP {resp.status}")
            return body
        finally:
            conn.close()

    def _attempt(self, kind: str) -> bool:
        t0 = time.monotonic()
        try:
            if kind == "list":
                self._get("/v2/images?limit=5")
            else:
                body = self._get(f"/v2/images/{self.image_id}/file")
                if hashlib.sha256(body).hexdigest() != self.sha256:
                    raise RuntimeError("wrong checksum")
            self.attempts.append(Attempt(kind, t0, time.monotonic(), True))
            return True
        except Exception as e:  # any failure of the request is what we record
            self.attempts.append(Attempt(kind, t0, time.monotonic(), False, f"{type(e).__name__}: {e}"))
            return False

    def _request(self, kind: str) -> None:
        for attempt in range(1 + self.retries):
            if attempt:
                self._stop_event.wait(self.retry_delay)
            if self._attempt(kind):
                return
        self.failed_requests += 1

    def run(self) -> None:
        while not self._stop_event.is_set():
            for kind in self.kinds:
                self._request(kind)
            self._stop_event.wait(self.pause)

    def stop(self, fault_at: float) -> Report:
        self._stop_event.set()
        self.join(timeout=self.timeout * 3)
        return Report(fault_at, list(self.attempts), self.failed_requests)
