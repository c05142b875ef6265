"""The clients role itself, run locally against files in a temporary directory."""

from __future__ import annotations

import configparser
import re

import yaml

from ansible_run import INVENTORIES, VAULT_PLACEHOLDERS, run_playbook

VIP = {"lab": "198.51.100.100", "production": "10.20.0.100"}


def test_clients_role_points_nova_and_cinder_at_the_internal_vip(tmp_path):
    for name, inventory in INVENTORIES.items():
        out = tmp_path / name
        playbook = tmp_path / f"clients-{name}.yml"
        playbook.write_text(yaml.safe_dump([{
            "name": "Clients role on local files", "hosts": "glance_clients",
            "connection": "local", "gather_facts": False,
            "vars": {"ansible_python_interpreter": "{{ ansible_playbook_python }}",
                     "clients_nova_conf": f"{out}/{{{{ inventory_hostname }}}}/nova/nova.conf",
                     "clients_cinder_conf": f"{out}/{{{{ inventory_hostname }}}}/cinder/cinder.conf"},
            "roles": [{"role": "glance_ha.ha.clients"}]}]))
        if name == "lab":  # an operator's existing nova.conf keeps its other settings
            (out / "controller" / "nova").mkdir(parents=True)
            (out / "controller" / "nova" / "nova.conf").write_text("[DEFAULT]\ndebug = true\n")
        extra = VAULT_PLACEHOLDERS if name == "production" else {}
        first = run_playbook(playbook, inventory, tmp_path, extra)
        second = run_playbook(playbook, inventory, tmp_path, extra)
        assert re.search(r"changed=0 ", second.stdout.split("PLAY RECAP")[1]), second.stdout
        assert not re.search(r"changed=[1-9]", second.stdout.split("PLAY RECAP")[1])
        hosts = sorted(p.name for p in out.iterdir())
        assert hosts == (["controller"] if name == "lab" else ["compute1", "compute2", "volume1"])
        for host in hosts:
            nova = configparser.ConfigParser(interpolation=None)
            nova.read(out / host / "nova" / "nova.conf")
            cinder = configparser.ConfigParser(interpolation=None)
            cinder.read(out / host / "cinder" / "cinder.conf")
            assert nova["glance"]["api_servers"] == f"http://{VIP[name]}:9292"
            assert cinder["DEFAULT"]["glance_api_servers"] == f"http://{VIP[name]}:9292"
            assert "changed=" in first.stdout
        if name == "lab":
            nova = configparser.ConfigParser(interpolation=None)
            nova.read(out / "controller" / "nova" / "nova.conf")
            assert nova["DEFAULT"]["debug"] == "true"
