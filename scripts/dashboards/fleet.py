"""The Fleet dashboard: every host on one screen, each linking to its own Host dashboard with the time range kept."""

from __future__ import annotations

import dataclasses

from grafana_foundation_sdk.models import dashboard

from dashboards.board import Hosts, Running, make
from dashboards.influx import Query
from dashboards.panels import AlertList, Common, Item, Override, bargauge_panel, table_panel, timeline_panel

FILE = "fleet.json"
# ${__url_time_range} keeps the time range; the host comes from the clicked value or series.
TO_HOST = "/d/madash-host/host?var-host=${__value.raw}&${__url_time_range}"
SERIES_TO_HOST = ("Host dashboard", "/d/madash-host/host?var-host=${__field.labels.host}&${__url_time_range}")

HOSTS = table_panel(
    Common(
        title="Hosts",
        description="Every host heard from within the chosen period: when it last reported (a silent host shows "
        "how long ago), its uptime and CPUs, and the package it ran then (madash_package, apt's NAME=VERSION). "
        "Click a host for its dashboard.",
        unit="none",
        targets=(
            Query(
                # One selector: the other columns are the same point's (InfluxQL refuses two with a tag).
                'SELECT last("uptime") AS "uptime", "n_cpus" AS "CPUs", "madash_package" AS "running" '
                'FROM "system" WHERE "host" =~ /^$host$/ AND time > now() - $silent GROUP BY "host"'
            ).table(),
        ),
        w=16,
        h=8,
        overrides=(
            Override("byName", "host", (("links", [{"title": "Host dashboard", "url": TO_HOST}]),)),
            Override("byName", "Time", (("unit", "dateTimeFromNow"), ("displayName", "last seen"))),
            Override("byName", "uptime", (("unit", "dtdurations"),)),
        ),
    ),
    columns=("host", "Time", "uptime", "CPUs", "running"),
    sort="Time",
    descending=False,
    hide_time=False,
)

REPORTING = timeline_panel(
    Common(
        title="Reporting",
        description="Reports per interval from each host's system input: a gap is a host that was silent.",
        unit="none",
        targets=(
            Query(
                'SELECT count("uptime") FROM "system" WHERE "host" =~ /^$host$/ AND $timeFilter '
                'GROUP BY time($__interval), "host" fill(null)'
            ).alias("$tag_host"),
        ),
        w=24,
        h=6,
        links=(SERIES_TO_HOST,),
    )
)


# Grafana's own alert state, grouped by the host label every per-host rule's query groups by: what fires is what
# the rules (madash/packages/alerts.py) decide, pending periods included, with no second copy of their conditions.
ALERTS = AlertList(
    "Firing alerts",
    "The site's alert rules that fire or are about to, grouped by host (the door certificate under its source).",
    group_by="host",
    w=8,
    h=8,
)

WAITING = table_panel(
    Common(
        title="Waiting packages",
        description="Hosts whose newest package (baked, as the server package lists it) is not what they run: "
        "not installed yet, or a host that never reported. Empty when every host runs its newest package. "
        "A host baked after the server package shows here only once the server package is baked again.",
        unit="none",
        targets=(
            Query(
                'SELECT "waiting" FROM (SELECT last("version") AS "waiting", "madash_package" AS "package" '
                'FROM "madash_forever"."madash_baked" GROUP BY "host") WHERE "package" !~ /^${running}$/ GROUP BY "host"'
            ).table(),
        ),
        w=8,
        h=6,
        overrides=(Override("byName", "host", (("links", [{"title": "Host dashboard", "url": TO_HOST}]),)),),
    ),
    columns=("host", "waiting", "Time"),
    sort="host",
    descending=False,
)


def _with_host_links(common: Common) -> Common:
    return dataclasses.replace(common, links=(SERIES_TO_HOST,))


