"""The [alerts] table, and every default alert rule run against influxd with data that must fire it and data that
must not, evaluated as Grafana evaluates the provisioned rule: its query, then reduce (the last non-null value of
each series), then the threshold."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from madash.errors import SiteError
from madash.packages import alerts, server
from madash.site.config import SiteConfig, parse_config
from tests.servers import Influxd
from tests.test_rendered_formats import server_inputs

pytestmark = pytest.mark.network

BASE = '[site]\nname = "demo"\n\n[server]\naddresses = ["monitor.example.org"]\n'
DATABASE = "telegraf"


def config(alerts_table: str = "") -> SiteConfig:
    return parse_config(BASE + ("\n[alerts]\n" + alerts_table if alerts_table else ""), Path("madash.toml"))


def test_defaults_and_thresholds_come_from_the_table() -> None:
    rules = {r.uid: r for r in alerts.rules(config("disk_percent = 80\nsilent_minutes = 30\ncert_days = 14\n"))}
    assert rules["madash-disk-full"].threshold == 80
    assert 'moving_average(count("uptime"), 30)' in rules["madash-host-silent"].query
    assert rules["madash-door-certificate"].threshold == 14 * 86400
    assert {r.threshold for r in alerts.rules(config()) if r.uid == "madash-disk-full"} == {90}


@pytest.mark.parametrize(
    "table, key",
    [
        ('email_to = ["ops@example.org"]\n', "alerts.smtp_relay"),
        ('smtp_relay = "smtp.example.org:25"\n', "alerts.email_to"),
        ('email_to = ["ops"]\nsmtp_relay = "smtp.example.org:25"\n', "alerts.email_to"),
        ('email_to = ["a@example.org", "a@example.org"]\nsmtp_relay = "relay:25"\n', "alerts.email_to"),
        ('email_to = ["ops@example.org"]\nsmtp_relay = "smtp.example.org"\n', "alerts.smtp_relay"),
        ('email_to = ["ops@example.org"]\nsmtp_relay = "smtp.example.org:70000"\n', "alerts.smtp_relay"),
        ('webhook_url = "https://hooks.example.org/$TOKEN"\n', "alerts.webhook_url"),
        ('webhook_url = "ftp://hooks.example.org/"\n', "alerts.webhook_url"),
        ("disk_percent = 100\n", "alerts.disk_percent"),
        ("silent_minutes = 1\n", "alerts.silent_minutes"),
        ('smtp_form = "x@example.org"\n', "alerts.smtp_form"),
    ],
)
def test_bad_alert_settings_are_refused(table: str, key: str) -> None:
    with pytest.raises(SiteError) as info:
        config(table)
    assert key in info.value.message, info.value.message


def test_contact_point_policy_and_smtp_follow_the_table() -> None:
    bare = alerts.document(config())
    assert set(bare) == {"apiVersion", "groups"}, "no contact point without a destination"
    table = 'email_to = ["ops@example.org", "dev@example.org"]\nsmtp_relay = "[2001:db8::25]:587"\n'
    table += 'webhook_url = "https://hooks.example.org/madash"\n'
    doc = alerts.document(config(table))
    [point] = doc["contactPoints"]
    assert [r["type"] for r in point["receivers"]] == ["email", "webhook"]
    assert point["receivers"][0]["settings"]["addresses"] == "ops@example.org;dev@example.org"
    assert doc["policies"][0]["receiver"] == point["name"]
    spec = server.server_spec(server_inputs(BASE + "\n[alerts]\n" + table))
    compose = yaml.safe_load(next(f.data for f in spec.files if f.path.endswith("/compose.yml")))
    environment = compose["services"]["grafana"]["environment"]
    assert environment["GF_SMTP_HOST"] == "[2001:db8::25]:587" and environment["GF_SMTP_ENABLED"] == "true"
    assert environment["GF_SMTP_FROM_ADDRESS"] == "madash@example.org"
    shipped = next(f.data for f in spec.files if f.path.endswith("/alerting/madash.yaml"))
    assert yaml.safe_load(shipped) == doc


def test_every_rule_is_reduce_then_threshold_on_the_influxdb_query() -> None:
    doc = alerts.document(config())
    [group] = doc["groups"]
    assert group["folder"] == server.FOLDER_UID
    for rule in group["rules"]:
        query, reduce, threshold = rule["data"]
        assert query["datasourceUid"] == server.DATASOURCE_UID and query["model"]["rawQuery"] is True
        assert reduce["model"] == {
            "refId": "B", "type": "reduce", "expression": "A", "reducer": "last", "settings": {"mode": "dropNN"}
        }  # fmt: skip
        assert threshold["model"]["expression"] == "B" and rule["condition"] == "C"
        assert "$timeFilter" not in query["model"]["query"], "each rule's window is in its query"


# --- each rule against data that fires it ("fire") and data that does not ("calm") -----------------------------


def lines(now: int) -> Iterator[str]:
    def at(seconds_ago: int) -> int:
        return (now - seconds_ago) * 1_000_000_000

    for ago in range(0, 3600, 10):
        yield f"system,host=calm uptime={10_000 - ago}i {at(ago)}"
        if ago >= 1200:  # reported until 20 minutes ago
            yield f"system,host=fire uptime={10_000 - ago}i {at(ago)}"
    yield f"system,host=retired uptime=1i {at(3 * 86400)}"
    for ago in range(0, 600, 60):
        yield f"disk,host=fire,path=/ used_percent=95.5,inodes_used=97i,inodes_total=100i {at(ago)}"
        yield f"disk,host=calm,path=/ used_percent=50.0,inodes_used=10i,inodes_total=100i {at(ago)}"
        yield f"smart_device,host=fire,device=sda health_ok=false {at(ago)}"
        yield f"smart_device,host=calm,device=sda health_ok=true {at(ago)}"
        yield f"apcupsd,host=fire,status=ONBATT battery_charge_percent=90.0 {at(ago)}"
        yield f"apcupsd,host=calm,status=ONLINE battery_charge_percent=100.0 {at(ago)}"
        yield f"x509_cert,source=fire expiry={10 * 86400}i {at(ago)}"
        yield f"x509_cert,source=calm expiry={200 * 86400}i {at(ago)}"
    for ago, reallocated in ((80_000, 0), (40_000, 4), (60, 8)):
        fields = f"reallocated_sectors_count={reallocated}i,pending_sector_count=0i"
        yield f"smart_device,host=fire,device=sdb {fields} {at(ago)}"
        yield f"smart_device,host=calm,device=sdb reallocated_sectors_count=3i,pending_sector_count=1i {at(ago)}"
    for ago in range(0, 280, 10):
        yield f"ping,host=fire,url=1.1.1.1 percent_packet_loss=50.0 {at(ago)}"
        yield f"ping,host=calm,url=1.1.1.1 percent_packet_loss=0.0 {at(ago)}"
        yield f"http_response,host=fire,server=https://www.debian.org/ result_code=3i {at(ago)}"
        # One failure in five minutes is no outage.
        calm = 3 if ago == 100 else 0
        yield f"http_response,host=calm,server=https://www.debian.org/ result_code={calm}i {at(ago)}"
        yield f"dns_query,host=fire,server=1.1.1.1,domain=debian.org result_code=1i {at(ago)}"
        yield f"dns_query,host=calm,server=1.1.1.1,domain=debian.org result_code=0i {at(ago)}"


@pytest.fixture(scope="module")
def influx(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Influxd]:
    with Influxd(tmp_path_factory.mktemp("influx-alerts"), auth=False) as server_:
        server_.query(f"CREATE DATABASE {DATABASE}")
        status = server_.write("\n".join(lines(int(time.time()))) + "\n", db=DATABASE, user=None, password=None)
        assert status == 204
        yield server_


def evaluate(influx: Influxd, rule: dict[str, Any]) -> set[str]:
    """The label sets (tag values) for which Grafana would fire the rule."""
    [result] = influx.query(rule["data"][0]["model"]["query"], db=DATABASE)["results"]
    return evaluate_answer(result, rule)


def evaluate_answer(result: dict[str, Any], rule: dict[str, Any]) -> set[str]:
    """What Grafana does with the rule's InfluxQL answer: reduce each series to its last non-null value, then
    the threshold; the label sets (tag values) that fire."""
    assert "error" not in result, result
    threshold = rule["data"][2]
    [condition] = threshold["model"]["conditions"]
    kind, [limit] = condition["evaluator"]["type"], condition["evaluator"]["params"]
    firing: set[str] = set()
    for series in result.get("series", []):
        for column in range(1, len(series["columns"])):
            values = [row[column] for row in series["values"] if row[column] is not None]
            if not values:
                continue  # dropNN: a series of nulls reduces to nothing
            last = values[-1]
            if (kind == "gt" and last > limit) or (kind == "lt" and last < limit):
                firing.add(",".join(sorted(series.get("tags", {}).values())))
    return firing


RULES = [rule["uid"] for rule in alerts.document(config())["groups"][0]["rules"]]


@pytest.mark.parametrize("uid", RULES)
def test_rule_fires_on_its_fault_and_only_there(influx: Influxd, uid: str) -> None:
    [rule] = [r for r in alerts.document(config())["groups"][0]["rules"] if r["uid"] == uid]
    firing = evaluate(influx, rule)
    assert firing, f"{uid} did not fire on data that must fire it"
    assert all("fire" in labels.split(",") for labels in firing), f"{uid} fired for {sorted(firing)}"
    assert not any("calm" in labels.split(",") or "retired" in labels for labels in firing)


def test_every_default_rule_is_tested() -> None:
    assert set(RULES) == {
        "madash-host-silent", "madash-disk-full", "madash-inodes-full", "madash-smart-failing",
        "madash-smart-sectors", "madash-ups-on-battery", "madash-packet-loss", "madash-http-failing",
        "madash-dns-failing", "madash-door-certificate",
    }  # fmt: skip
