"""Every role variable is judged by preflight, on every host of its group, before any host changes:
a bad value (of each variable, by its spec; and each semantic check the roles' validate.yml make)
is reported naming the host, the variable and its value, never a secret; a variable with a role's
prefix that the role does not know is reported with the closest known name.

Most cases call module_utils directly on the lab's values as the action plugin resolves them; a
handful run the preflight through ansible-playbook on the lab inventory, with the bad value as an
extra var, and check that the run stops in the preflight play, before any other play."""

from __future__ import annotations

import copy

import pytest
import yaml

from ansible_collections.glance_ha.ha.plugins.module_utils import preflight
from ansible_run import INVENTORIES, ROOT, run_playbook

ROLES = preflight.load_roles(ROOT / "ansible" / "roles")
GROUP_OF = {"cluster": "glance", "glance_api": "glance", "endpoints": "glance",
            "ha_resources": "glance", "clients": "glance_clients"}
GROUPS = {"all": ["controller", "glance1", "glance2", "glance3"], "ungrouped": [],
          "lab_controllers": ["controller"], "glance": ["glance1", "glance2", "glance3"],
          "glance_clients": ["controller"]}
LAB_GLANCE = yaml.safe_load((INVENTORIES["lab"] / "group_vars" / "glance.yml").read_text())
LAB_ALL = yaml.safe_load((INVENTORIES["lab"] / "group_vars" / "all.yml").read_text())
VIP, PUBLIC_VIP = "http://198.51.100.100:9292", "http://203.0.113.100:9292"
KEYSTONE = "http://198.51.100.10:5000/v3"
# What the plugin resolves for glance1 of the lab (the templated defaults and inventory values).
LAB_RESOLVED = {
    "cluster_dc_deadtime": "5s",
    "glance_api_port": 9292, "glance_api_public_endpoint": PUBLIC_VIP,
    "glance_api_worker_self_reference_url": "http://198.51.100.11:9292",
    "glance_api_db_host": "198.51.100.10", "glance_api_db_password": "db-secret",
    "glance_api_keystone_auth_url": KEYSTONE, "glance_api_keystone_www_authenticate_uri": KEYSTONE,
    "glance_api_keystone_region": "RegionOne", "glance_api_keystone_password": "svc-secret",
    "endpoints_auth_url": KEYSTONE, "endpoints_admin_password": "admin-secret",
    "endpoints_region": "RegionOne", "endpoints_service_password": "svc-secret",
    "endpoints_internal_url": VIP, "endpoints_admin_url": VIP, "endpoints_public_url": PUBLIC_VIP,
    "ha_resources_glance_store_marker": ".glance-ha-store",
    "ha_resources_agent_src": "/roles/ha_resources/files/glance-api",
    "ha_resources_vip_agent_src": "/roles/ha_resources/files/glance-vip",
    "ha_resources_alert_agent_src": "/roles/ha_resources/files/glance-ha-alert",
    "ha_resources_internal_vip": "198.51.100.100", "ha_resources_internal_vip_prefix": 24,
    "ha_resources_public_vip": "203.0.113.100", "ha_resources_public_vip_prefix": 24,
    "ha_resources_alert_attributes": ["glance-api-drained", "ping-public", "ping-gateway"],
    "ha_resources_api_port": 9292,
    "ha_resources_extra_agents": [{"src": "/lab/glance_ha_lab/fence_lab", "dest": "/usr/sbin/fence_lab"}],
    "ha_resources_fence_devices": [{"name": "fence-lab", "agent": "fence_lab", "password": "fence-secret",
                                    "params": {"ip": "198.51.100.2", "ipport": 6230,
                                               "pcmk_host_list": "glance1 glance2 glance3"}}],
    "ha_resources_ping_checks": [{"name": "public", "hosts": ["203.0.113.1"], "vips": ["public"]},
                                 {"name": "gateway", "hosts": ["198.51.100.1"],
                                  "vips": ["internal", "public"]}],
    "clients_glance_api_url": VIP,
}
LAB_SET = set(LAB_GLANCE) | {k for k in LAB_ALL if k in LAB_RESOLVED or k.startswith("glance_api_")}


def role_of(variable: str) -> str:
    return next(r for p, r in sorted(preflight.ROLE_PREFIXES.items(), key=lambda i: -len(i[0]))
                if variable.startswith(p))


