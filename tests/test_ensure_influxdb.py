"""madash-server's ensure-influxdb helper against Debian's real influxd (authentication on)."""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Protocol

import pytest

from madash.deb.reader import read_deb
from tests.servers import HttpError, Influxd

pytestmark = pytest.mark.network

ENV = {
    "INFLUXDB_DB": "telegraf",
    "INFLUXDB_ADMIN_USER": "admin",
    "INFLUXDB_ADMIN_PASSWORD": "admin-pw-1",
    "INFLUXDB_WRITE_USER": "telegraf",
    "INFLUXDB_WRITE_USER_PASSWORD": "writer-pw-1",
    "INFLUXDB_READ_USER": "grafana",
    "INFLUXDB_READ_USER_PASSWORD": "reader-pw-1",
    "GF_SECURITY_ADMIN_PASSWORD": "unused-here",
    "MADASH_INFLUXDB_RETENTION": "90d",
}


@pytest.fixture(scope="module")
def helper(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The ensure-influxdb that the server package ships, taken out of a built package."""
    from madash.bootstrap import init_site
    from madash.packages import bake, server
    from madash.site.config import load_site
    from tests.conftest import NOW

    root = tmp_path_factory.mktemp("site") / "site"
    init_site(root, ["127.0.0.1"], None, force=False, ca_passphrase=None, now=NOW)
    site = load_site(root)
    deb = bake.bake_package(site, server.server_spec(server.gather(site, NOW)), NOW).path
    path = root / "ensure-influxdb"
    path.write_bytes(read_deb(deb).members["/usr/libexec/madash-server/ensure-influxdb"].data or b"")
    path.chmod(0o755)
    return path


@pytest.fixture
def influx(tmp_path: Path) -> Iterator[Influxd]:
    with Influxd(tmp_path / "influxd", auth=True) as server:
        yield server


def env_text(changes: dict[str, str | None]) -> str:
    """ENV with ``changes`` applied (None drops a key), as madash.env spells it."""
    merged = {**ENV, **changes}
    return "".join(f"{k}={v}\n" for k, v in merged.items() if v is not None)


class Server(Protocol):
    @property
    def url(self) -> str: ...


def run(helper: Path, influx: Server, tmp_path: Path, **changes: str | None) -> subprocess.CompletedProcess[str]:
    return run_with(helper, influx, tmp_path, env_text(changes).encode())


def run_with(helper: Path, influx: Server, tmp_path: Path, env: bytes) -> subprocess.CompletedProcess[str]:
    env_file = tmp_path / "madash.env"
    env_file.write_bytes(env)
    state = tmp_path / "state"
    return subprocess.run(
        [str(helper), "--env-file", str(env_file), "--url", influx.url, "--state", str(state), "--wait", "10"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip


def rows(influx: Influxd, q: str, user: str, password: str) -> list[list[object]]:
    result = influx.query(q, user=user, password=password)["results"][0]
    return [row for series in result.get("series", []) for row in series["values"]]


def test_first_run_creates_second_changes_nothing(helper: Path, influx: Influxd, tmp_path: Path) -> None:
    first = run(helper, influx, tmp_path)
    assert first.returncode == 0, first.stderr
    assert "created admin user admin" in first.stdout and "created database telegraf" in first.stdout
    assert "admin-pw-1" not in first.stdout + first.stderr
    users = {row[0]: row[1] for row in rows(influx, "SHOW USERS", "admin", "admin-pw-1")}
    assert users == {"admin": True, "telegraf": False, "grafana": False}
    assert rows(influx, 'SHOW GRANTS FOR "telegraf"', "admin", "admin-pw-1") == [["telegraf", "WRITE"]]
    assert rows(influx, 'SHOW GRANTS FOR "grafana"', "admin", "admin-pw-1") == [["telegraf", "READ"]]
    policies = rows(influx, 'SHOW RETENTION POLICIES ON "telegraf"', "admin", "admin-pw-1")
    assert [p[:2] + p[3:] for p in policies if p[0] == "madash"] == [["madash", "2160h0m0s", 1, True]]
    assert (tmp_path / "state").stat().st_mode & 0o777 == 0o600

    # The writer writes but cannot read; the reader reads but cannot write.
    stamp = int(time.time()) * 1_000_000_000
    assert influx.write(f"cpu,host=a usage_idle=90 {stamp}", "telegraf", "telegraf", "writer-pw-1") == 204
    assert influx.write("cpu,host=a usage_idle=91", "telegraf", "grafana", "reader-pw-1") == 403
    with pytest.raises(HttpError):
        influx.query("SELECT * FROM cpu", user="telegraf", password="writer-pw-1", db="telegraf")
    [[when, value]] = rows(influx, 'SELECT usage_idle FROM "telegraf"."madash"."cpu"', "grafana", "reader-pw-1")
    assert value == 90 and when == time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(stamp // 1_000_000_000))

    second = run(helper, influx, tmp_path)
    assert second.returncode == 0, second.stderr
    assert second.stdout.strip() == "ensure-influxdb: InfluxDB already matches the env file"


def test_new_passwords_and_retention_take_effect(helper: Path, influx: Influxd, tmp_path: Path) -> None:
    assert run(helper, influx, tmp_path).returncode == 0
    changed = run(
        helper, influx, tmp_path,
        INFLUXDB_ADMIN_PASSWORD="admin-pw-2", INFLUXDB_WRITE_USER_PASSWORD="writer-pw-2",
        INFLUXDB_READ_USER_PASSWORD="reader-pw-2", MADASH_INFLUXDB_RETENTION="30d",
    )  # fmt: skip
    assert changed.returncode == 0, changed.stderr
    for line in ("changed the password of admin user admin", "changed the password of telegraf",
                 "changed the password of grafana", "set retention policy madash to 30d"):  # fmt: skip
        assert line in changed.stdout
    assert influx.write("cpu,host=a v=1", "telegraf", "telegraf", "writer-pw-2") == 204
    assert influx.write("cpu,host=a v=1", "telegraf", "telegraf", "writer-pw-1") == 401
    policies = rows(influx, 'SHOW RETENTION POLICIES ON "telegraf"', "admin", "admin-pw-2")
    assert any(p[0] == "madash" and p[1] == "720h0m0s" and p[-1] is True for p in policies)


def test_a_grant_widened_by_hand_is_narrowed_again(helper: Path, influx: Influxd, tmp_path: Path) -> None:
    assert run(helper, influx, tmp_path).returncode == 0
    influx.query('GRANT ALL ON "telegraf" TO "grafana"', user="admin", password="admin-pw-1")
    fixed = run(helper, influx, tmp_path)
    assert "granted READ on telegraf to grafana only" in fixed.stdout
    assert rows(influx, 'SHOW GRANTS FOR "grafana"', "admin", "admin-pw-1") == [["telegraf", "READ"]]


def test_failures_are_one_line_and_non_zero(helper: Path, influx: Influxd, tmp_path: Path) -> None:
    assert run(helper, influx, tmp_path).returncode == 0
    (tmp_path / "state").unlink()  # the last working admin password is lost
    lost = run(helper, influx, tmp_path, INFLUXDB_ADMIN_PASSWORD="admin-pw-9")
    assert lost.returncode == 1
    assert lost.stderr.startswith("ensure-influxdb: error: cannot log in to InfluxDB as admin")
    (tmp_path / "madash.env").write_text("INFLUXDB_DB=telegraf\n")
    missing = subprocess.run(
        [str(helper), "--env-file", str(tmp_path / "madash.env"), "--url", influx.url, "--state", str(tmp_path / "s")],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert missing.returncode == 2 and "lacks INFLUXDB_ADMIN_USER" in missing.stderr


# --- Hostile input (issue 11): nothing from the env file may change the meaning of a statement. ---

# Every printable ASCII character but the space (values are read with spaces around them dropped).
ASCII = "".join(map(chr, range(0x21, 0x7F)))
USER_ASCII = ASCII.replace(":", "")  # basic authentication ends a user name at its first colon
# InfluxDB refuses / and \\ in database names; influxd 1.6 globs with the name (an unbalanced [ breaks writes).
DB_ASCII = "".join(char for char in ASCII if char not in "/\\*?[]")

# Names and passwords that break out of a naive quoting, and InfluxQL keywords; InfluxDB must end up with
# exactly these. The retentions vary too: (what the env file says, what SHOW RETENTION POLICIES answers).
HOSTILE: dict[str, tuple[dict[str, str], str]] = {
    "quotes-and-escapes": (
        {
            "INFLUXDB_DB": 'tele"graf\'; DROP DATABASE "canary',
            "INFLUXDB_ADMIN_USER": 'ad\\"min\\',
            "INFLUXDB_ADMIN_PASSWORD": 'a\'; DROP DATABASE "canary"; --\\',
            "INFLUXDB_WRITE_USER": "w'riter\\\" WITH ALL PRIVILEGES",
            "INFLUXDB_WRITE_USER_PASSWORD": "p\\\\'\"; x \\n",
            "INFLUXDB_READ_USER": 'r "eader"; SHOW USERS',
            "INFLUXDB_READ_USER_PASSWORD": "\\'; GRANT ALL TO \"r",
            "MADASH_INFLUXDB_RETENTION": "90d",
        },
        "2160h0m0s",
    ),
    "keywords": (
        {
            "INFLUXDB_DB": "DROP",
            "INFLUXDB_ADMIN_USER": "ALL",
            "INFLUXDB_ADMIN_PASSWORD": "WITH ALL PRIVILEGES",
            "INFLUXDB_WRITE_USER": "WITH",
            "INFLUXDB_WRITE_USER_PASSWORD": "DROP DATABASE canary",
            "INFLUXDB_READ_USER": "SELECT",
            "INFLUXDB_READ_USER_PASSWORD": "INF",
            "MADASH_INFLUXDB_RETENTION": "inf",
        },
        "0s",
    ),
    "unicode": (
        {
            "INFLUXDB_DB": "données 監視 😀",
            "INFLUXDB_ADMIN_USER": "管理者 Ω",
            "INFLUXDB_ADMIN_PASSWORD": "pässwörd ü 日本語",
            "INFLUXDB_WRITE_USER": "écrivain ✍",
            "INFLUXDB_WRITE_USER_PASSWORD": "𝔘𝔫𝔦𝔠𝔬𝔡𝔢 \"q\" 'q' \\b",
            "INFLUXDB_READ_USER": "lecteur 👀",
            "INFLUXDB_READ_USER_PASSWORD": "ß‐ﬁ ﹐؟",
            "MADASH_INFLUXDB_RETENTION": "2w",
        },
        "336h0m0s",
    ),
    "every-ascii-character": (
        {
            "INFLUXDB_DB": DB_ASCII + " db",
            "INFLUXDB_ADMIN_USER": USER_ASCII + " admin",
            "INFLUXDB_ADMIN_PASSWORD": ASCII + " admin",
            "INFLUXDB_WRITE_USER": USER_ASCII + " writer",
            "INFLUXDB_WRITE_USER_PASSWORD": ASCII + " writer",
            "INFLUXDB_READ_USER": USER_ASCII + " reader",
            "INFLUXDB_READ_USER_PASSWORD": ASCII + " reader",
            "MADASH_INFLUXDB_RETENTION": "24h",
        },
        "24h0m0s",
    ),
}


def quote(name: str) -> str:
    """The test's own InfluxQL identifier quoting (influxql's ScanString), written apart from the helper's."""
    return '"' + "".join("\\" + char if char in '"\\' else char for char in name) + '"'


