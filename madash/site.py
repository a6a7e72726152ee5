"""madash.toml → a typed, validated, frozen site model.

The model's dataclasses are the schema: a table's allowed keys are the fields
of its dataclass, a key's type is the field's annotation, and per-field checks
live in the field's metadata. Unknown keys and wrong types are rejected with
the key's dotted path, a line number and a did-you-mean hint, so that a typo in
madash.toml never silently falls back to a default.
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import re
import tomllib
import types
import typing
import urllib.parse
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar, cast

from madash.errors import SiteError, UsageError
from madash.names import check_host_name, check_maintainer, check_server_address, is_ip_address

CONFIG_NAME = "madash.toml"
KEY_TYPES = ("ec:p256", "ec:p384", "rsa:3072", "rsa:4096")
FEATURES = ("smart", "sensors", "nvidia", "docker", "ups", "internet", "vm")

Check = Callable[[Any], object]


def _check(check: Check) -> dict[str, Check]:
    return {"check": check}


def _positive(value: int) -> None:
    if value <= 0:
        raise ValueError("must be a positive number")


def _port(value: int) -> None:
    if not 1 <= value <= 65535:
        raise ValueError("must be a port number from 1 to 65535")


def _one_of(*allowed: str) -> Check:
    def check(value: str) -> None:
        if value not in allowed:
            raise ValueError(f"must be one of {', '.join(allowed)}")

    return check


def _features(values: tuple[str, ...]) -> None:
    for value in values:
        if value not in FEATURES:
            raise ValueError(f"unknown feature {value!r}{_did_you_mean(value, FEATURES)}")


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


def _did_you_mean(word: str, choices: typing.Iterable[str]) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


@dataclass(frozen=True)
class SiteSection:
    name: str
    maintainer: str = field(
        default="madash site administrators <madash@monitoring.invalid>", metadata=_check(check_maintainer)
    )


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
    key_type: str = field(default="ec:p256", metadata=_check(_one_of(*KEY_TYPES)))
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


@dataclass(frozen=True)
class HostSection:
    features: tuple[str, ...] = field(default=(), metadata=_check(_features))
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
class SitePaths:
    """Where everything lives inside a site directory."""

    root: Path

    @property
    def config(self) -> Path:
        return self.root / CONFIG_NAME

    @property
    def pki(self) -> Path:
        return self.root / "pki"

    @property
    def clients(self) -> Path:
        return self.pki / "clients"

    @property
    def secrets(self) -> Path:
        return self.root / "secrets.toml"

    @property
    def snippets(self) -> Path:
        """Extra Telegraf configuration: *.conf for every host, HOST/*.conf for one."""
        return self.root / "snippets"

    @property
    def builds(self) -> Path:
        """What each package was last built from, and the version it got."""
        return self.root / "builds.json"

    @property
    def repo_key(self) -> Path:
        """The gpg home of the repository's signing key (0700)."""
        return self.root / "repo-key"

    @property
    def dist(self) -> Path:
        return self.root / "dist"

    @property
    def repo(self) -> Path:
        return self.root / "repo"


@dataclass(frozen=True)
class Site:
    paths: SitePaths
    config: SiteConfig


T = TypeVar("T")


class _Reader:
    """Builds dataclasses from TOML tables, reporting errors by dotted path."""

    def __init__(self, text: str, source: Path) -> None:
        self.text = text
        self.source = source

    def fail(self, dotted: str, message: str) -> SiteError:
        line = _line_of(self.text, dotted)
        where = f"{self.source.name}:{line}" if line else self.source.name
        return SiteError(f"{where}: {dotted}: {message}")

    def build(self, cls: type[T], table: Mapping[str, Any], prefix: str) -> T:
        hints = _type_hints(cast(Hashable, cls))
        fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
        for key in table:
            if key not in fields:
                raise self.fail(_join(prefix, key), f"unknown key{_did_you_mean(key, fields)}")
        values: dict[str, Any] = {}
        for name, spec in fields.items():
            dotted = _join(prefix, name)
            if name not in table:
                no_default = spec.default is dataclasses.MISSING and spec.default_factory is dataclasses.MISSING
                if no_default:
                    raise self.fail(dotted, "is required")
                continue
            value = self.convert(hints[name], table[name], dotted)
            check = spec.metadata.get("check")
            if check is not None:
                try:
                    check(value)
                except ValueError as exc:
                    raise self.fail(dotted, str(exc)) from None
                except UsageError as exc:
                    raise self.fail(dotted, exc.message) from None
            values[name] = value
        return cls(**values)

    def convert(self, hint: Any, value: Any, dotted: str) -> Any:
        origin = typing.get_origin(hint)
        args = typing.get_args(hint)
        if dataclasses.is_dataclass(hint):
            return self.build(hint, self.table(value, dotted), dotted)  # type: ignore[arg-type]
        if origin is tuple:
            if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
                raise self.fail(dotted, "must be a list of strings")
            return tuple(value)
        if origin is Mapping or origin is typing.Mapping or origin is dict:
            table = self.table(value, dotted)
            _, value_hint = args
            if dataclasses.is_dataclass(value_hint):
                return types.MappingProxyType(
                    {key: self.convert(value_hint, item, _join(dotted, key)) for key, item in table.items()}
                )
            for key, item in table.items():
                if not isinstance(item, str):
                    raise self.fail(_join(dotted, key), "must be a string")
            return types.MappingProxyType(dict(table))
        # bool is an int in Python; TOML keeps them apart, so must we.
        if hint is int and (not isinstance(value, int) or isinstance(value, bool)):
            raise self.fail(dotted, "must be a whole number")
        if hint is str and not isinstance(value, str):
            raise self.fail(dotted, "must be a string")
        if hint is bool and not isinstance(value, bool):
            raise self.fail(dotted, "must be true or false")
        return value

    def table(self, value: Any, dotted: str) -> Mapping[str, Any]:
        if not isinstance(value, dict):
            raise self.fail(dotted, "must be a table")
        return value


@functools.cache
def _type_hints(cls: Hashable) -> dict[str, Any]:
    # Evaluating annotations is slow, and a site may have a thousand [hosts.*] tables.
    return typing.get_type_hints(cls)


def _join(prefix: str, key: str) -> str:
    if not prefix:
        return key
    return f"{prefix}.{key}" if re.fullmatch(r"[A-Za-z0-9_-]+", key) else f'{prefix}."{key}"'


def _line_of(text: str, dotted: str) -> int | None:
    """Best-effort line of a dotted key: the key's own line, else its table's header."""
    parts = [part.strip('"') for part in dotted.split(".")]
    table, key = parts[:-1], parts[-1]
    current: list[str] = []
    table_line = None
    for number, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        header = re.fullmatch(r"\[\[?\s*([^\]]+?)\s*\]\]?\s*(#.*)?", stripped)
        if header:
            current = [part.strip().strip('"') for part in header.group(1).split(".")]
            if current == parts:
                return number
            if current == table:
                table_line = number
            continue
        assignment = re.match(r'"?([A-Za-z0-9_-]+)"?\s*=', stripped)
        if assignment and current == table and assignment.group(1) == key:
            return number
    return table_line


def parse_config(text: str, source: Path) -> SiteConfig:
    """Parse and validate madash.toml text; raise SiteError on the first problem."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise SiteError(f"{source.name}: {exc}", hint="fix the TOML syntax at that line") from None
    reader = _Reader(text, source)
    config = reader.build(SiteConfig, data, "")
    for host in config.hosts:
        try:
            check_host_name(host)
        except UsageError as exc:
            raise reader.fail(_join("hosts", host), exc.message) from None
    _check_consistency(config, reader)
    return config


def _check_consistency(config: SiteConfig, reader: _Reader) -> None:
    ports: dict[int, str] = {}
    for name in ("door_port", "grafana_port", "influxdb_local_port", "grafana_local_port"):
        port = getattr(config.server, name)
        if port in ports:
            raise reader.fail(f"server.{name}", f"clashes with server.{ports[port]} ({port})")
        ports[port] = name
    for host, section in config.hosts.items():
        if "vm" in section.features:
            clash = sorted({"smart", "sensors", "ups"} & set(section.features))
            if clash:
                raise reader.fail(
                    _join(_join("hosts", host), "features"),
                    f"a vm has no {', '.join(clash)}: remove {'them' if len(clash) > 1 else 'it'} or 'vm'",
                )


def check_features(features: typing.Sequence[str]) -> None:
    """The rules madash.toml applies to a host's features, for features given on the command line."""
    try:
        _features(tuple(features))
    except ValueError as exc:
        raise UsageError(str(exc), hint=f"features are: {', '.join(FEATURES)}") from None
    clash = sorted({"smart", "sensors", "ups"} & set(features))
    if "vm" in features and clash:
        raise UsageError(f"a vm has no {', '.join(clash)}", hint="drop those features or 'vm'")


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
