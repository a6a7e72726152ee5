#!/usr/bin/python3
"""Make InfluxDB 1.x match madash-server's env file: database, users, grants, retention.

Shipped by madash-server as /usr/libexec/madash-server/ensure-influxdb and run by
madash-ensure-influxdb.service after every start of madash-server.service, so that
a changed password or retention in a newer server package takes effect. Idempotent: a second run
changes nothing. Python standard library only, over InfluxDB's HTTP API.

Passwords never appear on a command line: they come from the env file, and go
to InfluxDB in POST bodies. The admin password that last worked is kept in a
root-only state file, so that a new admin password can replace the old one.

Nothing from the env file reaches InfluxQL unquoted: names are quoted as
identifiers and passwords as string literals, a backslash before every
backslash and quote, as influxql's scanner (ScanString) reads them, and the
retention is checked against a grammar before it is used as a duration. Every
value is checked before the first request to InfluxDB; a wrong env file is
one error line and exit status 2 (operational failures are 1).

Retention (MADASH_INFLUXDB_RETENTION, default 90d), exactly:

    retention = count unit | "inf"      ("inf" in any letter case: infinite)
    count     = [1-9][0-9]*             (ASCII digits, no leading zero)
    unit      = "h" | "d" | "w"         (hours, days, weeks; lower case only)

at most 2562047h = 106751d = 15250w (InfluxDB keeps durations as int64
nanoseconds). InfluxDB's own minimum, 1h, is the smallest value the grammar
can spell. Refused on purpose although InfluxQL reads them: "m" (minutes,
easily read as months), "s", "ms" and smaller units, compound durations
(1d12h), "0s" (InfluxDB's other spelling of infinite) and leading zeros.
"""

from __future__ import annotations

import argparse
import base64
import http.client
import json
import os
import re
import sys
import time
import unicodedata
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path

RP_NAME = "madash"
DURATION_UNITS = {"h": 3600, "d": 86400, "w": 604800}
RETENTION_RE = re.compile(r"([1-9][0-9]{0,17})([hdw])")
# InfluxDB keeps a duration as int64 nanoseconds; a longer one is a parse error ("overflowed duration").
MAX_RETENTION_SECONDS = (2**63 - 1) // 10**9
# Unicode's control characters and its line and paragraph separators: a newline in a value would end the
# InfluxQL string it is quoted in (influxql's scanner refuses it: "bad string"), and the others have no
# business in names or passwords.
CONTROL_CATEGORIES = ("Cc", "Zl", "Zp")
ENV_KEY_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# madash_baked: each host's newest package as madash-server's baked.json lists it, for the Fleet dashboard.
# In a retention policy of its own that never expires (a host baked months ago still has a newest version),
# each point at the time of its bake, so that writing it again at every start changes nothing.
BAKED_RP = "madash_forever"
BAKED_MEASUREMENT = "madash_baked"
HOST_RE = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*")
VERSION_RE = re.compile(r"[0-9][0-9.]{0,63}")
EXIT_ERROR = 1
EXIT_BAD_INPUT = 2


class EnsureError(Exception):
    pass


class ConfigError(EnsureError):
    """The env file holds a value that ensure-influxdb refuses; nothing has been sent to InfluxDB."""


class Unauthorized(EnsureError):
    """InfluxDB refused the credentials (401/403)."""


@dataclass(frozen=True)
class Retention:
    text: str  # as the env file spells it, for messages
    duration: str  # as InfluxQL gets it: "INF" or the checked text
    seconds: int  # 0 for infinite, as InfluxDB reports it


@dataclass(frozen=True)
class Settings:
    database: str
    admin: tuple[str, str]
    writer: tuple[str, str]
    reader: tuple[str, str]
    retention: Retention


def is_control(char: str) -> bool:
    return unicodedata.category(char) in CONTROL_CATEGORIES