def judge(role: str, host: str = "", **changes) -> list[str]:
    """The merged problems of one role on one lab host, with changes set in the inventory."""
    host = host or GROUPS[GROUP_OF[role]][0]
    values = {n: v for n, v in {**LAB_GLANCE, **LAB_ALL, **LAB_RESOLVED}.items()
              if n in ROLES[role].options}
    values.update({n: v for n, v in changes.items() if n in ROLES[role].options})
    problems = preflight.check_host(host, ROLES[role], copy.deepcopy(values),
                                    (LAB_SET | set(changes)) & set(ROLES[role].options),
                                    groups=GROUPS, play_hosts=GROUPS[GROUP_OF[role]])
    return preflight.merge(problems)


@pytest.mark.parametrize("role", sorted(GROUP_OF))
def test_the_lab_values_pass(role):
    assert judge(role) == []


def bad_value(option: dict):
    """A value of the wrong type for the option."""
    if option.get("no_log"):
        return ["s3cr3t-1", "s3cr3t-2"]
    return {"str": ["a", "list"], "path": {"a": "dict"}, "int": "zero", "bool": "maybe",
            "list": "a string", "dict": ["a", "list"]}.get(option["type"])


EVERY_OPTION = [(role, name) for role in sorted(GROUP_OF) for name, option in ROLES[role].options.items()
                if bad_value(option) is not None]


@pytest.mark.parametrize("role, name", EVERY_OPTION, ids=[n for _, n in EVERY_OPTION])
def test_each_variable_of_each_role_with_a_bad_value_is_named_with_it(role, name):
    option = ROLES[role].options[name]
    value = bad_value(option)
    host = GROUPS[GROUP_OF[role]][0]
    shown = preflight.SECRET if option.get("no_log") else repr(value)
    problems = judge(role, **{name: value})
    assert problems, f"{name} = {value!r} passed"
    assert problems[0].startswith(f"{host}: {name} = {shown}: is "), problems
    if option.get("no_log"):
        assert not any(str(v) in "\n".join(problems) for v in value), "a secret was shown"


