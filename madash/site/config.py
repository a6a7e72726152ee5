"""madash.toml → a typed, validated, frozen site model.

The sections below are the schema (see schema.py for how a table becomes one):
every value is checked here, once, whatever its source, so that nothing after
this stage ever sees an unchecked value.
"""

from __future__ import annotations

import enum
import re
import tomllib
import types
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from madash.errors import SiteError, UsageError
from madash.site.alerting import AlertsSection
from madash.site.features import NAMES as FEATURE_NAMES
from madash.site.features import Feature, clashes
from madash.site.layout import CONFIG_NAME, SitePaths
from madash.site.schema import Reader, did_you_mean, join
from madash.site.schema import check as _check
from madash.site.urls import check_http_url, check_public_url, check_repo_url, check_tcp_address
from madash.site.values import (
    DEFAULT_MAINTAINER_ADDRESS,
    check_architecture,
    check_database_name,
    check_days,
    check_dns_name,
    check_host_name,
    check_influx_user,
    check_interval,
    check_ip_address,
    check_maintainer,
    check_no_variable,
    check_package_name,
    check_port,
    check_retention,
    check_server_address,
    check_server_addresses,
    check_site_name,
    check_tags,
    check_unique,
    check_unprivileged_port,
    is_dns_name,
    is_ip_address,
    url_host,
)


class KeyType(enum.StrEnum):
    EC_P256 = "ec:p256"
    EC_P384 = "ec:p384"
    RSA_3072 = "rsa:3072"
    RSA_4096 = "rsa:4096"


DEFAULT_MAINTAINER = f"madash site administrators <{DEFAULT_MAINTAINER_ADDRESS}>"

# The containers publish these on 127.0.0.1; below 1024 are the system's own services (22 is ssh).
_LOCAL_PORT = "a container's loopback port must stay clear of the system's privileged services (22 is ssh)"


def _stunnel_port(value: int) -> None:
    # Any port: madash-stunnel.service gets CAP_NET_BIND_SERVICE when one is below 1024 (80, 443).
    check_port(value)


def _local_port(value: int) -> None:
    check_unprivileged_port(value, _LOCAL_PORT)


def _ca_days(value: int) -> None:
    check_days(value, 1, 36500)


def _leaf_days(value: int) -> None:
    check_days(value, 1, 3650)


def _addresses(values: tuple[str, ...]) -> None:
    check_server_addresses(values)


def _listen(values: tuple[str, ...]) -> None:
    for value in values:
        check_ip_address(value, listen=True)
    check_unique(values, "the list", addresses=True)


def _ping_targets(values: tuple[str, ...]) -> None:
    for value in values:
        check_server_address(value)
    check_unique(values, "the list", addresses=True)


def _ip_addresses(values: tuple[str, ...]) -> None:
    for value in values:
        check_ip_address(value)
    check_unique(values, "the list", addresses=True)


def _dns_names(values: tuple[str, ...]) -> None:
    for value in values:
        if is_ip_address(value):
            raise ValueError(f"{value!r} is an address, not a domain name")
        check_dns_name(value)
    check_unique(values, "the list", addresses=True)


def _urls(values: tuple[str, ...]) -> None:
    for value in values:
        check_http_url(value)
    check_unique(values, "the list")


def _http_match(value: str) -> None:
    check_no_variable(value, "http_match")
    if len(value) > 256 or not value.isprintable():
        raise ValueError(f"{value!r} is not a match string: printable characters, at most 256, no '$'")


def _architectures(values: tuple[str, ...]) -> None:
    if not values:
        raise ValueError("must name Debian architectures such as amd64 and arm64 (not 'all')")
    for value in values:
        check_architecture(value)
    check_unique(values, "the list")


def _package_names(values: tuple[str, ...]) -> None:
    for value in values:
        check_package_name(value)
    check_unique(values, "the list")


def _valid_days(value: int) -> None:
    if not 0 <= value <= 3650:
        raise ValueError(f"{value} is not a number of days from 0 (never expires) to 3650")


def _keep_versions(value: int) -> None:
    if not 0 <= value <= 100:
        raise ValueError(f"{value} is not a number of versions from 0 to 100")


@dataclass(frozen=True)
class SiteSection:
    name: str = field(metadata=_check(check_site_name))
    maintainer: str = field(default=DEFAULT_MAINTAINER, metadata=_check(check_maintainer))


@dataclass(frozen=True)
class ServerSection:
    addresses: tuple[str, ...] = field(metadata=_check(_addresses))
    door_port: int = field(default=5086, metadata=_check(_stunnel_port))
    grafana_port: int = field(default=3000, metadata=_check(_stunnel_port))
    # The site repository over HTTPS (madash-repo.service, when repo.serve is on).
    repo_port: int = field(default=8443, metadata=_check(_stunnel_port))
    # Where stunnel listens; empty means the IP addresses among `addresses`, or
    # every IPv4 address when there are none.
    listen: tuple[str, ...] = field(default=(), metadata=_check(_listen))
    # Loopback ports of the containers behind stunnel.
    influxdb_local_port: int = field(default=8086, metadata=_check(_local_port))
    grafana_local_port: int = field(default=3001, metadata=_check(_local_port))

    def listen_addresses(self) -> tuple[str, ...]:
        if self.listen:
            return self.listen
        return tuple(a for a in self.addresses if is_ip_address(a)) or ("0.0.0.0",)  # noqa: S104 - stated above


