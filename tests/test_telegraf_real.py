"""Every Telegraf configuration madash can generate, run by real Telegraf at each tested version.

Real Telegraf (scripts/build-telegraf, tests/telegraf_build.py) runs each host
configuration as the client package installs it (tests/telegraf_run.py) and
writes through the real door: Debian's stunnel4 with the server package's
stunnel.conf, TLS files and CRL, in front of Debian's influxd set up by the
package's own ensure-influxdb (the same set-up as tests/test_door.py), with the
host's own key and certificate out of its .deb. The internet probes aim at
127.0.0.1 only: ping 127.0.0.1, HTTP to a local listener, DNS to Debian's dnsmasq.

For every configuration and version: ``telegraf config check`` and a
``--once`` run exit 0 with no E! or W! line and nothing deprecated, and the
points of the always-on inputs (and of the probes) are in InfluxDB. A feature
whose program, device or daemon is missing on this machine (the reason is
worked out here, never assumed) is left out of the --once run with
--input-filter; instead the full configuration runs as the service would, and
Telegraf must stay up and log that input's error.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from madash.bootstrap import init_site
from madash.packages.server import LIBEXEC, PROBE_DOOR_CERTIFICATE
from madash.site.config import load_site
from madash.site.features import BASE_INPUTS, FEATURES, NAMES, Feature
from tests.conftest import NOW, bake_host, set_repo
from tests.servers import Influxd, PlainHttpServer, Stunnel, free_port
from tests.telegraf_build import VERSIONS, telegraf_binary
from tests.telegraf_run import (
    KNOWN,
    Daemon,
    Dnsmasq,
    HostFiles,
    install_host,
    problems,
    run,
    smart_disks,
    tcp_answers,
    unix_socket_answers,
)
from tests.test_door import bake_server, member, rewrite_stunnel_conf

pytestmark = [pytest.mark.telegraf, pytest.mark.network]

DOMAIN = "madash.test"
ALL = tuple(f for f in NAMES if f != Feature.VM)
VM_ALL = tuple(f for f in NAMES if f not in FEATURES[Feature.VM].clashes)
# Each feature alone, none, every feature, vm with all it allows, and site plus host snippets.
CONFIGS: dict[str, tuple[str, ...]] = {"base": (), **{f: (f,) for f in NAMES}, "all": ALL, "vm-all": VM_ALL}
SNIPPETS = "snippets"
CONFIGS[SNIPPETS] = ("internet",)
# Each under a measurement name of its own, so that the read-back tells them apart.
# The site's snippet goes to every host: it reads a file every Debian host has. The host's names its own certificate.
SITE_SNIPPET = """[[inputs.x509_cert]]
  name_override = "site_snippet"
  sources = ["/etc/ssl/certs/ca-certificates.crt"]
"""
HOST_SNIPPET = """[[inputs.x509_cert]]
  name_override = "host_snippet"
  sources = ["/usr/share/madash-client-{host}/tls/client.crt"]
"""
# What each input writes, for the read-back; the probes' targets all answer here.
MEASUREMENTS = {
    "smart": {"smart_device"}, "sensors": {"sensors"}, "nvidia": {"nvidia_smi"}, "docker": {"docker"},
    "ups": {"apcupsd"}, "internet": {"ping", "http_response", "dns_query"}, "vm": set(),
}  # fmt: skip
PLUGINS = {str(f): set(spec.inputs) for f, spec in FEATURES.items()}
# The always-on inputs' measurements: each input's own name, but inputs.internal writes internal_agent,
# internal_gather, internal_write... (internal_agent always).
BASE_MEASUREMENTS = {"internal_agent" if name == "internal" else name for name in BASE_INPUTS}


def missing_here(feature: str) -> str | None:
    """Why this feature's program, device or daemon cannot work on this machine, or None."""
    if feature == "sensors":
        # The package depends on lm-sensors (its Init fails without the program, whatever
        # startup_error_behavior says); scripts/test installs it. Chips are what may be missing.
        assert shutil.which("sensors"), "lm-sensors is not installed: scripts/test installs it"
        if subprocess.run(["sensors", "-u"], capture_output=True, check=False).returncode != 0:
            return "no sensor chips (sensors -u finds none)"
    if feature == "nvidia" and shutil.which("nvidia-smi") is None:
        return "no nvidia-smi"
    if feature == "docker" and not unix_socket_answers("/var/run/docker.sock"):
        return "no docker daemon on /var/run/docker.sock"
    if feature == "ups" and not tcp_answers("127.0.0.1", 3551):
        return "no apcupsd on 127.0.0.1:3551"
    if feature == "smart" and not smart_disks():
        return "no disk that smartctl --scan finds"
    return None


