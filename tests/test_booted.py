"""madash's packages under real systemd: Debian 12 containers booted with systemd-nspawn (tests/boot.py).

The server machine (10.77.0.1) installs madash-server with dpkg and runs madash-stunnel.service. What is
a stand-in there, and why:

- InfluxDB: no container image can be pulled and no docker engine runs here, so Debian's influxd
  (influxdb.service, 1.6.7) listens on 127.0.0.1:8086 in the place of the compose file's InfluxDB
  container; madash-server's own ensure-influxdb, run with its unit's ExecStart command line,
  makes the database, users and grants. madash-server.service itself (docker compose) cannot run.
- docker.io and docker-compose: tests/standin/docker.py's packages satisfy the Depends.
- The internet probes' targets: dnsmasq and a Python HTTP server on 10.77.0.1 (madash.toml [internet]).

The site repository is served by madash-server's own madash-repo.service (Debian's nginx, host
certificates required, each host its own suite), from /var/lib/madash/repo, at the URL client packages
default to (https://10.77.0.1:8443/).

The client machine (10.77.0.2) installs madash-client-laptop and telegraf with apt from that signed
repository. telegraf is tests/standin's package: real Telegraf (scripts/build-telegraf, 1.32.3, the probe
image's version) packaged with InfluxData's user, paths, unit file and postinst.

The tests run in order on the same two machines: each one picks up where the one before left off.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from madash.apt import publish as repo
from madash.bootstrap import init_site
from madash.site import credentials
from madash.site.config import load_site, repo_url
from tests.boot import SERVER_ADDRESS, Machine, remove_stale_machines
from tests.chroot import default_parent
from tests.conftest import run_cli, set_repo
from tests.standin import build_standin_telegraf
from tests.standin.docker import build_standin_docker

pytest_plugins = ["tests.boot"]
pytestmark = pytest.mark.booted

HOST = "laptop"
REPO = "/var/lib/madash/repo"
HTTP_TARGET = f"http://{SERVER_ADDRESS}:8080/"
DNS_NAME = "probe.madash.test"
ALWAYS_ON = ("cpu", "mem", "swap", "system", "kernel", "processes", "disk", "diskio", "net", "netstat")
PROBES = ("ping", "http_response", "dns_query")
METRICS_TIMEOUT = 45.0
SMARTCTL_BRIEF = [
    "/usr/sbin/smartctl", "--info", "--health", "--attributes", "--tolerance=verypermissive",
    "-n", "standby", "--format=brief",
]  # fmt: skip

# influxd in the place of the InfluxDB container: on 127.0.0.1:8086 only, with authentication, as the
# image runs with INFLUXDB_HTTP_AUTH_ENABLED; Debian's default listens everywhere without it.
INFLUXDB_CONF = """\
reporting-enabled = false
bind-address = "127.0.0.1:8088"
[meta]
  dir = "/var/lib/influxdb/meta"
[data]
  dir = "/var/lib/influxdb/data"
  wal-dir = "/var/lib/influxdb/wal"
  query-log-enabled = false
[http]
  enabled = true
  bind-address = "127.0.0.1:8086"
  auth-enabled = true
  log-enabled = false
[ifql]
  enabled = false
"""
DNSMASQ_CONF = f"""\
# The DNS target of the internet probes: one name, on the private network only.
listen-address={SERVER_ADDRESS}
bind-interfaces
no-resolv
no-hosts
address=/{DNS_NAME}/{SERVER_ADDRESS}
"""
# Run inside the server machine by Debian's python3: one InfluxQL query, credentials on stdin.
QUERY_PY = """\
import base64, json, sys, urllib.parse, urllib.request
ask = json.load(sys.stdin)
token = base64.b64encode(f"{ask['user']}:{ask['password']}".encode()).decode()
body = urllib.parse.urlencode({"q": ask["q"], "db": ask["db"]}).encode()
request = urllib.request.Request("http://127.0.0.1:8086/query", data=body, headers={"Authorization": "Basic " + token})
print(urllib.request.urlopen(request, timeout=10).read().decode())
"""


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def cli(site_dir: Path, *args: str) -> str:
    result = run_cli("--site", site_dir, *args)
    assert result.returncode == 0, f"madash-build {' '.join(args)}: {result.stderr}"
    return result.stdout


@pytest.fixture(scope="module")
def site_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A site whose server is 10.77.0.1, whose probes aim at it, and whose repository it serves."""
    root = tmp_path_factory.mktemp("booted") / "site"
    init_site(root, [SERVER_ADDRESS], "booted site", force=False, ca_passphrase=None, now=now())
    # No url: the server's own repository server is the default (repo.serve, server.repo_port 8443).
    set_repo(root, extra_packages=["telegraf"], valid_days=7)
    assert repo_url(load_site(root).config) == f"https://{SERVER_ADDRESS}:8443/"
    set_repo(root, ping=[SERVER_ADDRESS], http=[HTTP_TARGET], dns_servers=[SERVER_ADDRESS], dns_domains=[DNS_NAME])
    (root / "dist").mkdir()
    shutil.copy(build_standin_telegraf(tmp_path_factory.mktemp("telegraf")), root / "dist")
    return root


