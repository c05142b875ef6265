#!/usr/bin/python3
"""A stand-in for glance-api (and, with --keystone, for Keystone) for the agent's unit tests.

Installed by the tests as an executable named `glance-api`, it is started by the agent exactly
like the real one (`glance-api --config-file FILE`). Its behaviour comes from a [fake] section of
that config file, so each test writes the failure it wants:

    [fake]
    mode = healthy | hung | crash | unhealthy | no_healthcheck
    disable_by_file_path = PATH   # while PATH exists, /healthcheck answers 503 DISABLED BY FILE
    workers = 2            # forked workers sharing the listening socket, like glance-api's
    startup_delay = 0.5    # seconds before it listens
    ignore_term = false    # true: parent and workers ignore SIGTERM (forces SIGKILL)
    tokens_file = PATH     # /v2/images answers 200 only to a token listed in this file

Keystone mode: `fake_glance_api.py --keystone PORT TOKENS_FILE PASSWORD EXPIRES_IN LOGINS_FILE`
answers POST /v3/auth/tokens, appends every token it issues to TOKENS_FILE and one line per
login to LOGINS_FILE.

Clock mode: `fake_glance_api.py --clock PORT OFFSET REQUESTS_FILE [CERT_AND_KEY_PEM]` answers
every GET with a Date header OFFSET seconds off the real clock (OFFSET `none`: no Date header
at all), over TLS when given a PEM, and appends one line per request to REQUESTS_FILE.
"""
import configparser
import email.utils
import http.server
import json
import os
import signal
import socket
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta


def read_tokens(path):
    try:
        with open(path) as handle:
            return {line.strip() for line in handle if line.strip()}
    except FileNotFoundError:
        return set()


class GlanceHandler(http.server.BaseHTTPRequestHandler):
    settings: dict = {}

    def log_message(self, fmt, *args):
        sys.stdout.write("fake glance-api %d: %s\n" % (os.getpid(), fmt % args))
        sys.stdout.flush()

    def answer(self, code, body):
        data = body.encode()
        self.send_response(code)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        mode = self.settings["mode"]
        if self.path == "/healthcheck":
            if mode == "no_healthcheck":
                return self.answer(404, "not found")
            if mode == "unhealthy":
                return self.answer(503, "database: connection refused")
            if os.path.exists(self.settings["disable_by_file_path"]):  # as oslo.middleware's
                return self.answer(503, "DISABLED BY FILE")
            return self.answer(200, "OK")
        if self.path == "/versions":
            return self.answer(200, '{"versions": []}')
        if self.path.startswith("/v2/images"):
            token = self.headers.get("X-Auth-Token", "")
            if token and token in read_tokens(self.settings["tokens_file"]):
                return self.answer(200, '{"images": []}')
            return self.answer(401, "authentication required")
        return self.answer(404, "not found")


class KeystoneHandler(http.server.BaseHTTPRequestHandler):
    settings: dict = {}

    def log_message(self, fmt, *args):
        sys.stdout.write("fake keystone: %s\n" % (fmt % args))
        sys.stdout.flush()

    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    def do_POST(self):
        length = int(self.headers.get("Content-Length", "0"))
        request = json.loads(self.rfile.read(length) or b"{}")
        password = request["auth"]["identity"]["password"]["user"]["password"]
        with open(self.settings["logins_file"], "a") as handle:
            handle.write(json.dumps(request["auth"]) + "\n")
        if self.path != "/v3/auth/tokens" or password != self.settings["password"]:
            self.send_response(401)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        token = uuid.uuid4().hex
        with open(self.settings["tokens_file"], "a") as handle:
            handle.write(token + "\n")
        expires = datetime.now(UTC) + timedelta(seconds=self.settings["expires_in"])
        body = json.dumps({"token": {"expires_at": expires.strftime("%Y-%m-%dT%H:%M:%S.%fZ")}})
        self.send_response(201)
        self.send_header("X-Subject-Token", token)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body.encode())