MISSING = {f: reason for f in NAMES if (reason := missing_here(f)) is not None}


def host_name(config: str, version: str) -> str:
    return f"{config}-v{version.replace('.', '-')}"


@dataclass(frozen=True)
class Stack:
    influx: Influxd
    reader: tuple[str, str]
    hosts: dict[tuple[str, str], HostFiles]
    probe: HostFiles
    work: Path

    def measurements(self, host: str, since_ns: int = 0) -> set[str]:
        where = f"host = '{host}' AND time >= {since_ns}"
        found = set()
        names = self.influx.query("SHOW MEASUREMENTS", user=self.reader[0], password=self.reader[1], db="telegraf")
        for row in names["results"][0].get("series", [{}])[0].get("values", []):
            answer = self.influx.query(f'SELECT count(*) FROM "{row[0]}" WHERE {where}', *self.reader, db="telegraf")
            if answer["results"][0].get("series"):
                found.add(row[0])
        return found


def _server(site_dir: Path, work: Path, influx: Influxd) -> tuple[dict[str, str], Path, HostFiles]:
    """The server package's TLS files, stunnel.conf (ports moved) and probe config, with influxd set up."""
    contents = bake_server(load_site(site_dir))
    (work / "tls").mkdir(parents=True)
    for name in ("server.crt", "server.key", "ca.crt", "crl.pem"):
        (work / "tls" / name).write_bytes(member(contents, f"/etc/madash-server/tls/{name}"))
    (work / "tls" / "server.key").chmod(0o600)
    env_text = member(contents, "/etc/madash-server/madash.env").decode()
    env = dict(line.split("=", 1) for line in env_text.splitlines() if "=" in line and not line.startswith("#"))
    (work / "madash.env").write_text(env_text)
    helper = work / "ensure-influxdb"
    helper.write_bytes(member(contents, f"{LIBEXEC}/ensure-influxdb"))
    helper.chmod(0o755)
    ensure = subprocess.run(
        [str(helper), "--env-file", str(work / "madash.env"), "--url", influx.url, "--state", str(work / "state")],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert ensure.returncode == 0, ensure.stderr
    config = load_site(site_dir).config.server
    stunnel_conf = work / "stunnel.conf"
    text = member(contents, "/etc/madash-server/stunnel.conf").decode()
    ports = {config.influxdb_local_port: influx.port, config.grafana_port: free_port(), config.grafana_local_port: 9}
    stunnel_conf.write_text(rewrite_stunnel_conf(text, work, ports))
    # The probe container reaches InfluxDB as http://influxdb:8086 on compose's network; here it is influxd's URL.
    probe_conf = work / "probe" / "telegraf.conf"
    probe_conf.parent.mkdir()
    probe_text = member(contents, "/etc/madash-server/probe/telegraf.conf").decode()
    assert '"http://influxdb:8086"' in probe_text and f'"{PROBE_DOOR_CERTIFICATE}"' in probe_text
    # ...and compose mounts the server certificate where x509_cert reads it; here it is the package's file.
    probe_text = probe_text.replace(f'"{PROBE_DOOR_CERTIFICATE}"', f'"{work / "tls" / "server.crt"}"')
    probe_conf.write_text(probe_text.replace('"http://influxdb:8086"', f'"{influx.url}"'))
    # The probe image runs `telegraf` with its one config file; compose gives it the writer password.
    probe = HostFiles("madash-probe", work, ("--config", str(probe_conf)),
                      {"MADASH_INFLUXDB_PASSWORD": env["INFLUXDB_WRITE_USER_PASSWORD"]})  # fmt: skip
    return env, stunnel_conf, probe


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    for version in VERSIONS:
        telegraf_binary(version)  # a build failure fails here, before any server starts
    work = tmp_path_factory.mktemp("telegraf-real")
    site_dir = work / "site"
    init_site(site_dir, ["127.0.0.1"], "telegraf test", force=False, ca_passphrase=None, now=NOW)
    door_port = free_port()
    with PlainHttpServer() as web, Dnsmasq(work / "dns", DOMAIN) as dns, Influxd(work / "influxd") as influx:
        set_repo(site_dir, door_port=door_port, ping=["127.0.0.1"], http=[f"{web.url}/api/health"],
                 dns_servers=[dns.address], dns_domains=[DOMAIN])  # fmt: skip
        hosts = {}
        for config, features in CONFIGS.items():
            if config == SNIPPETS:
                # Last: the site snippet goes to every host baked from now on.
                (site_dir / "snippets").mkdir()
                (site_dir / "snippets" / "all.conf").write_text(SITE_SNIPPET)
            for version in VERSIONS:
                name = host_name(config, version)
                if config == SNIPPETS:
                    (site_dir / "snippets" / name).mkdir()
                    (site_dir / "snippets" / name / "mine.conf").write_text(HOST_SNIPPET.format(host=name))
                deb = bake_host(site_dir, name, *features).path
                hosts[(config, version)] = install_host(deb, name, work / "hosts" / name)
        env, stunnel_conf, probe = _server(site_dir, work / "server", influx)
        with Stunnel(stunnel_conf, ports=[door_port]):
            yield Stack(influx, (env["INFLUXDB_READ_USER"], env["INFLUXDB_READ_USER_PASSWORD"]), hosts, probe, work)


@dataclass(frozen=True)
class OnceResult:
    check: subprocess.CompletedProcess[str]
    once: subprocess.CompletedProcess[str]
    measurements: set[str]
    left_out: tuple[str, ...]


def _run_once(stack: Stack, config: str, version: str) -> OnceResult:
    binary = telegraf_binary(version)
    host = stack.hosts[(config, version)]
    check = run(binary, ["config", "check", *host.argv], host.env)
    left_out = tuple(sorted(p for f in CONFIGS[config] if f in MISSING for p in PLUGINS[f]))
    argv = list(host.argv)
    if left_out:
        kept = sorted({*BASE_INPUTS, *(p for f in CONFIGS[config] for p in PLUGINS[f]), "x509_cert"}
                      - set(left_out))  # fmt: skip
        argv += ["--input-filter", ":".join(kept)]
    once = run(binary, [*argv, "--once"], host.env)
    return OnceResult(check, once, stack.measurements(host.name), left_out)


@pytest.fixture(scope="module")
def once_results(stack: Stack) -> dict[tuple[str, str], OnceResult]:
    # Concurrently: each run waits mostly on ping's 1 s intervals and the output's flush.
    with ThreadPoolExecutor(max_workers=4) as pool:
        futures = {key: pool.submit(_run_once, stack, *key) for key in stack.hosts}
        return {key: future.result() for key, future in futures.items()}


CASES = [pytest.param(config, version, id=f"{config}-{version}") for config in CONFIGS for version in VERSIONS]


@pytest.mark.parametrize(("config", "version"), CASES)
def test_config_check_finds_nothing(once_results: dict[tuple[str, str], OnceResult], config: str, version: str) -> None:
    check = once_results[(config, version)].check
    missing = [p for f in CONFIGS[config] if f in MISSING for p in PLUGINS[f]]
    assert check.returncode == 0, check.stderr
    assert problems(check.stderr + check.stdout, version=version, allowed_inputs=missing) == []


@pytest.mark.parametrize(("config", "version"), CASES)
def test_once_gathers_and_writes_through_the_door(
    once_results: dict[tuple[str, str], OnceResult], config: str, version: str
) -> None:
    result = once_results[(config, version)]
    log = result.once.stderr + result.once.stdout
    assert result.once.returncode == 0, log
    assert problems(log, version=version) == []
    expected = BASE_MEASUREMENTS | {m for f in CONFIGS[config] if f not in MISSING for m in MEASUREMENTS[f]}
    if config == SNIPPETS:
        expected |= {"site_snippet", "host_snippet"}
    assert expected <= result.measurements, f"missing in InfluxDB: {sorted(expected - result.measurements)}"


@pytest.mark.parametrize(("config", "version"), CASES)
def test_every_metric_names_the_package_it_comes_from(
    stack: Stack, once_results: dict[tuple[str, str], OnceResult], config: str, version: str
) -> None:
    """The madash_package tag, from the version drop-in's environment, on every measurement the host sent."""
    host = stack.hosts[(config, version)]
    package = host.env["MADASH_PACKAGE"]
    assert package.startswith(f"madash-client-{host.name}=")
    for measurement in sorted(once_results[(config, version)].measurements):
        answer = stack.influx.query(
            f'SHOW TAG VALUES FROM "{measurement}" WITH KEY = "madash_package" WHERE "host" = \'{host.name}\'',
            *stack.reader,
            db="telegraf",
        )
        values = [row[1] for series in answer["results"][0].get("series", []) for row in series["values"]]
        assert values == [package], measurement


@dataclass(frozen=True)
class DaemonResult:
    alive: bool
    stopped: int | None
    log: str


def _named(log: str, plugin: str) -> bool:
    """Whether a log line of the input's own (not the start-up list of loaded inputs) names it."""
    lines = [line for line in log.splitlines() if "Loaded inputs" not in line]
    return any(f"inputs.{plugin}" in line and any(level in line for level in ("E!", "W!", "I!")) for line in lines)


@pytest.fixture(scope="module")
def daemon_results(stack: Stack) -> dict[tuple[str, str], DaemonResult]:
    """Every configuration with a missing feature, run as the service runs it, all at once, up to 15 s."""
    keys = [key for key in stack.hosts if any(f in MISSING for f in CONFIGS[key[0]])]
    results = {}
    daemons = {key: Daemon(telegraf_binary(key[1]), stack.hosts[key], stack.work / f"{key[0]}-{key[1]}.log")
               for key in keys}  # fmt: skip
    for daemon in daemons.values():
        daemon.__enter__()
    try:
        deadline = time.monotonic() + 15  # the first gather comes at the next 10 s boundary
        while time.monotonic() < deadline:
            waiting = [key for key, d in daemons.items() if d.alive() and not all(
                _named(d.log, p) for f in CONFIGS[key[0]] if f in MISSING for p in PLUGINS[f])]  # fmt: skip
            if not waiting:
                break
            time.sleep(0.5)
        for key, daemon in daemons.items():
            alive = daemon.alive()
            results[key] = DaemonResult(alive, daemon.stop(), daemon.log)
    finally:
        for daemon in daemons.values():
            daemon.stop()
    return results


MISSING_CASES = [
    pytest.param(config, version, id=f"{config}-{version}")
    for config in CONFIGS
    for version in VERSIONS
    if any(f in MISSING for f in CONFIGS[config])
]


@pytest.mark.parametrize(("config", "version"), MISSING_CASES)
def test_a_missing_program_or_device_keeps_telegraf_running(
    daemon_results: dict[tuple[str, str], DaemonResult], config: str, version: str
) -> None:
    result = daemon_results[(config, version)]
    missing = {p: MISSING[f] for f in CONFIGS[config] if f in MISSING for p in PLUGINS[f]}
    assert result.alive, f"Telegraf exited although only {missing} is missing here:\n{result.log}"
    assert result.stopped == 0, result.log
    for plugin, reason in missing.items():
        assert _named(result.log, plugin), f"inputs.{plugin} logged nothing although {reason}:\n{result.log}"
    assert problems(result.log, version=version, allowed_inputs=missing) == []


@pytest.mark.parametrize("version", VERSIONS)
def test_the_server_probe_configuration_runs(stack: Stack, version: str) -> None:
    binary = telegraf_binary(version)
    check = run(binary, ["config", "check", *stack.probe.argv], stack.probe.env)
    assert check.returncode == 0 and problems(check.stderr + check.stdout, version=version) == [], check.stderr
    # Both versions write as host madash-probe: the read-back counts only this run's points.
    since = time.time_ns()
    once = run(binary, [*stack.probe.argv, "--once"], stack.probe.env)
    log = once.stderr + once.stdout
    assert once.returncode == 0, log
    assert problems(log, version=version) == []
    found = stack.measurements("madash-probe", since_ns=since - 1_000_000_000)
    # x509_cert: what the alert on the door certificate's expiry reads.
    assert found >= MEASUREMENTS["internet"] | {"x509_cert"}
    # The alert's own query (madash/packages/alerts.py) over what real Telegraf wrote: days, not zero.
    answer = stack.influx.query(
        'SELECT last("expiry") FROM "x509_cert" WHERE host = \'madash-probe\' GROUP BY "source"',
        *stack.reader,
        db="telegraf",
    )
    [series] = answer["results"][0]["series"]
    assert series["tags"]["source"].endswith("server.crt") and series["values"][0][1] > 30 * 86400


def test_every_feature_is_covered() -> None:
    # A new feature gets its measurements and plugins here, or this fails.
    assert set(MEASUREMENTS) == set(NAMES)
    assert {f for features in CONFIGS.values() for f in features} == set(NAMES)


@pytest.mark.parametrize("version", VERSIONS)
def test_every_known_warning_is_still_seen(
    once_results: dict[tuple[str, str], OnceResult], daemon_results: dict[tuple[str, str], DaemonResult], version: str
) -> None:
    """An allowance in telegraf_run.KNOWN that no run prints any more must go."""
    logs = "".join(
        r.check.stderr + r.check.stdout + r.once.stderr + r.once.stdout
        for (_, v), r in once_results.items()
        if v == version
    ) + "".join(d.log for (_, v), d in daemon_results.items() if v == version)
    assert [known for known in KNOWN[version] if known not in logs] == []