REPORTS = bargauge_panel(
    Common(
        title="Reports per minute",
        description="Reports of each host's system input per minute, averaged over the last 10 minutes: the "
        "host-silent rule's own query. 0, in red, is a silent host.",
        unit="none",
        targets=(
            Query(
                'SELECT moving_average(count("uptime"), 10) FROM "system" WHERE "host" =~ /^$host$/ '
                'AND time > now() - $silent GROUP BY time(1m), "host" fill(0)'
            ).alias("$tag_host"),
        ),
        w=8,
        h=6,
        steps=(("red", None), ("orange", 0.5), ("green", 2)),
        min=0,
        mappings=(("range", (0.0, 0.5), "silent", "red"),),
        links=(SERIES_TO_HOST,),
    )
)

BUFFER = bargauge_panel(
    Common(
        title="Telegraf buffer used",
        description="How full each host's Telegraf output buffer is (inputs.internal): it fills while the server "
        "cannot be reached, and at 100 % the oldest metrics are dropped.",
        unit="percent",
        targets=(
            Query(
                'SELECT last("buffer_size") / last("buffer_limit") * 100 FROM "internal_write" '
                'WHERE "host" =~ /^$host$/ AND $timeFilter GROUP BY "host"'
            ).alias("$tag_host"),
        ),
        w=8,
        h=6,
        steps=(("green", None), ("orange", 20), ("red", 80)),
        min=0,
        max=100,
        links=(SERIES_TO_HOST,),
    )
)

ITEMS: list[Item] = [
    HOSTS,
    ALERTS,
    WAITING,
    REPORTS,
    BUFFER,
    bargauge_panel(
        _with_host_links(
            Common(
                title="CPU busy",
                description="Share of CPU time not idle (Telegraf cpu usage_active, all cores), last value per host.",
                unit="percent",
                targets=(
                    Query(
                        'SELECT last("usage_active") FROM "cpu" WHERE "cpu" = \'cpu-total\' AND "host" =~ /^$host$/ AND $timeFilter GROUP BY "host"'
                    ).alias("$tag_host"),
                ),
                w=6,
                h=6,
                steps=(("green", None), ("orange", 70), ("red", 90)),
                min=0,
                max=100,
            )
        )
    ),
    bargauge_panel(
        _with_host_links(
            Common(
                title="Memory used",
                description="Memory in use (mem used_percent), last value per host.",
                unit="percent",
                targets=(
                    Query(
                        'SELECT last("used_percent") FROM "mem" WHERE "host" =~ /^$host$/ AND $timeFilter GROUP BY "host"'
                    ).alias("$tag_host"),
                ),
                w=6,
                h=6,
                steps=(("green", None), ("orange", 80), ("red", 90)),
                min=0,
                max=100,
            )
        )
    ),
    bargauge_panel(
        _with_host_links(
            Common(
                title="Fullest file system",
                description="The highest use of any mounted file system per host; red above 90 %.",
                unit="percent",
                targets=(
                    Query(
                        'SELECT max("used_percent") FROM (SELECT last("used_percent") AS "used_percent" FROM "disk" WHERE "host" =~ /^$host$/ AND $timeFilter GROUP BY "host", "path") WHERE $timeFilter GROUP BY "host"'
                    ).alias("$tag_host"),
                ),
                w=6,
                h=6,
                steps=(("green", None), ("orange", 80), ("red", 90)),
                min=0,
                max=100,
            )
        )
    ),
    bargauge_panel(
        _with_host_links(
            Common(
                title="Load per CPU",
                description="One-minute load average divided by the number of CPUs: above 1 means work is waiting.",
                unit="none",
                targets=(
                    Query(
                        'SELECT last("load1") / last("n_cpus") FROM "system" WHERE "host" =~ /^$host$/ AND $timeFilter GROUP BY "host"'
                    ).alias("$tag_host"),
                ),
                w=6,
                h=6,
                steps=(("green", None), ("orange", 1), ("red", 2)),
                min=0,
            )
        )
    ),
    REPORTING,
]


def build() -> dashboard.Dashboard:
    return make(
        uid="madash-fleet",
        title="Fleet",
        description="Every host at a glance: last report, package run and waiting, firing alerts, CPU, memory, "
        "fullest file system and load; each host links to its Host dashboard.",
        tags=["fleet"],
        variables=[Hosts("host", "Hosts", "system", "uptime"), Running("running")],
        items=ITEMS,
    )
