"""Who runs what: madash-server's list of each host's newest package, and ensure-influxdb writing it into influxd."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from madash.deb.reader import read_deb
from madash.packages import server
from madash.packages.baked import BAKED
from madash.site.config import load_site
from tests.conftest import NOW, bake_host
from tests.servers import Influxd
from tests.test_ensure_influxdb import env_text

pytestmark = pytest.mark.network

LATER = NOW + dt.timedelta(hours=1)


def server_files(site_dir: Path, now: dt.datetime) -> dict[str, bytes]:
    result, _ = server.bake_server(load_site(site_dir), now, None)
    contents = read_deb(result.path)
    return {path: m.data or b"" for path, m in contents.members.items() if m.data is not None}


def ensure(files: dict[str, bytes], influx: Influxd, work: Path, baked: bytes | None = None) -> str:
    helper, env, listed = work / "ensure-influxdb", work / "madash.env", work / "baked.json"
    helper.write_bytes(files["/usr/libexec/madash-server/ensure-influxdb"])
    helper.chmod(0o755)
    env.write_text(env_text({}))
    listed.write_bytes(baked if baked is not None else files[BAKED])
    argv = [str(helper), "--env-file", str(env), "--url", influx.url, "--state", str(work / "state"), "--wait", "10"]
    done = subprocess.run([*argv, "--baked", str(listed)], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout


def newest(influx: Influxd) -> dict[str, list[Any]]:
    answer = influx.query(
        'SELECT last("version"), "madash_package" FROM "madash_forever"."madash_baked" GROUP BY "host"',
        "admin", "admin-pw-1", db="telegraf",
    )  # fmt: skip
    return {s["tags"]["host"]: s["values"][0] for s in answer["results"][0].get("series", [])}


def test_the_server_knows_the_newest_package_of_each_host(site_dir: Path, tmp_path: Path) -> None:
    desk, laptop = bake_host(site_dir, "desk"), bake_host(site_dir, "laptop", "smart")
    files = server_files(site_dir, NOW)
    listed = json.loads(files[BAKED])
    assert listed == {"hosts": [
        {"host": "desk", "version": desk.version, "package": f"madash-client-desk={desk.version}",
         "baked": int(NOW.timestamp())},
        {"host": "laptop", "version": laptop.version, "package": f"madash-client-laptop={laptop.version}",
         "baked": int(NOW.timestamp())},
    ]}  # fmt: skip
    with Influxd(tmp_path / "influxd", auth=True) as influx:
        first = ensure(files, influx, tmp_path)
        assert "recorded madash-client-desk=" in first and "recorded madash-client-laptop=" in first
        at = dt.datetime.fromtimestamp(int(NOW.timestamp()), dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        assert newest(influx) == {
            "desk": [at, desk.version, f"madash-client-desk={desk.version}"],
            "laptop": [at, laptop.version, f"madash-client-laptop={laptop.version}"],
        }
        assert "InfluxDB already matches" in ensure(files, influx, tmp_path), "a second start changes nothing"
        # A host re-baked after the server: the next server package lists the new version.
        laptop2 = bake_host(site_dir, "laptop", "smart", "sensors", now=LATER)
        assert laptop2.version != laptop.version
        files = server_files(site_dir, LATER)
        assert "recorded madash-client-laptop=" + laptop2.version in ensure(files, influx, tmp_path)
        assert newest(influx)["laptop"][1:] == [laptop2.version, f"madash-client-laptop={laptop2.version}"]
        assert newest(influx)["desk"][1] == desk.version
        # A host the list no longer names is forgotten, its older points too.
        only_desk = {"hosts": [e for e in json.loads(files[BAKED])["hosts"] if e["host"] == "desk"]}
        out = ensure(files, influx, tmp_path, json.dumps(only_desk).encode())
        assert "forgot laptop" in out and set(newest(influx)) == {"desk"}


@pytest.mark.parametrize(
    "entry",
    [
        {"host": "desk", "version": "1", "package": "madash-client-other=1", "baked": 1},
        {"host": "desk x", "version": "1", "package": "madash-client-desk x=1", "baked": 1},
        {"host": "desk", "version": '1" x=2', "package": 'madash-client-desk=1" x=2', "baked": 1},
        {"host": "desk", "version": "1", "package": "madash-client-desk=1", "baked": True},
        {"host": "desk", "version": "1", "package": "madash-client-desk=1", "baked": 1, "more": 1},
    ],
)
def test_a_wrong_list_is_refused_before_any_request(site_dir: Path, tmp_path: Path, entry: dict[str, Any]) -> None:
    files = server_files(site_dir, NOW)
    helper, env, listed = tmp_path / "ensure-influxdb", tmp_path / "madash.env", tmp_path / "baked.json"
    helper.write_bytes(files["/usr/libexec/madash-server/ensure-influxdb"])
    helper.chmod(0o755)
    env.write_text(env_text({}))
    listed.write_text(json.dumps({"hosts": [entry]}))
    # Nothing listens at this URL: a refusal before any request is exit status 2, not "does not answer".
    argv = [str(helper), "--env-file", str(env), "--url", "http://127.0.0.1:9", "--state", str(tmp_path / "s")]
    done = subprocess.run([*argv, "--baked", str(listed)], capture_output=True, text=True, check=False)
    assert done.returncode == 2 and "baked.json" in done.stderr and len(done.stderr.splitlines()) == 1, done.stderr