def canary_database(where: Path) -> int:
    """A database with one point that ensure-influxdb has no business touching; returns the point's time."""
    stamp = (int(time.time()) - 60) * 1_000_000_000
    with Influxd(where, auth=False) as server:
        server.query('CREATE DATABASE "canary"')
        assert server.write(f"canary v=1 {stamp}", "canary", None, None) == 204
    return stamp


def assert_exactly(influx: Influxd, values: dict[str, str], duration: str, stamp: int) -> None:
    """InfluxDB holds the env file's database, users, grants and retention, and nothing else changed."""
    db = values["INFLUXDB_DB"]
    admin = (values["INFLUXDB_ADMIN_USER"], values["INFLUXDB_ADMIN_PASSWORD"])
    writer = (values["INFLUXDB_WRITE_USER"], values["INFLUXDB_WRITE_USER_PASSWORD"])
    reader = (values["INFLUXDB_READ_USER"], values["INFLUXDB_READ_USER_PASSWORD"])
    assert sorted(str(row[0]) for row in rows(influx, "SHOW DATABASES", *admin)) == sorted(["canary", db])
    users = {row[0]: row[1] for row in rows(influx, "SHOW USERS", *admin)}
    assert users == {admin[0]: True, writer[0]: False, reader[0]: False}
    assert rows(influx, f"SHOW GRANTS FOR {quote(writer[0])}", *admin) == [[db, "WRITE"]]
    assert rows(influx, f"SHOW GRANTS FOR {quote(reader[0])}", *admin) == [[db, "READ"]]
    policies = {p[0]: (p[1], p[-1]) for p in rows(influx, f"SHOW RETENTION POLICIES ON {quote(db)}", *admin)}
    assert policies["madash"] == (duration, True)
    assert rows(influx, 'SELECT v FROM "canary"."autogen"."canary"', *admin)[0][1] == 1
    # The passwords are the env file's, to the character: the writer writes with its own, the reader reads.
    assert influx.write(f"cpu v=7 {stamp}", db, *writer) == 204
    [[_, value]] = rows(influx, f'SELECT last(v) FROM {quote(db)}."madash"."cpu"', *reader)
    assert value == 7