def read_env(path: Path) -> dict[str, str]:
    """KEY=VALUE lines, # comment lines and empty lines; spaces around keys and values are dropped.

    Only "\\n" ends a line (str.splitlines would also split at U+2028, U+0085, ...). Refused: any control
    character, a line of another shape, a key set twice. A newline smuggled into a value shows up as one of
    these (a stray line, or a KEY=VALUE line setting a key again), and nothing can carry one further.
    """
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path} is not UTF-8 (byte {exc.start})") from None
    values: dict[str, str] = {}
    first_seen: dict[str, int] = {}
    for number, raw in enumerate(text.split("\n"), 1):
        key, sep, value = raw.partition("=")
        key, value = key.strip(" "), value.strip(" ")
        plain_key = bool(sep) and ENV_KEY_RE.fullmatch(key) is not None
        # Secrets stay out of the message: name the line and the key (when it is a plain one), never the value.
        where = f"{path}, line {number}" + (f" ({key})" if plain_key else "")
        bad = next((char for char in raw if is_control(char)), None)
        if bad is not None:
            raise ConfigError(f"{where} holds the control character U+{ord(bad):04X}: no value may hold one")
        if not raw.strip(" ") or raw.lstrip(" ").startswith("#"):
            continue
        if not plain_key:
            raise ConfigError(f"{where} is neither KEY=VALUE, a comment nor empty")
        if key in first_seen:
            raise ConfigError(f"{where} sets {key} again (first set on line {first_seen[key]})")
        if value != value.strip():
            # Readers of env files disagree about other white space at the ends (docker compose trims some of
            # it): refuse it rather than guess which password was meant.
            raise ConfigError(f"{where}: the value begins or ends with white space other than plain spaces")
        first_seen[key] = number
        values[key] = value
    return values


def parse_retention(text: str) -> Retention:
    """The retention grammar in the module's docstring; ConfigError for anything else."""
    if text.isascii() and text.lower() == "inf":
        return Retention(text, "INF", 0)
    match = RETENTION_RE.fullmatch(text)
    total = int(match[1]) * DURATION_UNITS[match[2]] if match else 0
    if not match or total > MAX_RETENTION_SECONDS:
        raise ConfigError(
            f"MADASH_INFLUXDB_RETENTION={text!r} is not a retention: give a whole number of hours, days or weeks"
            f" (24h, 90d, 2w; at least 1h, at most 106751d) or inf"
        )
    return Retention(text, text, total)


def check_database(name: str) -> None:
    # InfluxDB's own rule for database names (meta.ValidName: printable, no path separator, not . or ..), and
    # no glob character: influxd 1.6 uses the name in file-name patterns of its data directory, and a
    # database named with an unbalanced [ is created but refuses every write ("syntax error in pattern").
    if not name.isprintable() or any(char in name for char in "/\\*?[]") or name in (".", ".."):
        raise ConfigError(
            f"INFLUXDB_DB={name!r} is not a database name InfluxDB can use: printable characters only"
            " (no white space but plain spaces), none of / \\ * ? [ ], not . or .."
        )


def settings_from(env: dict[str, str]) -> Settings:
    keys = (
        "INFLUXDB_DB",
        "INFLUXDB_ADMIN_USER",
        "INFLUXDB_ADMIN_PASSWORD",
        "INFLUXDB_WRITE_USER",
        "INFLUXDB_WRITE_USER_PASSWORD",
        "INFLUXDB_READ_USER",
        "INFLUXDB_READ_USER_PASSWORD",
    )
    for key in keys:
        if key not in env:
            raise ConfigError(f"the env file lacks {key}")
        if not env[key]:
            raise ConfigError(f"{key} is empty in the env file")
    check_database(env["INFLUXDB_DB"])
    users = {role: env[f"INFLUXDB_{role}_USER"] for role in ("ADMIN", "WRITE", "READ")}
    for role, name in users.items():
        if ":" in name:
            # HTTP basic authentication ends the user name at the first colon: such a user could never log in.
            raise ConfigError(f"INFLUXDB_{role}_USER={name!r} holds ':', which HTTP basic authentication cannot carry")
    roles = list(users.items())
    for i, (role, name) in enumerate(roles):
        for other, other_name in roles[i + 1 :]:
            if name == other_name:
                # One InfluxDB user cannot be both: the second role's grants would take the first one's rights
                # (an admin made a writer is locked out for good).
                raise ConfigError(
                    f"INFLUXDB_{role}_USER and INFLUXDB_{other}_USER are both {name!r}: each role needs its own user"
                )
    return Settings(
        database=env["INFLUXDB_DB"],
        admin=(users["ADMIN"], env["INFLUXDB_ADMIN_PASSWORD"]),
        writer=(users["WRITE"], env["INFLUXDB_WRITE_USER_PASSWORD"]),
        reader=(users["READ"], env["INFLUXDB_READ_USER_PASSWORD"]),
        retention=parse_retention(env.get("MADASH_INFLUXDB_RETENTION", "90d")),
    )


