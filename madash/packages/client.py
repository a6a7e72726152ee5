"""madash-client-HOST: gather a host's inputs from the site, then describe its package.

gather() is the only part that reads the site; client_spec() is a pure function
of what gather() returned, so the same inputs always give the same package.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass, field
from functools import cache, partial
from typing import Any

from madash import __version__, modes
from madash.deb.maintscripts import assemble, check_relations
from madash.deb.spec import FileEntry, PackageSpec
from madash.errors import UsageError
from madash.formats import systemd
from madash.packages import changelog, reread
from madash.packages.aptsource import KEYRING, SHARED_SUITE, AptIdentity, sources_entry, suite_of_host
from madash.packages.common import copyright_file, obsolete_conffiles, obsolete_dirs
from madash.packages.hostpaths import ADMIN_CONFIG_DIR, ETC, LEGACY_CONFFILES, PACKAGE_PREFIX, host_paths
from madash.packages.snippets import Snippet, read_snippets
from madash.packages.telegraf import (
    CREDENTIAL,
    PACKAGE_TAG,
    PACKAGE_VARIABLE,
    PASSWORD_REFERENCE,
    SECRET_STORE,
    telegraf_config,
    version_dropin,
)
from madash.pki.index import Index, IndexEntry, Kind, load_index
from madash.pki.store import Leaf, load_leaf, read_pki_file
from madash.render import render
from madash.resources import DATA_DIRS, data_root
from madash.site import credentials
from madash.site.config import HostSection, InternetSection, Site, repo_url
from madash.site.features import BASE_INPUTS, FEATURES, Feature
from madash.site.values import url_host

# Shipped up to 0.x with the password as MADASH_INFLUXDB_PASSWORD, now a credential (HostPaths.password).
OLD_ENV_FILE = f"{ETC}/telegraf.env"
DROPIN = "/lib/systemd/system/telegraf.service.d/madash.conf"
# The files programs read only from /etc stay conffiles there; madash changes them only when the
# site's settings change, and an admin who edits one means to (see the README).
SUDOERS = "/etc/sudoers.d/madash-telegraf"
# The sandboxing directives the drop-in may carry (debian/client/telegraf-dropin.conf.j2).
DROPIN_HARDENING = frozenset({
    "ProtectSystem", "ProtectHome", "PrivateTmp", "ProtectControlGroups", "RemoveIPC", "UMask", "NotifyAccess",
    "CapabilityBoundingSet", "NoNewPrivileges", "PrivateDevices", "ProtectClock", "ProtectHostname",
    "ProtectKernelLogs", "ProtectKernelModules", "ProtectKernelTunables", "RestrictAddressFamilies",
    "RestrictNamespaces", "RestrictRealtime", "RestrictSUIDSGID", "LockPersonality", "MemoryDenyWriteExecute",
    "SystemCallArchitectures", "SystemCallFilter", "SystemCallErrorNumber",
})  # fmt: skip
# Each package's state in /var/lib/PACKAGE: a purge of a swapped-out host's package touches only its own.
STATE_PREFIX = "/var/lib/" + PACKAGE_PREFIX
# Where versions before that kept the one record of group memberships.
LEGACY_STATE = "/var/lib/madash-client/groups-added"
APT_SOURCES = "/etc/apt/sources.list.d/madash.sources"
APT_CONF = "/etc/apt/apt.conf.d/90madash-client-certificate"
# After Debian's 50unattended-upgrades, whose Origins-Pattern list this appends to.
UNATTENDED_CONF = "/etc/apt/apt.conf.d/51madash-unattended-upgrades"
# Conffiles only some features or settings ship, and those of the layout before nothing generated was a
# conffile: an upgrade without them removes them (rm_conffile does nothing to a file the package does not own).
OPTIONAL_CONFFILES = (SUDOERS, APT_SOURCES, KEYRING, APT_CONF, UNATTENDED_CONF, OLD_ENV_FILE, *LEGACY_CONFFILES)
TELEGRAF = "telegraf"


def package_name(host: str) -> str:
    return PACKAGE_PREFIX + host


@dataclass(frozen=True)
class ClientInputs:
    """Everything a client package is made of, read and checked."""

    host: str
    host_config: HostSection
    site_name: str
    maintainer: str
    output_url: str
    database: str
    writer_user: str
    writer_password: str
    internet: InternetSection
    ca_pem: bytes
    cert_pem: bytes
    key_pem: bytes = field(repr=False)
    snippets: tuple[Snippet, ...]
    apt: AptIdentity | None = None  # None: the site has no repository URL
    earlier_conffiles: tuple[tuple[str, str], ...] = ()  # what earlier versions shipped, until which (builds.json)

    def __repr__(self) -> str:
        return f"ClientInputs(host={self.host!r}, <secrets hidden>)"


def output_url(site: Site) -> str:
    server = site.config.server
    return f"https://{url_host(server.addresses[0])}:{server.door_port}"


def gather(
    site: Site,
    host: str,
    now: dt.datetime,
    *,
    apt: AptIdentity | None,
    index: Index | None = None,
    earlier: tuple[tuple[str, str], ...] = (),
    leaf: Leaf | None = None,
    secrets: credentials.Credentials | None = None,
) -> ClientInputs:
    """Everything HOST's package is made of; ``index`` and ``secrets`` save re-reading pki/index.json and
    secrets.toml per host in a fleet (whose workers read the site once)."""
    host_config = site.config.hosts.get(host)
    if host_config is None:
        raise UsageError(
            f"host {host} is not in madash.toml", hint=f"add it with 'madash-build client {host} --feature ...'"
        )
    if leaf is None:  # else: a certificate issued in memory by this very command
        leaf = load_leaf(site.paths, index or load_index(site.paths), Kind.CLIENT, host, now)
    influx = site.config.influxdb
    secrets = secrets or credentials.load(site.paths)
    return ClientInputs(
        host=host,
        host_config=host_config,
        site_name=site.config.site.name,
        maintainer=site.config.site.maintainer,
        output_url=output_url(site),
        database=influx.database,
        writer_user=influx.writer_user,
        writer_password=secrets.influxdb_writer_password,
        internet=site.config.internet,
        ca_pem=read_pki_file(site.paths, site.paths.ca_cert),
        cert_pem=leaf.cert_pem,
        key_pem=leaf.key_pem,
        snippets=read_snippets(site, host, secrets.values()),
        apt=apt if repo_url(site.config) else None,
        earlier_conffiles=earlier,
    )


def _sudo(features: list[Feature]) -> bool:
    return any(FEATURES[f].sudoers for f in features)


def _config_files(inputs: ClientInputs, features: list[Feature], context: dict[str, Any]) -> list[FileEntry]:
    paths = host_paths(inputs.host)
    dropin = render(
        "debian/client/telegraf-dropin.conf.j2",
        {
            **context,
            "credential": CREDENTIAL,
            "credential_file": paths.password,
            "config": paths.config,
            "config_dirs": [paths.snippets, ADMIN_CONFIG_DIR],
            "net_raw": "CAP_NET_RAW" in {c for f in features for c in FEATURES[f].capabilities},
            "after_docker": Feature.DOCKER in features,
            "sudo": _sudo(features),
            # nvidia-smi opens /dev/nvidia*, smartctl (as root) the disks.
            "devices": Feature.NVIDIA in features or _sudo(features),
        },
    )
    files = [
        FileEntry(paths.config, telegraf_config(inputs).encode()),
        # The password alone, no newline: Telegraf's secret store takes the file's bytes as they are.
        FileEntry(paths.password, systemd.credential(inputs.writer_password), modes.SECRET),
        FileEntry(paths.ca, inputs.ca_pem),
        FileEntry(paths.cert, inputs.cert_pem),
        # 0600 root at unpack; the tls-key snippet hands it to the telegraf group.
        FileEntry(paths.key, inputs.key_pem, modes.SECRET),
        FileEntry(DROPIN, dropin.encode()),
    ]
    # 0600 root at unpack, like the key; the tls-key snippet hands them to the telegraf group.
    files += [FileEntry(f"{paths.snippets}/{s.name}", s.data, modes.SECRET) for s in inputs.snippets]
    if _sudo(features):
        sudoers = render("debian/client/sudoers.j2", context)
        files.append(FileEntry(SUDOERS, sudoers.encode(), modes.SUDOERS, conffile=True))
    apt = inputs.apt
    if apt is not None:
        sources = sources_entry(apt, inputs.site_name, inputs.host)
        files.append(FileEntry(APT_SOURCES, sources.encode(), conffile=True))
        files.append(FileEntry(KEYRING, apt.keyring, conffile=True))
    if apt is not None and inputs.host_config.unattended_upgrades:
        unattended = render("conf/apt/unattended-upgrades.conf.j2", {**context, "suites": _suites(inputs)})
        files.append(FileEntry(UNATTENDED_CONF, unattended.encode(), conffile=True))
    if apt is not None and apt.https_host:
        apt_conf = render(
            "conf/apt/client-cert.conf.j2",
            {**context, "host": apt.https_host, "ca": paths.ca, "cert": paths.cert, "key": paths.apt_key},
        )
        files.append(FileEntry(APT_CONF, apt_conf.encode(), conffile=True))
        files.append(FileEntry(paths.apt_key, inputs.key_pem, modes.SECRET))
    return files


def _control(inputs: ClientInputs, features: list[Feature], context: dict[str, Any]) -> dict[str, str]:
    # passwd: usermod and gpasswd, for the group memberships (not Essential).
    depends = ["telegraf", *sorted({"passwd", *(d for f in features for d in FEATURES[f].depends)})]
    recommends = sorted({d for f in features for d in FEATURES[f].recommends})
    control = {
        "Architecture": "all",
        "Maintainer": inputs.maintainer,
        "Depends": ", ".join(depends),
        # One site identity per machine: a second host's package replaces the first (the host swap).
        "Conflicts": "madash-client",
        # The swap's new package takes over the files of the old one (/etc/madash is every host's).
        "Replaces": "madash-client",
        "Provides": "madash-client",
        "Section": "admin",
        "Priority": "optional",
        "Description": render("debian/client/description.j2", context).rstrip("\n"),
    }
    if recommends:
        control["Recommends"] = ", ".join(recommends)
    return control


def client_spec(inputs: ClientInputs) -> PackageSpec:
    # Sorted: the same set of features in another order is the same package.
    host, features = inputs.host, sorted(inputs.host_config.features)
    name = package_name(host)
    context: dict[str, Any] = {"host": host, "package": name, "site_name": inputs.site_name, "features": features}
    paths = host_paths(host)
    files = _config_files(inputs, features, context)
    shipped = {f.path for f in files}
    # Also what earlier versions shipped and this one does not, such as a snippet the site dropped.
    obsolete = obsolete_conffiles(OPTIONAL_CONFFILES, inputs.earlier_conffiles, shipped)
    context["obsolete_conffiles"] = obsolete
    dirs = (ADMIN_CONFIG_DIR, paths.snippets)
    context["apt_sources"] = inputs.apt is not None
    context["apt_https"] = inputs.apt is not None and bool(inputs.apt.https_host)
    context["snippets"] = bool(inputs.snippets)
    files.append(copyright_file(name, inputs.site_name, inputs.maintainer))
    overrides = render("debian/client/lintian-overrides.j2", context)
    files.append(FileEntry(f"/usr/share/lintian/overrides/{name}", overrides.encode()))
    concerns = ["obsolete-conffiles", "obsolete-dirs"]
    # apt-cache early: apt's cached copy of the package (0644, with the key) goes even if a later step
    # of configure fails; state before the others: its teardown (purging /var/lib/PACKAGE) runs last.
    # Telegraf starts after groups has added its memberships (telegraf-start, postinst) and goes back
    # to stock after groups has taken them back (telegraf-stock, postrm, earlier so later in teardown).
    # leftover-snippets before telegraf-start: the warning comes with the install, before Telegraf reads them.
    concerns += ["apt-cache", "state", "telegraf-stock", "leftover-snippets", "tls-key", "groups", "telegraf-start"]
    telegraf_only = [paths.key, *(f"{paths.snippets}/{s.name}" for s in inputs.snippets)]
    keys = [{"path": path, "user": "root", "group": TELEGRAF, "mode": "0640"} for path in telegraf_only]
    if context["apt_https"]:
        keys.append({"path": paths.apt_key, "user": "_apt", "group": "root", "mode": "0400"})
    script_context = {
        **context,
        "keys": keys,
        "groups": sorted({g for f in features for g in FEATURES[f].groups}),
        "user": TELEGRAF,
        "state_dir": paths.private,
        "state_prefix": STATE_PREFIX,
        "legacy_state": LEGACY_STATE,
        "service": "telegraf.service",
        "admin_config_dir": ADMIN_CONFIG_DIR,
        "package_prefix": PACKAGE_PREFIX,
        "obsolete_dirs": obsolete_dirs([c["path"] for c in obsolete], files, dirs, ETC),
    }
    scripts = assemble(name, concerns, script_context)
    control = _control(inputs, features, context)
    check_relations(name, scripts, control)
    spec = PackageSpec(
        name,
        control,
        tuple(files),
        dirs=dirs,
        scripts=scripts.scripts,
        versioned=partial(version_dropin, host),
        facts=_facts(inputs, features),
    )
    _reread(spec, inputs, features)
    return spec


def _facts(inputs: ClientInputs, features: list[Feature]) -> dict[str, str]:
    """What the changelog compares with the previous version (packages/changelog.py)."""
    host = inputs.host_config
    facts = {"host:": inputs.host, **{f"feature:{f}": "on" for f in features}, "interval:": host.interval}
    facts |= {f"tag:{k}": v for k, v in sorted(host.tags.items())}
    facts |= {f"snippet:{s.name}": changelog.short_digest(s.data) for s in inputs.snippets}
    facts["certificate:"] = changelog.certificate_fact(inputs.cert_pem, f"{inputs.host}'s certificate")
    facts["ca:"] = changelog.certificate_fact(inputs.ca_pem, "the CA certificate")
    facts |= {"setting:server": inputs.output_url, "setting:database": inputs.database,
              "setting:writer": inputs.writer_user}  # fmt: skip
    if Feature.UPS in features:
        facts["setting:ups_server"] = host.ups_server
    if Feature.INTERNET in features:
        facts |= changelog.settings("internet", inputs.internet)
    facts["setting:repository"] = inputs.apt.url if inputs.apt is not None else "none"
    facts["setting:unattended_upgrades"] = "on" if host.unattended_upgrades else "off"
    return facts


def _suites(inputs: ClientInputs) -> list[str]:
    """The suites HOST's apt source names: its own, and shared when the repository has one."""
    return [suite_of_host(inputs.host), *([SHARED_SUITE] if inputs.apt and inputs.apt.shared else [])]


