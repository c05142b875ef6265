"""Run ocf/glance-api the way Pacemaker does: exec the file with OCF_* variables in the
environment, and read its return code, its exit reason (stderr) and its log (HA_LOGFILE)."""
import configparser
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
AGENT = REPO / "ocf" / "glance-api"
FAKE = Path(__file__).resolve().parent / "fake_glance_api.py"
DTD = "/usr/share/resource-agents/ra-api-1.dtd"

# OCF return codes, by name, as the agent must use them
OCF_SUCCESS = 0
OCF_ERR_GENERIC = 1
OCF_ERR_ARGS = 2
OCF_ERR_UNIMPLEMENTED = 3
OCF_ERR_PERM = 4
OCF_ERR_INSTALLED = 5
OCF_ERR_CONFIGURED = 6
OCF_NOT_RUNNING = 7

# Ports for fake servers: our loopback range is 19000-19999; 19292/19306/19500 are the
# integration tests' glance, MariaDB and Keystone.
_FAKE_PORTS = iter(range(19600, 19900))


def free_port():
    for port in _FAKE_PORTS:
        with socket.socket() as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port left in 19600-19899")


def make_workdir(prefix):
    """A directory the glance user can traverse (pytest's tmp_path is 0700 root)."""
    path = Path(tempfile.mkdtemp(prefix=prefix, dir="/tmp"))
    path.chmod(0o755)
    return path


