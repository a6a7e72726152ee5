"""madash-server: gather the server's inputs from the site, then describe its package.

Like client.py: gather() reads and checks the site (server certificate, CRL,
secrets), server_spec() is a pure function of what it returned.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from madash import modes, times
from madash.deb.maintscripts import assemble, check_relations
from madash.deb.spec import FileEntry, PackageSpec
from madash.errors import UsageError
from madash.fsutil import site_lock
from madash.packages import changelog, reposerver, reread
from madash.packages.alerts import render_alerting
from madash.packages.bake import BakeResult, check_dist, install, load_builds, plan, record, stage
from madash.packages.baked import BAKED, Baked, baked_hosts, render_baked
from madash.packages.common import copyright_file, obsolete_conffiles, obsolete_dirs
from madash.packages.serverunits import COMPOSE_KEYS, UNIT_KEYS, capabilities
from madash.packages.telegraf import input_interval
from madash.pki import crypto, store, supplied
from madash.pki.index import Kind, load_index
from madash.pki.store import load_leaf, read_pki_file
from madash.render import render
from madash.resources import data_root
from madash.site import credentials
from madash.site.config import Site, SiteConfig, grafana_url
from madash.site.features import Feature

PACKAGE = "madash-server"
ETC = "/etc/madash-server"
# The probe's agent interval; its probes run on the internet feature's own (input_interval).
PROBE_INTERVAL = "10s"
# Where compose mounts the server certificate in the probe container, for its x509_cert input.
PROBE_DOOR_CERTIFICATE = "/etc/telegraf/door.crt"
TLS = f"{ETC}/tls"
ENV_FILE = f"{ETC}/madash.env"
STUNNEL_CONF = f"{ETC}/stunnel.conf"
LIBEXEC = "/usr/libexec/madash-server"
DASHBOARDS = "/usr/share/madash-server/dashboards"
DATA_DIR = "/var/lib/madash"
# The sha256sum of each unit file at the last configure: whether an upgrade changed it (snippets/units.postinst).
UNIT_SUMS = f"{DATA_DIR}/units"
UNIT_DIR = "/lib/systemd/system"
UNITS = (
    "madash-server.service",
    "madash-ensure-influxdb.service",
    "madash-grafana-admin.service",
    "madash-stunnel.service",
    reposerver.UNIT,
)
DATASOURCE_UID = "madash-influxdb"
FOLDER_UID = "madash"  # fixed: links, permissions and alert rules name the folder by it
PROVISIONING = f"{ETC}/grafana/provisioning"
# Grafana logs an error at every start for each of its provisioning directories that is missing.
PROVISIONING_DIRS = (f"{PROVISIONING}/plugins",)

# Pinned images: a re-bake never changes what runs behind the admin's back.
IMAGES = {
    "influxdb": "influxdb:1.8.10",
    "grafana": "grafana/grafana-oss:12.0.2",
    "telegraf": "telegraf:1.32.3",
}
# The compose plugin first: apt takes the first alternative it can, and Debian 12's docker-compose is the
# unmaintained v1 (the wrapper still runs it where it is all there is). procps: kill, in ExecReload.
DEPENDS = "docker.io | docker-ce, docker-compose-plugin | docker-compose, stunnel4, python3, procps"
# Conffiles some sites' packages ship and others not: one that stops being shipped is removed on upgrade.
PROBE_CONF = f"{ETC}/probe/telegraf.conf"
# The admin's certificate for Grafana's port: an earlier version that shipped it is in builds.json, so no
# package needs to list these as optional to have them removed.
GRAFANA_CERT, GRAFANA_KEY = f"{TLS}/grafana.crt", f"{TLS}/grafana.key"
REPO_CONF = f"{ETC}/repo-nginx.conf"  # with [repo] serve only
OPTIONAL_CONFFILES = (PROBE_CONF, REPO_CONF)
# The ports below this one need CAP_NET_BIND_SERVICE (the kernel's net.ipv4.ip_unprivileged_port_start).
PRIVILEGED_PORTS = 1024


@dataclass(frozen=True)
class ServerInputs:
    config: SiteConfig
    secrets: credentials.Credentials
    ca_pem: bytes
    cert_pem: bytes
    key_pem: bytes = field(repr=False)
    crl_pem: bytes
    dashboards: tuple[tuple[str, bytes], ...]
    warnings: tuple[str, ...]
    earlier_conffiles: tuple[tuple[str, str], ...] = ()  # what earlier versions shipped, until which (builds.json)
    grafana: supplied.Supplied | None = None  # the admin's certificate for Grafana's port (grafana-cert)
    baked: tuple[Baked, ...] = ()  # each host's newest package (builds.json), for the Fleet dashboard

    def __repr__(self) -> str:
        return "ServerInputs(<secrets hidden>)"


def gather(site: Site, now: dt.datetime, crl_pem: bytes | None = None) -> ServerInputs:
    """The server package's inputs; ``crl_pem`` is a CRL made in memory by this very command."""
    paths = site.paths
    leaf = load_leaf(paths, load_index(paths), Kind.SERVER, "server", now)
    if crl_pem is None:
        crl_pem = read_pki_file(paths, paths.crl, "'madash-build server --refresh-crl' writes a new one")
    grafana = supplied.load(site, now)
    return ServerInputs(
        config=site.config,
        secrets=credentials.load(paths),
        ca_pem=read_pki_file(paths, paths.ca_cert),
        cert_pem=leaf.cert_pem,
        key_pem=leaf.key_pem,
        crl_pem=crl_pem,
        dashboards=read_dashboards(),
        warnings=_check_crl(crl_pem, now) + (grafana.warnings if grafana else ()),
        earlier_conffiles=earlier.last_shipped() if (earlier := load_builds(site).get(PACKAGE)) else (),
        grafana=grafana,
        baked=baked_hosts(site),
    )


