"""Real servers on 127.0.0.1 for the network tests: influxd, stunnel and a Grafana stand-in.

Every server here is a context manager that stops what it started on exit, whatever happened inside the
``with`` block, and fails loudly (with the tail of the server's log) when the server died on its own.
Logs go to files, never to pipes, so a chatty server can never block on a full pipe.

Grafana is not in Debian and its registry is out of reach, so its place behind stunnel is taken by
``PlainHttpServer``, a plain HTTP listener answering /api/health.
"""

from __future__ import annotations

import base64
import contextlib
import http.client
import http.server
import json
import signal
import socket
import ssl
import subprocess
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Self

__all__ = [
    "HttpError",
    "Influxd",
    "PlainHttpServer",
    "ServerError",
    "Stunnel",
    "TLSRefused",
    "free_port",
    "https_request",
    "wait_for_port",
]

INFLUXD = "/usr/bin/influxd"
STUNNEL = "/usr/bin/stunnel4"
LOCALHOST = "127.0.0.1"
STOP_TIMEOUT = 10.0
LOG_TAIL_LINES = 30

# A clean environment: influxd reads INFLUXDB_* variables over its config file, and a caller's
# OPENSSL_CONF or SSL_CERT_FILE would change what stunnel trusts.
_CLEAN_ENV = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8"}


class ServerError(RuntimeError):
    """A server failed to start, died early, or did not do what it was asked."""


class HttpError(Exception):
    """An HTTP error answer, with the body the server gave (influxd explains itself there)."""

    def __init__(self, status: int, body: str) -> None:
        super().__init__(f"HTTP {status}: {body.strip()}")
        self.status = status
        self.body = body


