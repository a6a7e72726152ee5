"""Grafana's alerting provisioning for madash-server (apiVersion 1): the default rules, and the contact point and
notification policy of the site's [alerts] table.

Each rule is one raw InfluxQL query with its own time window (no $timeFilter: the same text runs in the tests),
then Grafana's reduce (last value of each series) and threshold expressions, as the UI would build them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import yaml

from madash.errors import MadashError
from madash.site.config import SiteConfig

DATASOURCE_UID = "madash-influxdb"
FOLDER = "madash"
EXPRESSIONS = "__expr__"  # Grafana's server-side expressions
CONTACT_POINT = "madash"


@dataclass(frozen=True)
class Rule:
    uid: str
    title: str
    query: str
    evaluator: str  # gt or lt, applied to each series' last value
    threshold: float
    summary: str
    pending: str = "0m"  # how long the condition holds before the alert fires
    window_s: int = 3600  # the query's own window, for Grafana's query editor


def rules(config: SiteConfig) -> tuple[Rule, ...]:
    alerts = config.alerts
    found = (
        Rule(
            "madash-host-silent", "Host stopped reporting",
            # Reports per minute over a day, averaged over the last minutes: 0 once a host is silent that long.
            # A host silent for more than a day is taken as retired and drops out.
            # The one number inserted is a validated whole number of minutes.
            f'SELECT moving_average(count("uptime"), {alerts.silent_minutes:d}) FROM "system" '  # noqa: S608
            'WHERE time > now() - 1d GROUP BY time(1m), "host" fill(0)',
            "lt", 0.5, f"{{{{ $labels.host }}}} sent nothing for {alerts.silent_minutes} minutes", window_s=86400,
        ),
        Rule(
            "madash-disk-full", "File system almost full",
            'SELECT last("used_percent") FROM "disk" WHERE time > now() - 15m GROUP BY "host", "path"',
            "gt", alerts.disk_percent,
            f"{{{{ $labels.host }}}}:{{{{ $labels.path }}}} is over {alerts.disk_percent} % full",
        ),
        Rule(
            "madash-inodes-full", "File system out of inodes",
            'SELECT last("inodes_used") / last("inodes_total") * 100 FROM "disk" WHERE time > now() - 15m '
            'GROUP BY "host", "path"',
            "gt", alerts.inodes_percent,
            f"{{{{ $labels.host }}}}:{{{{ $labels.path }}}} has used over {alerts.inodes_percent} % of its inodes",
        ),
        Rule(
            "madash-smart-failing", "SMART health failing",
            'SELECT count("health_ok") FROM "smart_device" WHERE "health_ok" = false AND time > now() - 1h '
            'GROUP BY "host", "device"',
            "gt", 0, "{{ $labels.host }}:{{ $labels.device }} fails its SMART health check",
        ),
        Rule(
            "madash-smart-sectors", "Reallocated or pending sectors growing",
            'SELECT last("reallocated_sectors_count") - first("reallocated_sectors_count") AS "reallocated", '
            'last("pending_sector_count") - first("pending_sector_count") AS "pending" FROM "smart_device" '
            'WHERE time > now() - 1d GROUP BY "host", "device"',
            "gt", 0, "{{ $labels.host }}:{{ $labels.device }} has more bad sectors than a day ago", window_s=86400,
        ),
        Rule(
            "madash-ups-on-battery", "UPS on battery",
            'SELECT count("battery_charge_percent") FROM "apcupsd" WHERE "status" =~ /ONBATT/ AND time > now() - 2m '
            'GROUP BY "host"',
            "gt", 0, "{{ $labels.host }}'s UPS runs on battery",
        ),
    )  # fmt: skip
    probes = (
        Rule(
            "madash-packet-loss", "Internet packet loss",
            'SELECT mean("percent_packet_loss") FROM "ping" WHERE time > now() - 5m GROUP BY "host", "url"',
            "gt", alerts.loss_percent,
            f"{{{{ $labels.host }}}} loses over {alerts.loss_percent} % of pings to {{{{ $labels.url }}}}",
        ),
        Rule(
            "madash-http-failing", "HTTP probe failing",
            # Every probe of the last 5 minutes failed: result_code 0 is success.
            'SELECT min("result_code") FROM "http_response" WHERE time > now() - 5m GROUP BY "host", "server"',
            "gt", 0, "{{ $labels.host }} cannot fetch {{ $labels.server }} for 5 minutes",
        ),
        Rule(
            "madash-dns-failing", "DNS probe failing",
            'SELECT min("result_code") FROM "dns_query" WHERE time > now() - 5m GROUP BY "host", "server", "domain"',
            "gt", 0, "{{ $labels.host }} cannot resolve {{ $labels.domain }} at {{ $labels.server }} for 5 minutes",
        ),
        Rule(
            "madash-door-certificate", "Door certificate expiring",
            # Telegraf's x509_cert input on the server's probe reads the door's certificate.
            'SELECT last("expiry") FROM "x509_cert" WHERE time > now() - 1h GROUP BY "source"',
            "lt", alerts.cert_days * 86400,
            f"the certificate at {{{{ $labels.source }}}} expires within {alerts.cert_days} days",
        ),
    )  # fmt: skip
    # Every rule ships: one whose measurement no host sends has no series, which is no alert.
    return found + probes


def _rule(rule: Rule) -> dict[str, Any]:
    query = {
        "refId": "A",
        "datasource": {"type": "influxdb", "uid": DATASOURCE_UID},
        "rawQuery": True,
        "resultFormat": "time_series",
        "query": rule.query,
    }
    reduce = {"refId": "B", "type": "reduce", "expression": "A", "reducer": "last", "settings": {"mode": "dropNN"}}
    threshold = {
        "refId": "C",
        "type": "threshold",
        "expression": "B",
        "conditions": [{"evaluator": {"type": rule.evaluator, "params": [rule.threshold]}}],
    }
    return {
        "uid": rule.uid,
        "title": rule.title,
        "condition": "C",
        "data": [
            {"refId": "A", "relativeTimeRange": {"from": rule.window_s, "to": 0}, "datasourceUid": DATASOURCE_UID,
             "model": query},
            {"refId": "B", "datasourceUid": EXPRESSIONS, "model": reduce},
            {"refId": "C", "datasourceUid": EXPRESSIONS, "model": threshold},
        ],
        # No series means nothing to report (no SMART drive, no UPS): not an alert.
        "noDataState": "OK",
        "execErrState": "Error",
        "for": rule.pending,
        "annotations": {"summary": rule.summary},
        "labels": {"madash": "default"},
    }  # fmt: skip


def document(config: SiteConfig) -> dict[str, Any]:
    alerts = config.alerts
    doc: dict[str, Any] = {
        "apiVersion": 1,
        "groups": [
            {
                "orgId": 1,
                "name": "madash",
                "folder": FOLDER,
                "interval": "1m",
                "rules": [_rule(r) for r in rules(config)],
            }
        ],
    }
    receivers: list[dict[str, Any]] = []
    if alerts.email_to:
        receivers.append({"uid": "madash-email", "type": "email", "settings": {"addresses": ";".join(alerts.email_to)}})
    if alerts.webhook_url:
        receivers.append(
            {"uid": "madash-webhook", "type": "webhook", "settings": {"url": alerts.webhook_url, "httpMethod": "POST"}}
        )
    if receivers:
        doc["contactPoints"] = [{"orgId": 1, "name": CONTACT_POINT, "receivers": receivers}]
        doc["policies"] = [{"orgId": 1, "receiver": CONTACT_POINT, "group_by": ["grafana_folder", "alertname"]}]
    return doc


def render_alerting(config: SiteConfig) -> str:
    """The provisioning file, written by PyYAML (never by a template) and read back before it is packaged."""
    doc = document(config)
    text = "# madash-server: alert rules and where they go, from madash.toml's [alerts].\n" + yaml.safe_dump(
        doc, sort_keys=False, allow_unicode=True, width=1000
    )
    if yaml.safe_load(text) != doc:
        raise MadashError("the alerting provisioning file does not read back as written")
    return text
