"""Issue 13's lifecycle checks under real systemd (tests/boot.py's Debian 12 containers), and the Telegraf drop-in's
hardening proved in the running service.

One machine (tests/boot.py's server machine: booting a second one doubles the cost on a loaded machine, and
nothing here needs two) installs madash-server with the docker stand-ins and InfluxDB down, then the telegraf
stand-in (tests/standin) and two hosts' packages with apt from local files: madash-client-alpha (docker only: the
drop-in's tier without sudo, with NoNewPrivileges and system call filters) and madash-client-beta (docker, smart,
internet: the tier that keeps sudo's setuid working). What stands in, and why:

- The docker engine: no engine runs here, so a Unix socket at /run/docker.sock (root:docker 0660, as docker.socket
  makes it) answers every request with 503 and logs each client's SO_PEERCRED: a connection from Telegraf's uid
  proves the sandboxed Telegraf reached it, through the group and the read-only file system.
- InfluxDB behind the door: the machine runs no InfluxDB (that is the point of the server's test), so what Telegraf
  gathered is read from a second [[outputs.influxdb]] the admin adds in the configuration directory, pointed at a
  listener on the client's loopback that logs the measurement names of every write.

The tests run in order on the same two machines: each one picks up where the one before left off.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from madash.bootstrap import init_site
from madash.packages.client import STATE_PREFIX
from madash.packages.hostpaths import ADMIN_CONFIG_DIR
from tests.boot import SERVER_ADDRESS, Machine
from tests.conftest import NOW, bake_host, run_cli, set_repo
from tests.standin import build_standin_telegraf
from tests.standin.docker import build_standin_docker

pytest_plugins = ["tests.boot"]
pytestmark = pytest.mark.booted

OLD, NEW = "alpha", "beta"
ALWAYS_ON = {"cpu", "mem", "swap", "system", "kernel", "processes", "disk", "diskio", "net", "netstat"}
GATHER_TIMEOUT = 45.0
# The internet probes run every 30 s (with 10 s deadlines).
PROBE_TIMEOUT = 75.0
DPKG_LIMIT = 30.0
# --wait 120 of madash-ensure-influxdb.service's command line, and some.
ENSURE_FAILS_WITHIN = 200.0
TEST_DROPIN = "/etc/systemd/system/telegraf.service.d/zz-madash-test.conf"
LISTENER_PORT = 8186
CAPABILITIES = {
    "CAP_CHOWN": 0, "CAP_DAC_OVERRIDE": 1, "CAP_DAC_READ_SEARCH": 2, "CAP_FOWNER": 3, "CAP_FSETID": 4,
    "CAP_KILL": 5, "CAP_SETGID": 6, "CAP_SETUID": 7, "CAP_SETPCAP": 8, "CAP_LINUX_IMMUTABLE": 9,
    "CAP_NET_BIND_SERVICE": 10, "CAP_NET_BROADCAST": 11, "CAP_NET_ADMIN": 12, "CAP_NET_RAW": 13,
    "CAP_IPC_LOCK": 14, "CAP_IPC_OWNER": 15, "CAP_SYS_MODULE": 16, "CAP_SYS_RAWIO": 17, "CAP_SYS_CHROOT": 18,
    "CAP_SYS_PTRACE": 19, "CAP_SYS_PACCT": 20, "CAP_SYS_ADMIN": 21, "CAP_SYS_BOOT": 22, "CAP_SYS_NICE": 23,
    "CAP_SYS_RESOURCE": 24, "CAP_SYS_TIME": 25, "CAP_SYS_TTY_CONFIG": 26, "CAP_MKNOD": 27, "CAP_LEASE": 28,
    "CAP_AUDIT_WRITE": 29, "CAP_AUDIT_CONTROL": 30, "CAP_SETFCAP": 31, "CAP_MAC_OVERRIDE": 32,
    "CAP_MAC_ADMIN": 33, "CAP_SYSLOG": 34, "CAP_WAKE_ALARM": 35, "CAP_BLOCK_SUSPEND": 36, "CAP_AUDIT_READ": 37,
    "CAP_PERFMON": 38, "CAP_BPF": 39, "CAP_CHECKPOINT_RESTORE": 40,
}  # fmt: skip

# Run inside the client by Debian's python3: the docker socket stand-in.
DOCKER_SOCKET_PY = """\
import grp, os, socket, struct
path = "/run/docker.sock"
if os.path.exists(path):
    os.unlink(path)