def _expected_inputs(inputs: ClientInputs, features: list[Feature]) -> set[str]:
    expected = set(BASE_INPUTS)
    for feature in features:
        expected |= set(FEATURES[feature].inputs)
    if Feature.INTERNET in features:
        internet = inputs.internet
        present = {"ping": internet.ping, "http_response": internet.http, "dns_query": internet.dns_servers}
        expected -= {name for name, targets in present.items() if not targets}
    return expected


def _reread(spec: PackageSpec, inputs: ClientInputs, features: list[Feature]) -> None:
    """Read back every generated file of the package: refuse it if any says more than was meant."""
    paths = host_paths(inputs.host)
    config = paths.config
    generated = (config, DROPIN, APT_SOURCES, APT_CONF, UNATTENDED_CONF)
    text = {f.path: f.data.decode() for f in spec.files if f.path in generated}
    host = inputs.host_config
    reread.telegraf(
        config,
        text[config],
        tags={**host.tags, PACKAGE_TAG: "${" + PACKAGE_VARIABLE + "}"},
        agent={"hostname": inputs.host, "interval": host.interval, "flush_interval": host.interval},
        inputs=_expected_inputs(inputs, features),
        outputs={
            "urls": [inputs.output_url],
            "database": inputs.database,
            "username": inputs.writer_user,
            "password": PASSWORD_REFERENCE,
        },
        processors={"converter"} if Feature.SMART in features else set(),
        secret_stores={"docker": SECRET_STORE},
        variables={"CREDENTIALS_DIRECTORY", PACKAGE_VARIABLE},
    )
    password = next(f.data for f in spec.files if f.path == paths.password)
    reread.credential(paths.password, password, inputs.writer_password)
    reread.unit(
        DROPIN, text[DROPIN], {"Unit": {"After"}, "Service": {"LoadCredential", "ExecStart", "RestartSec",
                                                              "AmbientCapabilities", *DROPIN_HARDENING}},
        # sudo (the smart feature) must keep its setuid bit working.
        {"Service": {"NoNewPrivileges": None if _sudo(features) else "yes"}},
    )  # fmt: skip
    if inputs.apt is not None:
        suites = _suites(inputs)
        reread.sources(APT_SOURCES, text[APT_SOURCES], inputs.apt.url, suites, KEYRING)
        patterns = {
            f"Unattended-Upgrade::Origins-Pattern::{i}": f"label=madash,codename={s}" for i, s in enumerate(suites)
        }
        if inputs.host_config.unattended_upgrades:
            reread.apt_conf(UNATTENDED_CONF, text[UNATTENDED_CONF], patterns)
        if inputs.apt.https_host:
            prefix = f"Acquire::https::{inputs.apt.https_host}::"
            files = {"CaInfo": paths.ca, "SslCert": paths.cert, "SslKey": paths.apt_key}
            reread.apt_conf(APT_CONF, text[APT_CONF], {prefix + k: v for k, v in files.items()})
    fields = {"Package": spec.name, "Version": "0", "Installed-Size": str(spec.installed_size_kib()), **spec.control}
    reread.control(f"{spec.name}'s control file", spec.control_text("0"), fields)