def _check_crl(crl_pem: bytes, now: dt.datetime) -> tuple[str, ...]:
    """An expired CRL makes stunnel refuse every client: never ship one."""
    next_update = crypto.next_update(crypto.load_crl(crl_pem, "pki/crl.pem"))
    hint = "'madash-build server --refresh-crl' rewrites it (needs the CA key)"
    if next_update is None or next_update <= now:
        raise UsageError("the CRL has expired: stunnel would refuse every client", hint=hint)
    if next_update - now <= times.EXPIRY_WARNING:
        return (f"the CRL expires on {next_update:%Y-%m-%d}; {hint}",)
    return ()


def read_dashboards() -> tuple[tuple[str, bytes], ...]:
    directory = data_root() / "dashboards"
    return tuple((path.name, path.read_bytes()) for path in sorted(directory.glob("*.json")))


def _context(config: SiteConfig, grafana: supplied.Supplied | None = None) -> dict[str, Any]:
    server = config.server
    return {
        # Grafana's port presents the admin's certificate when there is one, else the server's.
        "grafana_cert": GRAFANA_CERT if grafana else f"{TLS}/server.crt",
        "grafana_key": GRAFANA_KEY if grafana else f"{TLS}/server.key",
        "package": PACKAGE,
        "site_name": config.site.name,
        "etc": ETC,
        "tls": TLS,
        "env_file": ENV_FILE,
        "stunnel_conf": STUNNEL_CONF,
        "libexec": LIBEXEC,
        "data_dir": DATA_DIR,
        "baked": BAKED,
        "dashboards_dir": DASHBOARDS,
        "datasource_uid": DATASOURCE_UID,
        "folder_uid": FOLDER_UID,
        "images": IMAGES,
        "probe": config.internet.enabled,
        "internet": config.internet,
        "intervals": {"internet": input_interval(Feature.INTERNET, PROBE_INTERVAL)},
        "probe_interval": PROBE_INTERVAL,
        "door_certificate": PROBE_DOOR_CERTIFICATE,
        "probe_door_certificate": PROBE_DOOR_CERTIFICATE,
        "listen": server.listen_addresses(),
        "door_port": server.door_port,
        "grafana_port": server.grafana_port,
        "influxdb_port": server.influxdb_local_port,
        "grafana_local_port": server.grafana_local_port,
        "grafana_url": grafana_url(config),
        "influxdb": config.influxdb,
        "smtp": _smtp(config),
        "low_port": min(server.door_port, server.grafana_port) < PRIVILEGED_PORTS,
    }