@pytest.mark.parametrize("case", HOSTILE)
def test_hostile_names_and_passwords_are_created_exactly_as_given(helper: Path, tmp_path: Path, case: str) -> None:
    changes, duration = HOSTILE[case]
    values = {**ENV, **changes}
    secrets = [v for k, v in values.items() if k.endswith("PASSWORD")]
    stamp = canary_database(tmp_path / "influxd")
    with Influxd(tmp_path / "influxd", auth=True) as influx:
        first = run(helper, influx, tmp_path, **changes)
        assert first.returncode == 0, first.stderr
        assert not any(secret in first.stdout + first.stderr for secret in secrets)
        assert f"created admin user {values['INFLUXDB_ADMIN_USER']}\n" in first.stdout
        assert_exactly(influx, values, duration, stamp)
        second = run(helper, influx, tmp_path, **changes)
        assert second.stdout == "ensure-influxdb: InfluxDB already matches the env file\n", second.stderr

        # New passwords as hostile as the old ones take effect too (SET PASSWORD, the admin's through the state).
        new = {k: v[::-1] for k, v in changes.items() if k.endswith("PASSWORD")}
        third = run(helper, influx, tmp_path, **{**changes, **new})
        assert third.returncode == 0, third.stderr
        assert third.stdout.count("changed the password of") == 3
        assert_exactly(influx, {**values, **new}, duration, stamp + 1)