def ident(name: str) -> str:
    """A double-quoted InfluxQL identifier; influxql's ScanString unescapes a backslash before \\ " ' or n."""
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


def literal(value: str) -> str:
    """A single-quoted InfluxQL string literal, escaped the same way (ScanString reads both kinds of quote)."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


GO_DURATION_RE = re.compile(r"(?:([0-9]+)h)?(?:([0-9]+)m)?(?:([0-9]+)(?:\.[0-9]+)?s)?")


def seconds(duration: str) -> int:
    """A duration as InfluxDB reports it (Go's format: '2160h0m0s'; '0s' is infinite) in whole seconds."""
    match = GO_DURATION_RE.fullmatch(duration)
    if not duration or match is None:
        raise EnsureError(f"InfluxDB reported a retention duration this script cannot read: {duration!r}")
    hours, minutes, secs = (int(part or 0) for part in match.groups())
    return hours * 3600 + minutes * 60 + secs


class Influx:
    def __init__(self, url: str) -> None:
        if urllib.parse.urlsplit(url).scheme not in ("http", "https"):
            raise ConfigError(f"--url must be http:// or https://, not {url!r}")
        self.url = url.rstrip("/")

    def ping(self) -> bool:
        try:
            # The scheme was checked in __init__ (S310).
            with urllib.request.urlopen(f"{self.url}/ping", timeout=5) as response:  # noqa: S310
                return bool(response.status == 204)
        except (OSError, urllib.error.URLError):
            return False

    def query(
        self, q: str, auth: tuple[str, str] | None, shown: str | None = None, db: str | None = None
    ) -> list[dict[str, object]]:
        """Run one statement (in ``db``); ``shown`` stands for it in error messages when it carries a password."""
        body = urllib.parse.urlencode({"q": q, **({"db": db} if db is not None else {})}).encode()
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
        except (http.client.HTTPException, ValueError) as exc:
            # A broken connection or an answer that is not JSON: something else answers at --url.
            raise EnsureError(f"no usable answer from InfluxDB at {self.url}: {exc}") from None
        results: list[dict[str, object]] = document.get("results", []) if isinstance(document, dict) else []
        for result in results:
            if "error" in result:
                raise EnsureError(f"InfluxDB refused {shown or q}: {result['error']}")
        return results

    def rows(self, q: str, auth: tuple[str, str] | None) -> list[list[object]]:
        found: list[list[object]] = []
        for result in self.query(q, auth):
            for series in result.get("series", []) or []:  # type: ignore[attr-defined]
                found.extend(series.get("values", []) or [])
        return found

    def write(self, params: str, body: bytes, auth: tuple[str, str]) -> None:
        request = urllib.request.Request(f"{self.url}/write?{params}", data=body, method="POST")  # noqa: S310
        token = base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
        request.add_header("Authorization", f"Basic {token}")
        try:
            with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
                if response.status != 204:
                    raise EnsureError(f"InfluxDB answered {response.status} to a write")
        except urllib.error.HTTPError as exc:
            text = exc.read().decode("utf-8", "replace").strip()
            raise EnsureError(f"InfluxDB refused a write ({exc.code}): {text}") from None

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
        influx.query(
            f"CREATE USER {ident(admin[0])} WITH PASSWORD {literal(admin[1])} WITH ALL PRIVILEGES",
            None,
            f"CREATE USER {ident(admin[0])} WITH PASSWORD ... WITH ALL PRIVILEGES",
        )
        changes.append(f"created admin user {admin[0]}")
        return admin
    except EnsureError:
        pass
    previous = state.read_text(encoding="utf-8").removesuffix("\n") if state.exists() else ""
    if previous and influx.works((admin[0], previous)):
        set_password(influx, admin, (admin[0], previous))
        changes.append(f"changed the password of admin user {admin[0]}")
        return admin
    raise EnsureError(
        f"cannot log in to InfluxDB as {admin[0]}: its password is neither the env file's nor the last one used"
    )


def set_password(influx: Influx, user: tuple[str, str], auth: tuple[str, str]) -> None:
    statement = f"SET PASSWORD FOR {ident(user[0])} = "
    influx.query(statement + literal(user[1]), auth, statement + "...")


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
            statement = f"CREATE USER {ident(name)} WITH PASSWORD "
            influx.query(statement + literal(password), admin, statement + "...")
            changes.append(f"created user {name}")
        elif not influx.works((name, password)):
            set_password(influx, (name, password), admin)
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
    db, retention = settings.database, settings.retention
    policies = {
        str(r[0]): (str(r[1]), bool(r[-1])) for r in influx.rows(f"SHOW RETENTION POLICIES ON {ident(db)}", admin)
    }
    # retention.duration is "INF" or matched RETENTION_RE: digits and one unit letter, nothing else.
    if RP_NAME not in policies:
        influx.query(
            f"CREATE RETENTION POLICY {ident(RP_NAME)} ON {ident(db)} DURATION {retention.duration}"
            " REPLICATION 1 DEFAULT",
            admin,
        )
        changes.append(f"created retention policy {RP_NAME} ({retention.text})")
    elif (seconds(policies[RP_NAME][0]), policies[RP_NAME][1]) != (retention.seconds, True):
        # SHARD DURATION 0s lets InfluxDB choose the shard duration for the new retention, as CREATE does:
        # a shard duration longer than the retention is refused ("must be greater than the shard duration"),
        # e.g. going from 90d (1d shards) to 12h.
        influx.query(
            f"ALTER RETENTION POLICY {ident(RP_NAME)} ON {ident(db)} DURATION {retention.duration}"
            " SHARD DURATION 0s DEFAULT",
            admin,
        )
        changes.append(f"set retention policy {RP_NAME} to {retention.text}")


@dataclass(frozen=True)
class Baked:
    host: str
    version: str
    epoch: int

    @property
    def package(self) -> str:
        return f"madash-client-{self.host}={self.version}"

    def line(self) -> str:
        # Line protocol: host names and versions (checked in read_baked) need no escape but the "=" of the
        # package's tag value; the version is a string field, in quotes.
        package = self.package.replace("=", "\\=")
        return f'{BAKED_MEASUREMENT},host={self.host},madash_package={package} version="{self.version}" {self.epoch}'


def read_baked(path: Path) -> list[Baked]:
    """baked.json: {"hosts": [{"host", "version", "package", "baked"}, ...]}, every value checked."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise ConfigError(f"{path} is not JSON: {exc}") from None
    entries = document.get("hosts") if isinstance(document, dict) else None
    if not isinstance(entries, list) or set(document) != {"hosts"}:
        raise ConfigError(f"{path} holds no list of hosts")
    found: list[Baked] = []
    for entry in entries:
        ok = isinstance(entry, dict) and set(entry) == {"host", "version", "package", "baked"}
        host, version, epoch = (entry.get(k) for k in ("host", "version", "baked")) if ok else (None, None, None)
        ok = ok and isinstance(host, str) and HOST_RE.fullmatch(host) is not None and len(host) <= 253
        ok = ok and isinstance(version, str) and VERSION_RE.fullmatch(version) is not None
        ok = ok and isinstance(epoch, int) and not isinstance(epoch, bool) and 0 < epoch < 2**33
        if not ok or entry["package"] != f"madash-client-{host}={version}":
            raise ConfigError(f"{path}: {entry!r} is not a host, its version and when it was baked")
        found.append(Baked(str(host), str(version), int(str(epoch))))
    if len({b.host for b in found}) != len(found):
        raise ConfigError(f"{path} names a host twice")
    return found


def ensure_baked(influx: Influx, admin: tuple[str, str], db: str, baked: list[Baked], changes: list[str]) -> None:
    """madash_baked holds each listed host's newest package, and no host the list has dropped."""
    policies = {str(r[0]) for r in influx.rows(f"SHOW RETENTION POLICIES ON {ident(db)}", admin)}
    if BAKED_RP not in policies:
        influx.query(f"CREATE RETENTION POLICY {ident(BAKED_RP)} ON {ident(db)} DURATION INF REPLICATION 1", admin)
        changes.append(f"created retention policy {BAKED_RP} (kept for ever)")
    source = f"{ident(BAKED_RP)}.{ident(BAKED_MEASUREMENT)}"
    newest: dict[str, tuple[object, object]] = {}
    # Only the script's own names, quoted: nothing from a file reaches this query.
    newest_query = f'SELECT last("version"), "madash_package" FROM {source} GROUP BY "host"'  # noqa: S608
    for result in influx.query(newest_query, admin, db=db):
        for series in result.get("series", []) or []:  # type: ignore[attr-defined]
            newest[series["tags"]["host"]] = tuple(series["values"][-1][1:3])
    wanted = [b for b in baked if newest.get(b.host) != (b.version, b.package)]
    if wanted:
        params = urllib.parse.urlencode({"db": db, "rp": BAKED_RP, "precision": "s"})
        influx.write(params, "\n".join(b.line() for b in wanted).encode(), admin)
        changes += [f"recorded {b.package} as the newest package baked for {b.host}" for b in wanted]
    for host in sorted(set(newest) - {b.host for b in baked}):
        influx.query(f'DROP SERIES FROM {ident(BAKED_MEASUREMENT)} WHERE "host" = {literal(host)}', admin, db=db)
        changes.append(f"forgot {host}, which the server package no longer lists")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="ensure-influxdb", description=__doc__.splitlines()[0])
    parser.add_argument("--env-file", type=Path, required=True, help="madash-server's env file")
    parser.add_argument("--url", default="http://127.0.0.1:8086", help="InfluxDB's HTTP API")
    parser.add_argument("--state", type=Path, required=True, help="where the working admin password is kept")
    parser.add_argument("--baked", type=Path, help="madash-server's list of each host's newest package")
    parser.add_argument("--wait", type=float, default=0, help="seconds to wait for InfluxDB to answer")
    args = parser.parse_args(argv)
    try:
        influx = Influx(args.url)
        settings = settings_from(read_env(args.env_file))
        baked = read_baked(args.baked) if args.baked else None
        deadline = time.monotonic() + args.wait
        while not influx.ping():
            if time.monotonic() >= deadline:
                raise EnsureError(f"InfluxDB does not answer at {args.url}")
            time.sleep(1)
        changes = ensure(influx, settings, args.state)
        if baked is not None:
            ensure_baked(influx, settings.admin, settings.database, baked, changes)
    except ConfigError as exc:
        print(f"ensure-influxdb: error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except (EnsureError, OSError) as exc:
        print(f"ensure-influxdb: error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    for change in changes:
        print(f"ensure-influxdb: {change}")
    if not changes:
        print("ensure-influxdb: InfluxDB already matches the env file")
    return 0


if __name__ == "__main__":
    sys.exit(main())
