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
import urllib.parse
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from madash.errors import SiteError, UsageError
from madash.site.features import NAMES as FEATURE_NAMES
from madash.site.features import Feature, clashes
from madash.site.layout import CONFIG_NAME, SitePaths
from madash.site.schema import Reader, did_you_mean, join
from madash.site.schema import check as _check
from madash.site.values import (
    DEFAULT_MAINTAINER_ADDRESS,
    check_host_name,
    check_maintainer,
    check_server_address,
    is_ip_address,
)


class KeyType(enum.StrEnum):
    EC_P256 = "ec:p256"
    EC_P384 = "ec:p384"
    RSA_3072 = "rsa:3072"
    RSA_4096 = "rsa:4096"


DEFAULT_MAINTAINER = f"madash site administrators <{DEFAULT_MAINTAINER_ADDRESS}>"


def _positive(value: int) -> None:
    if value <= 0:
        raise ValueError("must be a positive number")


def _port(value: int) -> None:
    if not 1 <= value <= 65535:
        raise ValueError("must be a port number from 1 to 65535")


_DURATION_RE = re.compile(r"^[1-9][0-9]*(ms|s|m|h)$")


def _duration(value: str) -> None:
    if not _DURATION_RE.fullmatch(value):
        raise ValueError("must be a duration such as 10s, 1m or 500ms")


def _addresses(values: tuple[str, ...]) -> None:
    if not values:
        raise ValueError("must name at least one address")
    for value in values:
        check_server_address(value)


def _ping_targets(values: tuple[str, ...]) -> None:
    for value in values:
        check_server_address(value)


def _ip_addresses(values: tuple[str, ...]) -> None:
    for value in values:
        if not is_ip_address(value):
            raise ValueError(f"{value!r} is not an IP address")


def _dns_names(values: tuple[str, ...]) -> None:
    for value in values:
        if is_ip_address(value):
            raise ValueError(f"{value!r} is an address, not a domain name")
        check_server_address(value)


def _urls(values: tuple[str, ...]) -> None:
    for value in values:
        parsed = urllib.parse.urlsplit(value)
        if parsed.scheme not in ("http", "https") or not parsed.hostname or " " in value:
            raise ValueError(f"{value!r} is not an http:// or https:// URL")
        check_server_address(parsed.hostname)


def _apcupsd_server(value: str) -> None:
    parsed = urllib.parse.urlsplit(value)
    try:
        port = parsed.port
    except ValueError:
        port = None
    if parsed.scheme != "tcp" or not parsed.hostname or port is None or parsed.path:
        raise ValueError(f"{value!r} is not an apcupsd address such as tcp://127.0.0.1:3551")


@dataclass(frozen=True)
class SiteSection:
    name: str
    maintainer: str = field(default=DEFAULT_MAINTAINER, metadata=_check(check_maintainer))


@dataclass(frozen=True)
class ServerSection:
    addresses: tuple[str, ...] = field(metadata=_check(_addresses))
    door_port: int = field(default=5086, metadata=_check(_port))
    grafana_port: int = field(default=3000, metadata=_check(_port))
    # Where stunnel listens; empty means the IP addresses among `addresses`, or
    # every IPv4 address when there are none.
    listen: tuple[str, ...] = field(default=(), metadata=_check(_ip_addresses))
    # Loopback ports of the containers behind stunnel.
    influxdb_local_port: int = field(default=8086, metadata=_check(_port))
    grafana_local_port: int = field(default=3001, metadata=_check(_port))

    def listen_addresses(self) -> tuple[str, ...]:
        if self.listen:
            return self.listen
        return tuple(a for a in self.addresses if is_ip_address(a)) or ("0.0.0.0",)  # noqa: S104 - stated above


@dataclass(frozen=True)
class PKISection:
    key_type: KeyType = KeyType.EC_P256
    ca_days: int = field(default=3650, metadata=_check(_positive))
    server_days: int = field(default=825, metadata=_check(_positive))
    client_days: int = field(default=825, metadata=_check(_positive))
    crl_days: int = field(default=180, metadata=_check(_positive))


@dataclass(frozen=True)
class InfluxDBSection:
    database: str = "telegraf"
    admin_user: str = "admin"
    writer_user: str = "telegraf"
    reader_user: str = "grafana"
    retention: str = "90d"