class TLSRefused(Exception):
    """The TLS server refused the connection (no client certificate, revoked, unknown CA, ...)."""


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now (the kernel's choice; another process may take it later)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOCALHOST, 0))
        port: int = sock.getsockname()[1]
        return port


def _accepts(port: int) -> bool:
    try:
        with socket.create_connection((LOCALHOST, port), timeout=1):
            return True
    except OSError:
        return False


def wait_for_port(port: int, timeout: float = 10.0, *, process: subprocess.Popen[bytes] | None = None) -> None:
    """Wait until 127.0.0.1:port accepts connections; give up early when ``process`` exits."""
    deadline = time.monotonic() + timeout
    while not _accepts(port):
        if process is not None and process.poll() is not None:
            raise ServerError(f"process {process.args!r} exited with {process.returncode} before port {port} opened")
        if time.monotonic() > deadline:
            raise ServerError(f"nothing accepts connections on 127.0.0.1:{port} after {timeout} s")
        time.sleep(0.02)


def _tail(path: Path, lines: int = LOG_TAIL_LINES) -> str:
    try:
        text = path.read_text(errors="replace")
    except FileNotFoundError:
        return "(no log)"
    return "\n".join(text.splitlines()[-lines:]) or "(empty log)"


class _Process:
    """One long-running program with its output in a log file; the common part of Influxd and Stunnel."""

    name = "server"

    def __init__(self, log_path: Path) -> None:
        self.log_path = log_path
        self._process: subprocess.Popen[bytes] | None = None
        self._log_file: IO[bytes] | None = None

    @property
    def pid(self) -> int:
        return self._require().pid

    @property
    def process(self) -> subprocess.Popen[bytes]:
        """The running process, for a test that needs to signal it (a crash, a stop) itself."""
        return self._require()

    def _require(self) -> subprocess.Popen[bytes]:
        if self._process is None:
            raise ServerError(f"{self.name} is not running (use it as a context manager)")
        return self._process

    def _spawn(self, argv: list[str]) -> subprocess.Popen[bytes]:
        self._log_file = self.log_path.open("wb")
        try:
            self._process = subprocess.Popen(
                argv, stdin=subprocess.DEVNULL, stdout=self._log_file, stderr=subprocess.STDOUT, env=_CLEAN_ENV
            )
        except OSError:
            self._log_file.close()
            self._log_file = None
            raise
        return self._process

    def _failure(self, what: str) -> ServerError:
        return ServerError(f"{self.name} {what}; last lines of {self.log_path}:\n{_tail(self.log_path)}")

    def check_alive(self) -> None:
        """Raise with the log's tail when the server has exited."""
        process = self._require()
        if process.poll() is not None:
            raise self._failure(f"exited early with status {process.returncode}")

    def _stop(self) -> int | None:
        """Stop the process; return its exit status if it had already exited on its own, else None."""
        process, self._process = self._process, None
        early: int | None = None
        if process is not None:
            early = process.poll()
            if early is None:
                process.terminate()
                try:
                    process.wait(STOP_TIMEOUT)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None
        return early

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        early = self._stop()
        if early is not None:
            # Raised even while another exception propagates: that one is kept as __context__, and a
            # server that died is usually the reason for it.
            raise self._failure(f"exited early with status {early}")


class Influxd(_Process):
    """Debian's influxd 1.6.7 with its own config, data and log under ``tmp_dir``.

    Facts about this build, checked by tests/test_servers_harness.py:

    - With ``auth-enabled = true`` and no user yet, the only statement accepted without credentials is
      ``CREATE USER <name> WITH PASSWORD '<pw>' WITH ALL PRIVILEGES`` (InfluxDB 1.x's bootstrap rule).
      Anything else, a non-admin CREATE USER included, gets HTTP 403
      ``error authorizing query: create admin user first or disable authentication``.
    - Once a user exists, a query without credentials gets 401 ``unable to parse authentication
      credentials`` and wrong ones 401 ``authorization failed``. /ping answers 204 without credentials.
    - Debian renamed upstream's ``reporting-disabled`` to ``reporting-enabled`` (default false); influxd
      ignores unknown keys silently, so upstream's spelling would be accepted and do nothing.
    - Unknown databases get 404 ``database not found`` on /write.
    """

    name = "influxd"

    def __init__(self, tmp_dir: Path, *, auth: bool = True) -> None:
        super().__init__(tmp_dir / "influxd.log")
        self.tmp_dir = tmp_dir
        self.auth = auth
        self.config_path = tmp_dir / "influxdb.conf"
        self.port = 0
        self.rpc_port = 0

    @property
    def url(self) -> str:
        return f"http://{LOCALHOST}:{self.port}"

    def _config(self) -> str:
        def path(name: str) -> str:
            # JSON string quoting is valid TOML basic-string quoting.
            return json.dumps(str(self.tmp_dir / name))

        # Only HTTP and the backup RPC listen; UDP, graphite, collectd and opentsdb are off unless a
        # section enables them, and ifql is switched off explicitly.
        return f"""\
reporting-enabled = false
bind-address = "{LOCALHOST}:{self.rpc_port}"

[meta]
  dir = {path("meta")}
  logging-enabled = false

[data]
  dir = {path("data")}
  wal-dir = {path("wal")}
  query-log-enabled = false

[monitor]
  store-enabled = false

[http]
  enabled = true
  bind-address = "{LOCALHOST}:{self.port}"
  auth-enabled = {"true" if self.auth else "false"}
  log-enabled = false

[ifql]
  enabled = false

[logging]
  level = "warn"
  suppress-logo = true
"""

    def _ping(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/ping", timeout=2) as answer:
                status: int = answer.status
                return status == 204
        except (urllib.error.URLError, OSError):
            return False

    def __enter__(self) -> Self:
        self.tmp_dir.mkdir(parents=True, exist_ok=True)
        # free_port() can race with other processes; a port taken meanwhile shows up as a bind error.
        for attempt in range(3):
            self.port, self.rpc_port = free_port(), free_port()
            self.config_path.write_text(self._config())
            process = self._spawn([INFLUXD, "-config", str(self.config_path)])
            try:
                deadline = time.monotonic() + 30
                while not self._ping():
                    if process.poll() is not None:
                        raise self._failure(f"exited early with status {process.returncode}")
                    if time.monotonic() > deadline:
                        raise self._failure("did not answer /ping within 30 s")
                    time.sleep(0.05)
                return self
            except ServerError:
                self._stop()
                if attempt < 2 and "address already in use" in _tail(self.log_path):
                    continue
                raise
        raise AssertionError("unreachable")

    def _request(
        self, path: str, params: dict[str, str], body: bytes, user: str | None, password: str | None
    ) -> tuple[int, bytes]:
        self.check_alive()
        headers = {}
        if user is not None:
            # Basic auth, never u=/p= in the URL: a URL ends up in logs and tracebacks.
            token = base64.b64encode(f"{user}:{password or ''}".encode()).decode()
            headers["Authorization"] = f"Basic {token}"
        if path == "/query":
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        url = f"{self.url}{path}?{urllib.parse.urlencode(params)}" if params else f"{self.url}{path}"
        request = urllib.request.Request(url, data=body, headers=headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=30) as answer:
                return answer.status, answer.read()
        except urllib.error.HTTPError as error:
            return error.code, error.read()

    def query(
        self, q: str, user: str | None = None, password: str | None = None, db: str | None = None
    ) -> dict[str, Any]:
        """Run InfluxQL and return the parsed JSON; raise HttpError on a 4xx/5xx answer.

        Always POST: 1.x refuses CREATE/DROP/GRANT by GET and accepts SELECT/SHOW either way. A failing
        statement in a successful request comes back as ``results[i]["error"]`` with status 200.
        """
        form = {"q": q} | ({"db": db} if db is not None else {})
        status, body = self._request("/query", {}, urllib.parse.urlencode(form).encode(), user, password)
        if status >= 400:
            raise HttpError(status, body.decode(errors="replace"))
        result: dict[str, Any] = json.loads(body)
        return result

    def write(self, lines: str, db: str, user: str | None, password: str | None, rp: str | None = None) -> int:
        """Write line protocol (nanosecond timestamps); return the HTTP status, 204 on success."""
        params = {"db": db} | ({"rp": rp} if rp is not None else {})
        status, _ = self._request("/write", params, lines.encode(), user, password)
        return status


class Stunnel(_Process):
    """Debian's stunnel 5.68 in the foreground with the given config (which must say ``foreground = yes``).

    Its log (stderr, where ``foreground = yes`` logs) goes to ``<conf>.log`` next to the config.

    Facts about 5.68 on Debian 12 (the reload outcomes are checked by tests/test_servers_harness.py): on
    SIGHUP it logs ``Reading configuration from file <path>``, then ``Configuration successful`` and
    closes and re-binds every listening socket (a new socket inode in /proc/net/tcp, so a connection may
    be refused for a moment); or ``Configuration failed`` and
    ``Failed to reload the configuration file`` and keeps running with the old configuration, listening
    sockets untouched. A CRLfile missing at reload time is such a failure, so the old CRL stays in force.
    """

    name = "stunnel"
    _RELOAD_START = "Reading configuration from file"
    _RELOAD_OK = "Configuration successful"
    _RELOAD_FAILED = "Failed to reload the configuration file"

    def __init__(self, conf_path: Path, *, ports: list[int], wrapper: Sequence[str] = ()) -> None:
        """``wrapper``: a command that runs stunnel, such as setpriv with a unit's user and capabilities."""
        super().__init__(conf_path.parent / f"{conf_path.name}.log")
        self.conf_path = conf_path
        self.ports = list(ports)
        self.wrapper = list(wrapper)

    @property
    def log(self) -> str:
        """Everything stunnel has logged so far."""
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def wait_for_log(self, text: str, *, since: int = 0, timeout: float = 5.0) -> None:
        """Wait until ``text`` appears in the log after its first ``since`` characters (a ``len(log)``).

        A client sees a refusal before stunnel has logged why, so a test checking the reason must wait.
        """
        deadline = time.monotonic() + timeout
        while text not in self.log[since:]:
            self._wait_a_little(deadline, f"to log {text!r}")

    def __enter__(self) -> Self:
        text = self.conf_path.read_text()
        if not any(line.replace(" ", "").lower() == "foreground=yes" for line in text.splitlines()):
            # Without it stunnel forks into the background (untracked) and logs nowhere we can read.
            raise ServerError(f"{self.conf_path} must say 'foreground = yes' to run under the test harness")
        process = self._spawn([*self.wrapper, STUNNEL, str(self.conf_path)])
        try:
            for port in self.ports:
                wait_for_port(port, 10, process=process)
        except ServerError:
            early = self._stop()
            raise self._failure(
                f"exited early with status {early}" if early is not None else "did not open its ports"
            ) from None
        return self

    def reload(self, *, check: bool = True, timeout: float = 10.0) -> bool:
        """SIGHUP stunnel and wait until it has re-read its configuration and listens again.

        Returns True when the new configuration is in force. When stunnel rejected it (and kept the old
        one), raises ServerError, or returns False with ``check=False``.
        """
        process = self._require()
        self.check_alive()
        before = len(self.log)
        sockets = _listening_inodes(self.ports)
        process.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + timeout
        while True:
            new = self.log[before:]
            start = new.find(self._RELOAD_START)
            if start >= 0 and self._RELOAD_FAILED in new[start:]:
                if check:
                    raise self._failure("rejected the new configuration and kept the old one")
                return False
            if start >= 0 and self._RELOAD_OK in new[start:]:
                break
            self._wait_a_little(deadline, "to log the end of its reload")
        # "Configuration successful" is logged before the old sockets close: only a listening socket
        # that is not the old one shows the reload is complete.
        while not all(inode not in (None, sockets.get(port)) for port, inode in _listening_inodes(self.ports).items()):
            self._wait_a_little(deadline, "to listen again after its reload")
        return True

    def _wait_a_little(self, deadline: float, what: str) -> None:
        self.check_alive()
        if time.monotonic() > deadline:
            raise self._failure(f"took too long {what}")
        time.sleep(0.02)


def _listening_inodes(ports: list[int]) -> dict[int, int | None]:
    """The socket inode listening on each 127.0.0.1/any port, from /proc/net/tcp{,6}; None if none."""
    found: dict[int, int | None] = dict.fromkeys(ports)
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(FileNotFoundError), open(table) as rows:
            next(rows)
            for row in rows:
                fields = row.split()
                port = int(fields[1].rsplit(":", 1)[1], 16)
                if fields[3] == "0A" and port in found:  # 0A is TCP_LISTEN
                    found[port] = int(fields[9])
    return found


class _HealthHandler(http.server.BaseHTTPRequestHandler):
    server: _RecordingServer

    def do_GET(self) -> None:
        self.server.requests.append(("GET", self.path))
        if self.path == "/api/health":
            body, status = b"grafana stand-in", 200
        else:
            body, status = b"not found", 404
        self.send_response(status)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
        pass  # pytest shows stderr of failed tests; one line per request would only be noise


class _RecordingServer(http.server.ThreadingHTTPServer):
    daemon_threads = True
    requests: list[tuple[str, str]]


class PlainHttpServer:
    """Grafana's stand-in behind stunnel: GET /api/health answers 200 ``grafana stand-in``.

    ``.requests`` lists (method, path) of every request that reached it, so a test can tell a request
    that stunnel forwarded from one it refused.
    """

    def __init__(self) -> None:
        self._server: _RecordingServer | None = None
        self._thread: threading.Thread | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://{LOCALHOST}:{self.port}"

    @property
    def requests(self) -> list[tuple[str, str]]:
        return self._server.requests if self._server is not None else []

    def __enter__(self) -> Self:
        self._server = _RecordingServer((LOCALHOST, 0), _HealthHandler)
        self._server.requests = []
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), name="grafana-stand-in", daemon=True
        )
        self._thread.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(STOP_TIMEOUT)