@dataclass(frozen=True)
class PKISection:
    key_type: KeyType = KeyType.EC_P256
    # Bounded before any date arithmetic: no lifetime can overflow a datetime.
    ca_days: int = field(default=3650, metadata=_check(_ca_days))
    server_days: int = field(default=825, metadata=_check(_leaf_days))
    client_days: int = field(default=825, metadata=_check(_leaf_days))
    crl_days: int = field(default=180, metadata=_check(_leaf_days))


@dataclass(frozen=True)
class InfluxDBSection:
    # The grammars of ensure-influxdb (debian/server/ensure_influxdb.py), which reads these on the server.
    database: str = field(default="telegraf", metadata=_check(check_database_name))
    admin_user: str = field(default="admin", metadata=_check(check_influx_user))
    writer_user: str = field(default="telegraf", metadata=_check(check_influx_user))
    reader_user: str = field(default="grafana", metadata=_check(check_influx_user))
    retention: str = field(default="90d", metadata=_check(check_retention))


@dataclass(frozen=True)
class InternetSection:
    """Connectivity probes: run by the server's probe, and by hosts with the internet feature."""

    enabled: bool = True
    ping: tuple[str, ...] = field(default=("1.1.1.1", "8.8.8.8", "9.9.9.9"), metadata=_check(_ping_targets))
    http: tuple[str, ...] = field(default=("https://www.debian.org/",), metadata=_check(_urls))
    http_match: str = field(default="", metadata=_check(_http_match))
    dns_servers: tuple[str, ...] = field(default=("1.1.1.1", "8.8.8.8"), metadata=_check(_ip_addresses))
    dns_domains: tuple[str, ...] = field(default=("debian.org",), metadata=_check(_dns_names))


_GROUP_RE = re.compile(r"[a-z_][a-z0-9_-]{0,31}")


def _group_name(value: str) -> None:
    if value and not _GROUP_RE.fullmatch(value):
        raise ValueError(f"{value!r} is not a group name (lower-case letters, digits, '_' and '-')")


@dataclass(frozen=True)
class RepoSection:
    """The site's signed apt repository (madash-build repo)."""

    # Where hosts find repo/ (file:// or https://); empty: client packages carry no apt source.
    url: str = field(default="", metadata=_check(check_repo_url))
    # Release's Valid-Until, in days from each publish; 0: none.
    valid_days: int = field(default=0, metadata=_check(_valid_days))
    # Older versions of each package kept in the pool for hosts mid-upgrade.
    keep_versions: int = field(default=2, metadata=_check(_keep_versions))
    architectures: tuple[str, ...] = field(default=("amd64", "arm64", "armhf", "i386"), metadata=_check(_architectures))
    # Packages besides madash's own to publish in the shared suite (e.g. telegraf).
    extra_packages: tuple[str, ...] = field(default=(), metadata=_check(_package_names))
    # A group (a web server's, e.g. www-data) that may read dist/ and repo/pool/; empty: the owner only.
    group: str = field(default="", metadata=_check(_group_name))
    # Whether madash-server serves the repository itself (nginx on server.repo_port, per-host authorisation).
    serve: bool = True


@dataclass(frozen=True)
class HostSection:
    features: tuple[Feature, ...] = ()
    interval: str = field(default="10s", metadata=_check(check_interval))
    tags: Mapping[str, str] = field(default_factory=lambda: types.MappingProxyType({}), metadata=_check(check_tags))
    ups_server: str = field(default="tcp://127.0.0.1:3551", metadata=_check(check_tcp_address))
    # Whether the package adds the site's suites to unattended-upgrades' Origins-Pattern (when it carries
    # an apt source): false for a host whose admin upgrades it by hand.
    unattended_upgrades: bool = True


@dataclass(frozen=True)
class GrafanaSection:
    # Grafana's root_url, which its links, redirects and alert messages use; empty: the first DNS name among
    # server.addresses (an IP address only if there is none), at server.grafana_port.
    public_url: str = field(default="", metadata=_check(check_public_url))


def grafana_url(config: SiteConfig) -> str:
    server = config.server
    if config.grafana.public_url:
        return config.grafana.public_url.rstrip("/") + "/"
    return f"https://{url_host(_first_name(server))}:{server.grafana_port}/"