@dataclass(frozen=True)
class InternetSection:
    """Connectivity probes: run by the server's probe, and by hosts with the internet feature."""

    enabled: bool = True
    ping: tuple[str, ...] = field(default=("1.1.1.1", "8.8.8.8", "9.9.9.9"), metadata=_check(_ping_targets))
    http: tuple[str, ...] = field(default=("https://www.debian.org/",), metadata=_check(_urls))
    http_match: str = ""
    dns_servers: tuple[str, ...] = field(default=("1.1.1.1", "8.8.8.8"), metadata=_check(_ip_addresses))
    dns_domains: tuple[str, ...] = field(default=("debian.org",), metadata=_check(_dns_names))


def _repo_url(value: str) -> None:
    parsed = urllib.parse.urlsplit(value)
    if value and (parsed.scheme not in ("file", "https", "http") or (parsed.scheme != "file" and not parsed.hostname)):
        raise ValueError(f"{value!r} is not a file://, https:// or http:// URL")
    if parsed.scheme == "file" and not parsed.path.startswith("/"):
        raise ValueError(f"{value!r}: a file:// URL needs an absolute path")


def _non_negative(value: int) -> None:
    if value < 0:
        raise ValueError("must be 0 or more")


def _architectures(values: tuple[str, ...]) -> None:
    if not values or any(not re.fullmatch(r"[a-z0-9]+", value) or value == "all" for value in values):
        raise ValueError("must name Debian architectures such as amd64 and arm64 (not 'all')")


def _package_names(values: tuple[str, ...]) -> None:
    for value in values:
        if not re.fullmatch(r"[a-z0-9][a-z0-9+.-]+", value):
            raise ValueError(f"{value!r} is not a Debian package name")


def _group_name(value: str) -> None:
    if value and not re.fullmatch(r"[a-z_][a-z0-9_-]{0,31}", value):
        raise ValueError(f"{value!r} is not a group name (lower-case letters, digits, '_' and '-')")


@dataclass(frozen=True)
class RepoSection:
    """The site's signed apt repository (madash-build repo)."""

    # Where hosts find repo/ (file:// or https://); empty: client packages carry no apt source.
    url: str = field(default="", metadata=_check(_repo_url))
    # Release's Valid-Until, in days from each publish; 0: none.
    valid_days: int = field(default=0, metadata=_check(_non_negative))
    # Older versions of each package kept in the pool for hosts mid-upgrade.
    keep_versions: int = field(default=2, metadata=_check(_non_negative))
    architectures: tuple[str, ...] = field(default=("amd64", "arm64", "armhf", "i386"), metadata=_check(_architectures))
    # Packages besides madash's own to publish in the shared suite (e.g. telegraf).
    extra_packages: tuple[str, ...] = field(default=(), metadata=_check(_package_names))
    # A group (a web server's, e.g. www-data) that may read dist/ and repo/pool/; empty: the owner only.
    group: str = field(default="", metadata=_check(_group_name))


@dataclass(frozen=True)
class HostSection:
    features: tuple[Feature, ...] = ()
    interval: str = field(default="10s", metadata=_check(_duration))
    tags: Mapping[str, str] = field(default_factory=lambda: types.MappingProxyType({}))
    ups_server: str = field(default="tcp://127.0.0.1:3551", metadata=_check(_apcupsd_server))


@dataclass(frozen=True)
class SiteConfig:
    site: SiteSection
    server: ServerSection
    pki: PKISection = field(default_factory=PKISection)
    influxdb: InfluxDBSection = field(default_factory=InfluxDBSection)
    internet: InternetSection = field(default_factory=InternetSection)
    repo: RepoSection = field(default_factory=RepoSection)
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
    reader = Reader(text, source)
    config = reader.build(SiteConfig, data, "")
    for host in config.hosts:
        try:
            check_host_name(host)
        except UsageError as exc:
            raise reader.fail(join("hosts", host), exc.message) from None
    _check_consistency(config, reader)
    return config


def _check_consistency(config: SiteConfig, reader: Reader) -> None:
    ports: dict[int, str] = {}
    for name in ("door_port", "grafana_port", "influxdb_local_port", "grafana_local_port"):
        port = getattr(config.server, name)
        if port in ports:
            raise reader.fail(f"server.{name}", f"clashes with server.{ports[port]} ({port})")
        ports[port] = name
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