server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
server.bind(path)
os.chown(path, 0, grp.getgrnam("docker").gr_gid)
os.chmod(path, 0o660)
server.listen(16)
while True:
    conn, _ = server.accept()
    pid, uid, gid = struct.unpack("3i", conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, 12))
    print(f"peer pid={pid} uid={uid} gid={gid}", flush=True)
    conn.settimeout(2)
    try:
        conn.recv(65536)
        conn.sendall(b"HTTP/1.1 503 Service Unavailable\\r\\nContent-Length: 0\\r\\nConnection: close\\r\\n\\r\\n")
    except OSError:
        pass
    conn.close()
"""
# Run inside the client by Debian's python3: InfluxDB's write endpoint, logging measurement names.
LISTENER_PY = f"""\
import gzip, http.server
class Write(http.server.BaseHTTPRequestHandler):
    def body(self):
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            data = b""
            while True:
                size = int(self.rfile.readline().split(b";")[0], 16)
                if size == 0:
                    self.rfile.readline()
                    return data
                data += self.rfile.read(size)
                self.rfile.readline()
        return self.rfile.read(int(self.headers.get("Content-Length", 0)))
    def do_POST(self):
        data = self.body()
        if self.headers.get("Content-Encoding") == "gzip":
            data = gzip.decompress(data)
        names = {{line.split(",", 1)[0].split(" ", 1)[0] for line in data.decode().splitlines() if line}}
        print("measurements " + " ".join(sorted(names)), flush=True)
        self.send_response(204)
        self.end_headers()
    def log_message(self, *args):
        pass
http.server.HTTPServer(("127.0.0.1", {LISTENER_PORT}), Write).serve_forever()
"""
SECOND_OUTPUT = f"""\
# Added by the admin (here: the test), beside madash's own output: a copy of every metric.
[[outputs.influxdb]]
  urls = ["http://127.0.0.1:{LISTENER_PORT}"]
  database = "copy"
  skip_database_creation = true
"""


@dataclass(frozen=True)
class Debs:
    telegraf: Path
    docker: tuple[Path, ...]
    old: Path
    new: Path
    server: Path


@pytest.fixture(scope="module")
def debs(tmp_path_factory: pytest.TempPathFactory) -> Debs:
    site_dir = tmp_path_factory.mktemp("lifecycle") / "site"
    init_site(site_dir, [SERVER_ADDRESS], "lifecycle site", force=False, ca_passphrase=None, now=NOW)
    set_repo(site_dir, ping=["127.0.0.1"])  # a target that answers here: ping needs CAP_NET_RAW
    old = bake_host(site_dir, OLD, "docker").path
    new = bake_host(site_dir, NEW, "docker", "smart", "internet").path
    result = run_cli("--site", site_dir, "server")
    assert result.returncode == 0, result.stderr
    standins = tmp_path_factory.mktemp("standins")
    return Debs(build_standin_telegraf(standins), tuple(build_standin_docker(standins)), old, new,
                next((site_dir / "dist").glob("madash-server_*.deb")))  # fmt: skip


@dataclass
class Installed:
    """madash-server installed with InfluxDB down: when dpkg returned."""

    machine: Machine
    dpkg_seconds: float
    at: float


@pytest.fixture(scope="module")
def server(server_machine: Machine, debs: Debs) -> Installed:
    machine = server_machine
    for deb in debs.docker:
        machine.run(["dpkg", "-i", machine.copy_in(deb)])
    copied = machine.copy_in(debs.server)
    # The image's influxdb.service is disabled: InfluxDB is down, as before the containers come up.
    assert machine.show("influxdb.service", "ActiveState")["ActiveState"] == "inactive"
    started = time.monotonic()
    machine.run(["dpkg", "-i", copied], timeout=300)
    return Installed(machine, time.monotonic() - started, time.monotonic())


@pytest.fixture(scope="module")
def client(server: Installed, debs: Debs) -> Iterator[Machine]:
    machine = server.machine
    machine.run(["getent", "group", "docker"])  # made by the docker.io stand-in, as by Debian's
    machine.run(["apt-get", "install", "-y", machine.copy_in(debs.telegraf)])
    for deb in (debs.old, debs.new):
        machine.copy_in(deb)
    machine.write_text("/srv/docker_socket.py", DOCKER_SOCKET_PY)
    machine.write_text("/srv/listener.py", LISTENER_PY)
    machine.run(["systemd-run", "--unit=madash-test-docker", "python3", "/srv/docker_socket.py"])
    machine.run(["systemd-run", "--unit=madash-test-influx", "python3", "/srv/listener.py"])
    machine.write_text(f"{ADMIN_CONFIG_DIR}/zz-test-copy.conf", SECOND_OUTPUT)
    yield machine


def apt(machine: Machine, *args: str) -> str:
    result = machine.run(["apt-get", "-y", *args])
    return result.stdout + result.stderr


def status_field(machine: Machine, pid: int, name: str) -> str:
    status = machine.read_text(f"/proc/{pid}/status")
    return next(line for line in status.splitlines() if line.startswith(f"{name}:")).split(":", 1)[1].strip()


def running_telegraf(machine: Machine) -> int:
    """Telegraf's MainPID, once it is active (it must be, in every state these tests leave it in)."""
    machine.wait_for(
        "telegraf.service active",
        lambda: machine.show("telegraf.service", "ActiveState")["ActiveState"] == "active",
        30,
        lambda: machine.journal("telegraf.service")[-3000:],
    )
    return int(machine.show("telegraf.service", "MainPID")["MainPID"])


