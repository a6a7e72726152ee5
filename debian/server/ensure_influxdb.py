#!/usr/bin/python3
"""Make InfluxDB 1.x match madash-server's env file: database, users, grants, retention.

Shipped by madash-server as /usr/lib/madash-server/ensure-influxdb and run by
madash-server.service at every start (ExecStartPost), so that a changed password
or retention in a newer server package takes effect. Idempotent: a second run
changes nothing. Python standard library only, over InfluxDB's HTTP API.

Passwords never appear on a command line: they come from the env file, and go
to InfluxDB in POST bodies. The admin password that last worked is kept in a
root-only state file, so that a new admin password can replace the old one.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import re
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path

RP_NAME = "madash"
DURATION_UNITS = {"h": 3600, "d": 86400, "w": 604800}


class EnsureError(Exception):
    pass


class Unauthorized(EnsureError):
    """InfluxDB refused the credentials (401/403)."""


@dataclass(frozen=True)
class Settings:
    database: str
    admin: tuple[str, str]
    writer: tuple[str, str]
    reader: tuple[str, str]
    retention: str


def read_env(path: Path) -> dict[str, str]:
    values = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if line and not line.startswith("#") and "=" in line:
            key, _, value = line.partition("=")
            values[key.strip()] = value.strip()
    return values


def settings_from(env: dict[str, str]) -> Settings:
    try:
        return Settings(
            database=env["INFLUXDB_DB"],
            admin=(env["INFLUXDB_ADMIN_USER"], env["INFLUXDB_ADMIN_PASSWORD"]),
            writer=(env["INFLUXDB_WRITE_USER"], env["INFLUXDB_WRITE_USER_PASSWORD"]),
            reader=(env["INFLUXDB_READ_USER"], env["INFLUXDB_READ_USER_PASSWORD"]),
            retention=env.get("MADASH_INFLUXDB_RETENTION", "90d"),
        )
    except KeyError as exc:
        raise EnsureError(f"the env file lacks {exc.args[0]}") from None


def ident(name: str) -> str:
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


def literal(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def seconds(duration: str) -> int:
    """'90d', '2160h0m0s' or 'INF'/'0s' (infinite, as 0) in seconds."""
    if duration.upper() in ("INF", "0", "0S"):
        return 0
    total = 0
    for number, unit in re.findall(r"(\d+)([a-z]+)", duration):
        total += int(number) * {"s": 1, "m": 60, **DURATION_UNITS}[unit]
    return total


class Influx:
    def __init__(self, url: str) -> None:
        if urllib.parse.urlsplit(url).scheme not in ("http", "https"):
            raise EnsureError(f"--url must be http:// or https://, not {url!r}")
        self.url = url.rstrip("/")

    def ping(self) -> bool:
        try:
            # The scheme was checked in __init__ (S310).
            with urllib.request.urlopen(f"{self.url}/ping", timeout=5) as response:  # noqa: S310
                return bool(response.status == 204)
        except (OSError, urllib.error.URLError):
            return False

    def query(self, q: str, auth: tuple[str, str] | None) -> list[dict[str, object]]:
        body = urllib.parse.urlencode({"q": q}).encode()
        request = urllib.request.Request(f"{self.url}/query", data=body, method="POST")  # noqa: S310
        if auth:
            # A header, not URL parameters: URLs end up in logs.
            token = base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
            request.add_header("Authorization", f"Basic {token}")
        try:
            with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
                document = json.load(response)
        except urllib.error.HTTPError as exc:
            if exc.code in (401, 403):
                raise Unauthorized(exc.read().decode("utf-8", "replace").strip()) from None
            raise EnsureError(
                f"InfluxDB answered {exc.code}: {exc.read().decode('utf-8', 'replace').strip()}"
            ) from None
        results: list[dict[str, object]] = document.get("results", [])
        for result in results:
            if "error" in result:
                raise EnsureError(f"InfluxDB refused {q.split(' WITH PASSWORD')[0]!r}: {result['error']}")
        return results

    def rows(self, q: str, auth: tuple[str, str] | None) -> list[list[object]]:
        found: list[list[object]] = []
        for result in self.query(q, auth):
            for series in result.get("series", []) or []:  # type: ignore[attr-defined]
                found.extend(series.get("values", []) or [])
        return found

    def works(self, auth: tuple[str, str]) -> bool:
        try:
            self.query("SHOW DATABASES", auth)
        except Unauthorized:
            return False
        return True


def admin_login(influx: Influx, settings: Settings, state: Path, changes: list[str]) -> tuple[str, str]:
    """Authenticate as admin, creating the admin or moving it to the new password."""
    admin = settings.admin
    if influx.works(admin):
        return admin
    try:
        # InfluxDB 1.x lets anyone create the first admin while there is none.
        influx.query(f"CREATE USER {ident(admin[0])} WITH PASSWORD {literal(admin[1])} WITH ALL PRIVILEGES", None)
        changes.append(f"created admin user {admin[0]}")
        return admin
    except EnsureError:
        pass
    previous = state.read_text(encoding="utf-8").strip() if state.exists() else ""
    if previous and influx.works((admin[0], previous)):
        influx.query(f"SET PASSWORD FOR {ident(admin[0])} = {literal(admin[1])}", (admin[0], previous))
        changes.append(f"changed the password of admin user {admin[0]}")
        return admin
    raise EnsureError(
        f"cannot log in to InfluxDB as {admin[0]}: its password is neither the env file's nor the last one used"
    )


def remember(state: Path, password: str) -> None:
    state.parent.mkdir(parents=True, exist_ok=True)
    tmp = state.with_name(state.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(password + "\n")
    os.replace(tmp, state)


def ensure(influx: Influx, settings: Settings, state: Path) -> list[str]:
    changes: list[str] = []
    admin = admin_login(influx, settings, state, changes)
    remember(state, admin[1])
    db = settings.database
    if db not in {row[0] for row in influx.rows("SHOW DATABASES", admin)}:
        influx.query(f"CREATE DATABASE {ident(db)}", admin)
        changes.append(f"created database {db}")
    ensure_retention(influx, admin, settings, changes)
    users = {str(row[0]): bool(row[1]) for row in influx.rows("SHOW USERS", admin)}
    for (name, password), privilege in ((settings.writer, "WRITE"), (settings.reader, "READ")):
        if name not in users:
            influx.query(f"CREATE USER {ident(name)} WITH PASSWORD {literal(password)}", admin)
            changes.append(f"created user {name}")
        elif not influx.works((name, password)):
            influx.query(f"SET PASSWORD FOR {ident(name)} = {literal(password)}", admin)
            changes.append(f"changed the password of {name}")
        if users.get(name):
            influx.query(f"REVOKE ALL PRIVILEGES FROM {ident(name)}", admin)
            changes.append(f"took admin rights from {name}")
        grants = {str(row[0]): str(row[1]) for row in influx.rows(f"SHOW GRANTS FOR {ident(name)}", admin)}
        if grants != {db: privilege}:
            for other in grants:
                influx.query(f"REVOKE ALL ON {ident(other)} FROM {ident(name)}", admin)
            influx.query(f"GRANT {privilege} ON {ident(db)} TO {ident(name)}", admin)
            changes.append(f"granted {privilege} on {db} to {name} only")
    return changes


def ensure_retention(influx: Influx, admin: tuple[str, str], settings: Settings, changes: list[str]) -> None:
    db = settings.database
    wanted = seconds(settings.retention)
    policies = {
        str(r[0]): (seconds(str(r[1])), bool(r[-1]))
        for r in influx.rows(f"SHOW RETENTION POLICIES ON {ident(db)}", admin)
    }
    duration = "INF" if wanted == 0 else settings.retention
    if RP_NAME not in policies:
        influx.query(
            f"CREATE RETENTION POLICY {ident(RP_NAME)} ON {ident(db)} DURATION {duration} REPLICATION 1 DEFAULT", admin
        )
        changes.append(f"created retention policy {RP_NAME} ({settings.retention})")
    elif policies[RP_NAME] != (wanted, True):
        influx.query(f"ALTER RETENTION POLICY {ident(RP_NAME)} ON {ident(db)} DURATION {duration} DEFAULT", admin)
        changes.append(f"set retention policy {RP_NAME} to {settings.retention}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="ensure-influxdb", description=__doc__.splitlines()[0])
    parser.add_argument("--env-file", type=Path, required=True, help="madash-server's env file")
    parser.add_argument("--url", default="http://127.0.0.1:8086", help="InfluxDB's HTTP API")
    parser.add_argument("--state", type=Path, required=True, help="where the working admin password is kept")
    parser.add_argument("--wait", type=float, default=0, help="seconds to wait for InfluxDB to answer")
    args = parser.parse_args(argv)
    try:
        influx = Influx(args.url)
        settings = settings_from(read_env(args.env_file))
        deadline = time.monotonic() + args.wait
        while not influx.ping():
            if time.monotonic() >= deadline:
                raise EnsureError(f"InfluxDB does not answer at {args.url}")
            time.sleep(1)
        changes = ensure(influx, settings, args.state)
    except (EnsureError, OSError) as exc:
        print(f"ensure-influxdb: error: {exc}", file=sys.stderr)
        return 1
    for change in changes:
        print(f"ensure-influxdb: {change}")
    if not changes:
        print("ensure-influxdb: InfluxDB already matches the env file")
    return 0


if __name__ == "__main__":
    sys.exit(main())
