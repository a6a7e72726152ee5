"""madash-server's ensure-influxdb helper against Debian's real influxd (authentication on)."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from madash.deb import read_deb
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
    from madash import bake, server
    from madash.site import load_site
    from madash.siteinit import init_site
    from tests.conftest import NOW

    root = tmp_path_factory.mktemp("site") / "site"
    init_site(root, ["127.0.0.1"], None, force=False, ca_passphrase=None, now=NOW)
    site = load_site(root)
    deb = bake.bake_package(site, server.server_spec(server.gather(site, NOW)), NOW).path
    path = root / "ensure-influxdb"
    path.write_bytes(read_deb(deb).members["/usr/lib/madash-server/ensure-influxdb"].data or b"")
    path.chmod(0o755)
    return path


@pytest.fixture
def influx(tmp_path: Path) -> Iterator[Influxd]:
    with Influxd(tmp_path / "influxd", auth=True) as server:
        yield server


def run(helper: Path, influx: Influxd, tmp_path: Path, **changes: str) -> subprocess.CompletedProcess[str]:
    env_file = tmp_path / "madash.env"
    env_file.write_text("".join(f"{k}={v}\n" for k, v in {**ENV, **changes}.items()))
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