def _smtp(config: SiteConfig) -> dict[str, str] | None:
    """Grafana's [smtp] settings, when alerts go by email."""
    alerts = config.alerts
    if not alerts.email_to:
        return None
    sender = alerts.smtp_from or "madash@" + alerts.email_to[0].rsplit("@", 1)[1]
    return {"relay": alerts.smtp_relay, "sender": sender}


def _files(inputs: ServerInputs, context: dict[str, Any]) -> list[FileEntry]:
    secrets = {name: getattr(inputs.secrets, name) for name in vars(inputs.secrets)}
    files = [
        FileEntry(f"{ETC}/compose.yml", render("conf/compose.yml.j2", context).encode(), conffile=True),
        FileEntry(
            ENV_FILE,
            render("debian/server/madash.env.j2", {**context, "secrets": secrets}).encode(),
            modes.SECRET,
            conffile=True,
        ),
        FileEntry(STUNNEL_CONF, render("conf/stunnel.conf.j2", context).encode(), conffile=True),
        # The chain: stunnel presents the CA too, for clients that lack it.
        FileEntry(f"{TLS}/server.crt", inputs.cert_pem + inputs.ca_pem, conffile=True),
        FileEntry(f"{TLS}/server.key", inputs.key_pem, modes.SECRET, conffile=True),
        FileEntry(f"{TLS}/ca.crt", inputs.ca_pem, conffile=True),
        FileEntry(f"{TLS}/crl.pem", inputs.crl_pem, conffile=True),
        *(
            (
                FileEntry(GRAFANA_CERT, g.chain_pem, conffile=True),
                FileEntry(GRAFANA_KEY, g.key_pem, modes.SECRET, conffile=True),
            )
            if (g := inputs.grafana)
            else ()
        ),
        FileEntry(
            f"{PROVISIONING}/datasources/madash.yaml",
            render("conf/grafana/datasource.yaml.j2", context).encode(),
            conffile=True,
        ),
        FileEntry(
            f"{PROVISIONING}/dashboards/madash.yaml",
            render("conf/grafana/dashboards.yaml.j2", context).encode(),
            conffile=True,
        ),
        FileEntry(f"{PROVISIONING}/alerting/madash.yaml", render_alerting(inputs.config).encode(), conffile=True),
        FileEntry(f"{LIBEXEC}/compose", render("debian/server/compose.sh.j2", context).encode(), modes.EXEC),
        FileEntry(
            f"{LIBEXEC}/grafana-admin", render("debian/server/grafana-admin.sh.j2", context).encode(), modes.EXEC
        ),
        FileEntry(
            f"{LIBEXEC}/ensure-influxdb", (data_root() / "debian/server/ensure_influxdb.py").read_bytes(), modes.EXEC
        ),
        *(
            FileEntry(f"{UNIT_DIR}/{unit}", render(f"debian/server/{unit}.j2", context).encode())
            for unit in UNITS
            if unit != reposerver.UNIT
        ),
        *reposerver.files(inputs.config, _repo_context(inputs.config)),
    ]
    if context["probe"]:
        probe = render("conf/telegraf/probe.conf.j2", context)
        files.append(FileEntry(PROBE_CONF, probe.encode(), conffile=True))
    files += [*(FileEntry(f"{DASHBOARDS}/{name}", d) for name, d in inputs.dashboards), render_baked(inputs.baked)]
    overrides = render("debian/server/lintian-overrides.j2", context).encode()
    files.append(copyright_file(PACKAGE, inputs.config.site.name, inputs.config.site.maintainer))
    return [*files, FileEntry(f"/usr/share/lintian/overrides/{PACKAGE}", overrides)]


def _repo_context(config: SiteConfig) -> dict[str, Any]:
    return reposerver.context(config, etc=ETC, tls=TLS, data_dir=DATA_DIR)


