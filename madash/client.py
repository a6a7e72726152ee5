"""madash-client-HOST: gather a host's inputs from the site, then describe its package.

gather() is the only part that reads the site; client_spec() is a pure function
of what gather() returned, so the same inputs always give the same package.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import tomllib
import urllib.parse
from dataclasses import dataclass
from functools import cache
from typing import Any

from madash import __version__, credentials, pki, repo, signing
from madash.bake import copyright_file
from madash.certstore import Index, IndexEntry, load_index
from madash.errors import PKIError, SiteError, UsageError
from madash.maintscripts import assemble
from madash.package import SECRET_MODE, SUDOERS_MODE, FileEntry, PackageSpec
from madash.render import render
from madash.resources import DATA_DIRS, data_root
from madash.site import HostSection, InternetSection, Site

ETC = "/etc/madash"
CONFIG = f"{ETC}/telegraf.conf"
CONFIG_DIR = f"{ETC}/telegraf.d"
ENV_FILE = f"{ETC}/telegraf.env"
TLS_DIR = f"{ETC}/tls"
DROPIN = "/lib/systemd/system/telegraf.service.d/madash.conf"
SUDOERS = "/etc/sudoers.d/madash-telegraf"
STATE_DIR = "/var/lib/madash-client"
APT_SOURCES = "/etc/apt/sources.list.d/madash.sources"
APT_CONF = "/etc/apt/apt.conf.d/90madash-client-certificate"
# apt fetches as the _apt user, which may not read Telegraf's copy of the key.
APT_KEY = f"{TLS_DIR}/apt-client.key"
# Conffiles only some features or settings ship: an upgrade without them must remove them.
OPTIONAL_CONFFILES = (SUDOERS, APT_SOURCES, "/etc/apt/keyrings/madash.gpg", APT_CONF, APT_KEY)
TELEGRAF = "telegraf"

# Debian packages each feature needs (Depends) or is better with (Recommends).
FEATURE_DEPENDS = {"smart": ["sudo", "smartmontools"]}
FEATURE_RECOMMENDS = {"sensors": ["lm-sensors"], "smart": ["nvme-cli"]}
# Conffiles only some features ship: an upgrade without them must remove them.
# Feature → supplementary groups of the telegraf user.
FEATURE_GROUPS = {"docker": "docker"}


def package_name(host: str) -> str:
    return f"madash-client-{host}"


@dataclass(frozen=True)
class Snippet:
    name: str  # file name inside /etc/madash/telegraf.d
    data: bytes


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
    key_pem: bytes
    snippets: tuple[Snippet, ...]
    apt_sources: str = ""  # empty: the site has no repository URL
    apt_key: bytes = b""
    apt_https_host: str = ""  # the repository's host name when it is served over https
    earlier_conffiles: tuple[str, ...] = ()  # what earlier versions shipped (builds.json)

    def __repr__(self) -> str:
        return f"ClientInputs(host={self.host!r}, <secrets hidden>)"


def output_url(site: Site) -> str:
    server = site.config.server
    address = server.addresses[0]
    host = f"[{address}]" if ":" in address else address
    return f"https://{host}:{server.door_port}"


def _host_certificate(site: Site, host: str, now: dt.datetime, index: Index | None) -> tuple[bytes, bytes]:
    entry = (index or load_index(site.paths)).current("client", host)
    if entry is None:
        raise PKIError(f"host {host} has no certificate yet")
    if entry.revoked_at is not None:
        raise UsageError(
            f"host {host}'s certificate is revoked; refusing to bake a package the server would refuse",
            hint=f"'madash-build renew {host}' issues a new one",
        )
    cert_path = site.paths.clients / f"{host}.crt"
    key_path = site.paths.clients / f"{host}.key"
    try:
        cert_pem, key_pem = cert_path.read_bytes(), key_path.read_bytes()
    except OSError as exc:
        raise PKIError(f"cannot read {host}'s certificate or key: {exc}", hint=f"'madash-build renew {host}'") from None
    cert = pki.load_cert(cert_pem, f"pki/clients/{host}.crt")
    if cert.serial_number != entry.serial:
        raise PKIError(
            f"pki/clients/{host}.crt is not the certificate the index names", hint=f"'madash-build renew {host}'"
        )
    if pki.not_after(cert) <= now:
        raise UsageError(
            f"host {host}'s certificate expired on {pki.not_after(cert):%Y-%m-%d}", hint=f"'madash-build renew {host}'"
        )
    key = pki.load_key(key_pem, None, f"pki/clients/{host}.key")
    if not pki.key_matches(key, cert):
        raise PKIError(
            f"pki/clients/{host}.key does not belong to its certificate", hint=f"'madash-build renew {host}'"
        )
    return cert_pem, key_pem


def read_snippets(site: Site, host: str) -> tuple[Snippet, ...]:
    """The site's extra Telegraf snippets for every host and for this one, checked as TOML."""
    found: list[Snippet] = []
    for prefix, directory in (("site", site.paths.snippets), ("host", site.paths.snippets / host)):
        if not directory.is_dir():
            continue
        for path in sorted(directory.glob("*.conf")):
            data = path.read_bytes()
            try:
                tomllib.loads(data.decode("utf-8"))
            except UnicodeDecodeError:
                raise SiteError(f"{path}: not UTF-8 text") from None
            except tomllib.TOMLDecodeError as exc:
                raise SiteError(f"{path}: {exc}", hint="fix the snippet, or move it out of snippets/") from None
            found.append(Snippet(f"{prefix}-{path.name}", data))
    return tuple(found)