def running_groups(machine: Machine) -> set[str]:
    """The supplementary groups of the running Telegraf process."""
    return set(status_field(machine, running_telegraf(machine), "Groups").split())


def docker_gid(machine: Machine) -> str:
    return machine.run(["getent", "group", "docker"]).stdout.split(":")[2]


def member_of_docker(machine: Machine) -> bool:
    return "docker" in machine.run(["id", "-nG", "telegraf"]).stdout.split()


def package_state(machine: Machine, package: str) -> str:
    result = machine.run(["dpkg-query", "--show", "--showformat=${db:Status-Abbrev}", package], check=False)
    return result.stdout.strip() if result.returncode == 0 else "not known"


def capabilities(mask: str) -> set[str]:
    value = int(mask, 16)
    return {name for name, bit in CAPABILITIES.items() if value >> bit & 1}


def bounding_set_of_dropin(machine: Machine) -> set[str]:
    """The CapabilityBoundingSet= of madash's installed drop-in, within what the container's init holds."""
    dropin = machine.read_text("/lib/systemd/system/telegraf.service.d/madash.conf")
    line = next(line for line in dropin.splitlines() if line.startswith("CapabilityBoundingSet="))
    return set(line.split("=", 1)[1].split()) & capabilities(status_field(machine, 1, "CapBnd"))


def wait_for_gathering(
    machine: Machine, since: str, also: frozenset[str] = frozenset(), timeout: float = GATHER_TIMEOUT
) -> set[str]:
    """Measurements Telegraf wrote after ``since`` (the always-on inputs' and ``also``), once it has connected to
    the docker socket too."""
    uid = machine.run(["id", "-u", "telegraf"]).stdout.strip()

    def written() -> set[str]:
        lines = machine.journal("madash-test-influx.service", since).splitlines()
        return {name for line in lines if line.startswith("measurements ") for name in line.split()[1:]}

    def ready() -> bool:
        peer = f" uid={uid} " in machine.journal("madash-test-docker.service", since)
        return peer and written() >= ALWAYS_ON | also

    def detail() -> str:
        return f"written: {sorted(written())}\n{machine.journal('telegraf.service', since)[-3000:]}"

    machine.wait_for("Telegraf's metrics and its docker connection", ready, timeout, detail)
    return written()


def test_server_dpkg_returns_within_30_s_with_influxdb_down(server: Installed) -> None:
    assert server.dpkg_seconds < DPKG_LIMIT, f"dpkg -i took {server.dpkg_seconds:.1f} s"
    # ensure-influxdb was started and still waits for InfluxDB: nobody waited for it.
    shown = server.machine.show("madash-ensure-influxdb.service", "ActiveState", "SubState")
    assert shown == {"ActiveState": "activating", "SubState": "start"}, shown
    print(f"dpkg -i madash-server with InfluxDB down: {server.dpkg_seconds:.1f} s")


def test_host_without_sudo_runs_telegraf_with_no_new_privileges(client: Machine, debs: Debs) -> None:
    since = client.cursor()
    apt(client, "install", f"/srv/{debs.old.name}")
    pid = running_telegraf(client)
    assert status_field(client, pid, "NoNewPrivs") == "1"
    assert status_field(client, pid, "Seccomp") == "2"  # a filter is installed
    assert capabilities(status_field(client, pid, "CapBnd")) == bounding_set_of_dropin(client) == {"CAP_IPC_LOCK"}
    assert docker_gid(client) in running_groups(client)
    wait_for_gathering(client, since)
    assert "Bad system call" not in client.journal("telegraf.service", since)