def server_spec(inputs: ServerInputs) -> PackageSpec:
    context = _context(inputs.config, inputs.grafana)
    # madash-ensure-influxdb.service and madash-grafana-admin.service are not among them: they have no
    # [Install] section, madash-server.service pulls them in (and restarts them with itself), so no start in
    # postinst waits for InfluxDB or Grafana.
    # stunnel restarts, never reloads, on upgrade: a reload re-reads the CRL for new connections only, and a
    # revoked host's open connection (Telegraf keeps one) would go on writing (seen in tests/test_booted.py).
    units = [
        {"name": "madash-stunnel.service", "on_upgrade": "try-restart"},
        {"name": "madash-server.service", "on_upgrade": "try-restart"},
        # Restarted too: LoadCredential= copies the key at start only, and a new CRL must end open connections.
        {"name": reposerver.UNIT, "on_upgrade": "try-restart"},
    ]
    files = _files(inputs, context)
    shipped = {f.path for f in files if f.conffile}
    obsolete = obsolete_conffiles(OPTIONAL_CONFFILES, inputs.earlier_conffiles, shipped)
    concerns = ["obsolete-conffiles", "obsolete-dirs"] if obsolete else []
    script_context = {
        **context,
        "key_paths": sorted({f"{TLS}/server.key", context["grafana_key"]}),
        "units": units,
        "unit_sums": UNIT_SUMS,
        "unit_dir": UNIT_DIR,
        "obsolete_conffiles": obsolete,
        "obsolete_dirs": obsolete_dirs([c["path"] for c in obsolete], files, (DASHBOARDS, *PROVISIONING_DIRS), ETC),
        **_repo_context(inputs.config),
    }
    serving = ["repo-dir"] if inputs.config.repo.serve else []
    scripts = assemble(PACKAGE, [*concerns, "data-dirs", *serving, "stunnel-key", "units"], script_context)
    control = {
        "Architecture": "all",
        "Maintainer": inputs.config.site.maintainer,
        "Depends": f"{DEPENDS}, {reposerver.DEPENDS}" if inputs.config.repo.serve else DEPENDS,
        "Section": "admin",
        "Priority": "optional",
        "Description": render("debian/server/description.j2", context).rstrip("\n"),
    }
    check_relations(PACKAGE, scripts, control)
    facts = changelog.server_facts(inputs.config, inputs.ca_pem, inputs.cert_pem, inputs.crl_pem, inputs.dashboards)
    dirs = (DASHBOARDS, *PROVISIONING_DIRS)
    spec = PackageSpec(PACKAGE, control, tuple(files), dirs=dirs, scripts=scripts.scripts, facts=facts)
    _reread(spec, inputs)
    return spec


