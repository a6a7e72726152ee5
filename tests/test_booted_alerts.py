"""The default alert rules against real Telegraf data: a booted client (tests/boot.py) sends its metrics to the
booted server's influxd, and every rule's query runs there as Grafana evaluates it (reduce, then threshold).

The fixtures are tests/test_booted.py's (a site whose server is 10.77.0.1, the server machine with madash-server
and influxd, the client machine with the site's repository); this module boots its own pair and installs the
client package itself, so that it depends on no test of the other module.
"""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import pytest

from madash.packages import alerts
from madash.site.config import load_site
from tests.boot import Machine
from tests.test_booted import HOST, apt, query
from tests.test_booted import client as client
from tests.test_booted import server as server
from tests.test_booted import site_dir as site_dir
from tests.test_grafana_alerts import evaluate_answer

pytest_plugins = ["tests.boot"]
pytestmark = pytest.mark.booted

# The host-silent rule averages reports over its last minutes: a host that reported for a minute has enough.
REPORTING_S = 60.0
SILENT_WINDOW = "time > now() - 1d"


def rules(site_dir: Path) -> list[dict[str, Any]]:
    document = alerts.document(load_site(site_dir).config)
    found: list[dict[str, Any]] = document["groups"][0]["rules"]
    return found


def run(server: Machine, site_dir: Path, rule: dict[str, Any], at_ms: int | None = None) -> set[str]:
    """The rule's firing label sets; ``at_ms``: as Grafana would see it at that later moment (its relative
    window made absolute, ending then), with no data sent in between."""
    text = rule["data"][0]["model"]["query"]
    if at_ms is not None:
        assert SILENT_WINDOW in text, text
        text = text.replace(SILENT_WINDOW, f"time > {at_ms - 86_400_000}ms AND time <= {at_ms}ms")
    return evaluate_answer({"series": query(server, site_dir, text)}, rule)


@pytest.fixture(scope="module")
def installed(server: Machine, client: Machine, site_dir: Path) -> str:
    """madash-client-laptop installed from the repository, Telegraf reporting for a minute; its version."""
    apt(client, "update")
    apt(client, "install", f"madash-client-{HOST}")
    version = client.run(["dpkg-query", "-W", "-f", "${Version}", f"madash-client-{HOST}"]).stdout
    started = time.monotonic()

    def reports() -> int:
        series = query(server, site_dir, f'SELECT count("uptime") FROM "system" WHERE "host" = \'{HOST}\'')
        return int(series[0]["values"][0][1]) if series else 0  # type: ignore[index]

    client.wait_for("a minute of reports", lambda: reports() >= 6, timeout=REPORTING_S + 60)
    assert time.monotonic() - started < REPORTING_S + 60
    return version


def test_metrics_name_the_installed_package(server: Machine, site_dir: Path, installed: str) -> None:
    series = query(
        server, site_dir, f'SHOW TAG VALUES FROM "system" WITH KEY = "madash_package" WHERE "host" = \'{HOST}\''
    )
    values = [row for s in series for row in s["values"]]  # type: ignore[attr-defined]
    assert [row[1] for row in values] == [f"madash-client-{HOST}={installed}"]


def test_no_rule_fires_on_the_healthy_host(server: Machine, site_dir: Path, installed: str) -> None:
    firing = {rule["uid"]: run(server, site_dir, rule) for rule in rules(site_dir)}
    assert {uid: labels for uid, labels in firing.items() if labels} == {}
    # The rules that concern what this host sends had real series to judge (the others: no UPS, no drive here).
    judged = {rule["uid"] for rule in rules(site_dir) if query(server, site_dir, rule["data"][0]["model"]["query"])}
    assert {"madash-host-silent", "madash-disk-full", "madash-inodes-full", "madash-packet-loss",
            "madash-http-failing", "madash-dns-failing"} <= judged  # fmt: skip


def test_the_host_silent_rule_fires_once_telegraf_stops(
    server: Machine, client: Machine, site_dir: Path, installed: str
) -> None:
    [silent] = [rule for rule in rules(site_dir) if rule["uid"] == "madash-host-silent"]
    minutes = int(re.search(r"moving_average\(count\(\"uptime\"\), (\d+)\)", silent["data"][0]["model"]["query"])[1])  # type: ignore[index]
    client.run(["systemctl", "stop", "telegraf.service"])
    stopped_ms = int(time.time() * 1000)
    assert run(server, site_dir, silent, at_ms=stopped_ms) == set(), "silent the moment it stopped"
    later = run(server, site_dir, silent, at_ms=stopped_ms + (minutes + 1) * 60_000)
    assert later == {HOST}, f"not silent {minutes + 1} minutes after Telegraf stopped: {later}"
    client.run(["systemctl", "start", "telegraf.service"])
