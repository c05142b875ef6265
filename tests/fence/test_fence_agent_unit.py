"""fence_lab as Pacemaker and an operator run it: meta-data, options, exit codes.

Against the real BMC server class on loopback (see conftest.py), with a power backend that
records what it was asked; nothing here touches a lab host."""

from __future__ import annotations

import subprocess
import time
import xml.etree.ElementTree as ET

import pytest

from fence_helpers import AGENT, run_agent

# fence-agents' exit codes (fencing.py)
EC_OK, EC_GENERIC_ERROR, EC_STATUS_OFF, EC_PASSWORD_MISSING = 0, 1, 2, 10


def stdin_options(**opts: str) -> str:
    return "".join(f"{k}={v}\n" for k, v in opts.items())


# ---------------------------------------------------------------------------------------------
# meta-data
# ---------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def metadata() -> str:
    r = run_agent("-o", "metadata")
    assert r.returncode == 0, r.stderr
    return r.stdout


def test_metadata_is_well_formed_xml(metadata, tmp_path):
    path = tmp_path / "fence_lab.xml"
    path.write_text(metadata)
    r = subprocess.run(["xmllint", "--noout", str(path)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr


def test_metadata_declares_the_actions_pacemaker_uses(metadata):
    root = ET.fromstring(metadata)
    assert root.tag == "resource-agent" and root.get("name") == "fence_lab"
    actions = {a.get("name") for a in root.iter("action")}
    assert {"on", "off", "reboot", "status", "monitor", "list", "metadata", "validate-all"} <= actions


def test_metadata_parameters(metadata):
    params = {p.get("name"): p for p in ET.fromstring(metadata).iter("parameter")}
    for name in ("ip", "ipport", "plug", "key_file", "password", "password_script", "method", "delay"):
        assert name in params, f"{name} missing from meta-data"
    assert params["ip"].get("required") == "1"
    assert params["ipport"].find("content").get("default") == "6230"
    assert params["key_file"].find("content").get("default") == "/etc/pacemaker/fence_lab.key"
    assert params["password"].get("required") == "0", "the secret must not be a required CIB parameter"


def test_meta_data_spelling_is_accepted_too():
    r = run_agent("-o", "meta-data")
    assert r.returncode == 0 and "<resource-agent" in r.stdout


# ---------------------------------------------------------------------------------------------
# options: on stdin (as Pacemaker passes them) and as arguments
# ---------------------------------------------------------------------------------------------
def test_status_with_options_on_stdin(loopback_bmc, key_file):
    r = run_agent(stdin=stdin_options(action="status", ip="127.0.0.1", ipport=loopback_bmc.port,
                                      plug="glance2", key_file=key_file))
    assert (r.returncode, r.stdout.strip()) == (EC_OK, "Status: ON"), r.stderr


def test_status_with_pacemaker_spellings_on_stdin(loopback_bmc, key_file):
    # Pacemaker passes port= and nodename= besides plug=; ipaddr is the old name of ip
    r = run_agent(stdin=stdin_options(action="status", ipaddr="127.0.0.1", ipport=loopback_bmc.port,
                                      port="glance2", nodename="glance1", key_file=key_file))
    assert (r.returncode, r.stdout.strip()) == (EC_OK, "Status: ON"), r.stderr


def test_status_with_options_as_arguments(loopback_bmc, key_file):
    r = run_agent("-o", "status", "-a", "127.0.0.1", "-u", str(loopback_bmc.port), "-n", "glance2",
                  f"--key-file={key_file}")
    assert (r.returncode, r.stdout.strip()) == (EC_OK, "Status: ON"), r.stderr


def test_status_of_a_host_that_is_off_exits_2(loopback_bmc, key_file):
    loopback_bmc.power.state["glance3"] = "off"
    r = run_agent("-o", "status", "-a", "127.0.0.1", "-u", str(loopback_bmc.port), "-n", "glance3",
                  f"--key-file={key_file}")
    assert (r.returncode, r.stdout.strip()) == (EC_STATUS_OFF, "Status: OFF")


def test_list_and_monitor(loopback_bmc, key_file):
    base = ("-a", "127.0.0.1", "-u", str(loopback_bmc.port), f"--key-file={key_file}")
    r = run_agent("-o", "list", *base)
    assert r.returncode == 0 and r.stdout.split() == ["glance1,glance1", "glance2,glance2", "glance3,glance3"]
    loopback_bmc.power.state["glance1"] = "off"
    r = run_agent("-o", "list-status", *base)
    assert r.returncode == 0 and "glance1,glance1,OFF" in r.stdout.split()
    r = run_agent("-o", "monitor", *base)
    assert r.returncode == 0, r.stderr
    assert loopback_bmc.power.calls == []  # none of these powers anything


def test_off_on_reboot_reach_the_bmc(loopback_bmc, key_file):
    base = stdin_options(ip="127.0.0.1", ipport=loopback_bmc.port, plug="glance2", key_file=key_file)
    for action, out in (("off", "Success: Powered OFF"), ("off", "Success: Already OFF"),
                        ("on", "Success: Powered ON"), ("reboot", "Success: Rebooted")):
        r = run_agent(stdin=base + f"action={action}\n")
        assert (r.returncode, r.stdout.strip()) == (EC_OK, out), r.stderr
    assert loopback_bmc.power.calls == [("off", "glance2"), ("on", "glance2"), ("off", "glance2"), ("on", "glance2")]


def test_reboot_by_cycle_is_one_request(loopback_bmc, key_file):
    r = run_agent(stdin=stdin_options(action="reboot", method="cycle", ip="127.0.0.1",
                                      ipport=loopback_bmc.port, plug="glance1", key_file=key_file))
    assert (r.returncode, r.stdout.strip()) == (EC_OK, "Success: Rebooted"), r.stderr
    assert loopback_bmc.power.calls == [("off", "glance1"), ("on", "glance1")]


def test_default_action_is_reboot(loopback_bmc, key_file):
    r = run_agent(stdin=stdin_options(ip="127.0.0.1", ipport=loopback_bmc.port, plug="glance3", key_file=key_file))
    assert r.returncode == 0 and loopback_bmc.power.calls == [("off", "glance3"), ("on", "glance3")]


# ---------------------------------------------------------------------------------------------
# the secret: key file, password, password script
# ---------------------------------------------------------------------------------------------
def test_password_and_password_script_are_accepted(loopback_bmc, secret, tmp_path):
    base = stdin_options(action="status", ip="127.0.0.1", ipport=loopback_bmc.port, plug="glance1",
                         key_file=tmp_path / "absent")
    r = run_agent(stdin=base + f"password={secret.decode()}\n")
    assert r.returncode == 0, r.stderr
    script = tmp_path / "secret.sh"
    script.write_text(f"#!/bin/sh\necho {secret.decode()}\n")
    script.chmod(0o700)
    r = run_agent(stdin=base + f"password_script={script}\n")
    assert r.returncode == 0, r.stderr


def test_password_wins_over_the_key_file(loopback_bmc, key_file):
    r = run_agent(stdin=stdin_options(action="status", ip="127.0.0.1", ipport=loopback_bmc.port,
                                      plug="glance1", key_file=key_file, password="not-the-secret"))
    assert r.returncode == EC_GENERIC_ERROR
    assert "authentication failed" in r.stderr


def test_wrong_secret_is_refused_and_powers_nothing(loopback_bmc, tmp_path):
    wrong = tmp_path / "wrong.key"
    wrong.write_text("f" * 64 + "\n")
    for action in ("off", "reboot", "on", "status", "list"):
        r = run_agent(stdin=stdin_options(action=action, ip="127.0.0.1", ipport=loopback_bmc.port,
                                          plug="glance1", key_file=wrong))
        assert r.returncode == EC_GENERIC_ERROR, (action, r.stdout)
        assert "authentication failed" in r.stderr and "Unable to connect/login" in r.stderr
    assert loopback_bmc.power.calls == []


def test_missing_key_file_names_it(loopback_bmc, tmp_path):
    r = run_agent(stdin=stdin_options(action="status", ip="127.0.0.1", ipport=loopback_bmc.port,
                                      plug="glance1", key_file=tmp_path / "nope.key"))
    assert r.returncode == EC_PASSWORD_MISSING
    assert f"{tmp_path / 'nope.key'}" in r.stderr


# ---------------------------------------------------------------------------------------------
# bad input, unreachable device
# ---------------------------------------------------------------------------------------------
def test_unknown_plug_fails(loopback_bmc, key_file):
    r = run_agent(stdin=stdin_options(action="off", ip="127.0.0.1", ipport=loopback_bmc.port,
                                      plug="glance9", key_file=key_file))
    assert r.returncode == EC_GENERIC_ERROR and "unknown plug 'glance9'" in r.stderr
    assert loopback_bmc.power.calls == []


def test_missing_ip_and_plug_are_usage_errors(key_file):
    r = run_agent(stdin=stdin_options(action="status", plug="glance1", key_file=key_file))
    assert r.returncode == EC_GENERIC_ERROR and "fence address" in r.stderr
    r = run_agent(stdin=stdin_options(action="off", ip="127.0.0.1", key_file=key_file))
    assert r.returncode == EC_GENERIC_ERROR and "plug" in r.stderr


def test_unknown_action_is_refused(key_file):
    r = run_agent(stdin=stdin_options(action="explode", ip="127.0.0.1", plug="glance1", key_file=key_file))
    assert r.returncode == EC_GENERIC_ERROR and "Unrecognised action 'explode'" in r.stderr


def test_validate_all(key_file):
    ok = run_agent(stdin=stdin_options(action="validate-all", ip="127.0.0.1", plug="glance1", key_file=key_file))
    assert ok.returncode == 0, ok.stderr
    bad = run_agent(stdin=stdin_options(action="validate-all", plug="glance1", key_file=key_file))
    assert bad.returncode != 0


def test_bmc_down_fails_fast(key_file):
    import socket
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    t0 = time.monotonic()
    r = run_agent(stdin=stdin_options(action="reboot", ip="127.0.0.1", ipport=port, plug="glance1",
                                      key_file=key_file))
    assert r.returncode == EC_GENERIC_ERROR and "Unable to connect/login" in r.stderr
    assert time.monotonic() - t0 < 5


def test_agent_is_executable_and_imports_the_library_by_name():
    text = AGENT.read_text()
    assert AGENT.stat().st_mode & 0o111
    assert text.startswith("#!/usr/bin/python3")
    assert "import fencing" in text and "from fencing import *" not in text