def fingerprint(site: Site, host: str, entry: IndexEntry | None, apt: AptIdentity | None) -> str:
    """What HOST's package is made of, cheaply: settings, and the stats of every input file.

    Equal fingerprints mean gather() would read the same inputs, so a fleet
    re-bake may skip the host; anything else takes the full path, which decides
    by the package's content digest. The conffiles of earlier versions are left
    out: they only grow when a build ships a new one, which changes inputs here.
    """
    config = site.config
    parts: list[object] = [
        __version__,
        _templates_stamp(),
        config.site, config.server, config.influxdb, config.internet, config.repo, config.hosts.get(host),
        entry,
        apt and (apt.url, hashlib.sha256(apt.keyring).hexdigest(), apt.https_host, apt.shared),
    ]  # fmt: skip
    paths = [site.paths.ca_cert, site.paths.client_cert(host), site.paths.client_key(host),
             site.paths.secrets, site.paths.repo_public_key]  # fmt: skip
    for directory in (site.paths.snippets, site.paths.host_snippets(host)):
        if directory.is_dir() and not directory.is_symlink():
            paths += sorted(directory.glob("*.conf"))
    for path in paths:
        try:
            info = path.lstat()
            parts.append((str(path), info.st_mode, info.st_size, info.st_mtime_ns, info.st_ino))
        except FileNotFoundError:
            parts.append((str(path), None))
    return hashlib.sha256(repr(parts).encode()).hexdigest()


@cache
def _templates_stamp() -> str:
    """The templates as installed: a checkout's edits count even without a new version."""
    root = data_root()
    files = [p for name in DATA_DIRS for p in (root / name).rglob("*") if p.is_file() and "__pycache__" not in p.parts]
    stats = sorted((str(p.relative_to(root)), p.stat().st_size, p.stat().st_mtime_ns) for p in files)
    return hashlib.sha256(repr(stats).encode()).hexdigest()
