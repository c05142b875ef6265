"""The real thing on loopback: MariaDB (private datadir), Keystone (uwsgi) and a glance-api config
for Debian's glance-api 25 (Zed), for the agent's integration tests, its Pacemaker test and
bench/monitor_cost. Every daemon is started here in its own session and ended by its pid.

Ports (the agent engineer's loopback range): MariaDB 19306, Keystone 19500, glance-api 19292.
"""
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

DB_PORT = 19306
KEYSTONE_PORT = 19500
GLANCE_PORT = 19292
ADMIN_PASSWORD = "admin-pw-lab"
GLANCE_PASSWORD = "glance-pw-lab"
DB_PASSWORD = "db-pw-lab"


def wait_port(port, timeout, proc=None, what="server"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError("%s exited with %s" % (what, proc.returncode))
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError("%s did not listen on %d within %ss" % (what, port, timeout))


def port_free(port):
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False


def chown(path, user):
    entry = pwd.getpwnam(user)
    os.chown(path, entry.pw_uid, entry.pw_gid)


def run(argv, **kwargs):
    result = subprocess.run(argv, capture_output=True, text=True, **kwargs)
    if result.returncode != 0:
        raise RuntimeError("%s failed (%d): %s" % (" ".join(map(str, argv[:3])), result.returncode,
                                                   (result.stderr or result.stdout)[-1500:]))
    return result


class Stack:
    """MariaDB + Keystone running, glance-api configured (the agent starts glance-api)."""

    def __init__(self):
        self.root = Path(tempfile.mkdtemp(prefix="glanceha-stack-", dir="/tmp"))
        self.root.chmod(0o755)
        self.daemons = {}  # name -> Popen (each its own session)
        self.glance_conf = self.root / "glance" / "glance-api.conf"
        self.store = self.root / "glance" / "images"
        self.auth_url = "http://127.0.0.1:%d/v3" % KEYSTONE_PORT

    # ---- lifecycle

    def up(self):
        for port in (DB_PORT, KEYSTONE_PORT, GLANCE_PORT):
            if not port_free(port):
                raise RuntimeError("port %d is taken: a previous run left a server behind?" % port)
        try:
            self._mariadb()
            self._keystone()
            self._glance_config()
        except BaseException:
            self.down()
            raise
        return self

    def down(self):
        for proc in reversed(list(self.daemons.values())):
            if proc.poll() is None:
                try:
                    os.killpg(proc.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
                try:
                    proc.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait()
            # uwsgi workers and mariadbd threads live in the same session: nothing may linger
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.daemons.clear()
        shutil.rmtree(self.root, ignore_errors=True)

    def pids(self):
        """Pids of the server processes (for CPU accounting): keystone, mariadb."""
        result = {}
        for name, proc in self.daemons.items():
            members = []
            for entry in os.listdir("/proc"):
                if entry.isdigit():
                    try:
                        if os.getpgid(int(entry)) == proc.pid:
                            members.append(int(entry))
                    except ProcessLookupError:
                        continue
            result[name] = members
        return result

    def _spawn(self, name, argv, log, **kwargs):
        with open(log, "ab") as out:
            proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out,
                                    stderr=subprocess.STDOUT, start_new_session=True, **kwargs)
        self.daemons[name] = proc
        return proc

    # ---- MariaDB

    def _mariadb(self):
        base = self.root / "mariadb"
        data = base / "data"
        data.mkdir(parents=True)
        chown(base, "mysql")
        chown(data, "mysql")
        self.db_socket = base / "mysqld.sock"
        run(["mariadb-install-db", "--no-defaults", "--user=mysql", "--datadir=%s" % data,
             "--auth-root-authentication-method=normal", "--skip-test-db"])
        proc = self._spawn("mariadb", [
            "mariadbd", "--no-defaults", "--user=mysql", "--datadir=%s" % data,
            "--socket=%s" % self.db_socket, "--port=%d" % DB_PORT, "--bind-address=127.0.0.1",
            "--pid-file=%s" % (base / "mysqld.pid"), "--skip-name-resolve",
            "--innodb-buffer-pool-size=64M", "--innodb-flush-log-at-trx-commit=0",
            "--log-error=%s" % (base / "error.log")], base / "console.log")
        wait_port(DB_PORT, 60, proc, "mariadbd")
        statements = []
        for db in ("keystone", "glance"):
            statements += ["CREATE DATABASE %s" % db,
                           "CREATE USER '%s'@'127.0.0.1' IDENTIFIED BY '%s'" % (db, DB_PASSWORD),
                           "GRANT ALL ON %s.* TO '%s'@'127.0.0.1'" % (db, db)]
        run(["mariadb", "--no-defaults", "-S", str(self.db_socket), "-u", "root", "-e",
             ";".join(statements)])

    def db_url(self, db):
        return "mysql+pymysql://%s:%s@127.0.0.1:%d/%s" % (db, DB_PASSWORD, DB_PORT, db)

    # ---- Keystone

    def _keystone(self):
        base = self.root / "keystone"
        base.mkdir()
        for sub in ("fernet-keys", "credential-keys"):
            (base / sub).mkdir(mode=0o700)
            chown(base / sub, "keystone")
        conf = base / "keystone.conf"
        conf.write_text(
            "[DEFAULT]\nlog_file = %s\nuse_stderr = false\n"
            "[database]\nconnection = %s\n"
            "[token]\nprovider = fernet\nexpiration = 3600\n"
            "[fernet_tokens]\nkey_repository = %s\n"
            "[credential]\nkey_repository = %s\n"
            "[cache]\nenabled = false\n" % (base / "keystone.log", self.db_url("keystone"),
                                            base / "fernet-keys", base / "credential-keys"))
        conf.chmod(0o644)
        (base / "keystone.log").touch()
        chown(base / "keystone.log", "keystone")
        manage = ["keystone-manage", "--config-file", str(conf)]
        run(manage + ["db_sync"])
        run(manage + ["fernet_setup", "--keystone-user", "keystone", "--keystone-group",
                      "keystone"])
        run(manage + ["credential_setup", "--keystone-user", "keystone", "--keystone-group",
                      "keystone"])
        run(manage + ["bootstrap", "--bootstrap-password", ADMIN_PASSWORD,
                      "--bootstrap-admin-url", self.auth_url,
                      "--bootstrap-public-url", self.auth_url,
                      "--bootstrap-internal-url", self.auth_url,
                      "--bootstrap-region-id", "RegionOne"])
        chown(base / "keystone.log", "keystone")
        proc = self._spawn("keystone", [
            "uwsgi", "--plugins", "python3", "--http-socket", "127.0.0.1:%d" % KEYSTONE_PORT,
            "--wsgi-file", "/usr/bin/keystone-wsgi-public", "--master", "--processes", "2",
            "--threads", "1", "--uid", "keystone", "--gid", "keystone", "--die-on-term",
            "--lazy-apps", "--add-header", "Connection: close", "--buffer-size", "65535",
            "--env", "OS_KEYSTONE_CONFIG_FILES=%s" % conf], base / "uwsgi.log")
        wait_port(KEYSTONE_PORT, 60, proc, "keystone (uwsgi)")
        self._keystone_objects()

    def _keystone_objects(self):
        import requests
        token = None
        deadline = time.monotonic() + 60
        while token is None:
            try:
                response = requests.post(self.auth_url + "/auth/tokens", timeout=30, json={
                    "auth": {"identity": {"methods": ["password"], "password": {"user": {
                        "name": "admin", "domain": {"id": "default"},
                        "password": ADMIN_PASSWORD}}},
                             "scope": {"project": {"name": "admin", "domain": {"id": "default"}}}}})
                if response.status_code == 201:
                    token = response.headers["X-Subject-Token"]
                    break
            except requests.RequestException:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("keystone gives no admin token")
            time.sleep(0.5)
        headers = {"X-Auth-Token": token}

        def post(path, body):
            response = requests.post(self.auth_url + path, json=body, headers=headers, timeout=30)
            if response.status_code not in (200, 201):
                raise RuntimeError("keystone POST %s: %d %s" % (path, response.status_code,
                                                                response.text[:300]))
            return response.json()

        project = post("/projects", {"project": {"name": "service", "domain_id": "default"}})
        user = post("/users", {"user": {"name": "glance", "domain_id": "default",
                                        "password": GLANCE_PASSWORD}})
        roles = requests.get(self.auth_url + "/roles?name=admin", headers=headers,
                             timeout=30).json()["roles"]
        response = requests.put(self.auth_url + "/projects/%s/users/%s/roles/%s" % (
            project["project"]["id"], user["user"]["id"], roles[0]["id"]), headers=headers,
            timeout=30)
        assert response.status_code == 204, response.text
        service = post("/services", {"service": {"name": "glance", "type": "image"}})
        for interface in ("public", "internal", "admin"):
            post("/endpoints", {"endpoint": {
                "service_id": service["service"]["id"], "interface": interface,
                "region_id": "RegionOne", "url": "http://127.0.0.1:%d" % GLANCE_PORT}})

    # ---- glance-api (configured and its DB synced; the agent starts it)

    def _glance_config(self):
        base = self.glance_conf.parent
        base.mkdir()
        for sub in ("images", "lock", "staging", "log"):
            (base / sub).mkdir()
            chown(base / sub, "glance")
        self.glance_conf.write_text(
            "[DEFAULT]\nbind_host = 127.0.0.1\nbind_port = %d\nworkers = 2\n"
            "log_file = %s\nuse_stderr = false\n"
            "node_staging_uri = file://%s\n"
            "[database]\nconnection = %s\n"
            "[glance_store]\nstores = file,http\ndefault_store = file\n"
            "filesystem_store_datadir = %s\n"
            "[keystone_authtoken]\nwww_authenticate_uri = http://127.0.0.1:%d\n"
            "auth_url = http://127.0.0.1:%d\nauth_type = password\n"
            "project_domain_name = Default\nuser_domain_name = Default\n"
            "project_name = service\nusername = glance\npassword = %s\n"
            "[oslo_concurrency]\nlock_path = %s\n"
            "[paste_deploy]\nflavor = keystone\nconfig_file = /etc/glance/glance-api-paste.ini\n"
            % (GLANCE_PORT, base / "log" / "glance-api.log", base / "staging",
               self.db_url("glance"), self.store, KEYSTONE_PORT, KEYSTONE_PORT, GLANCE_PASSWORD,
               base / "lock"))
        self.glance_conf.chmod(0o644)
        run(["glance-manage", "--config-file", str(self.glance_conf), "db_sync"])
        # glance-manage ran as root: hand the log over to glance-api's user
        for path in (base / "log").iterdir():
            chown(path, "glance")

    def cli_argv(self):
        """The old way of monitoring: the glance client, credentials on its command line (as
        the shell agent passes them), image endpoint from the Keystone catalog."""
        return ["glance", "--os-auth-url", self.auth_url, "--os-username", "admin",
                "--os-password", ADMIN_PASSWORD, "--os-project-name", "admin",
                "--os-user-domain-name", "Default", "--os-project-domain-name", "Default",
                "image-list"]
