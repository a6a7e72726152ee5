"""The site's generated secrets: InfluxDB admin, writer and reader passwords, Grafana's admin password and
secret key.

Kept in secrets.toml (0600) beside madash.toml, never printed and never passed
on a command line. Each package receives only the ones its machine needs.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import tomllib
from dataclasses import dataclass, fields

from madash.errors import SiteError
from madash.render import render
from madash.site.layout import SitePaths

SECRET_BYTES = 24  # 32 URL-safe characters, ~192 bits


@dataclass(frozen=True)
class Credentials:
    influxdb_admin_password: str
    influxdb_writer_password: str
    influxdb_reader_password: str
    grafana_admin_password: str
    # Grafana's [security] secret_key, which encrypts what it stores (the datasource password among them): the
    # public default would let anyone with a copy of grafana.db read them.
    grafana_secret_key: str

    def __repr__(self) -> str:
        # Keep secrets out of tracebacks and debug output.
        return "Credentials(<hidden>)"

    def values(self) -> tuple[str, ...]:
        return tuple(getattr(self, f.name) for f in fields(self))


def generate() -> Credentials:
    return Credentials(*(secrets.token_urlsafe(SECRET_BYTES) for _ in fields(Credentials)))


def to_toml(credentials: Credentials) -> bytes:
    values = {f.name: getattr(credentials, f.name) for f in fields(Credentials)}
    return render("conf/secrets.toml.j2", {"secrets": values}).encode()


def load(paths: SitePaths) -> Credentials:
    try:
        data = tomllib.loads(paths.secrets.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SiteError(
            f"{paths.secrets} is missing", hint="restore it from your backup of the site directory"
        ) from None
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise SiteError(f"cannot read {paths.secrets}: {exc}") from None
    names = [f.name for f in fields(Credentials)]
    if "grafana_secret_key" not in data and isinstance(data.get("influxdb_admin_password"), str):
        data["grafana_secret_key"] = derived_secret_key(data["influxdb_admin_password"])
    missing = [name for name in names if not isinstance(data.get(name), str) or not data[name]]
    if missing:
        raise SiteError(f"{paths.secrets}: missing {', '.join(missing)}")
    return Credentials(*(data[name] for name in names))


def derived_secret_key(site_secret: str) -> str:
    """The secret key of a site made before it was generated: derived from one of its secrets, so that it is the
    same at every bake (a changed key would make what Grafana encrypted unreadable) and known to no one else."""
    if not site_secret:
        return ""
    return hmac.new(site_secret.encode(), b"madash grafana secret_key", hashlib.sha256).hexdigest()