# What the review ran: the old helper pasted the retention into CREATE RETENTION POLICY, and InfluxDB runs every
# statement of a ;-separated query (-- comments out the rest of the original statement).
EXPLOIT = '1d REPLICATION 1 DEFAULT; DROP DATABASE "canary" --'


def test_the_reviewed_exploit_is_refused_and_the_canary_survives(helper: Path, tmp_path: Path) -> None:
    canary_database(tmp_path / "influxd")
    with Influxd(tmp_path / "influxd", auth=True) as influx:
        refused = run(helper, influx, tmp_path, MADASH_INFLUXDB_RETENTION=EXPLOIT)
        assert refused.returncode == 2
        assert refused.stderr.startswith("ensure-influxdb: error: MADASH_INFLUXDB_RETENTION=")
        # Not even the admin was created (creating one is still open to anyone): no statement was sent.
        influx.query("CREATE USER \"probe\" WITH PASSWORD 'probe-pw' WITH ALL PRIVILEGES")
        assert rows(influx, "SHOW USERS", "probe", "probe-pw") == [["probe", True]]
        assert rows(influx, "SHOW DATABASES", "probe", "probe-pw") == [["canary"]]
        assert rows(influx, 'SELECT v FROM "canary"."autogen"."canary"', "probe", "probe-pw")[0][1] == 1