def _reread(spec: PackageSpec, inputs: ServerInputs) -> None:
    """Read back every generated configuration of the package: refuse it if any says more than was meant."""
    text = {f.path: f.data.decode() for f in spec.files if f.path.startswith((ETC, UNIT_DIR)) and "/tls/" not in f.path}
    config, secrets = inputs.config, inputs.secrets
    server, influx = config.server, config.influxdb
    reread.env_file(ENV_FILE, text[ENV_FILE], {
        "INFLUXDB_DB": influx.database, "INFLUXDB_ADMIN_USER": influx.admin_user,
        "INFLUXDB_ADMIN_PASSWORD": secrets.influxdb_admin_password, "INFLUXDB_WRITE_USER": influx.writer_user,
        "INFLUXDB_WRITE_USER_PASSWORD": secrets.influxdb_writer_password, "INFLUXDB_READ_USER": influx.reader_user,
        "INFLUXDB_READ_USER_PASSWORD": secrets.influxdb_reader_password,
        "GF_SECURITY_ADMIN_PASSWORD": secrets.grafana_admin_password, "MADASH_INFLUXDB_RETENTION": influx.retention,
        "GF_SECURITY_SECRET_KEY": secrets.grafana_secret_key,
    })  # fmt: skip
    services: dict[str, dict[str, object]] = {
        "influxdb": {"image": IMAGES["influxdb"], "ports": [f"127.0.0.1:{server.influxdb_local_port}:8086"]},
        "grafana": {"image": IMAGES["grafana"], "ports": [f"127.0.0.1:{server.grafana_local_port}:3000"]},
    }
    if config.internet.enabled:
        services["probe"] = {"image": IMAGES["telegraf"], "cap_add": ["NET_RAW"]}
    reread.compose(f"{ETC}/compose.yml", text[f"{ETC}/compose.yml"], services, COMPOSE_KEYS)
    door = {"accept": None, "connect": f"127.0.0.1:{server.influxdb_local_port}", "cert": f"{TLS}/server.crt",
            "key": f"{TLS}/server.key", "CAfile": f"{TLS}/ca.crt", "CRLfile": f"{TLS}/crl.pem", "verifyChain": "yes",
            "requireCert": "yes", "sslVersionMin": "TLSv1.2", "ciphers": None}  # fmt: skip
    grafana = {"accept": None, "connect": f"127.0.0.1:{server.grafana_local_port}",
               "cert": GRAFANA_CERT if inputs.grafana else f"{TLS}/server.crt",
               "key": GRAFANA_KEY if inputs.grafana else f"{TLS}/server.key", "sslVersionMin": "TLSv1.2",
               "ciphers": None}  # fmt: skip
    expected: dict[str, dict[str, str | None]] = {}
    for number, address in enumerate(server.listen_addresses(), 1):
        expected[f"door-{number}"] = {**door, "accept": f"{address}:{server.door_port}"}
        expected[f"grafana-{number}"] = {**grafana, "accept": f"{address}:{server.grafana_port}"}
    global_options = {"foreground", "pid", "syslog", "debug", "socket"}
    reread.stunnel_conf(STUNNEL_CONF, text[STUNNEL_CONF], global_options, expected)
    if config.repo.serve:
        reposerver.reread_conf(REPO_CONF, text[REPO_CONF], _repo_context(config))
    low_port = min(server.door_port, server.grafana_port) < PRIVILEGED_PORTS
    values = {"madash-stunnel.service": capabilities(low_port), reposerver.UNIT: capabilities(server.repo_port < 1024)}
    for name, keys in UNIT_KEYS.items():
        reread.unit(f"{UNIT_DIR}/{name}", text[f"{UNIT_DIR}/{name}"], keys, values.get(name))
    if config.internet.enabled:
        probe = PROBE_CONF
        internet = config.internet
        present = {"ping": internet.ping, "http_response": internet.http, "dns_query": internet.dns_servers}
        reread.telegraf(
            probe, text[probe], tags={}, agent={"hostname": "madash-probe"},
            inputs={"x509_cert"} | {name for name, targets in present.items() if targets},
            outputs={"urls": ["http://influxdb:8086"], "database": influx.database, "username": influx.writer_user},
            variables={"MADASH_INFLUXDB_PASSWORD"},
        )  # fmt: skip
    fields = {"Package": spec.name, "Version": "0", "Installed-Size": str(spec.installed_size_kib()), **spec.control}
    reread.control(f"{spec.name}'s control file", spec.control_text("0"), fields)


def bake_server(
    site: Site, now: dt.datetime, refresh: store.PassphraseSource | None
) -> tuple[BakeResult, tuple[str, ...]]:
    """Bake madash-server, all or nothing: with ``refresh``, a fresh CRL is made in memory, the
    package built with it, and only then are the CRL and the package written. Returns the
    result and the warnings about the CRL."""
    with site_lock(site.paths.root):
        change = store.prepare_refresh(site, refresh, now) if refresh is not None else None
        inputs = gather(site, now, crl_pem=change.crl if change is not None else None)
        spec = server_spec(inputs)
        builds = load_builds(site)
        previous = builds.get(PACKAGE)
        build = plan(spec, previous, now)
        check_dist(site)
        staged = stage(spec, site, build, previous)
        if change is not None:
            store.commit(site, change)
        result = install(staged)
        record(site, builds, [build], [PACKAGE])
    return result, inputs.warnings
