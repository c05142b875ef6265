#!/usr/bin/python
# -*- coding: utf-8 -*-
"""Load a desired Pacemaker configuration (crm shell syntax) in one atomic, verified change."""

from __future__ import annotations

DOCUMENTATION = r"""
module: cib
short_description: Make the live CIB's configuration equal a crm-syntax file, atomically
description:
  - Copies the live CIB to a private file, loads the desired configuration into that copy with
    C(crm configure load replace) (C(CIB_file)), keeps the properties Pacemaker maintains itself
    (dc-version...) and the nodes section, and compares the result with the live configuration.
  - When they differ, the copy is checked with C(crm_verify --xml-file) and only then the
    configuration section is replaced in one C(cibadmin --replace) call (one CIB transaction).
  - Supports check mode and diff mode (C(crm configure show) before and after).
options:
  src:
    description: Path, on the node, of the desired configuration in crm shell syntax.
    type: path
  content:
    description:
      - The desired configuration itself (crm shell syntax), e.g. from the template lookup, so
        that check mode compares what would be rendered. One of I(src) and I(content).
    type: str
  cib_file:
    description: Work on this CIB XML file instead of the live cluster (tests).
    type: path
author: glance-ha
"""

EXAMPLES = r"""
- name: Load the desired configuration
  glance_ha.ha.cib:
    content: "{{ lookup('ansible.builtin.template', 'cib.crm.j2') }}"
  run_once: true
"""

RETURN = r"""
verify_output:
  description: What crm_verify said about the new configuration.
  returned: changed
  type: str
"""

import os
import shutil
import subprocess
import tempfile
import xml.etree.ElementTree as ET

from ansible.module_utils.basic import AnsibleModule

# Properties the cluster writes itself: a desired configuration never mentions them, and
# replacing the configuration must not drop them (the DC would add them back at the next election
# and the next run would see a difference).
PACEMAKER_OWNED_PROPERTIES = ("dc-version", "cluster-infrastructure", "cluster-name",
                              "have-watchdog", "last-lrm-refresh")


class CibError(Exception):
    """A step failed; carries the command's output."""


def _run(argv, env=None, check=True):
    proc = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
    if check and proc.returncode != 0:
        raise CibError("%s failed (rc=%d): %s%s" % (" ".join(argv), proc.returncode,
                                                   proc.stdout, proc.stderr))
    return proc


def _env(cib_file):
    env = dict(os.environ)
    env["CIB_file"] = cib_file
    env.pop("CIB_shadow", None)
    return env


def strip_comments(text):
    """crmsh would store comments in the CIB; the desired state is the objects only."""
    return "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#")) + "\n"


def canonical(element):
    """A comparable form of an XML element: tag, attributes, children in order; no whitespace."""
    return (element.tag, tuple(sorted(element.attrib.items())),
            tuple(canonical(child) for child in element if isinstance(child.tag, str)))


def _configuration(path):
    return ET.parse(path).getroot().find("configuration")


def _keep_pacemaker_properties(live_path, work_path):
    live = _configuration(live_path)
    tree = ET.parse(work_path)
    conf = tree.getroot().find("configuration")
    live_set = live.find("crm_config/cluster_property_set[@id='cib-bootstrap-options']")
    if live_set is None:
        return
    work_set = conf.find("crm_config/cluster_property_set[@id='cib-bootstrap-options']")
    if work_set is None:
        crm_config = conf.find("crm_config")
        work_set = ET.SubElement(crm_config, "cluster_property_set",
                                 {"id": "cib-bootstrap-options"})
    present = {nv.get("name") for nv in work_set.findall("nvpair")}
    kept = [nv for nv in live_set.findall("nvpair")
            if nv.get("name") in PACEMAKER_OWNED_PROPERTIES and nv.get("name") not in present]
    for position, nvpair in enumerate(kept):  # first, in the live order: stable across runs
        work_set.insert(position, nvpair)
    tree.write(work_path)