# (variable, bad value, role, the message): one for each semantic check, some exact
SEMANTIC = [
    ("cluster_token", -5,
     "glance1: cluster_token = -5: must be a positive number of milliseconds, at least 200; set "
     "cluster_token to e.g. 3000 (or remove it for the default)"),
    ("cluster_token", "-5", "glance1: cluster_token = -5: must be a positive number"),
    ("cluster_token_coefficient", -1, "glance1: cluster_token_coefficient = -1: must be 0 or"),
    ("cluster_consensus", 500, "glance1: cluster_consensus = 500: must be more than cluster_token (1000)"),
    ("cluster_crypto_cipher", "aes512",
     "glance1: cluster_crypto_cipher = 'aes512': is not one of none, aes256, aes192, aes128; set "
     "cluster_crypto_cipher to one of none, aes256, aes192, aes128 (or remove it for the default)"),
    ("cluster_preferred_link", 2, "glance1: cluster_preferred_link = 2: is not one of 0, 1"),
    ("cluster_nodes_group", "nosuch", "glance1: cluster_nodes_group = 'nosuch': is not a group of "
     "the inventory (groups: glance, glance_clients, lab_controllers)"),
    ("cluster_nodes_group", "lab_controllers", "glance1: cluster_nodes_group = 'lab_controllers': has 1 host(s)"),
    ("cluster_dc_deadtime", "5 parsecs", "glance1: cluster_dc_deadtime = '5 parsecs': is not a Pacemaker duration"),
    ("glance_api_default_store", "nosuch",
     "glance1: glance_api_default_store = 'nosuch': is not the name of a store in glance_api_stores "
     "(shared, fast, bulk); set glance_api_default_store to one of them, e.g. shared"),
    ("glance_api_workers", "zero",
     "glance1: glance_api_workers = 'zero': is a string, not an integer; set glance_api_workers to "
     "an integer, e.g. 4 (or remove it for the default)"),
    ("glance_api_workers", 0, "glance1: glance_api_workers = 0: must be a positive number of processes"),
    ("glance_api_stores", [], "glance1: glance_api_stores = []: has no store"),
    ("glance_api_stores", [{"name": "a", "path": "/a"}, {"name": "a", "path": "/b"}],
     "glance1: glance_api_stores[1].name = 'a': is also the name of glance_api_stores[0]"),
    ("glance_api_stores", [{"name": "shared"}],
     "glance1: glance_api_stores[0].path = (missing): is required"),
    ("glance_api_stores", [{"name": "shared", "path": "/p", "shared": False}],
     "glance1: glance_api_stores[0].shared = False: store 'shared' (/p) would serve its images only"),
    ("glance_api_stores", [{"name": "shared", "path": "/p", "pth": "/q"}],
     "glance1: glance_api_stores[0].pth = '/q': is not a key of glance_api_stores; did you mean path?"),
    ("glance_api_staging_dir", "/var/lib/glance/fast",
     "glance1: glance_api_staging_dir = '/var/lib/glance/fast': is also the path of a store"),
    ("glance_api_port", 70000, "glance1: glance_api_port = 70000: is not a TCP port"),
    ("glance_api_db_password", "", "glance1: glance_api_db_password = <secret>: is empty"),
    ("glance_api_keystone_region", "", "glance1: glance_api_keystone_region = '': is empty"),
    ("glance_api_db_setup_host", "nosuch", "glance1: glance_api_db_setup_host = 'nosuch': is not a host"),
    ("glance_api_conf_overrides", {"DEFAULT": "debug"},
     "glance1: glance_api_conf_overrides.DEFAULT = 'debug': is not a dictionary of options"),
    ("endpoints_public_url", "ftp://x", "glance1: endpoints_public_url = 'ftp://x': is not http(s)://host:port"),
    ("endpoints_internal_url", VIP + "/v2", "glance1: endpoints_internal_url = 'http://198.51.100.100:9292/v2'"),
    ("endpoints_region", "", "glance1: endpoints_region = '': is empty"),
    ("endpoints_admin_password", "", "glance1: endpoints_admin_password = <secret>: is empty"),
    ("endpoints_auth_url", "keystone", "glance1: endpoints_auth_url = 'keystone': is not an http(s) URL"),
    ("ha_resources_ping_checks", "gateway",
     "glance1: ha_resources_ping_checks = 'gateway': is a string, not a list; set "
     "ha_resources_ping_checks to a list (YAML [a, b] or one '- item' per line) (or remove it for "
     "the default)"),
    ("ha_resources_ping_checks", ["gateway"],
     "glance1: ha_resources_ping_checks[0] = 'gateway': is a string, not a dictionary"),
    ("ha_resources_ping_checks", [{"name": "gw", "hosts": ["10.0.0.1"], "vips": ["outside"]}],
     "glance1: ha_resources_ping_checks[0].vips[0] = 'outside': is not one of internal, public"),
    ("ha_resources_ping_checks", [{"name": "gw", "vips": ["internal"]}],
     "glance1: ha_resources_ping_checks[0].hosts = (missing): is required"),
    ("ha_resources_ping_checks", [{"name": "g w", "hosts": ["10.0.0.1"], "vips": ["internal"]}],
     "glance1: ha_resources_ping_checks[0].name = 'g w': is not letters, digits and -"),
    ("ha_resources_cluster_properties", ["stonith-timeout=60s"],
     "glance1: ha_resources_cluster_properties = ['stonith-timeout=60s']: is a list, not a "
     "dictionary (a mapping of keys to values)"),
    ("ha_resources_fence_devices", [{"name": "f", "agent": "fence_x", "host": "glance9"}],
     "glance1: ha_resources_fence_devices[0].host = 'glance9': is not a glance node (glance1, glance2, glance3)"),
    ("ha_resources_fence_devices", [{"name": "f", "agent": "fence_x", "passwd": "hunter2"}],
     "glance1: ha_resources_fence_devices[0].passwd = <secret>: is not a key of "
     "ha_resources_fence_devices; did you mean password?"),
    ("ha_resources_fence_devices", [],
     "glance1: ha_resources_fence_devices = []: is empty, but ha_resources_stonith_enabled is true"),
    ("ha_resources_stonith_enabled", "maybe", "glance1: ha_resources_stonith_enabled = 'maybe': is a "
     "string, not true or false"),
    ("ha_resources_no_quorum_policy", "panic", "glance1: ha_resources_no_quorum_policy = 'panic': is not one of"),
    ("ha_resources_vip_agent", "ocf:heartbeat:IPaddr",
     "glance1: ha_resources_vip_agent = 'ocf:heartbeat:IPaddr': is not one of"),
    ("ha_resources_glance_check_level", 15, "glance1: ha_resources_glance_check_level = 15: is not one of 0, 10, 20"),
    ("ha_resources_glance_monitor_interval", "5 parsecs",
     "glance1: ha_resources_glance_monitor_interval = '5 parsecs': is not a Pacemaker duration"),
    ("ha_resources_internal_vip", "198.51.100.300",
     "glance1: ha_resources_internal_vip = '198.51.100.300': is not an IPv4"),
    ("ha_resources_alert_receiver_timeout", 0, "glance1: ha_resources_alert_receiver_timeout = 0: must be 1 to 60"),
    ("ha_resources_alert_log", "events.log", "glance1: ha_resources_alert_log = 'events.log': is not an absolute path"),
    ("ha_resources_alert_command", "notify", "glance1: ha_resources_alert_command = 'notify': does not start"),
    ("ha_resources_alert_url", "http://user:token@example.net/hook",
     "glance1: ha_resources_alert_url = <secret>: has credentials (user:password@) over http"),
    ("clients_glance_api_url", "http://x/v2",
     "controller: clients_glance_api_url = 'http://x/v2': is not http(s)://host:port (no path); set "
     "clients_glance_api_url to e.g. http://<internal VIP>:9292"),
    ("clients_configure_nova", "maybe", "controller: clients_configure_nova = 'maybe': is a string, not true or false"),
]


