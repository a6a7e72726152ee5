"""The Internet Connectivity dashboard."""

from __future__ import annotations

from grafana_foundation_sdk.models import dashboard

from dashboards.board import Hosts, make
from dashboards.influx import Query
from dashboards.panels import (
    Common,
    Item,
    Override,
    Row,
    stat_panel,
    table_panel,
    timeline_panel,
    timeseries_panel,
)

FILE = "internet.json"

ITEMS: list[Item] = [
    stat_panel(
        Common(
            title="Packet loss",
            description="Average ping packet loss per target over the time range; orange from 1 %, red from 5 %.",
            unit="percent",
            targets=(
                Query(
                    'SELECT mean("percent_packet_loss") FROM "ping" WHERE "host" =~ /^$ping_host$/ AND $timeFilter GROUP BY "url", "host"'
                ).alias("$tag_url $tag_host"),
            ),
            w=5,
            h=6,
            steps=(("green", None), ("orange", 1), ("red", 5)),
            decimals=1,
        ),
        color="value",
    ),
    stat_panel(
        Common(
            title="Round-trip time",
            description="Latest average ping round-trip time per target.",
            unit="ms",
            targets=(
                Query(
                    'SELECT last("average_response_ms") FROM "ping" WHERE "host" =~ /^$ping_host$/ AND $timeFilter GROUP BY "url", "host"'
                ).alias("$tag_url $tag_host"),
            ),
            w=5,
            h=6,
            steps=(("green", None), ("orange", 100), ("red", 250)),
        ),
        color="value",
    ),
    stat_panel(
        Common(
            title="HTTP status",
            description="Latest HTTP status code per URL.",
            unit="none",
            targets=(
                Query(
                    'SELECT last("http_response_code") FROM "http_response" WHERE "host" =~ /^$http_host$/ AND $timeFilter GROUP BY "server", "host"'
                ).alias("$tag_server $tag_host"),
            ),
            w=5,
            h=6,
            mappings=(
                ("range", (100, 199), "1xx informational", "blue"),
                ("range", (200, 299), "2xx OK", "green"),
                ("range", (300, 399), "3xx redirect", "blue"),
                ("range", (400, 499), "4xx client error", "orange"),
                ("range", (500, 599), "5xx server error", "red"),
            ),
        ),
        color="value",
    ),
    stat_panel(
        Common(
            title="Content match",
            description="Whether the latest body of each URL contained the site's http_match text (only when http_match is set).",
            unit="none",
            targets=(
                Query(
                    'SELECT last("response_string_match") FROM "http_response" WHERE "host" =~ /^$http_host$/ AND $timeFilter GROUP BY "server", "host"'
                ).alias("$tag_server $tag_host"),
            ),
            w=4,
            h=6,
            mappings=(("value", "1", "match", "green"), ("value", "0", "no match", "red")),
        ),
        color="value",
    ),
    stat_panel(
        Common(
            title="DNS query time",
            description="Latest DNS query time per server and domain.",
            unit="ms",
            targets=(
                Query(
                    'SELECT last("query_time_ms") FROM "dns_query" WHERE "host" =~ /^$dns_host$/ AND $timeFilter GROUP BY "server", "domain", "host"'
                ).alias("$tag_server $tag_domain $tag_host"),
            ),
            w=5,
            h=6,
            steps=(("green", None), ("orange", 100), ("red", 500)),
        ),
        color="value",
    ),
    Row(
        "Ping",
        [
            timeseries_panel(
                Common(
                    title="Round-trip time per target",
                    description="Average ICMP round-trip time of each probe (3 echo requests per gather).",
                    unit="ms",
                    targets=(
                        Query(
                            'SELECT mean("average_response_ms") FROM "ping" WHERE "host" =~ /^$ping_host$/ AND $timeFilter GROUP BY time($__interval), "url", "host" fill(null)'
                        ).alias("$tag_url $tag_host"),
                    ),
                    w=12,
                    h=8,
                    min=0,
                )
            ),
            timeseries_panel(
                Common(
                    title="Packet loss per target",
                    description="Lost echo requests in percent; orange from 1 %, red from 5 %.",
                    unit="percent",
                    targets=(
                        Query(
                            'SELECT mean("percent_packet_loss") FROM "ping" WHERE "host" =~ /^$ping_host$/ AND $timeFilter GROUP BY time($__interval), "url", "host" fill(null)'
                        ).alias("$tag_url $tag_host"),
                    ),
                    w=12,
                    h=8,
                    steps=(("green", None), ("orange", 1), ("red", 5)),
                    min=0,
                    max=100,
                ),
                threshold_style="area",
            ),
            timeline_panel(
                Common(
                    title="Reachability",
                    description="Ping result per target: reachable, no reply, or could not ping (result_code 0, 1, 2).",
                    unit="none",
                    targets=(
                        Query(
                            'SELECT max("result_code") FROM "ping" WHERE "host" =~ /^$ping_host$/ AND $timeFilter GROUP BY time($__interval), "url", "host" fill(null)'
                        ).alias("$tag_url $tag_host"),
                    ),
                    w=24,
                    h=5,
                    mappings=(
                        ("value", "0", "reachable", "green"),
                        ("value", "1", "no reply", "red"),
                        ("value", "2", "error", "dark-red"),
                    ),
                )
            ),
        ],
    ),
    Row(
        "HTTP",
        [
            timeseries_panel(
                Common(
                    title="HTTP response time per URL",
                    description="Time to the full response of each URL.",
                    unit="s",
                    targets=(
                        Query(
                            'SELECT mean("response_time") FROM "http_response" WHERE "host" =~ /^$http_host$/ AND $timeFilter GROUP BY time($__interval), "server", "host" fill(null)'
                        ).alias("$tag_server $tag_host"),
                    ),
                    w=12,
                    h=8,
                    min=0,
                )
            ),
            timeline_panel(
                Common(
                    title="HTTP status code per URL",
                    description="Status code of each URL over time: 2xx green, 3xx blue, 4xx orange, 5xx red.",
                    unit="none",
                    targets=(
                        Query(
                            'SELECT last("http_response_code") FROM "http_response" WHERE "host" =~ /^$http_host$/ AND $timeFilter GROUP BY time($__interval), "server", "host" fill(null)'
                        ).alias("$tag_server $tag_host"),
                    ),
                    w=12,
                    h=8,
                    mappings=(
                        ("range", (100, 199), "1xx informational", "blue"),
                        ("range", (200, 299), "2xx OK", "green"),
                        ("range", (300, 399), "3xx redirect", "blue"),
                        ("range", (400, 499), "4xx client error", "orange"),
                        ("range", (500, 599), "5xx server error", "red"),
                    ),
                )
            ),
            timeline_panel(
                Common(
                    title="HTTP result per URL",
                    description="Telegraf's verdict per URL: success, or why not.",
                    unit="none",
                    targets=(
                        Query(
                            'SELECT max("result_code") FROM "http_response" WHERE "host" =~ /^$http_host$/ AND $timeFilter GROUP BY time($__interval), "server", "host" fill(null)'
                        ).alias("$tag_server $tag_host"),
                    ),
                    w=12,
                    h=6,
                    mappings=(
                        ("value", "0", "success", "green"),
                        ("value", "1", "content mismatch", "orange"),
                        ("value", "2", "body read error", "red"),
                        ("value", "3", "connection failed", "red"),
                        ("value", "4", "timeout", "red"),
                        ("value", "5", "DNS error", "red"),
                        ("value", "6", "status code mismatch", "orange"),
                    ),
                )
            ),
            timeline_panel(
                Common(
                    title="Content match per URL",
                    description="Whether each body contained the site's http_match text. No data: http_match is not set.",
                    unit="none",
                    targets=(
                        Query(
                            'SELECT min("response_string_match") FROM "http_response" WHERE "host" =~ /^$http_host$/ AND $timeFilter GROUP BY time($__interval), "server", "host" fill(null)'
                        ).alias("$tag_server $tag_host"),
                    ),
                    w=12,
                    h=6,
                    mappings=(("value", "1", "match", "green"), ("value", "0", "no match", "red")),
                )
            ),
        ],
    ),
    Row(
        "DNS",
        [
            timeseries_panel(
                Common(
                    title="DNS query time",
                    description="Time to answer an A query, per server and domain.",
                    unit="ms",
                    targets=(
                        Query(
                            'SELECT mean("query_time_ms") FROM "dns_query" WHERE "host" =~ /^$dns_host$/ AND $timeFilter GROUP BY time($__interval), "server", "domain", "host" fill(null)'
                        ).alias("$tag_server $tag_domain $tag_host"),
                    ),
                    w=12,
                    h=8,
                    min=0,
                )
            ),
            timeline_panel(
                Common(
                    title="DNS result",
                    description="Answer, timeout or error per server and domain.",
                    unit="none",
                    targets=(
                        Query(
                            'SELECT max("result_code") FROM "dns_query" WHERE "host" =~ /^$dns_host$/ AND $timeFilter GROUP BY time($__interval), "server", "domain", "host" fill(null)'
                        ).alias("$tag_server $tag_domain $tag_host"),
                    ),
                    w=12,
                    h=8,
                    mappings=(
                        ("value", "0", "success", "green"),
                        ("value", "1", "timeout", "red"),
                        ("value", "2", "error", "red"),
                    ),
                )
            ),
        ],
    ),
    Row(
        "Failures",
        [
            table_panel(
                Common(
                    title="Failures in the time range",
                    description="Every failed probe: pings with loss or no reply, HTTP checks that did not succeed, DNS queries without an answer (newest first, at most 200 per target).",
                    unit="none",
                    targets=(
                        Query(
                            'SELECT "result_code" AS "result code", "percent_packet_loss" AS "packet loss" FROM "ping" WHERE "host" =~ /^$ping_host$/ AND ("result_code" <> 0 OR "percent_packet_loss" > 0) AND $timeFilter GROUP BY "host", "url" ORDER BY time DESC LIMIT 200'
                        ).table(),
                        Query(
                            'SELECT "result_code" AS "result code", "http_response_code" AS "HTTP status" FROM "http_response" WHERE "host" =~ /^$http_host$/ AND "result" <> \'success\' AND $timeFilter GROUP BY "host", "server", "result" ORDER BY time DESC LIMIT 200',
                            "B",
                        ).table(),
                        Query(
                            'SELECT "result_code" AS "result code" FROM "dns_query" WHERE "host" =~ /^$dns_host$/ AND "result" <> \'success\' AND $timeFilter GROUP BY "host", "server", "domain", "result" ORDER BY time DESC LIMIT 200',
                            "C",
                        ).table(),
                    ),
                    w=24,
                    h=10,
                    overrides=(
                        Override("byName", "packet loss", (("unit", "percent"),)),
                        Override("byName", "Time", (("unit", "dateTimeAsIso"),)),
                    ),
                ),
                columns=(
                    "Time",
                    "host",
                    "url",
                    "server",
                    "domain",
                    "result",
                    "result code",
                    "packet loss",
                    "HTTP status",
                ),
                sort="Time",
                descending=True,
                hide_time=False,
                rename={"url": "ping target", "server": "URL / DNS server"},
            ),
        ],
    ),
]


def build() -> dashboard.Dashboard:
    return make(
        uid="madash-internet",
        title="Internet Connectivity",
        description="Ping, HTTP and DNS probes of the site's internet connection: from madash-server's probe and hosts with the internet feature.",
        tags=["internet"],
        variables=[
            Hosts("ping_host", "Ping from", "ping", "result_code"),
            Hosts("http_host", "HTTP from", "http_response", "result_code"),
            Hosts("dns_host", "DNS from", "dns_query", "result_code"),
        ],
        items=ITEMS,
    )
