"""What a URL answers to a GET, as one short string: the HTTP status ("200", "503") or the error
("ConnectionRefusedError: ..."). Used on the deploy host (status: the endpoints) and on the nodes
(store_audit: the local glance-api's /healthcheck)."""

from __future__ import annotations

import urllib.error
import urllib.request


def http_answer(url: str, timeout: float = 5) -> str:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return str(r.status)
    except urllib.error.HTTPError as e:
        return str(e.code)
    except (OSError, ValueError) as e:
        return f"{type(e).__name__}: {getattr(e, 'reason', e)}"