@pytest.mark.parametrize("name, value, message", SEMANTIC, ids=[f"{n}={v!r}" for n, v, _ in SEMANTIC])
def test_each_semantic_check_names_the_variable_and_its_value(name, value, message):
    problems = judge(role_of(name), **{name: value})
    assert any(p.startswith(message) for p in problems), problems
    assert "user:token" not in "\n".join(problems) and "hunter2" not in "\n".join(problems)


@pytest.mark.parametrize("name, near", [
    ("glance_api_worker", "glance_api_workers"), ("cluster_tokn", "cluster_token"),
    ("ha_resources_stonith_enable", "ha_resources_stonith_enabled"),
    ("endpoints_regoin", "endpoints_region"), ("clients_glance_url", "clients_glance_api_url"),
])
def test_an_unknown_variable_with_a_role_prefix_is_named_with_the_closest_known_one(name, near):
    role = role_of(name)
    assert preflight.check_unknown("glance1", {name: 4, **{n: 1 for n in ROLES[role].options}}, ROLES) == [
        ("glance1", f"{name} = 4: is not a variable of the {role} role (a typo?); did you mean "
                    f"{near}? rename it to {near}, or remove it")]


def test_an_unknown_secret_is_not_shown():
    problems = preflight.check_unknown("glance1", {"glance_api_db_pasword": "hunter2"}, ROLES)
    assert problems == [("glance1", "glance_api_db_pasword = <secret>: is not a variable of the "
                                    "glance_api role (a typo?); did you mean glance_api_db_password? "
                                    "rename it to glance_api_db_password, or remove it")]


def test_the_same_problem_on_several_hosts_is_one_line_naming_them():
    problems = [("glance1", "x = 1: bad"), ("glance2", "x = 1: bad"), ("glance1", "y = 2: bad")]
    assert preflight.merge(problems) == ["glance1, glance2: x = 1: bad", "glance1: y = 2: bad"]


def test_a_default_made_from_a_reported_inventory_variable_is_not_reported_again():
    values = {n: v for n, v in LAB_RESOLVED.items() if n.startswith("endpoints_")}
    values["endpoints_region"] = ""
    assert preflight.check_host("glance1", ROLES["endpoints"], values, set(), groups=GROUPS,
                                play_hosts=GROUPS["glance"], flagged={"glance_ha_region"}) == []
    assert preflight.check_host("glance1", ROLES["endpoints"], values, set(), groups=GROUPS,
                                play_hosts=GROUPS["glance"]) == [
        ("glance1", "endpoints_region = '': is empty; set endpoints_region, or glance_ha_region, to "
                    "the Keystone region of the endpoints, e.g. RegionOne (its value comes from the "
                    "role default '{{ glance_ha_region }}')")]


