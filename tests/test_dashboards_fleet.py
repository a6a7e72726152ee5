"""The Fleet dashboard's who-runs-what, silent hosts and alerts, run the way Grafana runs them against influxd.

A small fleet of its own, each host in one situation: runs its newest package, runs an older one with a newer one
waiting, upgraded a moment ago, fell silent 20 minutes ago, baked and never heard from.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from madash.packages.alerts import rules
from tests.grafana_model import series_names
from tests.servers import Influxd
from tests.telegraf_data import BAKED_RP, Dataset
from tests.test_dashboards import (
    DASHBOARDS,
    DATABASE,
    Store,
    TimeRange,
    backend_macros,
    interpolate,
    panels,
    variable_options,
)
from tests.test_grafana_alerts import config

pytestmark = pytest.mark.network

V1, V2 = "20261120.090000", "20261201.120000"
# host: (package run per minute ago, newest baked); None: no report that minute.
FLEET: dict[str, tuple[dict[int, str | None], str]] = {
    "fresh": ({m: V2 for m in range(60)}, V2),
    "behind": ({m: V1 for m in range(60)}, V2),
    "upgraded": ({m: V1 if m >= 5 else V2 for m in range(60)}, V2),
    "quiet": ({m: V2 if m >= 20 else None for m in range(60)}, V2),
    "never": ({}, V1),
}


def package(host: str, version: str) -> str:
    return f"madash-client-{host}={version}"


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    now = int(time.time())
    lines, baked = [], []
    for host, (runs, newest) in FLEET.items():
        for minute, version in runs.items():
            for second in range(0, 60, 10):
                if version is not None:
                    tag = package(host, version).replace("=", "\\=")
                    t = now - minute * 60 - second
                    lines.append(f"system,host={host},madash_package={tag} uptime={t}i,n_cpus=2i {t}000000000")
        escaped = package(host, newest).replace("=", "\\=")
        baked.append(f'madash_baked,host={host},madash_package={escaped} version="{newest}" {now - 86400}000000000')
    with Influxd(tmp_path_factory.mktemp("influx-fleet"), auth=False) as influx:
        influx.query(f"CREATE DATABASE {DATABASE}")
        influx.query(f'CREATE RETENTION POLICY "{BAKED_RP}" ON "{DATABASE}" DURATION INF REPLICATION 1')
        assert influx.write("\n".join(lines), db=DATABASE, user=None, password=None) == 204
        assert influx.write("\n".join(baked), db=DATABASE, user=None, password=None, rp=BAKED_RP) == 204
        yield Store(influx, Dataset(start_s=now - 3600, end_s=now), 0.0)


def panel(title: str) -> dict[str, Any]:
    [found] = [p for p in panels(DASHBOARDS["fleet.json"]) if p["title"] == title]
    return found


def run(store: Store, title: str, ref: str = "A") -> list[dict[str, Any]]:
    """The panel's query as Grafana sends it, over the last hour, with the dashboard's variables at their default."""
    now_ms = int(time.time() * 1000)
    time_range = TimeRange(now_ms - 3600_000, now_ms, relative=False)
    options = variable_options(store, DASHBOARDS["fleet.json"], time_range)
    [target] = [t for t in panel(title)["targets"] if t["refId"] == ref]
    query = backend_macros(interpolate(target["query"], options), time_range, 60_000)
    [result] = store.influx.query(query, db=DATABASE)["results"]
    assert "error" not in result, f"{query}: {result['error']}"
    series: list[dict[str, Any]] = result.get("series", [])
    return series


def test_each_host_shows_the_package_it_runs(store: Store) -> None:
    rows = {s["tags"]["host"]: dict(zip(s["columns"], s["values"][0], strict=True)) for s in run(store, "Hosts")}
    assert {host: row["running"] for host, row in rows.items()} == {
        "fresh": package("fresh", V2),
        "behind": package("behind", V1),
        "upgraded": package("upgraded", V2),
        "quiet": package("quiet", V2),
    }
    columns = panel("Hosts")["transformations"][-1]["options"]["indexByName"]
    assert "running" in columns


def test_waiting_lists_the_newest_package_each_host_does_not_run(store: Store) -> None:
    waiting = {s["tags"]["host"]: s["values"][0][1] for s in run(store, "Waiting packages")}
    # behind runs V1; never was baked and never reported; the others run their newest.
    assert waiting == {"behind": V2, "never": V1}


def test_a_silent_host_shows_as_silent(store: Store) -> None:
    target = panel("Reports per minute")["targets"][0]
    last = {}
    for series in run(store, "Reports per minute"):
        [name] = series_names([series], target["alias"])[0]
        values = [row[1] for row in series["values"] if row[1] is not None]
        last[name] = values[-1]  # the bar gauge shows the last value
    assert set(last) == {"fresh", "behind", "upgraded", "quiet"}
    mapping = panel("Reports per minute")["fieldConfig"]["defaults"]["mappings"]
    [silent] = [m["options"] for m in mapping if m["type"] == "range"]
    assert silent["result"]["text"] == "silent"
    shown = {host: "silent" if silent["from"] <= value <= silent["to"] else "reporting" for host, value in last.items()}
    assert shown == {"fresh": "reporting", "behind": "reporting", "upgraded": "reporting", "quiet": "silent"}


def test_alerts_are_grouped_by_the_host_label_every_host_rule_has() -> None:
    """The alert list groups instances by "host": each rule about a host groups its query by that tag, so that
    every instance carries the label; the door certificate's rule is the server's, by its source."""
    [alerts] = [p for p in panels(DASHBOARDS["fleet.json"]) if p["type"] == "alertlist"]
    assert alerts["options"]["groupBy"] == ["host"] and alerts["options"]["stateFilter"]["firing"]
    grouped = {rule.uid: 'GROUP BY time(1m), "host"' in rule.query or 'GROUP BY "host"' in rule.query
               for rule in rules(config())}  # fmt: skip
    assert {uid for uid, by_host in grouped.items() if not by_host} == {"madash-door-certificate"}