def gather(
    site: Site, host: str, now: dt.datetime, index: Index | None = None, earlier: tuple[str, ...] = ()
) -> ClientInputs:
    """Everything HOST's package is made of; ``index`` saves re-reading pki/index.json per host in a fleet."""
    host_config = site.config.hosts.get(host)
    if host_config is None:
        raise UsageError(
            f"host {host} is not in madash.toml", hint=f"add it with 'madash-build client {host} --feature ...'"
        )
    cert_pem, key_pem = _host_certificate(site, host, now, index)
    influx = site.config.influxdb
    return ClientInputs(
        host=host,
        host_config=host_config,
        site_name=site.config.site.name,
        maintainer=site.config.site.maintainer,
        output_url=output_url(site),
        database=influx.database,
        writer_user=influx.writer_user,
        writer_password=credentials.load(site.paths).influxdb_writer_password,
        internet=site.config.internet,
        ca_pem=(site.paths.pki / "ca.crt").read_bytes(),
        cert_pem=cert_pem,
        key_pem=key_pem,
        snippets=read_snippets(site, host),
        earlier_conffiles=earlier,
        **_apt_inputs(site, host),
    )


def _apt_inputs(site: Site, host: str) -> dict[str, Any]:
    url = site.config.repo.url
    if not url:
        return {}
    parsed = urllib.parse.urlsplit(url)
    return {
        "apt_sources": repo.sources_entry(site, host),
        "apt_key": signing.site_public_key(site),
        "apt_https_host": parsed.hostname if parsed.scheme == "https" else "",
    }


def telegraf_config(inputs: ClientInputs) -> str:
    features = sorted(inputs.host_config.features)
    return render(
        "conf/telegraf/client.conf.j2",
        {
            "host": inputs.host,
            "site_name": inputs.site_name,
            "features": features,
            "tags": dict(sorted(inputs.host_config.tags.items())),
            "interval": inputs.host_config.interval,
            "output_url": inputs.output_url,
            "database": inputs.database,
            "writer_user": inputs.writer_user,
            "env_file": ENV_FILE,
            "tls_ca": f"{TLS_DIR}/ca.crt",
            "tls_cert": f"{TLS_DIR}/client.crt",
            "tls_key": f"{TLS_DIR}/client.key",
            "ups_server": inputs.host_config.ups_server,
            "internet": inputs.internet,
        },
    )