def publish(site_dir: Path, server: Machine) -> None:
    """`repo`, then the copy into the served directory, in place (madash-repo.service's bind mount holds the
    directory itself: one replaced by another would go unseen until a restart)."""
    cli(site_dir, "repo")
    server.copy_in(site_dir / "repo", "/srv/repo")
    server.run(["cp", "-a", "--remove-destination", "/srv/repo/.", f"{REPO}/"])


def query(server: Machine, site_dir: Path, q: str, role: str = "reader") -> list[dict[str, object]]:
    """An InfluxQL query run on the server as the site's reader (or writer, admin); its series."""
    site = load_site(site_dir)
    secrets = credentials.load(site.paths)
    user = getattr(site.config.influxdb, f"{role}_user")
    ask = {"q": q, "db": site.config.influxdb.database, "user": user,
           "password": getattr(secrets, f"influxdb_{role}_password")}  # fmt: skip
    out = server.run(["python3", "/srv/query.py"], input=json.dumps(ask)).stdout
    results = json.loads(out)["results"]
    assert "error" not in results[0], results
    series: list[dict[str, object]] = results[0].get("series", [])
    return series


def counts(server: Machine, site_dir: Path, measurements: tuple[str, ...], where: str) -> dict[str, int]:
    """Points per measurement that match ``where`` (0 when there are none)."""
    found = {}
    for name in measurements:
        series = query(server, site_dir, f'SELECT count(*) FROM "{name}" WHERE {where}')
        values = series[0]["values"] if series else [[0, 0]]
        assert isinstance(values, list)
        found[name] = max(int(v) for v in values[0][1:] if v is not None) if values else 0
    return found