def processes_under(marker):
    """pids of the processes whose command line mentions marker (our own work dir)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            cmdline = Path("/proc/%s/cmdline" % entry).read_bytes()
        except OSError:
            continue
        if marker.encode() in cmdline:
            found.append(int(entry))
    return found


def kill_pids(pids):
    for pid in pids:
        try:
            os.kill(pid, signal.SIGCONT)
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


class Result:
    def __init__(self, rc, stdout, stderr, elapsed):
        self.rc, self.stdout, self.stderr, self.elapsed = rc, stdout, stderr, elapsed

    @property
    def reason(self):
        return "\n".join(line.split("ocf-exit-reason:", 1)[1] for line in self.stderr.splitlines()
                         if "ocf-exit-reason:" in line)

    def __repr__(self):
        return "rc=%d elapsed=%.2fs stderr=%r" % (self.rc, self.elapsed, self.stderr[-600:])


class AgentEnv:
    """One resource instance of the agent on a fake glance-api, in its own work dir."""

    counter = 0

    def __init__(self, root):
        AgentEnv.counter += 1
        self.root = root
        self.instance = "p_glance-api-t%d" % AgentEnv.counter
        self.rsctmp = root / "rsctmp"
        self.rsctmp.mkdir()
        self.bindir = root / "bin"
        self.bindir.mkdir()
        self.binary = self.bindir / "glance-api"
        shutil.copy(FAKE, self.binary)
        self.binary.chmod(0o755)
        self.store = root / "images"
        self.store.mkdir()
        glance = pwd.getpwnam("glance")
        os.chown(self.store, glance.pw_uid, glance.pw_gid)
        self.config = root / "glance-api.conf"
        self.port = free_port()
        self.logfile = root / "agent.log"
        self.sections = {
            "DEFAULT": {"bind_host": "127.0.0.1", "bind_port": str(self.port)},
            "glance_store": {"filesystem_store_datadir": str(self.store)},
            "fake": {"mode": "healthy", "workers": "2"},
        }
        self.write_config()
        self.params = {"binary": str(self.binary), "config": str(self.config), "user": "glance"}

    def write_config(self, **sections):
        for name, values in sections.items():
            self.sections.setdefault(name, {}).update(values)
        parser = configparser.RawConfigParser()
        parser.optionxform = str
        for name, values in self.sections.items():
            if name != "DEFAULT":
                parser.add_section(name)
            for key, value in values.items():
                if value is None:
                    continue
                parser.set(name, key, value)
        with open(self.config, "w") as handle:
            parser.write(handle)
        self.config.chmod(0o644)

    @property
    def pidfile(self):
        return Path(self.params.get("pid") or self.rsctmp / (self.instance + ".pid"))

    @property
    def state_dir(self):
        return self.rsctmp / ("glance-api-" + self.instance)

    def environ(self, action, level=None, interval=None, timeout=None, extra=None, params=None):
        env = {
            "PATH": "%s:/usr/sbin:/usr/bin:/sbin:/bin" % self.bindir,
            "OCF_ROOT": "/usr/lib/ocf",
            "OCF_RESOURCE_INSTANCE": self.instance,
            "OCF_RESOURCE_TYPE": "glance-api",
            "OCF_RESOURCE_PROVIDER": "openstack",
            "OCF_RA_VERSION_MAJOR": "1",
            "OCF_RA_VERSION_MINOR": "1",
            "HA_RSCTMP": str(self.rsctmp),
            "HA_LOGFILE": str(self.logfile),
            "HA_debug": "1",
            "__OCF_ACTION": action,
            "OCF_RESKEY_CRM_meta_timeout": str(int((timeout or 20) * 1000)),
        }
        if interval is not None:
            env["OCF_RESKEY_CRM_meta_interval"] = str(int(interval * 1000))
        if level is not None:
            env["OCF_CHECK_LEVEL"] = str(level)
        for key, value in (params if params is not None else self.params).items():
            if value is not None:
                env["OCF_RESKEY_" + key] = value
        env.update(extra or {})
        return env

    def run(self, action, level=None, interval=None, timeout=None, extra=None, params=None,
            wrapper=()):
        if action == "monitor" and interval is None:
            interval = 10
        env = self.environ(action, level, interval, timeout, extra, params)
        started = time.monotonic()
        proc = subprocess.run(list(wrapper) + [str(AGENT), action], env=env, capture_output=True,
                              text=True, timeout=(timeout or 20) + 30)
        return Result(proc.returncode, proc.stdout, proc.stderr, time.monotonic() - started)

    def log(self):
        return self.logfile.read_text() if self.logfile.exists() else ""

    def pid(self):
        return int(self.pidfile.read_text().split()[0])

    def processes(self):
        """Every process of our fake glance-api still alive (zombies excluded)."""
        alive = []
        for pid in processes_under(str(self.binary)):
            try:
                state = Path("/proc/%d/stat" % pid).read_text().rsplit(")", 1)[1].split()[0]
            except OSError:
                continue
            if state != "Z":
                alive.append(pid)
        return alive

    def cleanup(self):
        try:
            self.run("stop", timeout=10)
        finally:
            kill_pids(processes_under(str(self.root)))


@pytest.fixture
def ra():
    root = make_workdir("glanceha-agent-")
    env = AgentEnv(root)
    try:
        yield env
    finally:
        env.cleanup()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def fake_keystone():
    """A fake Keystone on loopback, started and ended (by pid) by this fixture."""
    root = make_workdir("glanceha-keystone-")
    port = free_port()

    class Keystone:
        url = "http://127.0.0.1:%d" % port
        tokens = root / "tokens"
        logins_file = root / "logins"
        password = "s3cret"
        proc = None

        def start(self, expires_in=3600):
            self.proc = subprocess.Popen(
                [sys.executable, str(FAKE), "--keystone", str(port), str(self.tokens),
                 self.password, str(expires_in), str(self.logins_file)],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                    return self
                except OSError:
                    time.sleep(0.05)
            raise RuntimeError("fake keystone did not listen")

        def stop(self):
            if self.proc and self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()

        def logins(self):
            return len(self.logins_file.read_text().splitlines()) if self.logins_file.exists() \
                else 0

    keystone = Keystone()
    keystone.tokens.touch()
    keystone.tokens.chmod(0o644)
    try:
        yield keystone.start()
    finally:
        keystone.stop()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def clock_server():
    """start(offset, tls=False) -> a fake clock reference on loopback whose Date is offset
    seconds off ("none": no Date header), with .url and .requests(); ended by pid."""
    root = make_workdir("glanceha-clock-")
    procs = []

    class Clock:
        def __init__(self, offset, tls):
            self.port = free_port()
            self.requests_file = root / ("requests-%d" % self.port)
            self.pem = root / "cert.pem"
            argv = [sys.executable, str(FAKE), "--clock", str(self.port), str(offset),
                    str(self.requests_file)]
            if tls:
                subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes",
                                "-days", "2", "-subj", "/CN=127.0.0.1", "-addext",
                                "subjectAltName=IP:127.0.0.1", "-keyout", str(self.pem),
                                "-out", str(self.pem) + ".crt"], check=True, capture_output=True)
                with open(self.pem, "a") as pem:
                    pem.write((root / "cert.pem.crt").read_text())
                argv.append(str(self.pem))
            self.cert = root / "cert.pem.crt"
            self.url = "%s://127.0.0.1:%d/" % ("https" if tls else "http", self.port)
            procs.append(subprocess.Popen(argv, stdout=subprocess.DEVNULL,
                                          stderr=subprocess.DEVNULL))
            deadline = time.monotonic() + 10
            while True:
                try:
                    socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                    break
                except OSError:
                    if time.monotonic() > deadline:
                        raise RuntimeError("fake clock reference did not listen")
                    time.sleep(0.05)

        def requests(self):
            if not self.requests_file.exists():
                return 0
            return sum(1 for line in self.requests_file.read_text().splitlines() if "GET" in line)

    try:
        yield lambda offset, tls=False: Clock(offset, tls)
    finally:
        for proc in procs:
            proc.kill()
            proc.wait()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def stack():
    """Real MariaDB + Keystone on loopback and a glance-api config (shared by the integration
    and Pacemaker tests); torn down by pid."""
    from openstack_stack import Stack
    running = Stack().up()
    try:
        yield running
    finally:
        running.down()


class RealGlance(AgentEnv):
    """The agent on Debian's real glance-api (binary by name, as the CIB would say)."""

    def __init__(self, stack):
        self.root = stack.root
        AgentEnv.counter += 1
        self.instance = "p_glance-api-int%d" % AgentEnv.counter
        self.rsctmp = stack.root / ("rsctmp-%d" % AgentEnv.counter)
        self.rsctmp.mkdir()
        self.bindir = Path("/usr/bin")
        self.binary = Path("/usr/bin/glance-api")
        self.config = stack.glance_conf
        self.store = stack.store
        self.port = 19292
        self.logfile = self.rsctmp / "agent.log"
        self.params = {"config": str(self.config), "user": "glance"}

    def processes(self):
        alive = []
        for pid in processes_under(str(self.config)):
            try:
                cmdline = Path("/proc/%d/cmdline" % pid).read_bytes().split(b"\0")
                state = Path("/proc/%d/stat" % pid).read_text().rsplit(")", 1)[1].split()[0]
            except OSError:
                continue
            if state != "Z" and any(arg.endswith(b"glance-api") for arg in cmdline[:2]):
                alive.append(pid)
        return alive

    def cleanup(self):
        try:
            self.run("stop", timeout=30)
        finally:
            kill_pids(self.processes())


@pytest.fixture
def real_glance(stack):
    env = RealGlance(stack)
    try:
        yield env
    finally:
        env.cleanup()
