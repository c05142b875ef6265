#!/usr/bin/python
# -*- coding: utf-8 -*-
"""Look at every image file a glance host should serve, as the glance user sees it."""

from __future__ import annotations

DOCUMENTATION = r"""
module: store_audit
short_description: Judge, on one glance host, every image file of the file stores
description:
  - For each file (an image's copy in one file store) decides, as the glance user (the checks run
    in a child process with the glance user's uid, gid and groups), one of C(ok), C(missing) (no
    file), C(no-access) (glance cannot read it), C(cannot-delete) (glance cannot write the parent
    directory or traverse the path, so a delete would fail), C(corrupt) (size or checksum differs
    from Glance's record).
  - When the local glance-api does not answer its C(/healthcheck) with 200, every file is
    C(offline), since this host does not serve them, whatever is on disk.
  - Never changes anything; never fails on what it finds (what it finds is the result).
options:
  files:
    description: The copies to judge; each a dict with C(key) (echoed back), C(path), C(size),
      and C(hash_algo)/C(hash_value) (os_hash_*) and/or C(checksum) (md5).
    type: list
    elements: dict
    required: true
  user:
    description: The user glance-api runs as.
    type: str
    default: glance
  healthcheck_url:
    description: The local glance-api's healthcheck (empty skips the check).
    type: str
    default: ""
  verify:
    description: C(checksum) reads every byte and compares the hash; C(size) only compares sizes.
    type: str
    choices: [checksum, size]
    default: checksum
author: glance-ha
"""

EXAMPLES = r"""
- name: Judge every image file on this host
  glance_ha.ha.store_audit:
    files:
      - {key: "3f1c...:shared", path: /var/lib/glance/images/3f1c..., size: 1048576,
         hash_algo: sha512, hash_value: "ab12..."}
    healthcheck_url: http://198.51.100.11:9292/healthcheck
"""

RETURN = r"""
api:
  description: What the local glance-api answered (C(200), an HTTP status, or the error).
  returned: always
  type: str
cells:
  description: For each file key, its state and a detail.
  returned: always
  type: dict
"""

import grp
import json
import pwd
import subprocess
import sys

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.glance_ha.ha.plugins.module_utils.http_answer import http_answer

STATES = ("ok", "missing", "no-access", "cannot-delete", "corrupt", "offline")

# Runs as the glance user: reports raw facts per file, judged by classify() in the parent.
PROBE = r'''
import errno, hashlib, json, os, sys
out = {}
for f in json.load(sys.stdin):
    facts = {}
    path = f["path"]
    try:
        st = os.stat(path)
        facts["exists"] = True
        facts["size"] = st.st_size
    except OSError as e:
        facts["exists"] = e.errno != errno.ENOENT and None
        facts["stat_error"] = errno.errorcode.get(e.errno, str(e.errno))
        out[f["key"]] = facts
        continue
    parent = os.path.dirname(path)
    facts["parent_writable"] = os.access(parent, os.W_OK | os.X_OK)
    algo = f.get("hash_algo") or ("md5" if f.get("checksum") else "")
    try:
        with open(path, "rb") as fh:
            if f.get("verify") == "checksum" and algo:
                h = hashlib.new(algo)
                for block in iter(lambda: fh.read(1 << 20), b""):
                    h.update(block)
                facts["hash"] = h.hexdigest()
            else:
                fh.read(1)
        facts["readable"] = True
    except OSError as e:
        facts["readable"] = False
        facts["read_error"] = errno.errorcode.get(e.errno, str(e.errno))
    out[f["key"]] = facts
json.dump(out, sys.stdout)
'''


def classify(expected: dict, facts: dict) -> tuple[str, str]:
    """One copy's state from what the glance user saw (pure: unit-tested).

    Order: a missing file first; a path glance cannot traverse is `cannot-delete` (it can neither
    read nor delete); then unreadable; then wrong bytes; then a delete that would fail."""
    if facts.get("exists") is False:
        return "missing", "no such file"
    if facts.get("exists") is None:
        return "cannot-delete", f"glance cannot traverse the path ({facts.get('stat_error', '?')})"
    if not facts.get("readable"):
        return "no-access", f"glance cannot read the file ({facts.get('read_error', '?')})"
    size = expected.get("size")
    if size is not None and facts.get("size") != int(size):
        return "corrupt", f"size {facts.get('size')} != {size} recorded"
    if "hash" in facts:
        want = expected.get("hash_value") if expected.get("hash_algo") else expected.get("checksum")
        if want and facts["hash"] != want:
            algo = expected.get("hash_algo") or "md5"
            return "corrupt", f"{algo} differs from Glance's record"
    if not facts.get("parent_writable"):
        return "cannot-delete", "glance cannot write the parent directory"
    return "ok", ""


def healthcheck(url: str, timeout: float = 5) -> str:
    return http_answer(url, timeout)


def probe_as(user: str, files: list[dict]) -> dict:
    pw = pwd.getpwnam(user)
    groups = [g.gr_gid for g in grp.getgrall() if user in g.gr_mem]
    proc = subprocess.run([sys.executable, "-c", PROBE], input=json.dumps(files), text=True,
                          capture_output=True, user=pw.pw_uid, group=pw.pw_gid, extra_groups=groups,
                          cwd="/", check=False)
    if proc.returncode != 0:
        raise RuntimeError(proc.stderr.strip() or f"probe exited {proc.returncode}")
    return json.loads(proc.stdout)


def main():
    module = AnsibleModule(
        argument_spec={
            "files": {"type": "list", "elements": "dict", "required": True},
            "user": {"type": "str", "default": "glance"},
            "healthcheck_url": {"type": "str", "default": ""},
            "verify": {"type": "str", "choices": ["checksum", "size"], "default": "checksum"},
        },
        supports_check_mode=True,
    )
    p = module.params
    api = healthcheck(p["healthcheck_url"]) if p["healthcheck_url"] else "200"
    files = [dict(f, verify=p["verify"]) for f in p["files"]]
    if api != "200":
        cells = {f["key"]: {"state": "offline", "detail": f"glance-api healthcheck: {api}"} for f in files}
        module.exit_json(changed=False, api=api, cells=cells)
    try:
        facts = probe_as(p["user"], files)
    except (KeyError, RuntimeError, OSError, ValueError) as e:
        module.fail_json(msg=f"cannot run the probe as {p['user']}: {e}")
    cells = {}
    for f in files:
        state, detail = classify(f, facts.get(f["key"], {}))
        cells[f["key"]] = {"state": state, "detail": detail}
    module.exit_json(changed=False, api=api, cells=cells)


if __name__ == "__main__":
    main()