class ClockHandler(http.server.BaseHTTPRequestHandler):
    settings: dict = {}

    def log_message(self, fmt, *args):
        with open(self.settings["requests_file"], "a") as handle:
            handle.write("%s\n" % (fmt % args))

    def date_time_string(self, timestamp=None):
        return email.utils.formatdate(time.time() + self.settings["offset"], usegmt=True)

    def send_response(self, code, message=None):
        if self.settings["offset"] is not None:
            return super().send_response(code, message)
        self.log_request(code)
        self.send_response_only(code, message)  # no Date header
        self.send_header("Server", self.version_string())

    def do_GET(self):
        self.send_response(300)  # as Keystone's / does: any answer carries a Date
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")


def serve(sock, handler):
    server = http.server.HTTPServer(sock.getsockname()[:2], handler, bind_and_activate=False)
    server.socket.close()
    server.socket = sock
    server.serve_forever()


def listening_socket(host, port):
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(64)
    return sock


def glance_main(config_path):
    parser = configparser.RawConfigParser(strict=False)
    parser.read(config_path)
    fake = dict(parser.items("fake")) if parser.has_section("fake") else {}
    mode = fake.get("mode", "healthy")
    print("fake glance-api %d starting as uid %d, mode %s" % (os.getpid(), os.getuid(), mode),
          flush=True)
    if mode == "crash":
        print("ERROR glance.common.config: the config is broken, giving up", flush=True)
        sys.exit(1)
    if fake.get("ignore_term", "false") == "true":
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    time.sleep(float(fake.get("startup_delay", "0")))
    host = parser.get("DEFAULT", "bind_host", fallback="0.0.0.0")
    port = int(parser.get("DEFAULT", "bind_port", fallback="9292"))
    sock = listening_socket(host, port)
    if mode == "hung":
        # accepts connections (the kernel does) but never answers, like a frozen server
        while True:
            time.sleep(3600)
    GlanceHandler.settings = {"mode": mode, "tokens_file": fake.get("tokens_file", "/nonexistent"),
                              "disable_by_file_path": fake.get("disable_by_file_path", "/nonexistent")}
    workers = []
    for _ in range(int(fake.get("workers", "1"))):
        child = os.fork()
        if child == 0:
            serve(sock, GlanceHandler)
            os._exit(0)
        workers.append(child)
    print("fake glance-api %d workers %s" % (os.getpid(), workers), flush=True)

    def terminate(signum, frame):
        for worker in workers:
            try:
                os.kill(worker, signal.SIGTERM)
            except ProcessLookupError:
                pass
        sys.exit(0)

    if fake.get("ignore_term", "false") != "true":
        signal.signal(signal.SIGTERM, terminate)
    while True:
        try:
            os.wait()
        except ChildProcessError:
            time.sleep(3600)


def keystone_main(port, tokens_file, password, expires_in, logins_file):
    KeystoneHandler.settings = {"tokens_file": tokens_file, "password": password,
                                "expires_in": int(expires_in), "logins_file": logins_file}
    serve(listening_socket("127.0.0.1", int(port)), KeystoneHandler)


def clock_main(port, offset, requests_file, pem=None):
    ClockHandler.settings = {"offset": None if offset == "none" else float(offset),
                             "requests_file": requests_file}
    sock = listening_socket("127.0.0.1", int(port))
    if pem:
        import ssl
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(pem)
        sock = context.wrap_socket(sock, server_side=True)
    serve(sock, ClockHandler)


if __name__ == "__main__":
    if sys.argv[1] == "--keystone":
        keystone_main(*sys.argv[2:7])
    elif sys.argv[1] == "--clock":
        clock_main(*sys.argv[2:6])
    else:
        arguments = sys.argv[1:]
        config = arguments[arguments.index("--config-file") + 1]
        glance_main(config)