@pytest.fixture(scope="module")
def server(server_machine: Machine, site_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Machine:
    """The server machine with madash-server, influxd set up by ensure-influxdb, and the probe targets."""
    machine = server_machine
    for deb in build_standin_docker(tmp_path_factory.mktemp("docker")):
        machine.run(["dpkg", "-i", machine.copy_in(deb)])
    machine.write_text("/etc/influxdb/influxdb.conf", INFLUXDB_CONF)
    machine.run(["systemctl", "enable", "--now", "influxdb.service"])
    cli(site_dir, "server")
    deb = next((site_dir / "dist").glob("madash-server_*.deb"))
    machine.run(["dpkg", "-i", machine.copy_in(deb)])
    # madash-ensure-influxdb.service's own command line, as its unit names it (madash-server.service, which
    # pulls it in, cannot start here: no engine).
    unit = machine.read_text("/lib/systemd/system/madash-ensure-influxdb.service")
    ensure = next(line for line in unit.splitlines() if line.startswith("ExecStart="))
    machine.run(ensure.removeprefix("ExecStart=").split(), timeout=240)

    machine.write_text("/etc/dnsmasq.d/madash-test.conf", DNSMASQ_CONF)
    machine.run(["systemctl", "enable", "--now", "dnsmasq.service"])
    machine.write_text("/srv/www/index.html", "madash probe target\n")
    machine.run(["systemd-run", "--unit=probe-http", "python3", "-m", "http.server", "--bind", SERVER_ADDRESS,
                 "--directory", "/srv/www", "8080"])  # fmt: skip
    machine.write_text("/srv/query.py", QUERY_PY)
    shown = machine.show("madash-repo.service", "ActiveState", "User")
    assert shown == {"ActiveState": "active", "User": "madash-repo"}, machine.journal("madash-repo.service")
    return machine


def trust_repository(machine: Machine, site_dir: Path) -> None:
    """Give the host the site's apt source, key and, once, a copy of its certificate, as the README's
    first-install steps say (later versions of its package bring their own)."""
    machine.run(["groupadd", "--system", "docker"])  # as docker.io would
    sources = (site_dir / "repo" / "sources" / f"{HOST}.sources").read_text()
    machine.write_text("/etc/apt/sources.list.d/madash.sources", sources)
    keyring = (site_dir / "repo" / repo.KEYRING_NAME).read_bytes()
    machine.host_path("/srv/keyring.gpg").write_bytes(keyring)
    machine.run(["install", "-D", "-m", "0644", "/srv/keyring.gpg", "/etc/apt/keyrings/madash.gpg"])
    # The first install has no host certificate yet: the admin hands apt a copy for it, once.
    pki = site_dir / "pki"
    for name, source in (("ca.crt", pki / "ca.crt"), ("host.crt", pki / "clients" / f"{HOST}.crt"),
                         ("host.key", pki / "clients" / f"{HOST}.key")):  # fmt: skip
        machine.copy_in(source, f"/srv/bootstrap/{name}")
    machine.run(["chown", "_apt", "/srv/bootstrap/host.key"])
    prefix = f"Acquire::https::{SERVER_ADDRESS}::"
    machine.write_text(
        "/etc/apt/apt.conf.d/89madash-bootstrap",
        f'{prefix}CaInfo "/srv/bootstrap/ca.crt";\n{prefix}SslCert "/srv/bootstrap/host.crt";\n'
        f'{prefix}SslKey "/srv/bootstrap/host.key";\n',
    )


def forget_bootstrap(machine: Machine) -> None:
    """Once the package is installed it brings its own certificate for apt: the admin's copy goes."""
    machine.run(["rm", "-r", "/etc/apt/apt.conf.d/89madash-bootstrap", "/srv/bootstrap"])


@pytest.fixture(scope="module")
def client(client_machine: Machine, server: Machine, site_dir: Path) -> Iterator[Machine]:
    """The client machine, trusting the site's repository as the README's first-install steps say."""
    cli(site_dir, "client", HOST, "--feature", "smart", "--feature", "internet", "--feature", "docker")
    publish(site_dir, server)
    trust_repository(client_machine, site_dir)
    yield client_machine


def apt(machine: Machine, *args: str) -> str:
    result = machine.run(["apt-get", "-o", "Acquire::Check-Valid-Until=true", "-y", *args])
    return result.stdout + result.stderr


def telegraf_pid(client: Machine) -> int:
    return int(client.show("telegraf.service", "MainPID")["MainPID"])


def test_server_runs_the_door_and_influxd(server: Machine, site_dir: Path) -> None:
    assert server.show("madash-stunnel.service", "ActiveState")["ActiveState"] == "active", server.journal(
        "madash-stunnel.service"
    )
    listening = server.run(["ss", "--listening", "--tcp", "--numeric"]).stdout
    assert "127.0.0.1:8086 " in listening and f"{SERVER_ADDRESS}:5086 " in listening, listening
    assert "0.0.0.0:8086" not in listening and "*:8086" not in listening, listening
    databases = query(server, site_dir, "SHOW DATABASES")
    assert ["telegraf"] in databases[0]["values"]  # type: ignore[operator]


def test_apt_install_starts_telegraf_within_30_s(client: Machine) -> None:
    update = apt(client, "update")
    assert "W:" not in update and "E:" not in update, update
    apt(client, "install", f"madash-client-{HOST}", "telegraf")
    installed = time.monotonic()
    forget_bootstrap(client)

    def active() -> bool:
        return client.show("telegraf.service", "ActiveState")["ActiveState"] == "active"

    deadline = installed + 30
    while not active() and time.monotonic() < deadline:
        time.sleep(0.5)
    state = client.show("telegraf.service", "ActiveState", "SubState", "Result", "UnitFileState")
    assert active(), f"telegraf.service {state} 30 s after the install:\n{client.journal('telegraf.service')}"


def test_telegraf_runs_as_telegraf_with_madash_configuration(client: Machine) -> None:
    if client.show("telegraf.service", "ActiveState")["ActiveState"] != "active":
        # The install test judged whether the install starts it; from here on it must run.
        client.run(["systemctl", "start", "telegraf.service"], check=False)
    shown = client.show("telegraf.service", "User", "DropInPaths", "ExecStart",
                        "AmbientCapabilities", "ActiveState", "MainPID", "RestartUSec")  # fmt: skip
    assert shown["User"] == "telegraf"
    # Merged /usr: systemd names the package's /lib/systemd/system/... by its /usr/lib path.
    assert "/usr/lib/systemd/system/telegraf.service.d/madash.conf" in shown["DropInPaths"].split()
    assert (
        f"-config /usr/share/madash-client-{HOST}/telegraf.conf -config-directory /var/lib/madash-client-{HOST}/"
        "telegraf.d -config-directory /etc/madash/telegraf.d" in shown["ExecStart"]
    )
    # (systemctl show prints LoadCredential= as "[unprintable]" in systemd 252: the directory below proves it.)
    assert shown["RestartUSec"] == "10s"
    assert "cap_net_raw" in shown["AmbientCapabilities"]
    assert shown["ActiveState"] == "active", client.journal("telegraf.service")
    status = client.read_text(f"/proc/{shown['MainPID']}/status")
    uid = client.run(["id", "-u", "telegraf"]).stdout.strip()
    assert f"\nUid:\t{uid}\t{uid}\t{uid}\t{uid}\n" in status, status
    # The password reaches Telegraf as a credential, never through the environment its children inherit.
    environ = client.run(["cat", f"/proc/{shown['MainPID']}/environ"]).stdout.split("\0")
    assert "CREDENTIALS_DIRECTORY=/run/credentials/telegraf.service" in environ
    assert not [v for v in environ if "PASSWORD" in v]
    password = client.read_text(f"/var/lib/madash-client-{HOST}/influxdb-password")
    assert client.read_text("/run/credentials/telegraf.service/influxdb_password") == password


def test_metrics_of_every_always_on_input_and_probe_reach_influxdb(server: Machine, client: Machine,
                                                                    site_dir: Path) -> None:  # fmt: skip
    def missing() -> list[str]:
        found = counts(server, site_dir, ALWAYS_ON + PROBES, f"host = '{HOST}'")
        return [name for name, count in found.items() if count == 0]

    deadline = time.monotonic() + METRICS_TIMEOUT
    while missing() and time.monotonic() < deadline:
        time.sleep(2)
    assert not missing(), f"no points for {missing()}; Telegraf's journal:\n{client.journal('telegraf.service')}"
    for probe, tag, value in (("ping", "url", SERVER_ADDRESS), ("http_response", "server", HTTP_TARGET),
                              ("dns_query", "domain", DNS_NAME)):  # fmt: skip
        assert counts(server, site_dir, (probe,), f"\"{tag}\" = '{value}' AND result_code = 0")[probe] > 0, probe


class _ServerInflux:
    """What the dashboard tests' helpers ask of an influxd (query, db) answered by the server machine's."""

    def __init__(self, server: Machine, site_dir: Path) -> None:
        self.server, self.site_dir = server, site_dir

    def query(self, q: str, db: str) -> dict[str, object]:
        site = load_site(self.site_dir)
        secrets = credentials.load(site.paths)
        ask = {"q": q, "db": db, "user": site.config.influxdb.reader_user,
               "password": secrets.influxdb_reader_password}  # fmt: skip
        answer: dict[str, object] = json.loads(
            self.server.run(["python3", "/srv/query.py"], input=json.dumps(ask)).stdout
        )
        return answer


def _empty_by_design(query: str) -> bool:
    """Queries that list only failures (none while the targets answer), and content matches, which the
    site's [internet] http_match turns on (unset here)."""
    return "<> 'success'" in query or '"result_code" <> 0' in query or "response_string_match" in query


@dataclasses.dataclass
class _RealStore:
    influx: _ServerInflux


def test_every_dashboard_query_over_always_on_inputs_and_probes_has_real_data(
    server: Machine, client: Machine, site_dir: Path
) -> None:
    """Item 5: each panel query that reads only always-on inputs and the internet probes, resolved as Grafana
    resolves it (tests/test_dashboards.py's helpers) for this host over the last minutes, returns data that real
    Telegraf wrote (after the test above saw every measurement arrive)."""
    from tests import test_dashboards as dashboards

    store = _RealStore(_ServerInflux(server, site_dir))
    now_ms = int(time.time() * 1000)
    time_range = dashboards.TimeRange(now_ms - 15 * 60 * 1000, now_ms, relative=True)
    real = set(ALWAYS_ON) | set(PROBES)
    checked, empty, failed = 0, [], []
    for name, dashboard in sorted(dashboards.DASHBOARDS.items()):
        singles = dashboards.single_variables(dashboard)
        chosen = {v: HOST for v in singles if v == "host"}
        options = dashboards.variable_options(store, dashboard, time_range, chosen)  # type: ignore[arg-type]
        for panel in dashboards.panels(dashboard):
            if panel["type"] in dashboards.NO_QUERY_TYPES:
                continue
            for target in panel["targets"]:
                measurements = dashboards.uses(target["query"]).measurements
                if not measurements or not measurements <= real:
                    continue
                query = dashboards.backend_macros(dashboards.interpolate(target["query"], options), time_range, 10_000)
                outcome = dashboards.run(store, query)  # type: ignore[arg-type]
                checked += 1
                where = f"{name}: {panel['title']} {target['refId']}: {query}"
                if outcome.error:
                    failed.append(f"{where}: {outcome.error}")
                elif not outcome.series and not _empty_by_design(target["query"]):
                    empty.append(where)
    assert checked >= 20, f"only {checked} queries read always-on inputs or probes"
    assert not failed, "\n".join(failed)
    assert not empty, "queries without real data:\n" + "\n".join(empty)


def test_sudo_runs_exactly_the_allowed_smartctl_command_lines(client: Machine) -> None:
    def as_telegraf(*argv: str) -> tuple[int, str]:
        result = client.run(["runuser", "-u", "telegraf", "--", "sudo", "-n", *argv], check=False)
        return result.returncode, result.stderr

    for allowed in (["/usr/sbin/smartctl", "--scan"], ["/usr/sbin/smartctl", "--scan", "--device=nvme"],
                    [*SMARTCTL_BRIEF, "/dev/sda"], [*SMARTCTL_BRIEF, "/dev/nvme0n1"]):  # fmt: skip
        code, err = as_telegraf(*allowed)
        # smartctl itself may fail (there is no disk in a container); sudo must not refuse.
        assert "sudo:" not in err, (allowed, code, err)
    assert as_telegraf("/usr/sbin/smartctl", "--scan")[0] == 0
    for refused in ([*SMARTCTL_BRIEF, "/dev/sda", "-s", "off"], ["/usr/sbin/smartctl", "-s", "off", "/dev/sda"],
                    ["/usr/sbin/smartctl", "--scan", "--device=ata"], ["/bin/sh", "-c", "id"], ["id"]):  # fmt: skip
        code, err = as_telegraf(*refused)
        assert code != 0 and "sudo: a password is required" in err, (refused, code, err)


def test_revoked_host_is_refused_and_telegraf_logs_it(server: Machine, client: Machine, site_dir: Path) -> None:
    cli(site_dir, "revoke", HOST)
    cli(site_dir, "server")
    since_server, since_client = server.cursor(), client.cursor()
    deb = sorted((site_dir / "dist").glob("madash-server_*.deb"))[-1]
    server.run(["dpkg", "-i", server.copy_in(deb)])
    revoked_at = server.run(["date", "+%s"]).stdout.strip()
    # The package's postinst restarts stunnel, not a reload: a reload would re-read the CRL for new connections
    # only, and leave Telegraf's open one writing (seen here before the fix).
    restarted = server.journal("madash-stunnel.service", since_server)
    # (journald may drop the "Stopping" line of a quick stop: "Started" and no "Reloading" tell a restart.)
    assert "Started madash-stunnel.service" in restarted and "Reloading madash-stunnel" not in restarted, restarted

    def journals() -> str:
        return (f"--- stunnel ---\n{server.journal('madash-stunnel.service', since_server)}\n"
                f"--- telegraf ---\n{client.journal('telegraf.service', since_client)}")  # fmt: skip

    client.wait_for(
        "Telegraf logging the refused write",
        lambda: "E! [outputs.influxdb]" in client.journal("telegraf.service", since_client),
        30,
        journals,
    )
    assert "revoked" in server.journal("madash-stunnel.service", since_server).lower(), journals()
    time.sleep(12)  # longer than a flush interval: a write that got through would show now
    after = counts(server, site_dir, ("cpu",), f"host = '{HOST}' AND time > {revoked_at}s")
    assert after["cpu"] == 0, "a revoked host's points were written"


def test_upgrade_restarts_telegraf_onto_the_new_configuration(server: Machine, client: Machine,
                                                              site_dir: Path) -> None:  # fmt: skip
    before = telegraf_pid(client)
    cli(site_dir, "renew", HOST)
    cli(site_dir, "client", HOST, "--tag", "stage=upgraded")
    publish(site_dir, server)
    # The host's certificate was revoked (the test before): the repository refuses it, renewed or not, so
    # the package with the new certificate arrives by hand, as the first one did.
    refused = client.run(["apt-get", "-o", "Acquire::Check-Valid-Until=true", "update"], check=False)
    assert refused.returncode != 0 and "400" in refused.stdout + refused.stderr, refused.stdout
    deb = max((site_dir / "dist").glob(f"madash-client-{HOST}_*.deb"), key=lambda p: p.stat().st_mtime)
    client.run(["dpkg", "-i", client.copy_in(deb)])
    update = apt(client, "update")  # with the renewed certificate the package brought
    assert "W:" not in update and "E:" not in update, update
    assert 'stage = "upgraded"' in client.read_text(f"/usr/share/madash-client-{HOST}/telegraf.conf")
    after = telegraf_pid(client)
    assert after not in (0, before), f"Telegraf was not restarted (MainPID {before} -> {after})"
    client.wait_for(
        "points with the new tag",
        lambda: counts(server, site_dir, ("cpu",), f"host = '{HOST}' AND stage = 'upgraded'")["cpu"] > 0,
        METRICS_TIMEOUT,
    )


def test_remove_leaves_telegraf_on_its_stock_configuration(client: Machine) -> None:
    apt(client, "remove", f"madash-client-{HOST}")
    shown = client.show("telegraf.service", "DropInPaths", "ExecStart", "ActiveState", "MainPID")
    assert shown["DropInPaths"] == ""
    assert "-config /etc/telegraf/telegraf.conf -config-directory /etc/telegraf/telegraf.d" in shown["ExecStart"]
    assert shown["ActiveState"] == "active", client.journal("telegraf.service")
    cmdline = client.read_text(f"/proc/{shown['MainPID']}/cmdline").replace("\0", " ")
    assert "/etc/telegraf/telegraf.conf" in cmdline and "madash" not in cmdline, cmdline


def test_purge_leaves_nothing_of_madash(client: Machine) -> None:
    apt(client, "purge", f"madash-client-{HOST}")
    left = client.run(["find", "/etc", "/lib", "/usr", "/var", "-xdev", "-name", "*madash*",
                       "-not", "-path", "/var/lib/dpkg/*", "-not", "-path", "/var/lib/apt/*",
                       "-not", "-path", "/var/cache/apt/*", "-not", "-path", "/var/log/*"]).stdout  # fmt: skip
    assert left == "", left
    docker_gid = client.run(["getent", "group", "docker"]).stdout.split(":")[2]
    assert "docker" not in client.run(["id", "-nG", "telegraf"]).stdout.split()
    shown = client.show("telegraf.service", "ActiveState", "MainPID")
    assert shown["ActiveState"] == "active", client.journal("telegraf.service")
    status = client.read_text(f"/proc/{shown['MainPID']}/status")
    groups = next(line for line in status.splitlines() if line.startswith("Groups:")).split()[1:]
    assert docker_gid not in groups, f"the running Telegraf still holds the docker group: {groups}"


def run_command(argv: list[str]) -> None:
    subprocess.run(argv, check=True, capture_output=True)


def test_leftovers_of_a_killed_run_are_removed() -> None:
    # pid 4194304 is above the kernel's pid_max (2^22): no process has it, as none has a killed run's.
    dead = f"madash-boot-{2**22}-"
    netns = Path("/run/netns") / f"{dead}1-server"
    machine = default_parent() / f"{dead}madash-client-x"
    machine.mkdir()
    run_command(["ip", "netns", "add", netns.name])
    try:
        remove_stale_machines()
        assert not machine.exists() and not netns.exists()
    finally:
        shutil.rmtree(machine, ignore_errors=True)
        if netns.exists():
            run_command(["ip", "netns", "delete", netns.name])