def show(cib_path):
    return _run(["crm", "configure", "show"], env=_env(cib_path)).stdout


def desired_cib(live_path, crm_text, workdir):
    """The live CIB with its configuration replaced by crm_text: returns the new file's path."""
    work_path = os.path.join(workdir, "desired.xml")
    shutil.copyfile(live_path, work_path)
    crm_path = os.path.join(workdir, "desired.crm")
    with open(crm_path, "w", encoding="utf-8") as handle:
        handle.write(strip_comments(crm_text))
    # -F: crmsh's own checks warn about agents it cannot see from here; Pacemaker's crm_verify
    # below is the judge.
    _run(["crm", "-F", "configure", "load", "replace", crm_path], env=_env(work_path))
    _keep_pacemaker_properties(live_path, work_path)
    return work_path


def verify(cib_path):
    """crm_verify's verdict on a CIB file: raises CibError with its output when it refuses."""
    proc = _run(["crm_verify", "--xml-file", cib_path, "-V"], check=False)
    output = proc.stdout + proc.stderr
    # Warnings alone (rc 78 with "Warnings found" on Pacemaker 2.1, "Configuration invalid (with
    # warnings)" on 3.0) are reported, not fatal: a CIB copy without live status always warns
    # about quorum; errors ("Errors found" on 2.1, "(with errors)" on 3.0, "error:" lines on
    # both) are fatal.
    warnings_only = proc.returncode == 78 and not any(
        verdict in output for verdict in ("Errors found", "(with errors)", "error:"))
    if proc.returncode != 0 and not warnings_only:
        raise CibError("Pacemaker refused the configuration (crm_verify rc=%d): %s%s"
                       % (proc.returncode, proc.stdout, proc.stderr))
    return output


def converge(src=None, cib_file=None, check_mode=False, content=None):
    """Returns (changed, before_text, after_text, verify_output)."""
    if content is not None:
        crm_text = content
    else:
        with open(src, encoding="utf-8") as handle:
            crm_text = handle.read()
    workdir = tempfile.mkdtemp(prefix="glance-ha-cib.")
    os.chmod(workdir, 0o700)
    try:
        live_path = os.path.join(workdir, "live.xml")
        if cib_file:
            shutil.copyfile(cib_file, live_path)
        else:
            with open(live_path, "w", encoding="utf-8") as handle:
                handle.write(_run(["cibadmin", "--query"]).stdout)
        work_path = desired_cib(live_path, crm_text, workdir)
        if canonical(_configuration(live_path)) == canonical(_configuration(work_path)):
            return False, "", "", ""
        verify_output = verify(work_path)
        before, after = show(live_path), show(work_path)
        if not check_mode:
            conf_path = os.path.join(workdir, "configuration.xml")
            ET.ElementTree(_configuration(work_path)).write(conf_path)
            command = ["cibadmin", "--replace", "--scope", "configuration", "--xml-file", conf_path]
            _run(command, env=_env(cib_file) if cib_file else None)
        return True, before, after, verify_output
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def main():
    module = AnsibleModule(
        argument_spec={"src": {"type": "path"},
                       "content": {"type": "str"},
                       "cib_file": {"type": "path"}},
        required_one_of=[("src", "content")],
        mutually_exclusive=[("src", "content")],
        supports_check_mode=True,
    )
    try:
        changed, before, after, verify_output = converge(
            module.params["src"], module.params["cib_file"], module.check_mode,
            content=module.params["content"])
    except (CibError, OSError, ET.ParseError) as exc:
        module.fail_json(msg=str(exc))
    result = {"changed": changed}
    if changed:
        result["verify_output"] = verify_output
        if module._diff:
            result["diff"] = {"before": before, "after": after,
                              "before_header": "live CIB",
                              "after_header": module.params["src"] or "desired configuration"}
    module.exit_json(**result)


if __name__ == "__main__":
    main()