@pytest.mark.parametrize("region", ["", " ", None])
def test_an_empty_region_fails_naming_it(region):
    from test_preflight import good
    expected = [
        f"glance_ha_region = {region!r}: is not a region name (Keystone registers the endpoints and "
        f"glance-api validates tokens in it); set glance_ha_region to the Keystone region, e.g. "
        f"RegionOne"] if region is not None else []  # None: not given, not judged
    assert preflight.check(good(region=region)) == expected


# Through ansible-playbook on the lab inventory: the lab's play order (preflight, then the plays
# that change hosts), with each later play a harmless local canary, so that a preflight that let
# a bad value through would show (and contact no host).
CANARIES = ["Lab controller", "Glance cluster", "Glance clients"]


@pytest.fixture(scope="module")
def playbook(tmp_path_factory):
    path = tmp_path_factory.mktemp("playbook") / "site.yml"
    plays = [{"name": "Preflight", "hosts": "localhost", "gather_facts": False,
              "roles": [{"role": "glance_ha.ha.preflight"}]}]
    for name, hosts in zip(CANARIES, ["lab_controllers", "glance", "glance_clients"], strict=True):
        plays.append({"name": name, "hosts": hosts, "connection": "local", "gather_facts": False,
                      "tasks": [{"name": "Reached", "ansible.builtin.debug": {"msg": "reached"}}]})
    path.write_text(yaml.safe_dump(plays, sort_keys=False))
    return path


REAL: list[tuple[dict, list[str]]] = [
    ({"glance_api_default_store": "nosuch"},
     ["glance1, glance2, glance3: glance_api_default_store = 'nosuch': is not the name of a store in "
      "glance_api_stores (shared, fast, bulk); set glance_api_default_store to one of them, e.g. shared"]),
    ({"cluster_token": -5},
     ["glance1, glance2, glance3: cluster_token = -5: must be a positive number of milliseconds, at "
      "least 200; set cluster_token to e.g. 3000 (or remove it for the default)"]),
    ({"glance_api_workers": "zero"},
     ["glance1, glance2, glance3: glance_api_workers = 'zero': is a string, not an integer; set "
      "glance_api_workers to an integer, e.g. 4 (or remove it for the default)"]),
    ({"glance_ha_region": ""},
     ["glance_ha_region = '': is not a region name (Keystone registers the endpoints and glance-api "
      "validates tokens in it); set glance_ha_region to the Keystone region, e.g. RegionOne"]),
    ({"glance_api_worker": 4, "ha_resources_ping_checks": "gateway",
      "ha_resources_cluster_properties": ["stonith-timeout=60s"], "clients_glance_api_url": "http://x/v2",
      "ha_resources_fence_devices": [{"name": "f", "agent": "fence_x", "password": "hunter2"}],
      "ha_resources_no_quorum_policy": "panic"},
     ["glance1, glance2, glance3: glance_api_worker = 4: is not a variable of the glance_api role (a "
      "typo?); did you mean glance_api_workers? rename it to glance_api_workers, or remove it",
      "glance1, glance2, glance3: ha_resources_ping_checks = 'gateway': is a string, not a list",
      "glance1, glance2, glance3: ha_resources_cluster_properties = ['stonith-timeout=60s']: is a "
      "list, not a dictionary",
      "glance1, glance2, glance3: ha_resources_no_quorum_policy = 'panic': is not one of stop, "
      "freeze, ignore, demote, suicide",
      "controller: clients_glance_api_url = 'http://x/v2': is not http(s)://host:port (no path)"]),
]


@pytest.mark.parametrize("extra, messages", REAL, ids=[",".join(e) for e, _ in REAL])
def test_through_ansible_playbook_a_bad_variable_stops_the_lab_in_the_preflight_play(
        tmp_path, playbook, extra, messages):
    proc = run_playbook(playbook, INVENTORIES["lab"], tmp_path, extra, check=False)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0, out
    report = out.split("nothing was changed:", 1)[1].split("problems:", 1)[0]
    listed = [line.strip()[2:] for line in report.splitlines() if line.strip().startswith("- ")]
    for message in messages:
        assert any(line.startswith(message) for line in listed), (message, out)
    assert len(listed) == len(messages), out
    assert "PLAY [Preflight]" in out and not any(f"PLAY [{name}]" in out for name in CANARIES), out
    assert "hunter2" not in out