def repo_url(config: SiteConfig) -> str:
    """Where hosts find the repository: repo.url, else the server's own repository server when it serves one."""
    if config.repo.url or not config.repo.serve:
        return config.repo.url
    return f"https://{url_host(_first_name(config.server))}:{config.server.repo_port}/"


def _first_name(server: ServerSection) -> str:
    """The first DNS name among the server's addresses (an IP address only if there is none)."""
    names = [a for a in server.addresses if is_dns_name(a)]
    return names[0] if names else server.addresses[0]


@dataclass(frozen=True)
class SiteConfig:
    site: SiteSection
    server: ServerSection
    pki: PKISection = field(default_factory=PKISection)
    influxdb: InfluxDBSection = field(default_factory=InfluxDBSection)
    internet: InternetSection = field(default_factory=InternetSection)
    repo: RepoSection = field(default_factory=RepoSection)
    grafana: GrafanaSection = field(default_factory=GrafanaSection)
    alerts: AlertsSection = field(default_factory=AlertsSection)
    hosts: Mapping[str, HostSection] = field(default_factory=lambda: types.MappingProxyType({}))


@dataclass(frozen=True)
class Site:
    paths: SitePaths
    config: SiteConfig


def parse_config(text: str, source: Path) -> SiteConfig:
    """Parse and validate madash.toml text; raise SiteError on the first problem."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise SiteError(f"{source.name}: {exc}", hint="fix the TOML syntax at that line") from None
    except RecursionError:
        # tomllib parses nested arrays and inline tables recursively; no site needs more than two levels.
        raise SiteError(
            f"{source.name}: arrays or tables are nested too deeply", hint="no value of madash.toml nests"
        ) from None
    reader = Reader(text, source)
    config = reader.build(SiteConfig, data, "")
    for host in config.hosts:
        try:
            check_host_name(host)
        except UsageError as exc:
            raise reader.fail(join("hosts", host), exc.message, exc.hint) from None
    _check_consistency(config, reader)
    return config


def _check_consistency(config: SiteConfig, reader: Reader) -> None:
    ports: dict[int, str] = {}
    served = ("repo_port",) if config.repo.serve else ()  # a repository not served needs no port
    for name in ("door_port", "grafana_port", *served, "influxdb_local_port", "grafana_local_port"):
        port = getattr(config.server, name)
        if port in ports:
            raise reader.fail(f"server.{name}", f"clashes with server.{ports[port]} ({port})")
        ports[port] = name
    for name in ("server_days", "client_days"):
        days = getattr(config.pki, name)
        if days > config.pki.ca_days:
            raise reader.fail(
                f"pki.{name}", f"{days} is more than pki.ca_days ({config.pki.ca_days}): no certificate outlives its CA"
            )
    users: dict[str, str] = {}
    for name in ("admin_user", "writer_user", "reader_user"):
        user = getattr(config.influxdb, name)
        if user in users:
            # One InfluxDB user cannot hold two roles: the second role's grants would replace the first one's
            # rights (an admin made a writer is locked out for good). ensure-influxdb refuses it too.
            raise reader.fail(
                f"influxdb.{name}", f"is {user!r}, as influxdb.{users[user]}: each role needs its own user"
            )
        users[user] = name
    problem = config.alerts.consistency()
    if problem is not None:
        raise reader.fail(f"alerts.{problem[0]}", problem[1])
    for host, section in config.hosts.items():
        for feature, refused in clashes(section.features):
            raise reader.fail(join(join("hosts", host), "features"), _clash_message(feature, refused))


def _clash_message(feature: Feature, refused: Sequence[Feature]) -> str:
    names = ", ".join(str(f) for f in refused)
    return f"a {feature} has no {names}: remove {'them' if len(refused) > 1 else 'it'} or '{feature}'"


def check_features(values: Sequence[str]) -> tuple[Feature, ...]:
    """The rules madash.toml applies to a host's features, for features given on the command line."""
    features: list[Feature] = []
    for value in values:
        try:
            feature = Feature(value)
        except ValueError:
            raise UsageError(
                f"unknown feature {value!r}{did_you_mean(value, FEATURE_NAMES)}",
                hint=f"features are: {', '.join(FEATURE_NAMES)}",
            ) from None
        if feature in features:
            raise UsageError(f"feature {value!r} is given twice")
        features.append(feature)
    for feature, refused in clashes(features):
        raise UsageError(_clash_message(feature, refused), hint=f"drop those features or {str(feature)!r}")
    return tuple(features)


def find_site(root: Path) -> SitePaths:
    return SitePaths(root.resolve())


def load_site(root: Path) -> Site:
    """Read the site at root; raise SiteError with a hint when there is none."""
    paths = find_site(root)
    try:
        text = paths.config.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SiteError(
            f"no site at {paths.root} ({CONFIG_NAME} not found)",
            hint="create one with 'madash-build init --server ADDR', or pass --site DIR",
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise SiteError(f"cannot read {paths.config}: {exc}") from None
    return Site(paths, parse_config(text, paths.config))