def test_host_swap_then_purge_of_the_old_package_keeps_the_docker_membership(client: Machine, debs: Debs) -> None:
    out = apt(client, "install", f"/srv/{debs.new.name}")
    assert f"madash-client-{OLD}" in out  # apt removed it for the new one (Conflicts/Replaces)
    assert package_state(client, f"madash-client-{OLD}") == "rc"
    assert package_state(client, f"madash-client-{NEW}") == "ii"
    assert member_of_docker(client) and docker_gid(client) in running_groups(client)
    client.run(["dpkg", "--purge", f"madash-client-{OLD}"])
    assert package_state(client, f"madash-client-{OLD}") == "not known"
    assert member_of_docker(client), "purging the old package took the installed one's docker membership"
    assert docker_gid(client) in running_groups(client)
    assert client.read_text(f"{STATE_PREFIX}{NEW}/groups-added").split() == ["docker"]
    assert not client.exists(f"{STATE_PREFIX}{OLD}")


def test_hardened_telegraf_with_sudo_reads_the_docker_socket_and_runs_sudo_smartctl(client: Machine) -> None:
    pid = running_telegraf(client)
    assert status_field(client, pid, "NoNewPrivs") == "0"  # sudo's setuid must work
    assert capabilities(status_field(client, pid, "CapBnd")) == bounding_set_of_dropin(client)
    # In Telegraf's own sandbox (an ExecStartPre= runs with all of the unit's settings): sudo smartctl --scan.
    client.write_text(TEST_DROPIN, "[Service]\nExecStartPre=/usr/bin/sudo -n /usr/sbin/smartctl --scan\n")
    client.run(["systemctl", "daemon-reload"])
    since = client.cursor()
    restarted = client.run(["systemctl", "restart", "telegraf.service"], check=False)
    assert restarted.returncode == 0, client.journal("telegraf.service", since)
    # ping: the internet feature's native ping, through CAP_NET_RAW.
    wait_for_gathering(client, since, frozenset({"ping"}), PROBE_TIMEOUT)
    journal = client.journal("telegraf.service", since)
    # (The smart input's own runs say nothing when sudo works; its first may come a minute after the start.)
    assert "E! [inputs.smart]" not in journal and "sudo:" not in journal, journal

    # The same check fails where sudo cannot work: with NoNewPrivileges, as the tier without sudo has it.
    client.write_text(TEST_DROPIN, client.read_text(TEST_DROPIN) + "NoNewPrivileges=yes\n")
    client.run(["systemctl", "daemon-reload"])
    since = client.cursor()
    refused = client.run(["systemctl", "restart", "telegraf.service"], check=False)
    journal = client.journal("telegraf.service", since)
    assert refused.returncode != 0 and "no new privileges" in journal.lower(), journal
    client.run(["rm", TEST_DROPIN])
    client.run(["systemctl", "daemon-reload"])
    client.run(["systemctl", "restart", "telegraf.service"])
    running_telegraf(client)


def test_remove_leaves_the_running_telegraf_without_madash_groups(client: Machine) -> None:
    assert docker_gid(client) in running_groups(client)
    apt(client, "remove", f"madash-client-{NEW}")
    assert not member_of_docker(client)
    assert docker_gid(client) not in running_groups(client), "the running Telegraf kept the docker group"


def test_purge_of_the_installed_client_leaves_the_running_telegraf_without_madash_groups(
    client: Machine, debs: Debs
) -> None:
    apt(client, "install", f"/srv/{debs.new.name}")
    assert docker_gid(client) in running_groups(client)
    apt(client, "purge", f"madash-client-{NEW}")
    assert package_state(client, f"madash-client-{NEW}") == "not known"
    assert not member_of_docker(client)
    assert docker_gid(client) not in running_groups(client), "the running Telegraf kept the docker group"


def test_ensure_influxdb_failure_is_visible_in_systemctl_status(server: Installed) -> None:
    machine = server.machine

    def failed() -> bool:
        return machine.show("madash-ensure-influxdb.service", "Result")["Result"] == "exit-code"

    left = max(1.0, ENSURE_FAILS_WITHIN - (time.monotonic() - server.at))
    machine.wait_for("madash-ensure-influxdb.service failing", failed, left,
                     lambda: machine.journal("madash-ensure-influxdb.service"))  # fmt: skip
    status = machine.run(["systemctl", "status", "--no-pager", "madash-ensure-influxdb.service"], check=False)
    assert "(Result: exit-code)" in status.stdout or "failed (Result: exit-code)" in status.stdout, status.stdout
    assert "status=1/FAILURE" in status.stdout, status.stdout