def https_request(
    url: str,
    *,
    ca: Path,
    cert: Path | None,
    key: Path | None,
    method: str = "GET",
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
    timeout: float = 10,
) -> tuple[int, bytes]:
    """One HTTPS request trusting only ``ca``, with an optional client certificate; (status, body).

    Raises TLSRefused when the server refuses the TLS session. With TLS 1.3 the client's handshake
    completes before the server has checked the client certificate, so a refusal shows up only
    afterwards: as ssl.SSLEOFError when sending the request (stunnel has already closed), as the
    alert at the first read (ssl.SSLError "sslv3 alert certificate revoked", "tlsv13 alert
    certificate required"), or as a reset or a connection closed before any answer. All of these
    count as a refusal. With TLS 1.2 the alert comes during the handshake. The client's own refusal
    of the server's certificate (ssl.SSLCertVerificationError) is not a refusal by the server and
    propagates as is; so does ConnectionRefusedError (nothing listening).
    """
    parts = urllib.parse.urlsplit(url)
    if parts.scheme != "https" or parts.hostname is None:
        raise ValueError(f"not an https URL: {url}")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # check_hostname and CERT_REQUIRED by default
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_verify_locations(cafile=str(ca))
    if cert is not None:
        context.load_cert_chain(str(cert), str(key) if key is not None else None)
    connection = http.client.HTTPSConnection(parts.hostname, parts.port or 443, timeout=timeout, context=context)
    path = urllib.parse.urlunsplit(("", "", parts.path or "/", parts.query, ""))
    try:
        try:
            connection.request(method, path, body=body, headers=headers or {})
            answer = connection.getresponse()
        except ssl.SSLCertVerificationError:
            raise
        except (ssl.SSLError, ConnectionResetError, BrokenPipeError) as error:
            # RemoteDisconnected (closed before any answer) is a ConnectionResetError.
            raise TLSRefused(f"{url}: {error}") from error
        return answer.status, answer.read()
    finally:
        connection.close()