class Listener:
    """A TCP port that accepts nothing: any connection attempt stays queued, so a test can see that none came."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"

    def connections(self) -> int:
        self.sock.setblocking(False)
        count = 0
        while True:
            try:
                connection, _ = self.sock.accept()
            except BlockingIOError:
                return count
            connection.close()
            count += 1


@pytest.fixture
def listener() -> Iterator[Listener]:
    server = Listener()
    try:
        yield server
    finally:
        server.sock.close()


BAD_RETENTIONS = [
    EXPLOIT, '1d; DROP DATABASE "canary"', "1d DROP DATABASE canary", "90d DEFAULT",
    "90D", "forever", "infinite", "INF;",
    "90", "d", "", "0", "0s", "0d", "090d", "1.5d", "1e3d", "-1d", "+1d", "30m", "3600s", "1000ms", "1d12h", "1 d",
    "106752d", "15251w", "2562048h", "99999999999999999999d", "９０d", "٩٠d", "ｉnf", "inf inf",
]  # fmt: skip
CONTROL_CHARACTERS = ["\r", "\x00", "\x1b[2J", "\t", "\x0b", "\x0c", "\x7f", "\x85", "\u2028", "\u2029", "\x1c"]


def case(id_: str, expected: str, env: str | bytes | None = None, **changes: str | None) -> object:
    text = env if env is not None else env_text(changes)
    return pytest.param(text.encode() if isinstance(text, str) else text, expected, id=id_)


REFUSED = [
    *(case(f"retention-{v!r}", "is not a retention", MADASH_INFLUXDB_RETENTION=v) for v in BAD_RETENTIONS),
    *(
        case(f"control-{c!r}-in-{key}", "control character", **{key: f"a{c}b"})
        for key in ("INFLUXDB_ADMIN_PASSWORD", "INFLUXDB_DB", "INFLUXDB_WRITE_USER")
        for c in CONTROL_CHARACTERS
    ),
    case("control-in-retention", "control character", MADASH_INFLUXDB_RETENTION="90d\r"),
    case("control-in-a-comment", "control character", env="# \x1b[2J\n" + env_text({})),
    case("writer-is-admin", "each role needs its own user", INFLUXDB_WRITE_USER="admin"),
    case("reader-is-admin", "each role needs its own user", INFLUXDB_READ_USER="admin"),
    case("reader-is-writer", "each role needs its own user", INFLUXDB_READ_USER="telegraf"),
    case("colon-in-admin", "which HTTP basic authentication cannot carry", INFLUXDB_ADMIN_USER="ad:min"),
    case("colon-in-reader", "which HTTP basic authentication cannot carry", INFLUXDB_READ_USER="graf:ana"),
    *(
        case(f"database-{name!r}", "is not a database name", INFLUXDB_DB=name)
        for name in ("a/b", "a\\b", ".", "..", "a\u00a0b", "a\u200bb", "a\u3000b", "a[b", "a]b", "*", "a?b")
    ),
    case("missing-key", "lacks INFLUXDB_READ_USER_PASSWORD", INFLUXDB_READ_USER_PASSWORD=None),
    case("empty-password", "INFLUXDB_WRITE_USER_PASSWORD is empty", INFLUXDB_WRITE_USER_PASSWORD=""),
    case("empty-database", "INFLUXDB_DB is empty", INFLUXDB_DB=""),
    case("unicode-space-at-an-end", "white space", INFLUXDB_ADMIN_PASSWORD="pw\u3000"),
    # A newline that reached a value splits it: the tail is a stray line, or sets a key a second time.
    case("stray-line", "neither KEY=VALUE", env=env_text({"INFLUXDB_DB": "telegraf\nDROP DATABASE canary"})),
    case("key-set-twice", "sets INFLUXDB_DB again", env=env_text({"INFLUXDB_READ_USER": "grafana\nINFLUXDB_DB=x"})),
    case("not-utf-8", "is not UTF-8", env=env_text({}).encode() + b"INFLUXDB_X=\xff\n"),
]


@pytest.mark.parametrize(("env", "expected"), REFUSED)
def test_a_wrong_env_file_is_refused_before_any_request(
    helper: Path, listener: Listener, tmp_path: Path, env: bytes, expected: str
) -> None:
    result = run_with(helper, listener, tmp_path, env)
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr.startswith("ensure-influxdb: error: ") and result.stderr.count("\n") == 1, result.stderr
    assert expected in result.stderr
    assert "Traceback" not in result.stderr
    assert not any(secret in result.stderr for secret in ("admin-pw-1", "writer-pw-1", "reader-pw-1"))
    assert listener.connections() == 0, "a request was sent"
    assert not (tmp_path / "state").exists()


def test_every_accepted_retention_reaches_influxdb(helper: Path, influx: Influxd, tmp_path: Path) -> None:
    """Each spelling of the grammar, in an order that also shrinks the retention below the old shard duration."""
    steps = [
        ("90d", "2160h0m0s", "created retention policy madash (90d)"),
        ("1h", "1h0m0s", "set retention policy madash to 1h"),  # 90d had 1d shards
        ("inf", "0s", "set retention policy madash to inf"),
        ("INF", "0s", None),  # the same policy: nothing to do
        ("2562047h", "2562047h0m0s", "set retention policy madash to 2562047h"),
        ("12h", "12h0m0s", "set retention policy madash to 12h"),  # from 1w shards
        ("15250w", "2562000h0m0s", "set retention policy madash to 15250w"),
        ("Inf", "0s", "set retention policy madash to Inf"),
        ("106751d", "2562024h0m0s", "set retention policy madash to 106751d"),
        ("24h", "24h0m0s", "set retention policy madash to 24h"),
    ]
    for retention, shown, change in steps:
        result = run(helper, influx, tmp_path, MADASH_INFLUXDB_RETENTION=retention)
        assert result.returncode == 0, result.stderr
        if change is None:
            assert result.stdout == "ensure-influxdb: InfluxDB already matches the env file\n"
        else:
            assert f"ensure-influxdb: {change}\n" in result.stdout
        policies = rows(influx, 'SHOW RETENTION POLICIES ON "telegraf"', "admin", "admin-pw-1")
        assert [(p[1], p[-1]) for p in policies if p[0] == "madash"] == [(shown, True)], retention