def _config_files(inputs: ClientInputs, features: list[str], context: dict[str, Any]) -> list[FileEntry]:
    dropin = render(
        "debian/client/telegraf-dropin.conf.j2",
        {
            **context,
            "env_file": ENV_FILE,
            "config": CONFIG,
            "config_dir": CONFIG_DIR,
            "net_raw": "internet" in features,
        },
    )
    env = render("debian/client/telegraf.env.j2", {**context, "password": inputs.writer_password})
    files = [
        FileEntry(CONFIG, telegraf_config(inputs).encode(), conffile=True),
        FileEntry(ENV_FILE, env.encode(), SECRET_MODE, conffile=True),
        FileEntry(f"{TLS_DIR}/ca.crt", inputs.ca_pem, conffile=True),
        FileEntry(f"{TLS_DIR}/client.crt", inputs.cert_pem, conffile=True),
        # 0600 root at unpack; the tls-key snippet hands it to the telegraf group.
        FileEntry(f"{TLS_DIR}/client.key", inputs.key_pem, SECRET_MODE, conffile=True),
        FileEntry(DROPIN, dropin.encode()),
    ]
    files += [FileEntry(f"{CONFIG_DIR}/{s.name}", s.data, conffile=True) for s in inputs.snippets]
    if "smart" in features:
        sudoers = render("debian/client/sudoers.j2", context)
        files.append(FileEntry(SUDOERS, sudoers.encode(), SUDOERS_MODE, conffile=True))
    if inputs.apt_sources:
        files.append(FileEntry(APT_SOURCES, inputs.apt_sources.encode(), conffile=True))
        files.append(FileEntry(repo.APT_KEYRING, inputs.apt_key, conffile=True))
    if inputs.apt_https_host:
        apt_conf = render(
            "conf/apt/client-cert.conf.j2",
            {**context, "host": inputs.apt_https_host, "ca": f"{TLS_DIR}/ca.crt", "cert": f"{TLS_DIR}/client.crt",
             "key": APT_KEY},
        )  # fmt: skip
        files.append(FileEntry(APT_CONF, apt_conf.encode(), conffile=True))
        files.append(FileEntry(APT_KEY, inputs.key_pem, SECRET_MODE, conffile=True))
    return files


def _control(inputs: ClientInputs, features: list[str], context: dict[str, Any]) -> dict[str, str]:
    depends = ["telegraf", *sorted({d for f in features for d in FEATURE_DEPENDS.get(f, [])})]
    recommends = sorted({d for f in features for d in FEATURE_RECOMMENDS.get(f, [])})
    control = {
        "Architecture": "all",
        "Maintainer": inputs.maintainer,
        "Depends": ", ".join(depends),
        # One site identity per machine: a second host's package is refused, not swapped in.
        "Conflicts": "madash-client",
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
    files = _config_files(inputs, features, context)
    shipped = {f.path for f in files}
    # Also what earlier versions shipped and this one does not, such as a snippet the site dropped.
    context["obsolete_conffiles"] = sorted({*OPTIONAL_CONFFILES, *inputs.earlier_conffiles} - shipped)
    context["apt_sources"] = bool(inputs.apt_sources)
    context["apt_https"] = bool(inputs.apt_https_host)
    files.append(copyright_file(name, inputs.site_name, inputs.maintainer))
    overrides = render("debian/client/lintian-overrides.j2", context)
    files.append(FileEntry(f"/usr/share/lintian/overrides/{name}", overrides.encode()))
    concerns = ["obsolete-conffiles"] if context["obsolete_conffiles"] else []
    # state first: its teardown (purging /var/lib/madash-client) must run last.
    concerns += ["state", "tls-key", "groups", "telegraf-restart"]
    keys = [{"path": f"{TLS_DIR}/client.key", "user": "root", "group": TELEGRAF, "mode": "0640"}]
    if inputs.apt_https_host:
        keys.append({"path": APT_KEY, "user": "_apt", "group": "root", "mode": "0400"})
    script_context = {
        **context,
        "keys": keys,
        "groups": sorted({FEATURE_GROUPS[f] for f in features if f in FEATURE_GROUPS}),
        "user": TELEGRAF,
        "state_dir": STATE_DIR,
        "service": "telegraf.service",
    }
    scripts = assemble(name, concerns, script_context)
    return PackageSpec(name, _control(inputs, features, context), tuple(files), dirs=(CONFIG_DIR,), scripts=scripts)


def fingerprint(site: Site, host: str, entry: IndexEntry | None) -> str:
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
    ]  # fmt: skip
    paths = [site.paths.pki / "ca.crt", site.paths.clients / f"{host}.crt", site.paths.clients / f"{host}.key",
             site.paths.secrets, site.paths.repo_key / "public.gpg"]  # fmt: skip
    for directory in (site.paths.snippets, site.paths.snippets / host):
        if directory.is_dir():
            paths += sorted(directory.glob("*.conf"))
    for path in paths:
        try:
            stat = path.stat()
            parts.append((str(path), stat.st_size, stat.st_mtime_ns, stat.st_ino))
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
